/*
 * The jwt source: a compact JWS (RFC 7515) from `Authorization: Bearer`,
 * verified with OpenSSL's EVP API against configured keys, its claims read
 * with jansson.  Anything unexpected is an invalid credential.
 */

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <string.h>

#include "auth_source.h"


#define SIGNATURE_MAX  1024               /* RSA up to 8192 bits */


typedef enum {
    SIG_RSA_PKCS1 = 0,
    SIG_RSA_PSS,
    SIG_ECDSA,
    SIG_EDDSA,
    SIG_HMAC
} sig_kind_t;

typedef struct {
    const char        *name;
    sig_kind_t         kind;
    pprof_jwk_type_t   key;               /* the one key type that fits */
    const char        *md;                /* NULL for EdDSA */
    size_t             ec_half;           /* R and S widths for ECDSA */
} alg_t;

static const alg_t *alg_lookup(const char *name);

static const alg_t  algs[] = {
    { "RS256", SIG_RSA_PKCS1, PPROF_JWK_RSA, "SHA256", 0 },
    { "RS384", SIG_RSA_PKCS1, PPROF_JWK_RSA, "SHA384", 0 },
    { "RS512", SIG_RSA_PKCS1, PPROF_JWK_RSA, "SHA512", 0 },
    { "PS256", SIG_RSA_PSS, PPROF_JWK_RSA, "SHA256", 0 },
    { "ES256", SIG_ECDSA, PPROF_JWK_EC_P256, "SHA256", 32 },
    { "ES384", SIG_ECDSA, PPROF_JWK_EC_P384, "SHA384", 48 },
    { "EdDSA", SIG_EDDSA, PPROF_JWK_ED25519, NULL, 0 },
    { "HS256", SIG_HMAC, PPROF_JWK_OCT, "SHA256", 0 },
};


int
pprof_jwt_alg_known(const char *name)
{
    return alg_lookup(name) != NULL;
}


int
pprof_jwt_conf_check(const pprof_jwt_conf_t *conf, const char **err)
{
    if (conf->identity_claim.len == 0 || conf->identity_claim.len >= 128
        || conf->roles_claim.len == 0 || conf->roles_claim.len >= 128)
    {
        *err = "claim names must be 1 to 127 bytes";
        return -1;
    }

    return 0;
}


/*
 * What the client is told (RFC 6750's error_description): fixed sentences,
 * so no claim, key id or byte of the token can come back to it.
 */
static const char  token_malformed[] = "the token is malformed";
static const char  token_alg[] = "the token's algorithm is not accepted";
static const char  token_signature[] =
    "the token's signature does not verify with a configured key";
static const char  token_times[] =
    "the token's exp or nbf claim is missing or not a number";
static const char  token_expired[] = "the token has expired";
static const char  token_early[] = "the token is not valid yet";
static const char  token_issuer[] = "the token's issuer is not accepted";
static const char  token_audience[] =
    "the token's audience does not include this gateway";
static const char  token_claims[] =
    "the token's identity or roles claim is not usable";


/* why is for the log, told for the client. */
static void
invalid(pprof_auth_result_t *result, const char *why, const char *told)
{
    result->reason = PPROF_INVALID_CREDENTIAL;
    result->detail = why;
    result->token_error = told;
}


static const alg_t *
alg_lookup(const char *name)
{
    size_t  i;

    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        if (strcmp(algs[i].name, name) == 0) {
            return &algs[i];
        }
    }

    return NULL;
}


/* A base64url segment holding a JSON object, duplicate keys refused. */
static json_t *
segment_json(const unsigned char *p, size_t len)
{
    unsigned char  buf[PPROF_JWT_TOKEN_MAX];
    size_t         n;
    json_t        *v;

    if (pprof_auth_b64_decode(p, len, 1, buf, sizeof(buf), &n) != 0) {
        return NULL;
    }

    v = json_loadb((const char *) buf, n, JSON_REJECT_DUPLICATES, NULL);
    if (v && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }

    return v;
}


/* JWS carries R || S; OpenSSL wants DER. */
static int
ecdsa_der(const unsigned char *sig, size_t len, size_t half,
    unsigned char **der, int *derlen)
{
    ECDSA_SIG  *es;
    BIGNUM     *r, *s;

    if (len != 2 * half) {
        return -1;
    }

    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, (int) half, NULL);
    s = BN_bin2bn(sig + half, (int) half, NULL);

    if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
        ECDSA_SIG_free(es);
        BN_free(r);
        BN_free(s);
        return -1;
    }

    *der = NULL;
    *derlen = i2d_ECDSA_SIG(es, der);
    ECDSA_SIG_free(es);

    return *derlen > 0 ? 0 : -1;
}


static int
verify_hmac(const alg_t *alg, const pprof_jwk_t *key,
    const unsigned char *data, size_t len, const unsigned char *sig,
    size_t siglen)
{
    unsigned char  mac[EVP_MAX_MD_SIZE];
    unsigned int   maclen;

    if (HMAC(EVP_get_digestbyname(alg->md), key->secret,
             (int) key->secret_len, data, len, mac, &maclen) == NULL)
    {
        return 0;
    }

    return siglen == maclen && CRYPTO_memcmp(mac, sig, maclen) == 0;
}


/* 1 when md is ready to verify alg's signatures with key. */
static int
verify_init(EVP_MD_CTX *md, const alg_t *alg, const pprof_jwk_t *key)
{
    EVP_PKEY_CTX  *pctx;

    if (EVP_DigestVerifyInit_ex(md, &pctx, alg->md, NULL, NULL, key->pkey,
                                NULL) != 1)
    {
        return 0;
    }

    if (alg->kind != SIG_RSA_PSS) {
        return 1;
    }

    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
           && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST)
              == 1
           && EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, alg->md, NULL) == 1;
}


/* 1 when the signature holds, 0 otherwise (errors included). */
static int
verify(const alg_t *alg, const pprof_jwk_t *key, const unsigned char *data,
    size_t len, const unsigned char *sig, size_t siglen)
{
    EVP_MD_CTX     *md;
    unsigned char  *der;
    int             derlen, ok;

    if (alg->kind == SIG_HMAC) {
        return verify_hmac(alg, key, data, len, sig, siglen);
    }

    der = NULL;
    if (alg->kind == SIG_ECDSA) {
        if (ecdsa_der(sig, siglen, alg->ec_half, &der, &derlen) != 0) {
            return 0;
        }
        sig = der;
        siglen = (size_t) derlen;
    }

    md = EVP_MD_CTX_new();
    ok = md != NULL && verify_init(md, alg, key)
         && EVP_DigestVerify(md, sig, siglen, data, len) == 1;

    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ERR_clear_error();

    return ok;
}


static int
key_fits(const pprof_jwk_t *key, const alg_t *alg)
{
    return key->type == alg->key
           && (key->alg[0] == '\0' || strcmp(key->alg, alg->name) == 0);
}


/*
 * With a kid, the keys of that kid and those that have none (PEM keys);
 * without, every key.  Only keys whose type fits the algorithm are tried:
 * the token's header never chooses a key type.  Every candidate is a
 * configured, trusted key, so trying several weakens nothing.
 */
static void
check_signature(const pprof_jwt_keys_t *set, json_t *header,
    const unsigned char *signed_part, size_t signed_len,
    const unsigned char *sig, size_t siglen, pprof_auth_result_t *result)
{
    json_t        *jalg, *jkid;
    const alg_t   *alg;
    const char    *kid;
    size_t         i, kidlen;
    int            named, fitting;

    jalg = json_object_get(header, "alg");
    if (!json_is_string(jalg)) {
        invalid(result, "token header has no \"alg\"", token_malformed);
        return;
    }

    alg = alg_lookup(json_string_value(jalg));
    if (alg == NULL) {
        invalid(result, "token algorithm is not accepted", token_alg);
        return;
    }

    if (json_object_get(header, "crit")) {
        invalid(result, "token header has \"crit\" extensions",
                token_malformed);
        return;
    }

    jkid = json_object_get(header, "kid");
    if (jkid && !json_is_string(jkid)) {
        invalid(result, "token \"kid\" is not a string", token_malformed);
        return;
    }

    kid = jkid ? json_string_value(jkid) : NULL;
    kidlen = jkid ? json_string_length(jkid) : 0;
    named = 0;
    fitting = 0;

    for (i = 0; i < set->n; i++) {
        if (kid && set->keys[i].has_kid) {
            if (set->keys[i].kid_len != kidlen
                || memcmp(set->keys[i].kid, kid, kidlen) != 0)
            {
                continue;
            }
        }

        named = 1;

        if (!key_fits(&set->keys[i], alg)) {
            continue;
        }

        fitting = 1;

        if (verify(alg, &set->keys[i], signed_part, signed_len, sig, siglen)) {
            result->reason = PPROF_OK;
            return;
        }
    }

    invalid(result, kid && !named ? "token \"kid\" names no configured key"
                    : fitting ? "token signature does not verify"
                              : "token algorithm does not fit the key",
            token_signature);
}


static int
claim_number(json_t *claims, const char *name, double *v)
{
    json_t  *j = json_object_get(claims, name);

    if (j == NULL) {
        return 0;
    }

    if (!json_is_number(j)) {
        return -1;
    }

    *v = json_number_value(j);
    return 1;
}


/* 0, or -1 with the result invalid. */
static int
check_time(json_t *claims, long long now, long long leeway,
    pprof_auth_result_t *result)
{
    double  exp, nbf;
    int     rc;

    rc = claim_number(claims, "exp", &exp);
    if (rc != 1) {
        invalid(result, rc == 0 ? "token has no \"exp\""
                                : "token \"exp\" is not a number",
                token_times);
        return -1;
    }

    if ((double) now > exp + (double) leeway) {
        invalid(result, "token has expired", token_expired);
        return -1;
    }

    rc = claim_number(claims, "nbf", &nbf);
    if (rc < 0) {
        invalid(result, "token \"nbf\" is not a number", token_times);
        return -1;
    }

    if (rc == 1 && (double) now + (double) leeway < nbf) {
        invalid(result, "token is not valid yet", token_early);
        return -1;
    }

    return 0;
}


static int
str_is(json_t *j, pprof_str_t want)
{
    return json_is_string(j) && json_string_length(j) == want.len
           && memcmp(json_string_value(j), want.data, want.len) == 0;
}


/* 0, or -1 with the result invalid. */
static int
check_issuer_audience(const pprof_jwt_conf_t *conf, json_t *claims,
    pprof_auth_result_t *result)
{
    json_t  *aud, *v;
    size_t   i;
    int      found;

    if (conf->issuer.len && !str_is(json_object_get(claims, "iss"),
                                    conf->issuer))
    {
        invalid(result, "token issuer is not the configured one",
                token_issuer);
        return -1;
    }

    if (conf->audience.len == 0) {
        return 0;
    }

    aud = json_object_get(claims, "aud");
    found = str_is(aud, conf->audience);

    json_array_foreach(aud, i, v) {
        found |= str_is(v, conf->audience);
    }

    if (!found) {
        invalid(result, "token audience does not include this gateway",
                token_audience);
        return -1;
    }

    return 0;
}


/* A NUL-terminated key from a configured name. */
static json_t *
claim(json_t *claims, pprof_str_t name)
{
    char  key[128];

    if (name.len == 0 || name.len >= sizeof(key)) {
        return NULL;
    }

    memcpy(key, name.data, name.len);
    key[name.len] = '\0';

    return json_object_get(claims, key);
}


static void
take_identity_and_roles(const pprof_jwt_conf_t *conf, json_t *claims,
    pprof_auth_result_t *result)
{
    json_t               *id, *roles, *v;
    const unsigned char  *p, *end, *w;
    size_t                i;

    id = claim(claims, conf->identity_claim);
    if (!json_is_string(id)) {
        invalid(result, "token has no identity claim", token_claims);
        return;
    }

    if (pprof_auth_set_identity(result,
                                (const unsigned char *) json_string_value(id),
                                json_string_length(id), 0)
        != 0)
    {
        return;
    }

    roles = claim(claims, conf->roles_claim);

    if (json_is_array(roles)) {
        json_array_foreach(roles, i, v) {
            if (!json_is_string(v)) {
                invalid(result, "token roles claim holds a non-string",
                        token_claims);
                return;
            }
            if (pprof_auth_add_role(result,
                    (const unsigned char *) json_string_value(v),
                    json_string_length(v)) != 0)
            {
                return;
            }
        }

    } else if (json_is_string(roles)) {
        /* OAuth's "scope" style: space-separated names. */
        p = (const unsigned char *) json_string_value(roles);
        end = p + json_string_length(roles);

        while (p < end) {
            while (p < end && *p == ' ') {
                p++;
            }
            for (w = p; p < end && *p != ' '; p++) {
                /* a word */
            }
            if (p > w && pprof_auth_add_role(result, w, p - w) != 0) {
                return;
            }
        }

    } else if (roles) {
        invalid(result, "token roles claim is neither an array nor a "
                "string", token_claims);
        return;
    }

    result->reason = PPROF_OK;
}


void
pprof_jwt_verify(const pprof_jwt_conf_t *conf, pprof_str_t token,
    long long now, pprof_auth_result_t *result)
{
    const unsigned char  *dot1, *dot2, *end;
    unsigned char         sig[SIGNATURE_MAX];
    size_t                siglen;
    json_t               *header, *claims;

    result->token_error = NULL;
    result->identity_len = 0;
    result->refused_len = 0;
    result->nroles = 0;

    if (conf == NULL || conf->keys == NULL) {
        result->reason = PPROF_INTERNAL_ERROR;
        result->detail = "jwt source without keys";
        return;
    }

    if (token.len == 0 || token.len > PPROF_JWT_TOKEN_MAX) {
        invalid(result, "token is empty or too large", token_malformed);
        return;
    }

    end = token.data + token.len;
    dot1 = memchr(token.data, '.', token.len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', end - dot1 - 1) : NULL;

    if (dot2 == NULL || memchr(dot2 + 1, '.', end - dot2 - 1)
        || dot1 == token.data || dot2 == dot1 + 1 || dot2 + 1 == end)
    {
        invalid(result, "token is not a compact JWS", token_malformed);
        return;
    }

    if (pprof_auth_b64_decode(dot2 + 1, end - dot2 - 1, 1, sig, sizeof(sig),
                              &siglen) != 0)
    {
        invalid(result, "token signature is not canonical base64url",
                token_malformed);
        return;
    }

    header = segment_json(token.data, dot1 - token.data);
    claims = segment_json(dot1 + 1, dot2 - dot1 - 1);

    if (header == NULL || claims == NULL) {
        invalid(result, "token header or claims are not a JSON object",
                token_malformed);
        goto done;
    }

    /* The signature first: nothing of an unverified token is believed. */
    check_signature(conf->keys, header, token.data, dot2 - token.data, sig,
                    siglen, result);
    if (result->reason != PPROF_OK) {
        goto done;
    }

    if (check_time(claims, now, conf->leeway, result) != 0
        || check_issuer_audience(conf, claims, result) != 0)
    {
        goto done;
    }

    result->reason = PPROF_UNAUTHENTICATED;
    take_identity_and_roles(conf, claims, result);

    /* An identity or a role that identify.c refused, for its own reason. */
    if (result->reason == PPROF_INVALID_CREDENTIAL
        && result->token_error == NULL)
    {
        result->token_error = token_claims;
    }

done:

    if (result->reason != PPROF_OK) {
        result->identity_len = 0;
        result->nroles = 0;
    }

    json_decref(header);
    json_decref(claims);
}
