/*
 * Private to auth/: the identity sources and what they share.  Each source
 * fills the result with OK, UNAUTHENTICATED (nothing offered) or
 * INVALID_CREDENTIAL.
 */

#ifndef PPROF_AUTH_SOURCE_H
#define PPROF_AUTH_SOURCE_H

#include <openssl/evp.h>

#include "auth.h"


void pprof_auth_cert(const pprof_auth_input_t *input,
    pprof_auth_result_t *result);
void pprof_auth_xfcc(const pprof_auth_input_t *input,
    pprof_auth_result_t *result);

/*
 * Whether a DNS name (dns set: letters, digits, '-', '_', '.', '*') or a
 * CN may stand as an identity.  Only a URI SAN may name a URI, so neither
 * may look like one (':' or '/'): a name that could pass for a SPIFFE ID
 * in a bind is refused.  Shared by cert and xfcc.
 */
int pprof_auth_name_valid(const unsigned char *p, size_t n, int dns);
void pprof_auth_apikey(const pprof_apikeys_t *keys, pprof_str_t user,
    pprof_str_t key, int basic, pprof_auth_result_t *result);

/*
 * Copies an identity if it is printable (ASCII only when ascii is set) and
 * fits; 0, or -1 with the result set to INVALID_CREDENTIAL and a detail.
 */
int pprof_auth_set_identity(pprof_auth_result_t *result,
    const unsigned char *data, size_t len, int ascii);

/* Adds a role name from a claim or the key file; -1 (result set) if bad. */
int pprof_auth_add_role(pprof_auth_result_t *result,
    const unsigned char *data, size_t len);

/* Whether a role name is usable: printable ASCII, no space, comma, quote. */
int pprof_auth_role_valid(const unsigned char *data, size_t len);

/*
 * Strict base64: url (RFC 4648 §5, no padding) or standard with padding.
 * Non-canonical input (wrong padding, unused bits set) fails.  0 or -1.
 */
int pprof_auth_b64_decode(const unsigned char *in, size_t len, int url,
    unsigned char *out, size_t cap, size_t *outlen);

/* Reads a whole configuration file (at most 1 MiB); free() the data. */
int pprof_auth_read_file(const char *path, unsigned char **data,
    size_t *len, char *err, size_t errlen);


/* JWKS and PEM keys, shared by jwks.c and jwt.c. */
typedef enum {
    PPROF_JWK_RSA = 0,
    PPROF_JWK_EC_P256,
    PPROF_JWK_EC_P384,
    PPROF_JWK_ED25519,
    PPROF_JWK_OCT
} pprof_jwk_type_t;

#define PPROF_JWK_KID_MAX  128

typedef struct {
    pprof_jwk_type_t  type;
    int               has_kid;
    size_t            kid_len;
    char              kid[PPROF_JWK_KID_MAX];
    char              alg[8];          /* the JWK's own "alg", or "" */
    EVP_PKEY         *pkey;            /* asymmetric keys */
    unsigned char    *secret;          /* oct keys */
    size_t            secret_len;
} pprof_jwk_t;

/* Whether a JWS algorithm name is one this build verifies. */
int pprof_jwt_alg_known(const char *name);

struct pprof_jwt_keys_s {
    size_t        n;
    pprof_jwk_t  *keys;
};

#endif /* PPROF_AUTH_SOURCE_H */
