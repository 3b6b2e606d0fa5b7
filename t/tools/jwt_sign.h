/*
 * Test tooling: make keys, JWKs and compact JWS tokens, honest or hostile.
 *
 * Used by the unit tests (t/unit/test_jwt.c, test_identify.c) and by the
 * pprof-jwt command (t/tools/pprof_jwt.c) that the integration tests run.
 * OpenSSL 3 and jansson; every char * returned is malloc'd (free()), every
 * EVP_PKEY is the caller's (EVP_PKEY_free()).  NULL means failure.
 */

#ifndef PPROF_JWT_SIGN_H
#define PPROF_JWT_SIGN_H

#include <stddef.h>

#include <openssl/evp.h>


/* Keys. */

/*
 * A fresh private key fitting a JWS algorithm: RS256/384/512 and PS256
 * (RSA 2048), ES256 (P-256), ES384 (P-384), EdDSA (Ed25519).  NULL for
 * HS* and anything else: HMAC keys are bytes, see jwt_random().
 */
EVP_PKEY *jwt_keygen(const char *alg);

EVP_PKEY *jwt_keygen_rsa(unsigned bits);
EVP_PKEY *jwt_keygen_ec(const char *curve);      /* "P-256", "P-384" ... */
EVP_PKEY *jwt_keygen_ed25519(void);

/* Fills buf with random bytes (an oct key); 0 or -1. */
int jwt_random(unsigned char *buf, size_t len);


/* Encodings. */

/* base64url without padding. */
char *jwt_b64url(const unsigned char *data, size_t len);

/* Standard base64 with padding (for Authorization: Basic). */
char *jwt_b64std(const unsigned char *data, size_t len);


/* Signing. */

#define JWT_SIGN_ECDSA_DER   0x01   /* ES*: leave the signature as DER */
#define JWT_SIGN_PSS_SALT_MAX 0x02  /* PS*: the longest salt, not hLen */
#define JWT_SIGN_PSS_SALT_20 0x04   /* PS*: a 20-byte salt, not hLen */

/*
 * The raw signature of input[0..inlen) by algorithm alg: HS256/384/512 with
 * hmac_key (any bytes, a public key's PEM included), RS256/384/512,
 * PS256/384/512, ES256/384/512 (R || S, each as wide as the key's order),
 * EdDSA, or "none" (an empty signature).  The algorithm is applied to
 * whatever key is given, so ES384 with a P-256 key is possible.
 */
unsigned char *jwt_signature(const char *alg, EVP_PKEY *key,
    const unsigned char *hmac_key, size_t hmac_len,
    const unsigned char *input, size_t inlen, unsigned flags,
    size_t *siglen);

/*
 * "header_b64.payload_b64.signature": the segments are taken as given, so
 * a test can sign over non-canonical base64url.
 */
char *jwt_sign_segments(const char *alg, EVP_PKEY *key,
    const unsigned char *hmac_key, size_t hmac_len, const char *header_b64,
    const char *payload_b64, unsigned flags);

/*
 * A compact JWS of the exact bytes of header_json and payload_json (not
 * reparsed: duplicate keys and non-objects survive).  alg chooses how to
 * sign, whatever the header says.
 */
char *jwt_sign(const char *alg, EVP_PKEY *key,
    const unsigned char *hmac_key, size_t hmac_len, const char *header_json,
    const char *payload_json);

char *jwt_sign_flags(const char *alg, EVP_PKEY *key,
    const unsigned char *hmac_key, size_t hmac_len, const char *header_json,
    const char *payload_json, unsigned flags);


/* JWKs. */

/*
 * The public JWK of key as compact JSON: RSA (n, e), EC (crv, x, y; fixed
 * width coordinates), OKP (crv Ed25519, x).  kid and alg are added when not
 * NULL.
 */
char *jwt_jwk(EVP_PKEY *key, const char *kid, const char *alg);

/* {"kty":"oct","k":...} for an HMAC key. */
char *jwt_jwk_oct(const unsigned char *k, size_t len, const char *kid,
    const char *alg);

/* {"keys":[jwk...]} from JWKs in JSON; NULL if one does not parse. */
char *jwt_jwks(const char *const *jwks, size_t n);


/* PEM. */

/* The SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----") of key. */
char *jwt_pem_public(EVP_PKEY *key);

/* The SubjectPublicKeyInfo DER of key; *len set. */
unsigned char *jwt_der_public(EVP_PKEY *key, size_t *len);

int jwt_write_pem_public(EVP_PKEY *key, const char *path);
int jwt_write_pem_private(EVP_PKEY *key, const char *path);
EVP_PKEY *jwt_read_pem_private(const char *path);

/* A whole file; NULL on error.  *len set; a NUL follows the data. */
unsigned char *jwt_read_file(const char *path, size_t *len);

#endif /* PPROF_JWT_SIGN_H */
