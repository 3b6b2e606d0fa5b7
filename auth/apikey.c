/*
 * The apikey source: keys from `Authorization: Bearer <key>` or the password
 * of `Basic`, so that tools which take only a URL (name:key@host) can use
 * them.  The file holds SHA-256 digests, never keys, and every digest is
 * compared in constant time.
 */

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_source.h"


#define DIGEST_LEN  32


typedef struct {
    unsigned char   digest[DIGEST_LEN];
    unsigned char  *identity;
    size_t          identity_len;
    unsigned char  *roles;          /* role names, each NUL-terminated */
    size_t          nroles;
} apikey_t;

struct pprof_apikeys_s {
    size_t     n;
    apikey_t  *keys;
};


void
pprof_apikeys_free(pprof_apikeys_t *set)
{
    size_t  i;

    if (set == NULL) {
        return;
    }

    for (i = 0; i < set->n; i++) {
        free(set->keys[i].identity);
        free(set->keys[i].roles);
    }

    free(set->keys);
    free(set);
}


size_t
pprof_apikeys_count(const pprof_apikeys_t *set)
{
    return set ? set->n : 0;
}


static int
is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r';
}


static int
hex_digit(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


/* The next whitespace-separated word of [*p, end); 0 at the end. */
static size_t
next_word(const unsigned char **p, const unsigned char *end,
    const unsigned char **word)
{
    const unsigned char  *s;

    while (*p < end && is_space(**p)) {
        (*p)++;
    }

    s = *p;
    while (*p < end && !is_space(**p)) {
        (*p)++;
    }

    *word = s;
    return *p - s;
}


static const char *
parse_line(const unsigned char *p, const unsigned char *end, apikey_t *key)
{
    const unsigned char  *w;
    size_t                n, i, size;
    unsigned char        *r;
    pprof_auth_result_t   check;
    const unsigned char  *roles;

    n = next_word(&p, end, &w);
    if (n != DIGEST_LEN * 2) {
        return "the key digest is not 64 hex digits";
    }

    for (i = 0; i < DIGEST_LEN; i++) {
        if (hex_digit(w[2 * i]) < 0 || hex_digit(w[2 * i + 1]) < 0) {
            return "the key digest is not 64 hex digits";
        }
        key->digest[i] = (unsigned char) (hex_digit(w[2 * i]) << 4
                                          | hex_digit(w[2 * i + 1]));
    }

    n = next_word(&p, end, &w);
    if (n == 0) {
        return "no identity after the key digest";
    }

    if (pprof_auth_set_identity(&check, w, n, 0) != 0) {
        return check.detail;
    }

    key->identity = malloc(n);
    if (key->identity == NULL) {
        return "out of memory";
    }
    memcpy(key->identity, w, n);
    key->identity_len = n;

    roles = p;
    size = 0;
    while ((n = next_word(&p, end, &w)) != 0) {
        if (!pprof_auth_role_valid(w, n)) {
            return "a role name is too long or not printable";
        }
        if (++key->nroles > PPROF_AUTH_ROLES_MAX) {
            return "too many roles";
        }
        size += n + 1;
    }

    key->roles = malloc(size + 1);
    if (key->roles == NULL) {
        return "out of memory";
    }

    r = key->roles;
    p = roles;
    while ((n = next_word(&p, end, &w)) != 0) {
        memcpy(r, w, n);
        r[n] = '\0';
        r += n + 1;
    }

    return NULL;
}


pprof_apikeys_t *
pprof_apikeys_parse(const unsigned char *data, size_t len, char *err,
    size_t errlen)
{
    const unsigned char  *p, *end, *eol, *hash;
    const char           *why;
    pprof_apikeys_t      *set;
    apikey_t             *grown;
    size_t                line, i;

    set = calloc(1, sizeof(*set));
    if (set == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    p = data;
    end = data + len;

    for (line = 1; p < end; line++, p = eol + 1) {
        eol = memchr(p, '\n', end - p);
        if (eol == NULL) {
            eol = end;
        }

        hash = memchr(p, '#', eol - p);
        if (hash == NULL) {
            hash = eol;
        }

        i = 0;
        while (p + i < hash && is_space(p[i])) {
            i++;
        }
        if (p + i == hash) {
            continue;                  /* blank or comment only */
        }

        grown = realloc(set->keys, (set->n + 1) * sizeof(apikey_t));
        if (grown == NULL) {
            snprintf(err, errlen, "out of memory");
            goto failed;
        }
        set->keys = grown;
        memset(&set->keys[set->n], 0, sizeof(apikey_t));
        set->n++;

        why = parse_line(p, hash, &set->keys[set->n - 1]);
        if (why) {
            snprintf(err, errlen, "line %zu: %s", line, why);
            goto failed;
        }

        for (i = 0; i + 1 < set->n; i++) {
            if (memcmp(set->keys[i].digest, set->keys[set->n - 1].digest,
                       DIGEST_LEN) == 0)
            {
                snprintf(err, errlen, "line %zu: the same key is listed "
                         "twice", line);
                goto failed;
            }
        }
    }

    return set;

failed:

    pprof_apikeys_free(set);
    return NULL;
}


pprof_apikeys_t *
pprof_apikeys_load(const char *path, char *err, size_t errlen)
{
    unsigned char    *data;
    size_t            len;
    pprof_apikeys_t  *set;

    if (pprof_auth_read_file(path, &data, &len, err, errlen) != 0) {
        return NULL;
    }

    set = pprof_apikeys_parse(data, len, err, errlen);
    free(data);
    return set;
}


/*
 * One sentence for the client, whatever failed: telling a wrong name from
 * a wrong key would say which keys are real.
 */
static const char  apikey_refused[] = "the API key is not recognised";


void
pprof_auth_apikey(const pprof_apikeys_t *set, pprof_str_t user,
    pprof_str_t key, int basic, pprof_auth_result_t *result)
{
    unsigned char        digest[DIGEST_LEN];
    unsigned int         dlen;
    size_t               i, found;
    const apikey_t      *k;
    const unsigned char  *r;

    if (key.len == 0 || key.len > PPROF_APIKEY_MAX) {
        result->reason = PPROF_INVALID_CREDENTIAL;
        result->detail = basic ? "Basic password is not a usable API key"
                               : "bearer token is not a usable API key";
        result->token_error = apikey_refused;
        return;
    }

    if (EVP_Digest(key.data, key.len, digest, &dlen, EVP_sha256(), NULL)
        != 1)
    {
        result->reason = PPROF_INTERNAL_ERROR;
        result->detail = "SHA-256 failed";
        return;
    }

    /* Every entry is compared, so the time taken does not tell which. */
    found = set->n;
    for (i = 0; i < set->n; i++) {
        if (CRYPTO_memcmp(digest, set->keys[i].digest, DIGEST_LEN) == 0) {
            found = i;
        }
    }

    if (found == set->n) {
        result->reason = PPROF_INVALID_CREDENTIAL;
        result->detail = "unknown API key";
        result->token_error = apikey_refused;
        return;
    }

    k = &set->keys[found];

    /* name:key@host: a name, when given, must be the key's own. */
    if (user.len
        && (user.len != k->identity_len
            || memcmp(user.data, k->identity, user.len) != 0))
    {
        result->reason = PPROF_INVALID_CREDENTIAL;
        result->detail = "the user name is not the API key's identity";
        result->token_error = apikey_refused;
        return;
    }

    if (pprof_auth_set_identity(result, k->identity, k->identity_len, 0)
        != 0)
    {
        return;
    }

    for (i = 0, r = k->roles; i < k->nroles; i++, r += strlen((char *) r) + 1) {
        if (pprof_auth_add_role(result, r, strlen((const char *) r)) != 0) {
            return;
        }
    }
}
