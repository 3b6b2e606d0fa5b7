/*
 * The ordered walk over identity sources, the Authorization header they
 * share, and the rules every identity and role name obeys.
 */

#include <openssl/crypto.h>
#include <string.h>

#include "auth_source.h"


static const struct {
    const char           *name;
    pprof_auth_method_t   method;
} sources[] = {
    { "cert", PPROF_AUTH_CERT },
    { "xfcc", PPROF_AUTH_XFCC },
    { "jwt", PPROF_AUTH_JWT },
    { "apikey", PPROF_AUTH_APIKEY },
    { "anonymous", PPROF_AUTH_ANONYMOUS },
};


typedef enum {
    CREDENTIAL_NONE = 0,
    CREDENTIAL_JWT,            /* Bearer, three dot-separated segments */
    CREDENTIAL_BEARER,         /* Bearer, anything else */
    CREDENTIAL_BASIC,
    CREDENTIAL_OTHER
} credential_t;


const char *
pprof_auth_method_name(pprof_auth_method_t method)
{
    size_t  i;

    if (method == PPROF_AUTH_VARIABLE) {
        return "variable";
    }

    for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        if (sources[i].method == method) {
            return sources[i].name;
        }
    }

    return "none";
}


int
pprof_auth_source_parse(pprof_str_t word, pprof_auth_source_t *source,
    const char **err)
{
    size_t  i;

    memset(source, 0, sizeof(*source));

    if (word.len > 0 && word.data[0] == '$') {
        if (word.len == 1) {
            *err = "names no variable";
            return -1;
        }
        source->method = PPROF_AUTH_VARIABLE;
        return 0;
    }

    for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        if (word.len == strlen(sources[i].name)
            && memcmp(word.data, sources[i].name, word.len) == 0)
        {
            source->method = sources[i].method;
            return 0;
        }
    }

    *err = "is not an identity source (cert, xfcc, jwt, apikey, $variable, "
           "anonymous)";
    return -1;
}


const char *
pprof_auth_challenge(const pprof_auth_source_t *list, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (list[i].method == PPROF_AUTH_JWT
            || list[i].method == PPROF_AUTH_APIKEY)
        {
            return "Bearer realm=\"pprof\"";
        }
    }

    return NULL;
}

pprof_tls_conflict_t
pprof_auth_tls_conflict(const pprof_auth_source_t *list, size_t n, int tls,
    pprof_tls_verify_t verify)
{
    size_t  i;
    int     cert, key;

    cert = 0;
    key = 0;

    for (i = 0; i < n; i++) {
        cert |= (list[i].method == PPROF_AUTH_CERT);
        key |= (list[i].method == PPROF_AUTH_JWT
                || list[i].method == PPROF_AUTH_APIKEY);
    }

    if (cert && verify == PPROF_TLS_VERIFY_OFF) {
        return PPROF_TLS_CONFLICT_CERT_UNASKED;
    }

    /* Without certificates the server has no handshake to refuse in. */
    if (key && tls && verify == PPROF_TLS_VERIFY_ON) {
        return PPROF_TLS_CONFLICT_KEY_REFUSED;
    }

    return PPROF_TLS_CONFLICT_NONE;
}


/*
 * Identities end up in logs, headers and JSON: control characters, C0 and
 * C1 (U+0080-U+009F, 0xc2 0x80-0x9f in UTF-8), are refused rather than
 * escaped so that no consumer can be confused by them.  URI and DNS SANs
 * are IA5Strings, so a byte above 0x7f there is a malformed name.
 */
int
pprof_auth_set_identity(pprof_auth_result_t *result,
    const unsigned char *data, size_t len, int ascii)
{
    size_t  i;

    if (len == 0 || len > PPROF_IDENTITY_MAX) {
        /* Every request leaves a record: this one says whom it named. */
        if (len > PPROF_IDENTITY_MAX) {
            memcpy(result->identity, data, PPROF_IDENTITY_MAX);
            result->refused_len = PPROF_IDENTITY_MAX;
        }

        result->reason = PPROF_INVALID_CREDENTIAL;
        result->detail = "identity is empty or too long";
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (data[i] < 0x20 || data[i] == 0x7f
            || (ascii && data[i] > 0x7f)
            || (data[i] == 0xc2 && i + 1 < len
                && data[i + 1] >= 0x80 && data[i + 1] <= 0x9f))
        {
            result->reason = PPROF_INVALID_CREDENTIAL;
            result->detail = ascii && data[i] > 0x7f
                             ? "identity is not ASCII"
                             : "identity contains control characters";
            return -1;
        }
    }

    memcpy(result->identity, data, len);
    result->identity_len = len;
    result->reason = PPROF_OK;
    return 0;
}


int
pprof_auth_role_valid(const unsigned char *data, size_t len)
{
    pprof_str_t  name;

    name.data = data;
    name.len = len;

    return len <= PPROF_AUTH_ROLE_MAX && pprof_role_name_valid(name);
}


int
pprof_auth_add_role(pprof_auth_result_t *result, const unsigned char *data,
    size_t len)
{
    unsigned char  *p;

    if (!pprof_auth_role_valid(data, len)) {
        result->reason = PPROF_INVALID_CREDENTIAL;
        result->detail = "a role name is empty, too long or not printable";
        return -1;
    }

    if (result->nroles == PPROF_AUTH_ROLES_MAX) {
        result->reason = PPROF_INVALID_CREDENTIAL;
        result->detail = "too many roles";
        return -1;
    }

    p = result->rolebuf + result->nroles * PPROF_AUTH_ROLE_MAX;
    memcpy(p, data, len);

    result->roles[result->nroles].data = p;
    result->roles[result->nroles].len = len;
    result->nroles++;

    return 0;
}


static int
scheme_is(pprof_str_t value, const char *scheme, pprof_str_t *rest)
{
    size_t  i, n = strlen(scheme);

    if (value.len <= n || value.data[n] != ' '
        || !pprof_ascii_starts_ci(value, scheme))
    {
        return 0;
    }

    for (i = n; i < value.len && value.data[i] == ' '; i++) {
        /* skip the separating spaces */
    }

    rest->data = value.data + i;
    rest->len = value.len - i;
    return 1;
}


static credential_t
credential_kind(pprof_str_t authorization, pprof_str_t *credential)
{
    size_t  i, dots;

    if (authorization.len == 0) {
        return CREDENTIAL_NONE;
    }

    if (scheme_is(authorization, "basic", credential)) {
        return CREDENTIAL_BASIC;
    }

    if (!scheme_is(authorization, "bearer", credential)) {
        return CREDENTIAL_OTHER;
    }

    for (i = 0, dots = 0; i < credential->len; i++) {
        dots += credential->data[i] == '.';
    }

    return dots == 2 ? CREDENTIAL_JWT : CREDENTIAL_BEARER;
}


/* Basic base64(user:key) into its two halves, in the result's scratch. */
static void
identify_basic(const pprof_auth_source_t *source, pprof_str_t credential,
    pprof_auth_result_t *result)
{
    unsigned char  *colon;
    size_t          n;
    pprof_str_t     user, key;

    /* The identity buffer is free until an identity is set: decode there. */
    if (pprof_auth_b64_decode(credential.data, credential.len, 0,
                              result->identity, sizeof(result->identity), &n)
        != 0)
    {
        result->reason = PPROF_INVALID_CREDENTIAL;
        result->detail = "malformed Basic credentials";
        return;
    }

    colon = memchr(result->identity, ':', n);
    if (colon == NULL) {
        result->reason = PPROF_INVALID_CREDENTIAL;
        result->detail = "malformed Basic credentials";
        return;
    }

    user.data = result->identity;
    user.len = colon - result->identity;
    key.data = colon + 1;
    key.len = n - user.len - 1;

    pprof_auth_apikey(source->apikeys, user, key, 1, result);

    /* What follows the identity is the rest of "user:key": wipe it. */
    if (n > result->identity_len) {
        OPENSSL_cleanse(result->identity + result->identity_len,
                        n - result->identity_len);
    }
}


static void
identify_variable(const pprof_auth_source_t *source,
    const pprof_auth_input_t *input, pprof_auth_result_t *result)
{
    pprof_str_t  value;

    if (source->variable >= input->nvariables) {
        result->reason = PPROF_INTERNAL_ERROR;
        result->detail = "identity variable was not evaluated";
        return;
    }

    value = input->variables[source->variable];

    if (value.len == 0) {
        result->reason = PPROF_UNAUTHENTICATED;
        return;
    }

    (void) pprof_auth_set_identity(result, value.data, value.len, 0);
}


void
pprof_auth_identify(const pprof_auth_source_t *list, size_t n,
    const pprof_auth_input_t *input, pprof_auth_result_t *result)
{
    size_t        i;
    int           claimed, readers, certs;
    pprof_str_t   credential;
    credential_t  kind;

    result->reason = PPROF_UNAUTHENTICATED;
    result->method = PPROF_AUTH_NONE;
    result->detail = NULL;
    result->told = NULL;
    result->token_error = NULL;
    result->identity_len = 0;
    result->refused_len = 0;
    result->nroles = 0;

    kind = credential_kind(input->authorization, &credential);
    claimed = 0;
    readers = 0;
    certs = 0;

    for (i = 0; i < n; i++) {
        result->reason = PPROF_UNAUTHENTICATED;
        result->method = list[i].method;

        switch (list[i].method) {

        case PPROF_AUTH_CERT:
            certs = 1;
            pprof_auth_cert(input, result);
            break;

        case PPROF_AUTH_XFCC:
            pprof_auth_xfcc(input, result);
            break;

        case PPROF_AUTH_JWT:
            readers = 1;
            if (kind == CREDENTIAL_JWT) {
                claimed = 1;
                pprof_jwt_verify(list[i].jwt, credential, input->now,
                                 result);
            }
            break;

        case PPROF_AUTH_APIKEY:
            readers = 1;
            if (list[i].apikeys == NULL && kind != CREDENTIAL_NONE) {
                result->reason = PPROF_INTERNAL_ERROR;
                result->detail = "apikey source without keys";

            } else if (kind == CREDENTIAL_BEARER) {
                claimed = 1;
                pprof_auth_apikey(list[i].apikeys, (pprof_str_t) { NULL, 0 },
                                  credential, 0, result);

            } else if (kind == CREDENTIAL_BASIC) {
                claimed = 1;
                identify_basic(&list[i], credential, result);
            }
            break;

        case PPROF_AUTH_VARIABLE:
            identify_variable(&list[i], input, result);
            break;

        case PPROF_AUTH_ANONYMOUS:
            (void) pprof_auth_set_identity(result,
                                           (const unsigned char *) "anonymous",
                                           sizeof("anonymous") - 1, 1);
            break;

        default:
            result->reason = PPROF_INTERNAL_ERROR;
            result->detail = "unsupported identity source";
            break;
        }

        if (result->reason != PPROF_UNAUTHENTICATED) {
            if (result->reason != PPROF_OK) {
                result->identity_len = 0;
                result->nroles = 0;
            }
            goto told;
        }
    }

    result->method = PPROF_AUTH_NONE;
    result->identity_len = 0;
    result->refused_len = 0;
    result->nroles = 0;

    /* A bearer or basic credential that no configured reader took. */
    if (readers && kind != CREDENTIAL_NONE && !claimed) {
        result->reason = PPROF_INVALID_CREDENTIAL;
        result->detail = "no identity source accepts this kind of credential";
        result->token_error = "this kind of credential is not accepted here";

    } else if (certs && input->cert == NULL) {
        result->detail = input->no_cert;
    }

told:

    /*
     * RFC 6750's error="invalid_token" answers a Bearer token: a refused
     * Basic credential or another scheme is told in the body alone.
     */
    result->told = result->token_error;

    if (kind != CREDENTIAL_JWT && kind != CREDENTIAL_BEARER) {
        result->token_error = NULL;
    }
}
