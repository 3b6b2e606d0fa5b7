/*
 * JWT parse and verify (auth/jwt.c, and auth/identify.c's Bearer path).
 *
 * At start the harness makes a key of every family the gateway verifies
 * (RSA 2048 for RS256, RS384 and PS256, EC P-256 and P-384, Ed25519 with and
 * without a kid, a 32-byte oct key for HS256) and loads their JWKS through
 * pprof_jwt_keys_parse(), as a configuration would.  The private halves
 * live only in this process.
 *
 * Input: a mode byte, a signer byte, an options byte, a tamper byte and a
 * leeway byte, then
 *   mode 0: the token, as sent;
 *   mode 1: header JSON, a NUL, claims JSON: the harness signs them;
 *   mode 2: claims JSON: the harness writes the header ({"alg","kid"}
 *           of the signer) and signs.
 * Signers include dishonest ones: "none", HS256 keyed with the RSA key's
 * public PEM or the EC key's JWK (algorithm confusion), DER ECDSA, and
 * PSS with the longest salt.
 *
 * Asserts that nothing the harness did not sign honestly is accepted (a
 * raw token, a dishonest signer, one changed byte of what was signed);
 * that an honest signature made with a header the harness wrote always
 * gets past the signature check; that a token accepted names in its header
 * the algorithm it was signed with, and has claims that the harness, on
 * its own reading, also finds valid (exp, nbf, iss, aud) and that give
 * the identity and roles the result holds; and that a refused token leaves
 * no identity or role behind.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "auth/auth.h"
#include "t/tools/jwt_sign.h"
#include "fuzz.h"


#define NOW        1700000000LL
#define ISSUER     "https://issuer.example"
#define AUDIENCE   "pprof-gateway"

#define OPT_TAMPER     0x01
#define OPT_IDENTIFY   0x02
#define OPT_ISS_AUD    0x04
#define OPT_NO_KID     0x08
#define OPT_CLAIMS     0x10     /* identity "email", roles "scope" */


typedef struct {
    const char      *alg;       /* what the harness signs with */
    const char      *kid;       /* the key's kid, NULL for none */
    EVP_PKEY        *key;
    unsigned char   *hmac;
    size_t           hmac_len;
    unsigned         flags;
    int              honest;
} signer_t;

enum { K_RSA, K_EC256, K_EC384, K_ED, K_ED_NOKID, K_COUNT };

static EVP_PKEY          *keys[K_COUNT];
static unsigned char      oct[32];
static pprof_jwt_keys_t  *keyset;
static signer_t           signers[16];
static size_t             nsigners, ncheap;


static void
add_signer(const char *alg, const char *kid, EVP_PKEY *key,
    unsigned char *hmac, size_t hmac_len, unsigned flags, int honest)
{
    if (nsigners == sizeof(signers) / sizeof(signers[0])) {
        abort();
    }

    signers[nsigners++] = (signer_t) { alg, kid, key, hmac, hmac_len, flags,
                                       honest };
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char    *jwk[K_COUNT + 1], *jwks, *pem, *ecjwk, err[256];
    size_t   skipped, i;

    (void) argc;
    (void) argv;

    keys[K_RSA] = jwt_keygen_rsa(2048);
    keys[K_EC256] = jwt_keygen_ec("P-256");
    keys[K_EC384] = jwt_keygen_ec("P-384");
    keys[K_ED] = jwt_keygen_ed25519();
    keys[K_ED_NOKID] = jwt_keygen_ed25519();

    /* HMAC pads a short key with zeros: no zero at the end, so that no
     * shorter key is the same key. */
    if (jwt_random(oct, sizeof(oct)) != 0) {
        abort();
    }
    oct[sizeof(oct) - 1] |= 1;

    jwk[0] = jwt_jwk(keys[K_RSA], "rsa", NULL);
    jwk[1] = jwt_jwk(keys[K_EC256], "ec256", "ES256");
    jwk[2] = jwt_jwk(keys[K_EC384], "ec384", NULL);
    jwk[3] = jwt_jwk(keys[K_ED], "ed", "EdDSA");
    jwk[4] = jwt_jwk(keys[K_ED_NOKID], NULL, NULL);
    jwk[5] = jwt_jwk_oct(oct, sizeof(oct), "oct", "HS256");

    for (i = 0; i < K_COUNT + 1; i++) {
        if (jwk[i] == NULL) {
            abort();
        }
    }

    jwks = jwt_jwks((const char *const *) jwk, K_COUNT + 1);
    keyset = jwks ? pprof_jwt_keys_parse((unsigned char *) jwks,
                                         strlen(jwks), &skipped, err,
                                         sizeof(err))
                  : NULL;
    if (keyset == NULL || pprof_jwt_keys_count(keyset) != K_COUNT + 1) {
        abort();
    }

    pem = jwt_pem_public(keys[K_RSA]);
    ecjwk = jwk[1];

    /* The cheap ones first: see pick_signer(). */
    add_signer("HS256", "oct", NULL, oct, sizeof(oct), 0, 1);
    add_signer("ES256", "ec256", keys[K_EC256], NULL, 0, 0, 1);
    add_signer("EdDSA", "ed", keys[K_ED], NULL, 0, 0, 1);
    add_signer("RS256", "rsa", keys[K_RSA], NULL, 0, 0, 1);
    add_signer("none", "oct", NULL, NULL, 0, 0, 0);
    add_signer("HS256", "rsa", NULL, (unsigned char *) pem, strlen(pem), 0,
               0);
    add_signer("HS256", "ec256", NULL, (unsigned char *) ecjwk,
               strlen(ecjwk), 0, 0);
    add_signer("HS256", "oct", NULL, oct, sizeof(oct) - 1, 0, 0);
    add_signer("ES256", "ec256", keys[K_EC256], NULL, 0, JWT_SIGN_ECDSA_DER,
               0);
    add_signer("PS384", "rsa", keys[K_RSA], NULL, 0, 0, 0);
    ncheap = nsigners;

    add_signer("PS256", "rsa", keys[K_RSA], NULL, 0, 0, 1);
    add_signer("RS384", "rsa", keys[K_RSA], NULL, 0, 0, 1);
    add_signer("ES384", "ec384", keys[K_EC384], NULL, 0, 0, 1);
    add_signer("EdDSA", NULL, keys[K_ED_NOKID], NULL, 0, 0, 1);
    add_signer("PS256", "rsa", keys[K_RSA], NULL, 0, JWT_SIGN_PSS_SALT_MAX, 0);
    add_signer("ES384", "ec256", keys[K_EC256], NULL, 0, 0, 0);

    for (i = 0; i < K_COUNT + 1; i++) {
        if (i != 1) {
            free(jwk[i]);
        }
    }
    free(jwks);

    return 0;
}


static char *
cstr(pprof_str_t s)
{
    char  *p = malloc(s.len + 1);

    if (p == NULL) {
        abort();
    }

    memcpy(p, s.data, s.len);
    p[s.len] = '\0';
    return p;
}


static int
json_str_is(json_t *j, const char *want)
{
    return json_is_string(j) && json_string_length(j) == strlen(want)
           && memcmp(json_string_value(j), want, strlen(want)) == 0;
}


/* SPEC §6's role names: printable ASCII, no space, comma, quote or
 * backslash, 1 to PPROF_AUTH_ROLE_MAX bytes. */
static int
role_name_ok(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > PPROF_AUTH_ROLE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] <= 0x20 || p[i] >= 0x7f || p[i] == ',' || p[i] == '"'
            || p[i] == '\\')
        {
            return 0;
        }
    }

    return 1;
}


static int
role_is(const pprof_auth_result_t *r, size_t i, const char *p, size_t len)
{
    return i < r->nroles && r->roles[i].len == len
           && memcmp(r->roles[i].data, p, len) == 0;
}


/* The harness's own reading of claims that were accepted. */
static void
check_accepted(const pprof_jwt_conf_t *conf, const char *claims_json,
    const pprof_auth_result_t *r)
{
    json_t       *claims, *v, *roles;
    const char   *p, *end, *w;
    size_t        i, n;
    char          name[128];

    claims = json_loads(claims_json, JSON_REJECT_DUPLICATES, NULL);
    FZ_CHECK(json_is_object(claims));

    v = json_object_get(claims, "exp");
    FZ_CHECK(json_is_number(v));
    FZ_CHECK((double) NOW <= json_number_value(v) + (double) conf->leeway);

    v = json_object_get(claims, "nbf");
    FZ_CHECK(v == NULL
             || (json_is_number(v) && (double) NOW + (double) conf->leeway
                                      >= json_number_value(v)));

    if (conf->issuer.len) {
        FZ_CHECK(json_str_is(json_object_get(claims, "iss"), ISSUER));
    }

    if (conf->audience.len) {
        v = json_object_get(claims, "aud");
        n = json_str_is(v, AUDIENCE);
        for (i = 0; i < json_array_size(v); i++) {
            n |= json_str_is(json_array_get(v, i), AUDIENCE);
        }
        FZ_CHECK(n);
    }

    memcpy(name, conf->identity_claim.data, conf->identity_claim.len);
    name[conf->identity_claim.len] = '\0';
    v = json_object_get(claims, name);
    FZ_CHECK(json_is_string(v));
    FZ_CHECK(r->identity_len == json_string_length(v)
             && memcmp(r->identity, json_string_value(v), r->identity_len)
                == 0);

    for (i = 0; i < r->identity_len; i++) {
        FZ_CHECK(r->identity[i] >= 0x20 && r->identity[i] != 0x7f);
    }

    memcpy(name, conf->roles_claim.data, conf->roles_claim.len);
    name[conf->roles_claim.len] = '\0';
    roles = json_object_get(claims, name);
    n = 0;

    if (json_is_array(roles)) {
        for (i = 0; i < json_array_size(roles); i++) {
            v = json_array_get(roles, i);
            FZ_CHECK(role_is(r, n++, json_string_value(v),
                             json_string_length(v)));
        }

    } else if (json_is_string(roles)) {
        p = json_string_value(roles);
        end = p + json_string_length(roles);

        while (p < end) {
            while (p < end && *p == ' ') {
                p++;
            }
            for (w = p; p < end && *p != ' '; p++) {
                /* a word */
            }
            if (p > w) {
                FZ_CHECK(role_is(r, n++, w, (size_t) (p - w)));
            }
        }

    } else {
        FZ_CHECK(roles == NULL);
    }

    FZ_CHECK(r->nroles == n);

    for (i = 0; i < r->nroles; i++) {
        FZ_CHECK(role_name_ok(r->roles[i].data, r->roles[i].len));
    }

    json_decref(claims);
}


/* The header of a token the harness signed: alg and kid as it says. */
static void
check_header(const char *header_json, const signer_t *s)
{
    json_t  *h, *kid;

    h = json_loads(header_json, JSON_REJECT_DUPLICATES, NULL);
    FZ_CHECK(json_is_object(h));
    FZ_CHECK(json_str_is(json_object_get(h, "alg"), s->alg));
    FZ_CHECK(json_object_get(h, "crit") == NULL);

    kid = json_object_get(h, "kid");
    FZ_CHECK(kid == NULL || s->kid == NULL || json_str_is(kid, s->kid));

    json_decref(h);
}


static void
run(const pprof_jwt_conf_t *conf, pprof_str_t token, int identify,
    pprof_auth_result_t *r)
{
    pprof_auth_source_t  source;
    pprof_auth_input_t   input;
    char                *auth;

    if (!identify) {
        pprof_jwt_verify(conf, token, NOW, r);
        return;
    }

    auth = malloc(token.len + 8);
    if (auth == NULL) {
        abort();
    }
    memcpy(auth, "Bearer ", 7);
    memcpy(auth + 7, token.data, token.len);

    memset(&source, 0, sizeof(source));
    source.method = PPROF_AUTH_JWT;
    source.jwt = conf;

    memset(&input, 0, sizeof(input));
    input.authorization.data = (unsigned char *) auth;
    input.authorization.len = token.len + 7;
    input.now = NOW;

    pprof_auth_identify(&source, 1, &input, r);
    free(auth);
}


/*
 * P-384 and PSS cost a millisecond or more a token where HMAC costs
 * microseconds: they get one value of the signer byte in eight, so that
 * the fuzzer's time goes to the parsers, whichever key signed.
 */
static const signer_t *
pick_signer(uint8_t b)
{
    return b < 224 ? &signers[b % ncheap]
                   : &signers[ncheap + b % (nsigners - ncheap)];
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pprof_auth_result_t  r;

    fz_t              in = { data, size };
    pprof_jwt_conf_t  conf;
    pprof_str_t       token;
    const signer_t   *s;
    char             *header, *claims, *signed_token, *dot;
    uint8_t           mode, opts, tamper;
    size_t            pos, limit;
    int               trusted;

    mode = fz_u8(&in) % 3;
    s = pick_signer(fz_u8(&in));
    opts = fz_u8(&in);
    tamper = fz_u8(&in);

    memset(&conf, 0, sizeof(conf));
    conf.keys = keyset;
    conf.leeway = fz_u8(&in);
    conf.identity_claim.data = (const unsigned char *)
                               (opts & OPT_CLAIMS ? "email" : "sub");
    conf.identity_claim.len = opts & OPT_CLAIMS ? 5 : 3;
    conf.roles_claim.data = (const unsigned char *)
                            (opts & OPT_CLAIMS ? "scope" : "roles");
    conf.roles_claim.len = 5;

    if (opts & OPT_ISS_AUD) {
        conf.issuer.data = (const unsigned char *) ISSUER;
        conf.issuer.len = sizeof(ISSUER) - 1;
        conf.audience.data = (const unsigned char *) AUDIENCE;
        conf.audience.len = sizeof(AUDIENCE) - 1;
    }

    memset(&r, 0x5a, sizeof(r));

    if (mode == 0) {
        token = fz_rest(&in);
        run(&conf, token, opts & OPT_IDENTIFY, &r);

        /* Only the harness holds the private keys. */
        FZ_CHECK(r.reason == PPROF_INVALID_CREDENTIAL
                 || (r.reason == PPROF_UNAUTHENTICATED && opts & OPT_IDENTIFY));
        FZ_CHECK(r.identity_len == 0 && r.nroles == 0);
        return 0;
    }

    if (mode == 1) {
        header = cstr(fz_until_nul(&in));
    } else {
        header = malloc(64);
        if (header == NULL) {
            abort();
        }
        if (s->kid && !(opts & OPT_NO_KID)) {
            snprintf(header, 64, "{\"alg\":\"%s\",\"kid\":\"%s\"}", s->alg,
                     s->kid);
        } else {
            snprintf(header, 64, "{\"alg\":\"%s\"}", s->alg);
        }
    }

    claims = cstr(fz_rest(&in));

    signed_token = jwt_sign_flags(s->alg, s->key, s->hmac, s->hmac_len,
                                  header, claims, s->flags);
    FZ_CHECK(signed_token != NULL);

    /* One byte of what was signed, changed. */
    dot = strrchr(signed_token, '.');
    limit = (size_t) (dot - signed_token);

    if ((opts & OPT_TAMPER) && limit > 0) {
        pos = tamper % limit;
        signed_token[pos] ^= (char) (1 + (tamper >> 5));
    }

    token.data = (const unsigned char *) signed_token;
    token.len = strlen(signed_token);
    trusted = s->honest && !(opts & OPT_TAMPER);

    run(&conf, token, opts & OPT_IDENTIFY, &r);

    FZ_CHECK(r.reason == PPROF_OK || r.reason == PPROF_INVALID_CREDENTIAL
             || (r.reason == PPROF_UNAUTHENTICATED && opts & OPT_IDENTIFY));

    if (r.reason != PPROF_OK) {
        FZ_CHECK(r.identity_len == 0 && r.nroles == 0);

        /* An honest signature under the harness's header always holds. */
        if (trusted && mode == 2) {
            FZ_CHECK(strcmp(r.detail, "token signature does not verify")
                     != 0);
            FZ_CHECK(strcmp(r.detail, "token algorithm does not fit the key")
                     != 0);
            FZ_CHECK(strcmp(r.detail, "token \"kid\" names no configured key")
                     != 0);
        }

    } else {
        FZ_CHECK(trusted);
        check_header(header, s);
        check_accepted(&conf, claims, &r);
    }

    free(signed_token);
    free(header);
    free(claims);
    return 0;
}
