/*
 * Test tooling: keys, JWKs and compact JWS tokens.  See jwt_sign.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "jwt_sign.h"


/* Keys. */

EVP_PKEY *
jwt_keygen_rsa(unsigned bits)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) bits);
}


EVP_PKEY *
jwt_keygen_ec(const char *curve)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
}


EVP_PKEY *
jwt_keygen_ed25519(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}


EVP_PKEY *
jwt_keygen(const char *alg)
{
    if (alg == NULL) {
        return NULL;
    }

    if (alg[0] == 'R' || alg[0] == 'P') {
        if (strcmp(alg + 1, "S256") == 0 || strcmp(alg + 1, "S384") == 0
            || strcmp(alg + 1, "S512") == 0)
        {
            return jwt_keygen_rsa(2048);
        }
        return NULL;
    }

    if (strcmp(alg, "ES256") == 0) {
        return jwt_keygen_ec("P-256");
    }

    if (strcmp(alg, "ES384") == 0) {
        return jwt_keygen_ec("P-384");
    }

    if (strcmp(alg, "EdDSA") == 0) {
        return jwt_keygen_ed25519();
    }

    return NULL;
}


int
jwt_random(unsigned char *buf, size_t len)
{
    if (len == 0) {
        return 0;
    }

    if (len > 0x7fffffff) {
        return -1;
    }

    return RAND_bytes(buf, (int) len) == 1 ? 0 : -1;
}


/* Encodings. */

static char *
b64(const unsigned char *data, size_t len, const char *alphabet, int pad)
{
    char    *out, *p;
    size_t   i;
    unsigned v;

    out = malloc(len / 3 * 4 + 5);
    if (out == NULL) {
        return NULL;
    }

    p = out;

    for (i = 0; i + 3 <= len; i += 3) {
        v = (unsigned) data[i] << 16 | (unsigned) data[i + 1] << 8
            | data[i + 2];
        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
        *p++ = alphabet[v >> 6 & 63];
        *p++ = alphabet[v & 63];
    }

    if (len - i == 1) {
        v = (unsigned) data[i] << 16;
        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
        if (pad) {
            *p++ = '=';
            *p++ = '=';
        }

    } else if (len - i == 2) {
        v = (unsigned) data[i] << 16 | (unsigned) data[i + 1] << 8;
        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
        *p++ = alphabet[v >> 6 & 63];
        if (pad) {
            *p++ = '=';
        }
    }

    *p = '\0';
    return out;
}


char *
jwt_b64url(const unsigned char *data, size_t len)
{
    return b64(data, len,
               "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
               "0123456789-_", 0);
}


char *
jwt_b64std(const unsigned char *data, size_t len)
{
    return b64(data, len,
               "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
               "0123456789+/", 1);
}


/* Signing. */

static const EVP_MD *
alg_md(const char *alg)
{
    const char  *bits = alg + 2;

    if (strlen(alg) != 5) {
        return NULL;
    }

    if (strcmp(bits, "256") == 0) {
        return EVP_sha256();
    }
    if (strcmp(bits, "384") == 0) {
        return EVP_sha384();
    }
    if (strcmp(bits, "512") == 0) {
        return EVP_sha512();
    }

    return NULL;
}


static unsigned char *
sign_hmac(const EVP_MD *md, const unsigned char *key, size_t keylen,
    const unsigned char *in, size_t inlen, size_t *siglen)
{
    static const unsigned char  empty[1] = { 0 };

    unsigned char  *out;

    out = malloc(EVP_MAX_MD_SIZE);
    if (out == NULL) {
        return NULL;
    }

    if (EVP_Q_mac(NULL, "HMAC", NULL, EVP_MD_get0_name(md), NULL,
                  keylen ? (const void *) key : (const void *) empty, keylen,
                  in, inlen, out, EVP_MAX_MD_SIZE, siglen)
        == NULL)
    {
        free(out);
        return NULL;
    }

    return out;
}


/* DER ECDSA-Sig-Value to R || S, each width bytes. */
static unsigned char *
ecdsa_raw(const unsigned char *der, size_t derlen, size_t width,
    size_t *siglen)
{
    const unsigned char  *p = der;
    const BIGNUM         *r, *s;
    ECDSA_SIG            *sig;
    unsigned char        *out;

    sig = d2i_ECDSA_SIG(NULL, &p, (long) derlen);
    if (sig == NULL) {
        return NULL;
    }

    ECDSA_SIG_get0(sig, &r, &s);

    out = malloc(2 * width);
    if (out == NULL
        || BN_bn2binpad(r, out, (int) width) < 0
        || BN_bn2binpad(s, out + width, (int) width) < 0)
    {
        free(out);
        ECDSA_SIG_free(sig);
        return NULL;
    }

    ECDSA_SIG_free(sig);
    *siglen = 2 * width;
    return out;
}


static unsigned char *
sign_pkey(const char *alg, EVP_PKEY *key, const unsigned char *in,
    size_t inlen, unsigned flags, size_t *siglen)
{
    const EVP_MD   *md;
    EVP_MD_CTX     *ctx;
    EVP_PKEY_CTX   *pctx;
    unsigned char  *sig, *raw;
    size_t          len;
    int             eddsa, ecdsa, pss;

    if (key == NULL) {
        return NULL;
    }

    eddsa = strcmp(alg, "EdDSA") == 0;
    ecdsa = strncmp(alg, "ES", 2) == 0;
    pss = strncmp(alg, "PS", 2) == 0;

    if (eddsa) {
        md = NULL;

    } else if (ecdsa || pss || strncmp(alg, "RS", 2) == 0) {
        md = alg_md(alg);
        if (md == NULL) {
            return NULL;
        }

    } else {
        return NULL;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return NULL;
    }

    sig = NULL;
    pctx = NULL;

    if (EVP_DigestSignInit(ctx, &pctx, md, NULL, key) != 1) {
        goto failed;
    }

    if (pss) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1
            || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
                   (flags & JWT_SIGN_PSS_SALT_MAX) ? RSA_PSS_SALTLEN_MAX
                   : (flags & JWT_SIGN_PSS_SALT_20) ? 20
                   : EVP_MD_get_size(md)) != 1)
        {
            goto failed;
        }
    }

    if (EVP_DigestSign(ctx, NULL, &len, in, inlen) != 1) {
        goto failed;
    }

    sig = malloc(len ? len : 1);
    if (sig == NULL || EVP_DigestSign(ctx, sig, &len, in, inlen) != 1) {
        goto failed;
    }

    EVP_MD_CTX_free(ctx);

    if (ecdsa && !(flags & JWT_SIGN_ECDSA_DER)) {
        raw = ecdsa_raw(sig, len, (size_t) (EVP_PKEY_get_bits(key) + 7) / 8,
                        siglen);
        free(sig);
        return raw;
    }

    *siglen = len;
    return sig;

failed:

    free(sig);
    EVP_MD_CTX_free(ctx);
    return NULL;
}


unsigned char *
jwt_signature(const char *alg, EVP_PKEY *key, const unsigned char *hmac_key,
    size_t hmac_len, const unsigned char *input, size_t inlen,
    unsigned flags, size_t *siglen)
{
    const EVP_MD  *md;

    if (alg == NULL) {
        return NULL;
    }

    if (strcmp(alg, "none") == 0) {
        *siglen = 0;
        return calloc(1, 1);
    }

    if (strncmp(alg, "HS", 2) == 0) {
        md = alg_md(alg);
        if (md == NULL) {
            return NULL;
        }
        return sign_hmac(md, hmac_key, hmac_len, input, inlen, siglen);
    }

    return sign_pkey(alg, key, input, inlen, flags, siglen);
}


char *
jwt_sign_segments(const char *alg, EVP_PKEY *key,
    const unsigned char *hmac_key, size_t hmac_len, const char *header_b64,
    const char *payload_b64, unsigned flags)
{
    unsigned char  *sig;
    size_t          hlen, plen, siglen;
    char           *input, *sig64, *token;

    hlen = strlen(header_b64);
    plen = strlen(payload_b64);

    input = malloc(hlen + plen + 2);
    if (input == NULL) {
        return NULL;
    }

    memcpy(input, header_b64, hlen);
    input[hlen] = '.';
    memcpy(input + hlen + 1, payload_b64, plen + 1);

    sig = jwt_signature(alg, key, hmac_key, hmac_len,
                        (const unsigned char *) input, hlen + 1 + plen, flags,
                        &siglen);
    if (sig == NULL) {
        free(input);
        return NULL;
    }

    sig64 = jwt_b64url(sig, siglen);
    free(sig);

    if (sig64 == NULL) {
        free(input);
        return NULL;
    }

    token = malloc(hlen + plen + strlen(sig64) + 3);
    if (token != NULL) {
        sprintf(token, "%s.%s", input, sig64);
    }

    free(input);
    free(sig64);
    return token;
}


char *
jwt_sign_flags(const char *alg, EVP_PKEY *key, const unsigned char *hmac_key,
    size_t hmac_len, const char *header_json, const char *payload_json,
    unsigned flags)
{
    char  *h, *p, *token;

    h = jwt_b64url((const unsigned char *) header_json, strlen(header_json));
    p = jwt_b64url((const unsigned char *) payload_json,
                   strlen(payload_json));

    token = (h && p) ? jwt_sign_segments(alg, key, hmac_key, hmac_len, h, p,
                                         flags)
                     : NULL;
    free(h);
    free(p);
    return token;
}


char *
jwt_sign(const char *alg, EVP_PKEY *key, const unsigned char *hmac_key,
    size_t hmac_len, const char *header_json, const char *payload_json)
{
    return jwt_sign_flags(alg, key, hmac_key, hmac_len, header_json,
                          payload_json, 0);
}


/* JWKs. */

static int
set_b64(json_t *obj, const char *name, const unsigned char *data, size_t len)
{
    char  *s;
    int    rc;

    s = jwt_b64url(data, len);
    if (s == NULL) {
        return -1;
    }

    rc = json_object_set_new(obj, name, json_string(s));
    free(s);
    return rc;
}


/* A big number, unsigned big-endian, width bytes (0: minimal). */
static int
set_bn(json_t *obj, const char *name, EVP_PKEY *key, const char *param,
    size_t width)
{
    BIGNUM         *bn = NULL;
    unsigned char  *buf;
    int             len, rc;

    if (EVP_PKEY_get_bn_param(key, param, &bn) != 1) {
        return -1;
    }

    len = width ? (int) width : BN_num_bytes(bn);
    if (len == 0) {
        len = 1;
    }

    buf = malloc((size_t) len);
    if (buf == NULL || BN_bn2binpad(bn, buf, len) < 0) {
        free(buf);
        BN_free(bn);
        return -1;
    }

    rc = set_b64(obj, name, buf, (size_t) len);
    free(buf);
    BN_free(bn);
    return rc;
}


static char *
jwk_finish(json_t *jwk, const char *kid, const char *alg)
{
    char  *s;

    if (kid != NULL) {
        json_object_set_new(jwk, "kid", json_string(kid));
    }
    if (alg != NULL) {
        json_object_set_new(jwk, "alg", json_string(alg));
    }

    s = json_dumps(jwk, JSON_COMPACT);
    json_decref(jwk);
    return s;
}


char *
jwt_jwk(EVP_PKEY *key, const char *kid, const char *alg)
{
    static const struct {
        const char  *group;
        const char  *crv;
    } curves[] = {
        { "prime256v1", "P-256" },
        { "secp384r1", "P-384" },
        { "secp521r1", "P-521" },
        { "secp256k1", "secp256k1" },
    };

    unsigned char  raw[64];
    json_t        *jwk;
    size_t         i, len, width;
    char           group[64];

    jwk = json_object();
    if (jwk == NULL) {
        return NULL;
    }

    switch (EVP_PKEY_get_base_id(key)) {

    case EVP_PKEY_RSA:
        json_object_set_new(jwk, "kty", json_string("RSA"));
        if (set_bn(jwk, "n", key, OSSL_PKEY_PARAM_RSA_N, 0) != 0
            || set_bn(jwk, "e", key, OSSL_PKEY_PARAM_RSA_E, 0) != 0)
        {
            goto failed;
        }
        break;

    case EVP_PKEY_EC:
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
                                           group, sizeof(group), NULL) != 1)
        {
            goto failed;
        }

        for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
            if (strcmp(group, curves[i].group) == 0) {
                break;
            }
        }
        if (i == sizeof(curves) / sizeof(curves[0])) {
            goto failed;
        }

        width = (size_t) (EVP_PKEY_get_bits(key) + 7) / 8;

        json_object_set_new(jwk, "kty", json_string("EC"));
        json_object_set_new(jwk, "crv", json_string(curves[i].crv));
        if (set_bn(jwk, "x", key, OSSL_PKEY_PARAM_EC_PUB_X, width) != 0
            || set_bn(jwk, "y", key, OSSL_PKEY_PARAM_EC_PUB_Y, width) != 0)
        {
            goto failed;
        }
        break;

    case EVP_PKEY_ED25519:
        len = sizeof(raw);
        if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1) {
            goto failed;
        }
        json_object_set_new(jwk, "kty", json_string("OKP"));
        json_object_set_new(jwk, "crv", json_string("Ed25519"));
        if (set_b64(jwk, "x", raw, len) != 0) {
            goto failed;
        }
        break;

    default:
        goto failed;
    }

    return jwk_finish(jwk, kid, alg);

failed:

    json_decref(jwk);
    return NULL;
}


char *
jwt_jwk_oct(const unsigned char *k, size_t len, const char *kid,
    const char *alg)
{
    json_t  *jwk;

    jwk = json_object();
    if (jwk == NULL) {
        return NULL;
    }

    json_object_set_new(jwk, "kty", json_string("oct"));
    if (set_b64(jwk, "k", k, len) != 0) {
        json_decref(jwk);
        return NULL;
    }

    return jwk_finish(jwk, kid, alg);
}


char *
jwt_jwks(const char *const *jwks, size_t n)
{
    json_error_t   error;
    json_t        *set, *keys, *jwk;
    size_t         i;
    char          *s;

    set = json_object();
    keys = json_array();
    if (set == NULL || keys == NULL) {
        json_decref(set);
        json_decref(keys);
        return NULL;
    }

    json_object_set_new(set, "keys", keys);

    for (i = 0; i < n; i++) {
        jwk = json_loads(jwks[i], 0, &error);
        if (jwk == NULL) {
            json_decref(set);
            return NULL;
        }
        json_array_append_new(keys, jwk);
    }

    s = json_dumps(set, JSON_COMPACT);
    json_decref(set);
    return s;
}


/* PEM. */

char *
jwt_pem_public(EVP_PKEY *key)
{
    BIO   *bio;
    char  *data, *s;
    long   len;

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return NULL;
    }

    if (PEM_write_bio_PUBKEY(bio, key) != 1) {
        BIO_free(bio);
        return NULL;
    }

    len = BIO_get_mem_data(bio, &data);
    s = malloc((size_t) len + 1);
    if (s != NULL) {
        memcpy(s, data, (size_t) len);
        s[len] = '\0';
    }

    BIO_free(bio);
    return s;
}


unsigned char *
jwt_der_public(EVP_PKEY *key, size_t *len)
{
    unsigned char  *der, *p;
    int             n;

    n = i2d_PUBKEY(key, NULL);
    if (n <= 0) {
        return NULL;
    }

    der = malloc((size_t) n);
    if (der == NULL) {
        return NULL;
    }

    p = der;
    if (i2d_PUBKEY(key, &p) != n) {
        free(der);
        return NULL;
    }

    *len = (size_t) n;
    return der;
}


int
jwt_write_pem_public(EVP_PKEY *key, const char *path)
{
    BIO  *bio;
    int   ok;

    bio = BIO_new_file(path, "w");
    if (bio == NULL) {
        return -1;
    }

    ok = PEM_write_bio_PUBKEY(bio, key);
    BIO_free(bio);
    return ok == 1 ? 0 : -1;
}


int
jwt_write_pem_private(EVP_PKEY *key, const char *path)
{
    BIO  *bio;
    int   ok;

    bio = BIO_new_file(path, "w");
    if (bio == NULL) {
        return -1;
    }

    ok = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
    BIO_free(bio);
    return ok == 1 ? 0 : -1;
}


EVP_PKEY *
jwt_read_pem_private(const char *path)
{
    EVP_PKEY  *key;
    BIO       *bio;

    bio = BIO_new_file(path, "r");
    if (bio == NULL) {
        return NULL;
    }

    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return key;
}


unsigned char *
jwt_read_file(const char *path, size_t *len)
{
    unsigned char  *data, *more;
    size_t          size, n;
    FILE           *f;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    size = 4096;
    n = 0;
    data = malloc(size + 1);

    while (data != NULL) {
        n += fread(data + n, 1, size - n, f);

        if (n < size) {
            break;
        }

        size *= 2;
        more = realloc(data, size + 1);
        if (more == NULL) {
            free(data);
            data = NULL;
            break;
        }
        data = more;
    }

    if (data != NULL && ferror(f)) {
        free(data);
        data = NULL;
    }

    fclose(f);

    if (data != NULL) {
        data[n] = '\0';
        *len = n;
    }

    return data;
}
