/*
 * Keys for the jwt source: a JWKS document or PEM public keys, turned into
 * OpenSSL keys once, at configuration time.
 */

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_source.h"


#define JWK_MEMBER_MAX  1024            /* decoded RSA moduli up to 8192 bits */
#define RSA_BITS_MIN    2048
#define OCT_BYTES_MIN   32


typedef enum {
    JWK_OK = 0,
    JWK_SKIP,                           /* a kind of key this build ignores */
    JWK_BROKEN
} jwk_rc_t;


void
pprof_jwt_keys_free(pprof_jwt_keys_t *set)
{
    size_t  i;

    if (set == NULL) {
        return;
    }

    for (i = 0; i < set->n; i++) {
        EVP_PKEY_free(set->keys[i].pkey);
        if (set->keys[i].secret) {
            OPENSSL_clear_free(set->keys[i].secret, set->keys[i].secret_len);
        }
    }

    free(set->keys);
    free(set);
}


size_t
pprof_jwt_keys_count(const pprof_jwt_keys_t *set)
{
    return set ? set->n : 0;
}


static pprof_jwk_t *
push_key(pprof_jwt_keys_t *set)
{
    pprof_jwk_t  *grown;

    grown = realloc(set->keys, (set->n + 1) * sizeof(pprof_jwk_t));
    if (grown == NULL) {
        return NULL;
    }

    set->keys = grown;
    memset(&set->keys[set->n], 0, sizeof(pprof_jwk_t));
    return &set->keys[set->n++];
}


/* The type a verified-with key has, or -1 for one this build ignores. */
static int
pkey_type(EVP_PKEY *pkey, const char **why)
{
    char  group[32];

    if (EVP_PKEY_is_a(pkey, "RSA")) {
        if (EVP_PKEY_get_bits(pkey) < RSA_BITS_MIN) {
            *why = "RSA key shorter than 2048 bits";
            return -2;
        }
        return PPROF_JWK_RSA;
    }

    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        return PPROF_JWK_ED25519;
    }

    if (EVP_PKEY_is_a(pkey, "EC")
        && EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                          group, sizeof(group), NULL))
    {
        if (strcmp(group, "prime256v1") == 0) {
            return PPROF_JWK_EC_P256;
        }
        if (strcmp(group, "secp384r1") == 0) {
            return PPROF_JWK_EC_P384;
        }
    }

    return -1;
}


/* PEM blocks of any kind: each must be a public key that was read. */
static size_t
count_blocks(const unsigned char *data, size_t len)
{
    static const char  begin[] = "-----BEGIN ";

    size_t  i, n = 0;

    for (i = 0; i + sizeof(begin) - 1 <= len; i++) {
        n += memcmp(data + i, begin, sizeof(begin) - 1) == 0;
    }

    return n;
}


static pprof_jwt_keys_t *
parse_pem(const unsigned char *data, size_t len, size_t *skipped, char *err,
    size_t errlen)
{
    BIO               *bio;
    EVP_PKEY          *pkey;
    pprof_jwt_keys_t  *set;
    pprof_jwk_t       *key;
    const char        *why;
    int                type;

    set = calloc(1, sizeof(*set));
    bio = BIO_new_mem_buf(data, (int) len);
    if (set == NULL || bio == NULL) {
        free(set);
        BIO_free(bio);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    while ((pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) != NULL) {
        type = pkey_type(pkey, &why);

        if (type == -1) {
            (*skipped)++;
            EVP_PKEY_free(pkey);
            continue;
        }

        if (type < 0 || (key = push_key(set)) == NULL) {
            snprintf(err, errlen, "PEM key %zu: %s", set->n + *skipped + 1,
                     type < 0 ? why : "out of memory");
            EVP_PKEY_free(pkey);
            pprof_jwt_keys_free(set);
            BIO_free(bio);
            return NULL;
        }

        key->type = type;
        key->pkey = pkey;
    }

    /*
     * The reader stops at the first block it cannot parse and passes over
     * blocks of other kinds: every block must have become a key.
     */
    if (count_blocks(data, len) != set->n + *skipped) {
        snprintf(err, errlen, "PEM block %zu is broken or not a PUBLIC KEY",
                 set->n + *skipped + 1);
        pprof_jwt_keys_free(set);
        set = NULL;
    }

    ERR_clear_error();
    BIO_free(bio);
    return set;
}


/* A base64url member into buf; -1 if absent, malformed or out of size. */
static int
member(json_t *jwk, const char *name, unsigned char *buf, size_t cap,
    size_t *len)
{
    json_t      *v;
    const char  *s;

    v = json_object_get(jwk, name);
    if (!json_is_string(v)) {
        return -1;
    }

    s = json_string_value(v);

    return pprof_auth_b64_decode((const unsigned char *) s,
                                 json_string_length(v), 1, buf, cap, len);
}


static EVP_PKEY *
from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM    *params;
    EVP_PKEY_CTX  *ctx;
    EVP_PKEY      *pkey = NULL;

    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

    if (params == NULL || ctx == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        pkey = NULL;
    }

    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}


static jwk_rc_t
jwk_rsa(json_t *jwk, pprof_jwk_t *key, const char **why)
{
    unsigned char    n[JWK_MEMBER_MAX], e[16];
    size_t           nlen, elen;
    BIGNUM          *bn, *be;
    OSSL_PARAM_BLD  *bld;

    if (member(jwk, "n", n, sizeof(n), &nlen) != 0
        || member(jwk, "e", e, sizeof(e), &elen) != 0 || nlen == 0
        || elen == 0)
    {
        *why = "RSA key without valid \"n\" and \"e\"";
        return JWK_BROKEN;
    }

    bn = BN_bin2bn(n, (int) nlen, NULL);
    be = BN_bin2bn(e, (int) elen, NULL);
    bld = OSSL_PARAM_BLD_new();

    if (bn && be && bld
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn)
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
    {
        key->pkey = from_params("RSA", bld);
    }

    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);

    if (key->pkey == NULL) {
        *why = "RSA key rejected by OpenSSL";
        return JWK_BROKEN;
    }

    if (EVP_PKEY_get_bits(key->pkey) < RSA_BITS_MIN) {
        *why = "RSA key shorter than 2048 bits";
        return JWK_BROKEN;
    }

    key->type = PPROF_JWK_RSA;
    return JWK_OK;
}


static jwk_rc_t
jwk_ec(json_t *jwk, pprof_jwk_t *key, const char **why)
{
    unsigned char    point[1 + 2 * 48];
    size_t           size, xlen, ylen;
    const char      *crv, *group;
    OSSL_PARAM_BLD  *bld;
    EVP_PKEY_CTX    *check;

    crv = json_string_value(json_object_get(jwk, "crv"));

    if (crv && strcmp(crv, "P-256") == 0) {
        key->type = PPROF_JWK_EC_P256;
        group = "prime256v1";
        size = 32;

    } else if (crv && strcmp(crv, "P-384") == 0) {
        key->type = PPROF_JWK_EC_P384;
        group = "secp384r1";
        size = 48;

    } else if (crv) {
        return JWK_SKIP;                    /* P-521, secp256k1 ... */

    } else {
        *why = "EC key without \"crv\"";
        return JWK_BROKEN;
    }

    /* Coordinates are fixed-width (RFC 7518 §6.2.1.2). */
    point[0] = 0x04;
    if (member(jwk, "x", point + 1, size, &xlen) != 0
        || member(jwk, "y", point + 1 + size, size, &ylen) != 0
        || xlen != size || ylen != size)
    {
        *why = "EC key without valid \"x\" and \"y\"";
        return JWK_BROKEN;
    }

    bld = OSSL_PARAM_BLD_new();
    if (bld
        && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                           group, 0)
        && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                            point, 1 + 2 * size))
    {
        key->pkey = from_params("EC", bld);
    }
    OSSL_PARAM_BLD_free(bld);

    check = key->pkey ? EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL)
                      : NULL;

    if (check == NULL || EVP_PKEY_public_check(check) != 1) {
        EVP_PKEY_CTX_free(check);
        *why = "EC key is not a point on its curve";
        return JWK_BROKEN;
    }

    EVP_PKEY_CTX_free(check);
    return JWK_OK;
}


static jwk_rc_t
jwk_okp(json_t *jwk, pprof_jwk_t *key, const char **why)
{
    unsigned char  x[32];
    size_t         xlen;
    const char    *crv;

    crv = json_string_value(json_object_get(jwk, "crv"));
    if (crv == NULL) {
        *why = "OKP key without \"crv\"";
        return JWK_BROKEN;
    }

    if (strcmp(crv, "Ed25519") != 0) {
        return JWK_SKIP;                    /* Ed448, X25519 ... */
    }

    if (member(jwk, "x", x, sizeof(x), &xlen) != 0 || xlen != sizeof(x)) {
        *why = "Ed25519 key without a valid \"x\"";
        return JWK_BROKEN;
    }

    key->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen);
    if (key->pkey == NULL) {
        *why = "Ed25519 key rejected by OpenSSL";
        return JWK_BROKEN;
    }

    key->type = PPROF_JWK_ED25519;
    return JWK_OK;
}


static jwk_rc_t
jwk_oct(json_t *jwk, pprof_jwk_t *key, const char **why)
{
    unsigned char  k[JWK_MEMBER_MAX];
    size_t         klen;

    if (member(jwk, "k", k, sizeof(k), &klen) != 0) {
        *why = "oct key without a valid \"k\"";
        return JWK_BROKEN;
    }

    if (klen < OCT_BYTES_MIN) {
        OPENSSL_cleanse(k, sizeof(k));
        *why = "oct key shorter than 32 bytes";
        return JWK_BROKEN;
    }

    key->secret = OPENSSL_malloc(klen);
    if (key->secret == NULL) {
        *why = "out of memory";
        return JWK_BROKEN;
    }

    memcpy(key->secret, k, klen);
    key->secret_len = klen;
    OPENSSL_cleanse(k, sizeof(k));

    key->type = PPROF_JWK_OCT;
    return JWK_OK;
}


static jwk_rc_t
jwk_parse(json_t *jwk, pprof_jwk_t *key, const char **why)
{
    json_t      *v;
    const char  *kty, *use;

    if (!json_is_object(jwk)) {
        *why = "not a JSON object";
        return JWK_BROKEN;
    }

    kty = json_string_value(json_object_get(jwk, "kty"));
    if (kty == NULL) {
        *why = "no \"kty\"";
        return JWK_BROKEN;
    }

    /* A verifier has no business holding private keys, whatever their use. */
    if (strcmp(kty, "oct") != 0 && json_object_get(jwk, "d")) {
        *why = "holds private key material (\"d\")";
        return JWK_BROKEN;
    }

    use = json_string_value(json_object_get(jwk, "use"));
    if (use && strcmp(use, "sig") != 0) {
        return JWK_SKIP;
    }

    v = json_object_get(jwk, "kid");
    if (v) {
        if (!json_is_string(v) || json_string_length(v) == 0
            || json_string_length(v) >= PPROF_JWK_KID_MAX)
        {
            *why = "\"kid\" is not a string of 1 to 127 bytes";
            return JWK_BROKEN;
        }
        key->has_kid = 1;
        key->kid_len = json_string_length(v);
        memcpy(key->kid, json_string_value(v), key->kid_len);
    }

    v = json_object_get(jwk, "alg");
    if (v && !json_is_string(v)) {
        *why = "\"alg\" is not a string";
        return JWK_BROKEN;
    }

    if (v) {
        /*
         * A key meant for RSA1_5 or HS512 would load and never verify.
         * The length is checked here, not left to the parser's refusal
         * of "\u0000": a name cut at a NUL could pass for a known one.
         */
        if (json_string_length(v) >= sizeof(key->alg)
            || strlen(json_string_value(v)) != json_string_length(v)
            || !pprof_jwt_alg_known(json_string_value(v)))
        {
            return JWK_SKIP;
        }
        memcpy(key->alg, json_string_value(v), json_string_length(v) + 1);
    }

    if (strcmp(kty, "RSA") == 0) {
        return jwk_rsa(jwk, key, why);
    }
    if (strcmp(kty, "EC") == 0) {
        return jwk_ec(jwk, key, why);
    }
    if (strcmp(kty, "OKP") == 0) {
        return jwk_okp(jwk, key, why);
    }
    if (strcmp(kty, "oct") == 0) {
        return jwk_oct(jwk, key, why);
    }

    return JWK_SKIP;
}


static pprof_jwt_keys_t *
parse_jwks(const unsigned char *data, size_t len, size_t *skipped, char *err,
    size_t errlen)
{
    json_t            *doc, *list;
    json_error_t       jerr;
    pprof_jwt_keys_t  *set;
    pprof_jwk_t       *key;
    const char        *why;
    jwk_rc_t           rc;
    size_t             i;

    doc = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        snprintf(err, errlen, "JWKS is not JSON: %s at line %d", jerr.text,
                 jerr.line);
        return NULL;
    }

    list = json_object_get(doc, "keys");
    set = calloc(1, sizeof(*set));

    if (!json_is_array(list) || set == NULL) {
        snprintf(err, errlen, set ? "JWKS has no \"keys\" array"
                                  : "out of memory");
        json_decref(doc);
        free(set);
        return NULL;
    }

    for (i = 0; i < json_array_size(list); i++) {
        key = push_key(set);
        if (key == NULL) {
            snprintf(err, errlen, "out of memory");
            goto failed;
        }

        why = NULL;
        rc = jwk_parse(json_array_get(list, i), key, &why);

        if (rc == JWK_BROKEN) {
            snprintf(err, errlen, "JWKS key %zu: %s", i + 1, why);
            goto failed;
        }

        if (rc == JWK_SKIP) {
            EVP_PKEY_free(key->pkey);
            set->n--;
            (*skipped)++;
        }
    }

    json_decref(doc);
    return set;

failed:

    json_decref(doc);
    pprof_jwt_keys_free(set);
    return NULL;
}


pprof_jwt_keys_t *
pprof_jwt_keys_parse(const unsigned char *data, size_t len, size_t *skipped,
    char *err, size_t errlen)
{
    pprof_jwt_keys_t  *set;
    size_t             i;

    *skipped = 0;

    for (i = 0; i < len && (data[i] == ' ' || data[i] == '\t'
                            || data[i] == '\r' || data[i] == '\n'); i++)
    {
        /* skip leading white space */
    }

    if (i < len && data[i] == '{') {
        set = parse_jwks(data, len, skipped, err, errlen);
    } else {
        set = parse_pem(data, len, skipped, err, errlen);
    }

    if (set && set->n == 0) {
        snprintf(err, errlen, "no usable key (%zu skipped)", *skipped);
        pprof_jwt_keys_free(set);
        return NULL;
    }

    return set;
}


pprof_jwt_keys_t *
pprof_jwt_keys_load(const char *path, size_t *skipped, char *err,
    size_t errlen)
{
    unsigned char     *data;
    size_t             len;
    pprof_jwt_keys_t  *set;

    *skipped = 0;

    if (pprof_auth_read_file(path, &data, &len, err, errlen) != 0) {
        return NULL;
    }

    set = pprof_jwt_keys_parse(data, len, skipped, err, errlen);
    OPENSSL_cleanse(data, len);
    free(data);
    return set;
}
