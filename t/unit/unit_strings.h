/*
 * Strings a test allocates as it goes: G() registers one, fmt() prints
 * one, and unit_free_strings() frees them all from a teardown, so tests
 * stay readable and LeakSanitizer stays quiet.  show() prints bytes for a
 * failure message.
 */

#ifndef PPROF_UNIT_STRINGS_H
#define PPROF_UNIT_STRINGS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "unit.h"
#include "auth/auth.h"


#define UNIT_STRINGS_MAX  4096

static void    *unit_strings[UNIT_STRINGS_MAX];
static size_t   unit_nstrings;


static inline char *
G(char *s)
{
    assert_non_null(s);
    assert_true(unit_nstrings < UNIT_STRINGS_MAX);
    unit_strings[unit_nstrings++] = s;
    return s;
}


static inline char *
fmt(const char *f, ...)
{
    va_list  ap;
    char    *s;
    int      n;

    va_start(ap, f);
    n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    assert_true(n >= 0);

    s = G(malloc((size_t) n + 1));

    va_start(ap, f);
    vsnprintf(s, (size_t) n + 1, f, ap);
    va_end(ap);
    return s;
}


static inline void
unit_free_strings(void)
{
    while (unit_nstrings) {
        free(unit_strings[--unit_nstrings]);
    }
}

/* Bytes for a failure message, control and non-ASCII bytes escaped. */
static inline void
show(char *out, size_t size, const unsigned char *p, size_t len)
{
    size_t  i, n;

    for (i = 0, n = 0; i < len && n + 5 < size; i++) {
        n += (size_t) snprintf(out + n, size - n,
                               (p[i] < 0x20 || p[i] >= 0x7f) ? "\\x%02x"
                                                             : "%c", p[i]);
    }
    out[n] = '\0';
}

/*
 * A credential refused as it must be: INVALID_CREDENTIAL, no identity
 * left behind, and a detail for the log.  Reports the caller's line.
 */
static inline void
assert_refused_(const pprof_auth_result_t *r, const unsigned char *input,
    size_t len, const char *why, int line)
{
    char  shown[400];

    if (r->reason != PPROF_INVALID_CREDENTIAL) {
        show(shown, sizeof(shown), input, len);
        fail_msg("line %d (%s): want invalid_credential, got %s for \"%s\"",
                 line, why, pprof_reason_name(r->reason), shown);
    }
    if (r->identity_len != 0) {
        fail_msg("line %d (%s): refused but identity_len %zu", line, why,
                 r->identity_len);
    }
    if (r->detail == NULL) {
        fail_msg("line %d (%s): refused without a detail", line, why);
    }
}

#endif
