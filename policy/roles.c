/*
 * Stage 5: which roles an identity holds and whether one of them permits
 * the endpoint.  No built-in role and no implicit grant (SPEC §6).
 */

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"


static int
str_eq(pprof_str_t a, pprof_str_t b)
{
    return a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
}


/* The names of identity sources, as the audit record's "auth" spells them. */
static const char  *sources[] = {
    "cert", "xfcc", "jwt", "apikey", "variable", "anonymous",
};


/* The source's row, or -1 for a name that is no source ("none"). */
static int
source_row(pprof_str_t name)
{
    size_t  i;

    for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        if (name.len == strlen(sources[i])
            && memcmp(name.data, sources[i], name.len) == 0)
        {
            return (int) i;
        }
    }

    return -1;
}


int
pprof_bind_compile(pprof_bind_t *bind, pprof_str_t pattern,
    char *err, size_t errlen)
{
    pcre2_code  *re;
    PCRE2_SIZE   offset;
    int          code;
    uint32_t     options;
    PCRE2_UCHAR  msg[128];

    bind->regex = NULL;
    bind->match_data = NULL;
    bind->pattern = pattern;
    bind->sources = 0;
    bind->data = NULL;

    if (pattern.len == 0) {
        snprintf(err, errlen, "empty identity pattern");
        return -1;
    }

    if (pattern.data[0] != '~') {
        return 0;
    }

    bind->pattern.data++;
    bind->pattern.len--;
    options = 0;

    /* As nginx's own "~*": the same regex, without regard to case. */
    if (bind->pattern.len && bind->pattern.data[0] == '*') {
        bind->pattern.data++;
        bind->pattern.len--;
        options = PCRE2_CASELESS;
    }

    if (bind->pattern.len == 0) {
        snprintf(err, errlen, "empty identity pattern");
        return -1;
    }

    re = pcre2_compile(bind->pattern.data, bind->pattern.len, options, &code,
                       &offset, NULL);
    if (re == NULL) {
        pcre2_get_error_message(code, msg, sizeof(msg));
        snprintf(err, errlen, "%s at offset %zu", (char *) msg,
                 (size_t) offset);
        return -1;
    }

    /* Workers are single-threaded: one match block per pattern is enough. */
    bind->match_data = pcre2_match_data_create_from_pattern(re, NULL);
    if (bind->match_data == NULL) {
        pcre2_code_free(re);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    bind->regex = re;
    return 0;
}


void
pprof_bind_free(pprof_bind_t *bind)
{
    pcre2_match_data_free(bind->match_data);
    pcre2_code_free(bind->regex);
    bind->match_data = NULL;
    bind->regex = NULL;
}


int
pprof_bind_is_anchored(const pprof_bind_t *bind)
{
    uint32_t  opts = 0;

    if (bind->regex == NULL) {
        return 1;
    }

    pcre2_pattern_info(bind->regex, PCRE2_INFO_ALLOPTIONS, &opts);
    return (opts & PCRE2_ANCHORED) != 0;
}


/* Whether it was written "~*", to name it as written. */
static int
bind_caseless(const pprof_bind_t *bind)
{
    uint32_t  opts = 0;

    pcre2_pattern_info(bind->regex, PCRE2_INFO_ARGOPTIONS, &opts);
    return (opts & PCRE2_CASELESS) != 0;
}


int
pprof_bind_source_add(pprof_bind_t *bind, pprof_str_t name, const char **err)
{
    int  row;

    row = source_row(name);

    if (row < 0) {
        *err = "is not an identity source (cert, xfcc, jwt, apikey, "
               "variable, anonymous)";
        return -1;
    }

    bind->sources |= 1u << row;

    return 0;
}


/*
 * 1 match, 0 none, or a negative PCRE2 error (match limit, memory).  The
 * source is checked first: a name from another source is not even looked at.
 */
static int
bind_matches(const pprof_bind_t *bind, pprof_str_t identity,
    pprof_str_t source)
{
    int  rc, row;

    if (bind->sources) {
        row = source_row(source);

        if (row < 0 || !(bind->sources & (1u << row))) {
            return 0;
        }
    }

    if (bind->regex == NULL) {
        return str_eq(bind->pattern, identity);
    }

    rc = pcre2_match(bind->regex, identity.data, identity.len, 0, 0,
                     bind->match_data, NULL);

    if (rc >= 0) {
        return 1;
    }

    return rc == PCRE2_ERROR_NOMATCH ? 0 : rc;
}


/*
 * A bind to a role nobody defined is a typo that would silently grant
 * nothing: the configuration is refused instead.
 */
int
pprof_policy_check_binds(const pprof_bind_t *binds, size_t nbinds,
    const pprof_role_t *roles, size_t nroles, size_t *max_held,
    pprof_str_t *undefined, size_t *at)
{
    size_t  i, j, k;

    *max_held = 0;

    for (i = 0; i < nbinds; i++) {
        *max_held += binds[i].nroles;

        for (j = 0; j < binds[i].nroles; j++) {
            for (k = 0; k < nroles; k++) {
                if (roles[k].name.len == binds[i].roles[j].len
                    && memcmp(roles[k].name.data, binds[i].roles[j].data,
                              roles[k].name.len) == 0)
                {
                    break;
                }
            }

            if (k == nroles) {
                *undefined = binds[i].roles[j];
                *at = i;
                return -1;
            }
        }
    }

    return 0;
}


int
pprof_role_name_valid(pprof_str_t name)
{
    size_t  i;

    if (name.len == 0) {
        return 0;
    }

    for (i = 0; i < name.len; i++) {
        if (name.data[i] <= 0x20 || name.data[i] >= 0x7f
            || name.data[i] == ',' || name.data[i] == '"'
            || name.data[i] == '\\')
        {
            return 0;
        }
    }

    return 1;
}


int
pprof_roles_add(pprof_str_t role, pprof_str_t *held, size_t *nheld,
    size_t cap)
{
    size_t  i;

    for (i = 0; i < *nheld; i++) {
        if (str_eq(held[i], role)) {
            return 0;
        }
    }

    if (*nheld >= cap) {
        return -1;
    }

    held[(*nheld)++] = role;
    return 0;
}


/*
 * The message names the bind by its pattern, which the operator wrote, and
 * never the identity, which the client chose.
 */
int
pprof_policy_bind_roles(const pprof_bind_t *binds, size_t nbinds,
    pprof_str_t identity, pprof_str_t source, pprof_str_t *held,
    size_t *nheld, size_t cap, char *err, size_t errlen)
{
    size_t       i, j;
    int          rc;
    PCRE2_UCHAR  msg[128];

    for (i = 0; i < nbinds; i++) {
        rc = bind_matches(&binds[i], identity, source);

        if (rc < 0) {
            pcre2_get_error_message(rc, msg, sizeof(msg));
            snprintf(err, errlen, "pprof_bind \"~%s%.*s\": %s",
                     bind_caseless(&binds[i]) ? "*" : "",
                     (int) (binds[i].pattern.len > 256
                            ? 256 : binds[i].pattern.len),
                     (const char *) binds[i].pattern.data, (char *) msg);
            return -1;
        }

        for (j = 0; rc == 1 && j < binds[i].nroles; j++) {
            if (pprof_roles_add(binds[i].roles[j], held, nheld, cap) != 0) {
                snprintf(err, errlen, "more roles held than the %zu there "
                         "is room for", cap);
                return -1;
            }
        }
    }

    return 0;
}


static int
role_permits(const pprof_role_t *role, const pprof_endpoint_t *ep)
{
    size_t  i;

    if (role->classes & (1u << ep->cls)) {
        return 1;
    }

    /*
     * A name grants the endpoint only in the class its name stands for:
     * "heap" is the snapshot, not the 30-second delta capture of it.
     */
    if ((ep->cls == PPROF_CLASS_CAPTURE)
        != (ep->kind == PPROF_EP_PROFILE || ep->kind == PPROF_EP_TRACE))
    {
        return 0;
    }

    for (i = 0; i < role->nendpoints; i++) {
        if (str_eq(role->endpoints[i], ep->name)) {
            return 1;
        }
    }

    return 0;
}


pprof_reason_t
pprof_policy_authorize(const pprof_role_t *roles, size_t nroles,
    const pprof_str_t *held, size_t nheld, const pprof_endpoint_t *ep)
{
    size_t  i, j;

    for (i = 0; i < nheld; i++) {
        for (j = 0; j < nroles; j++) {
            if (str_eq(roles[j].name, held[i])
                && role_permits(&roles[j], ep))
            {
                return PPROF_OK;
            }
        }
    }

    return PPROF_FORBIDDEN;
}
