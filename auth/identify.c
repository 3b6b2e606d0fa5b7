/*
 * The ordered walk over identity sources.
 */

#include <string.h>

#include "auth.h"
#include "auth_source.h"


static const struct {
    const char           *name;
    pprof_auth_method_t   method;
    int                   available;
} sources[] = {
    { "cert", PPROF_AUTH_CERT, 1 },
    { "anonymous", PPROF_AUTH_ANONYMOUS, 1 },
    { "jwt", PPROF_AUTH_JWT, 0 },
    { "apikey", PPROF_AUTH_APIKEY, 0 },
};


const char *
pprof_auth_method_name(pprof_auth_method_t method)
{
    switch (method) {
    case PPROF_AUTH_CERT:
        return "cert";
    case PPROF_AUTH_JWT:
        return "jwt";
    case PPROF_AUTH_APIKEY:
        return "apikey";
    case PPROF_AUTH_VARIABLE:
        return "variable";
    case PPROF_AUTH_ANONYMOUS:
        return "anonymous";
    default:
        return "none";
    }
}


int
pprof_auth_source_parse(pprof_str_t word, pprof_auth_source_t *source,
    const char **err)
{
    size_t  i;

    if (word.len > 0 && word.data[0] == '$') {
        *err = "variable identity sources are not available in this build";
        return -1;
    }

    for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        if (word.len != strlen(sources[i].name)
            || memcmp(word.data, sources[i].name, word.len) != 0)
        {
            continue;
        }

        if (!sources[i].available) {
            *err = "is not available in this build";
            return -1;
        }

        source->method = sources[i].method;
        return 0;
    }

    *err = "is not an identity source (cert, anonymous)";
    return -1;
}


static void
identify_anonymous(pprof_auth_result_t *result)
{
    static const char  name[] = "anonymous";

    memcpy(result->identity, name, sizeof(name) - 1);
    result->identity_len = sizeof(name) - 1;
    result->reason = PPROF_OK;
}


void
pprof_auth_identify(const pprof_auth_source_t *list, size_t n,
    const pprof_auth_input_t *input, pprof_auth_result_t *result)
{
    size_t  i;

    result->reason = PPROF_UNAUTHENTICATED;
    result->method = PPROF_AUTH_NONE;
    result->detail = NULL;
    result->identity_len = 0;

    for (i = 0; i < n; i++) {
        result->method = list[i].method;

        switch (list[i].method) {

        case PPROF_AUTH_CERT:
            pprof_auth_cert(input, result);
            break;

        case PPROF_AUTH_ANONYMOUS:
            identify_anonymous(result);
            break;

        default:
            /* A source parse refused: reaching it is a bug, so deny. */
            result->reason = PPROF_INTERNAL_ERROR;
            result->detail = "unsupported identity source";
            break;
        }

        if (result->reason != PPROF_UNAUTHENTICATED) {
            if (result->reason != PPROF_OK) {
                result->identity_len = 0;
            }
            return;
        }
    }

    result->method = PPROF_AUTH_NONE;
}
