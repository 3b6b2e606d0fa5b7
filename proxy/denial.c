/*
 * Denial bodies.  Text for humans and for `go tool pprof`, which prints a
 * body only when X-Go-Pprof is set; JSON for clients that ask for it.
 */

#include <stdio.h>
#include <string.h>

#include "proxy.h"


int
pprof_denial_wants_json(pprof_str_t accept)
{
    static const char  want[] = "application/json";

    size_t  i, j, n = sizeof(want) - 1;

    for (i = 0; i + n <= accept.len; i++) {
        for (j = 0; j < n && pprof_ascii_lower(accept.data[i + j]) == want[j]; j++) {
            /* compare */
        }
        if (j == n) {
            return 1;
        }
    }

    return 0;
}


/* Reasons, messages and ids are fixed ASCII without quotes or escapes. */
size_t
pprof_denial_render(char *buf, size_t cap, pprof_reason_t reason,
    const char *audit_id, int json)
{
    return pprof_denial_render_detail(buf, cap, reason, audit_id, json, NULL);
}


/* The detail as one line of printable ASCII, escaped for JSON if asked. */
static void
clean_detail(const char *detail, int json, char *out)
{
    size_t  i;
    char   *p = out;

    for (i = 0; detail[i] && i < PPROF_DENIAL_DETAIL_MAX; i++) {
        if (detail[i] < 0x20 || detail[i] >= 0x7f) {
            *p++ = '?';
            continue;
        }

        if (json && (detail[i] == '"' || detail[i] == '\\')) {
            *p++ = '\\';
        }

        *p++ = detail[i];
    }

    *p = '\0';
}


size_t
pprof_denial_render_detail(char *buf, size_t cap, pprof_reason_t reason,
    const char *audit_id, int json, const char *detail)
{
    char         clean[2 * PPROF_DENIAL_DETAIL_MAX + 1];
    const char  *sep;
    int          n;

    sep = "";
    clean[0] = '\0';

    if (detail && detail[0]) {
        sep = "; ";
        clean_detail(detail, json, clean);
    }

    if (json) {
        n = snprintf(buf, cap,
                     "{\"error\":\"%s\",\"message\":\"%s%s%s\","
                     "\"audit_id\":\"%s\"}\n",
                     pprof_reason_name(reason), pprof_reason_message(reason),
                     sep, clean, audit_id);

    } else {
        n = snprintf(buf, cap, "pprof-gateway: %s: %s%s%s (audit id %s)\n",
                     pprof_reason_name(reason), pprof_reason_message(reason),
                     sep, clean, audit_id);
    }

    return (n > 0 && (size_t) n < cap) ? (size_t) n : 0;
}


/*
 * token_error is one of auth's fixed sentences; it is still cleaned, so
 * that the header's quoted-string can hold nothing but printable ASCII.
 */
size_t
pprof_denial_challenge(char *buf, size_t cap, const char *challenge,
    pprof_reason_t reason, const char *token_error)
{
    char  clean[2 * PPROF_DENIAL_DETAIL_MAX + 1];
    int   n;

    if (reason == PPROF_INVALID_CREDENTIAL && token_error && token_error[0]) {
        clean_detail(token_error, 1, clean);
        n = snprintf(buf, cap, "%s, error=\"invalid_token\", "
                     "error_description=\"%s\"", challenge, clean);

    } else {
        n = snprintf(buf, cap, "%s", challenge);
    }

    return (n > 0 && (size_t) n < cap) ? (size_t) n : 0;
}
