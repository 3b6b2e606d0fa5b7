/*
 * The jwt source: keys from a JWKS document or PEM, and pprof_jwt_verify
 * over honest tokens, tokens that lie about their algorithm, non-canonical
 * encodings, bad claims, and a few thousand random and mutated ones.
 *
 * Tokens are made in memory by t/tools/jwt_sign.c; the keys are made once.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "unit.h"
#include "unit_strings.h"
#include "auth/auth.h"
#include "t/tools/jwt_sign.h"


#define NOW  1700000000LL


/* Keys, made once. */

static EVP_PKEY       *rsa1, *rsa2, *rsa_small, *ec256a, *ec256b, *ec384,
                      *ec521, *ed1, *ed2;
static unsigned char   oct1[32], oct2[32], oct_long[64];

/* The public JWKs of the keys above. */
static char  *jwk_rsa1, *jwk_rsa2, *jwk_ec256a, *jwk_ec256b, *jwk_ec384,
             *jwk_ed1, *jwk_ed2, *jwk_oct1, *jwk_oct_long;

/* One JWKS with a key of every type: rsa1, ec256, ec384, ed, oct. */
static pprof_jwt_keys_t  *all_keys;


/*
 * What a test allocates is registered here and freed after it, so that a
 * failed assertion (a longjmp) leaks nothing under ASan.
 */

static pprof_jwt_keys_t   *kgarbage[64];
static size_t              nkgarbage;

/* Set by tests that count their failures instead of stopping at one. */
static int                 soft;
static size_t              soft_failures;


static pprof_jwt_keys_t *
K(pprof_jwt_keys_t *keys)
{
    if (keys != NULL) {
        assert_true(nkgarbage < sizeof(kgarbage) / sizeof(kgarbage[0]));
        kgarbage[nkgarbage++] = keys;
    }
    return keys;
}


static int
cleanup(void **state)
{
    (void) state;

    soft = 0;

    unit_free_strings();
    while (nkgarbage) {
        pprof_jwt_keys_free(kgarbage[--nkgarbage]);
    }
    return 0;
}


/* {"keys":[...]} of the JWKs given, NULL-terminated. */
static char *
jwks(const char *first, ...)
{
    const char  *list[32];
    va_list      ap;
    size_t       n;

    n = 0;
    list[n++] = first;

    va_start(ap, first);
    while (n < 32 && (list[n] = va_arg(ap, const char *)) != NULL) {
        n++;
    }
    va_end(ap);

    return G(jwt_jwks(list, n));
}


static pprof_jwt_keys_t *
keys_ok(const char *text, size_t want_count, size_t want_skipped)
{
    pprof_jwt_keys_t  *keys;
    size_t             skipped;
    char               err[256];

    skipped = 12345;
    err[0] = '\0';
    keys = K(pprof_jwt_keys_parse((const unsigned char *) text, strlen(text),
                                  &skipped, err, sizeof(err)));
    if (keys == NULL) {
        fail_msg("keys refused (%s): %.300s", err, text);
    }
    assert_int_equal(pprof_jwt_keys_count(keys), want_count);
    assert_int_equal(skipped, want_skipped);
    return keys;
}


/*
 * Refused, with an explanation.  With soft_failures set, a failure is
 * printed and counted, so that one test can list every key it got wrong.
 */

#define soft_fail(...) do {                                                   \
    if (soft) {                                                               \
        print_error(__VA_ARGS__);                                             \
        print_error("\n");                                                    \
        soft_failures++;                                                      \
        return;                                                               \
    }                                                                         \
    fail_msg(__VA_ARGS__);                                                    \
} while (0)

static void
keys_bad_(const char *text, size_t len, int line)
{
    pprof_jwt_keys_t  *keys;
    size_t             skipped;
    char               err[256];

    memset(err, 0, sizeof(err));
    skipped = 0;
    keys = K(pprof_jwt_keys_parse((const unsigned char *) text, len, &skipped,
                                  err, sizeof(err)));
    if (keys != NULL) {
        soft_fail("line %d: keys accepted (%zu keys): %.400s", line,
                  pprof_jwt_keys_count(keys), text);
    }
    if (err[0] == '\0') {
        soft_fail("line %d: keys refused without a message: %.400s", line,
                  text);
    }
}

#define keys_bad(text)  keys_bad_((text), strlen(text), __LINE__)


static void
conf_init(pprof_jwt_conf_t *conf, const pprof_jwt_keys_t *keys)
{
    memset(conf, 0, sizeof(*conf));
    conf->keys = keys;
    conf->leeway = 30;
    conf->identity_claim = S("sub");
    conf->roles_claim = S("roles");
}


static void
verify(const pprof_jwt_conf_t *conf, pprof_str_t token, long long now,
    pprof_auth_result_t *r)
{
    memset(r, 0x5a, sizeof(*r));
    pprof_jwt_verify(conf, token, now, r);
}


static void
ok_(const pprof_jwt_conf_t *conf, pprof_str_t token, const char *identity,
    pprof_auth_result_t *r, int line)
{
    char  shown[300];

    verify(conf, token, NOW, r);

    if (r->reason != PPROF_OK) {
        show(shown, sizeof(shown), token.data, token.len);
        fail_msg("line %d: want ok, got %s (%s) for %s", line,
                 pprof_reason_name(r->reason),
                 r->detail ? r->detail : "no detail", shown);
    }
    if (r->identity_len != strlen(identity)
        || memcmp(r->identity, identity, r->identity_len) != 0)
    {
        show(shown, sizeof(shown), r->identity,
             r->identity_len < 200 ? r->identity_len : 200);
        fail_msg("line %d: want identity \"%s\", got \"%s\"", line, identity,
                 shown);
    }
}

/* What a client may be told of a refused token: these and nothing else. */
static const char  *told_texts[] = {
    "the token is malformed",
    "the token's algorithm is not accepted",
    "the token's signature does not verify with a configured key",
    "the token's exp or nbf claim is missing or not a number",
    "the token has expired",
    "the token is not valid yet",
    "the token's issuer is not accepted",
    "the token's audience does not include this gateway",
    "the token's identity or roles claim is not usable",
};

static void
told_is_fixed_(const pprof_auth_result_t *r, const char *why, int line)
{
    size_t  i;

    if (r->token_error == NULL) {
        fail_msg("line %d (%s): refused without a text for the client",
                 line, why);
    }

    for (i = 0; i < sizeof(told_texts) / sizeof(told_texts[0]); i++) {
        if (strcmp(r->token_error, told_texts[i]) == 0) {
            return;
        }
    }

    fail_msg("line %d (%s): the client would be told \"%s\"", line, why,
             r->token_error);
}

static void
bad_(const pprof_jwt_conf_t *conf, pprof_str_t token, long long now,
    const char *why, int line)
{
    pprof_auth_result_t  r;

    verify(conf, token, now, &r);
    assert_refused_(&r, token.data, token.len, why, line);
    told_is_fixed_(&r, why, line);
}

/* Accepted as identity; r is filled for further checks. */
#define OK(conf, tok, identity, r) \
    ok_((conf), S(tok), (identity), (r), __LINE__)
#define BAD(conf, tok, why)  bad_((conf), S(tok), NOW, (why), __LINE__)
#define BAD_AT(conf, tok, now, why)  bad_((conf), S(tok), (now), (why), __LINE__)


/* Tokens. */

static char *
tok(const char *alg, EVP_PKEY *key, const unsigned char *hmac, size_t hlen,
    const char *header, const char *payload)
{
    return G(jwt_sign(alg, key, hmac, hlen, header, payload));
}

static char *
tokf(const char *alg, EVP_PKEY *key, const unsigned char *hmac, size_t hlen,
    const char *header, const char *payload, unsigned flags)
{
    return G(jwt_sign_flags(alg, key, hmac, hlen, header, payload, flags));
}

/* A header naming alg and, unless NULL, kid. */
static char *
hdr(const char *alg, const char *kid)
{
    if (kid == NULL) {
        return fmt("{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    }
    return fmt("{\"alg\":\"%s\",\"kid\":\"%s\"}", alg, kid);
}

/* An honest payload for alice, valid for ten minutes around NOW. */
static char *
claims(void)
{
    return fmt("{\"sub\":\"alice\",\"iat\":%lld,\"exp\":%lld}", NOW,
               NOW + 600);
}

/* An honest payload with extra members (a string starting with ','). */
static char *
claims_with(const char *extra)
{
    return fmt("{\"sub\":\"alice\",\"exp\":%lld%s}", NOW + 600, extra);
}

/* The signer for an algorithm in the all_keys set, with its kid. */
static void
signer(const char *alg, EVP_PKEY **key, const unsigned char **hmac,
    size_t *hlen, const char **kid)
{
    *hmac = NULL;
    *hlen = 0;
    *key = NULL;

    if (alg[0] == 'R' || alg[0] == 'P') {
        *key = rsa1;
        *kid = "rsa1";
    } else if (strcmp(alg, "ES256") == 0) {
        *key = ec256a;
        *kid = "ec256";
    } else if (strcmp(alg, "ES384") == 0) {
        *key = ec384;
        *kid = "ec384";
    } else if (strcmp(alg, "EdDSA") == 0) {
        *key = ed1;
        *kid = "ed";
    } else {
        *hmac = oct1;
        *hlen = sizeof(oct1);
        *kid = "oct";
    }
}

/* An honest token by alg's key in all_keys. */
static char *
honest(const char *alg, int with_kid, const char *payload)
{
    const unsigned char  *hmac;
    const char           *kid;
    EVP_PKEY             *key;
    size_t                hlen;

    signer(alg, &key, &hmac, &hlen, &kid);
    return tok(alg, key, hmac, hlen, hdr(alg, with_kid ? kid : NULL),
               payload ? payload : claims());
}


/* Fixtures. */

static int
setup(void **state)
{
    char    *set;
    size_t   skipped;
    char     err[256];

    (void) state;

    rsa1 = jwt_keygen_rsa(2048);
    rsa2 = jwt_keygen_rsa(2048);
    rsa_small = jwt_keygen_rsa(1024);
    ec256a = jwt_keygen_ec("P-256");
    ec256b = jwt_keygen_ec("P-256");
    ec384 = jwt_keygen_ec("P-384");
    ec521 = jwt_keygen_ec("P-521");
    ed1 = jwt_keygen_ed25519();
    ed2 = jwt_keygen_ed25519();

    if (!rsa1 || !rsa2 || !rsa_small || !ec256a || !ec256b || !ec384
        || !ec521 || !ed1 || !ed2
        || jwt_random(oct1, sizeof(oct1)) != 0
        || jwt_random(oct2, sizeof(oct2)) != 0
        || jwt_random(oct_long, sizeof(oct_long)) != 0)
    {
        return -1;
    }

    /*
     * HMAC pads a short key with zeros: were oct1's last byte 0 (one run
     * in 256), oct1 less that byte would be the same key, and "oct1 less
     * a byte" would rightly verify.
     */
    oct1[sizeof(oct1) - 1] |= 1;

    jwk_rsa1 = jwt_jwk(rsa1, "rsa1", NULL);
    jwk_rsa2 = jwt_jwk(rsa2, "rsa2", NULL);
    jwk_ec256a = jwt_jwk(ec256a, "ec256", NULL);
    jwk_ec256b = jwt_jwk(ec256b, "ec256b", NULL);
    jwk_ec384 = jwt_jwk(ec384, "ec384", NULL);
    jwk_ed1 = jwt_jwk(ed1, "ed", NULL);
    jwk_ed2 = jwt_jwk(ed2, "ed2", NULL);
    jwk_oct1 = jwt_jwk_oct(oct1, sizeof(oct1), "oct", NULL);
    jwk_oct_long = jwt_jwk_oct(oct_long, sizeof(oct_long), "octlong", NULL);

    if (!jwk_rsa1 || !jwk_rsa2 || !jwk_ec256a || !jwk_ec256b || !jwk_ec384
        || !jwk_ed1 || !jwk_ed2 || !jwk_oct1 || !jwk_oct_long)
    {
        return -1;
    }

    {
        const char  *list[] = { jwk_rsa1, jwk_ec256a, jwk_ec384, jwk_ed1,
                                jwk_oct1 };

        set = jwt_jwks(list, 5);
    }
    if (set == NULL) {
        return -1;
    }

    all_keys = pprof_jwt_keys_parse((const unsigned char *) set, strlen(set),
                                    &skipped, err, sizeof(err));
    free(set);

    if (all_keys == NULL) {
        fprintf(stderr, "the JWKS of every key type is refused: %s\n", err);
        /* Tests that need it fail on their own. */
    }

    return 0;
}


static int
teardown(void **state)
{
    (void) state;

    pprof_jwt_keys_free(all_keys);
    EVP_PKEY_free(rsa1);
    EVP_PKEY_free(rsa2);
    EVP_PKEY_free(rsa_small);
    EVP_PKEY_free(ec256a);
    EVP_PKEY_free(ec256b);
    EVP_PKEY_free(ec384);
    EVP_PKEY_free(ec521);
    EVP_PKEY_free(ed1);
    EVP_PKEY_free(ed2);
    free(jwk_rsa1);
    free(jwk_rsa2);
    free(jwk_ec256a);
    free(jwk_ec256b);
    free(jwk_ec384);
    free(jwk_ed1);
    free(jwk_ed2);
    free(jwk_oct1);
    free(jwk_oct_long);
    return 0;
}


static void
all_conf(pprof_jwt_conf_t *conf)
{
    assert_non_null(all_keys);
    conf_init(conf, all_keys);
}


static const char  *good_algs[] = {
    "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA", "HS256"
};

#define NGOOD  (sizeof(good_algs) / sizeof(good_algs[0]))


/* Every algorithm with a key from a JWKS, with and without kid. */
static void
algorithms_jwks(void **state)
{
    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;
    size_t               i;

    (void) state;

    all_conf(&conf);
    assert_int_equal(pprof_jwt_keys_count(all_keys), 5);

    for (i = 0; i < NGOOD; i++) {
        OK(&conf, honest(good_algs[i], 1, NULL), "alice", &r);
        assert_int_equal(r.nroles, 0);
        OK(&conf, honest(good_algs[i], 0, NULL), "alice", &r);
    }

    /* One JWK per set, and the same key twice under two kids. */
    keys_ok(jwks(jwk_rsa1, NULL), 1, 0);
    keys_ok(jwks(jwk_ed1, jwk_ed2, NULL), 2, 0);
    keys_ok(jwks(jwk_oct_long, NULL), 1, 0);

    conf.keys = keys_ok(jwks(jwk_ec384, NULL), 1, 0);
    OK(&conf, honest("ES384", 1, NULL), "alice", &r);
    BAD(&conf, honest("ES256", 1, NULL), "no such key");

    /* A 64-byte oct key is at least 32 bytes. */
    conf.keys = keys_ok(jwks(jwk_oct_long, NULL), 1, 0);
    OK(&conf, tok("HS256", NULL, oct_long, sizeof(oct_long),
                  hdr("HS256", "octlong"), claims()), "alice", &r);
    OK(&conf, tok("HS256", NULL, oct_long, sizeof(oct_long),
                  hdr("HS256", NULL), claims()), "alice", &r);

    /* "use":"sig" is usable. */
    conf.keys = keys_ok(fmt("{\"keys\":[{\"kty\":\"oct\",\"use\":\"sig\","
                            "\"kid\":\"s\",\"k\":\"%s\"}]}",
                            G(jwt_b64url(oct1, sizeof(oct1)))), 1, 0);
    OK(&conf, tok("HS256", NULL, oct1, sizeof(oct1), hdr("HS256", "s"),
                  claims()), "alice", &r);
}


/* The same with PEM public keys: no kid, the type decides. */
static void
algorithms_pem(void **state)
{
    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;
    size_t               i, derlen;
    unsigned char       *der;
    char                *pem, *one;

    (void) state;

    pem = fmt("%s%s%s%s", G(jwt_pem_public(rsa1)), G(jwt_pem_public(ec256a)),
              G(jwt_pem_public(ec384)), G(jwt_pem_public(ed1)));
    conf_init(&conf, keys_ok(pem, 4, 0));

    for (i = 0; i < NGOOD; i++) {
        if (strcmp(good_algs[i], "HS256") == 0) {
            continue;
        }
        OK(&conf, honest(good_algs[i], 0, NULL), "alice", &r);
    }

    /* PEM keys have no kid: an IdP's kid selects nothing, the key verifies. */
    OK(&conf, tok("RS256", rsa1, NULL, 0, hdr("RS256", "idp-2024"), claims()),
       "alice", &r);
    BAD(&conf, tok("RS256", rsa2, NULL, 0, hdr("RS256", "idp-2024"),
                   claims()), "a kid does not make another key good");

    /* Keys not in the file. */
    BAD(&conf, tok("RS256", rsa2, NULL, 0, hdr("RS256", NULL), claims()),
        "another RSA key");
    BAD(&conf, tok("ES256", ec256b, NULL, 0, hdr("ES256", NULL), claims()),
        "another P-256 key");
    BAD(&conf, tok("EdDSA", ed2, NULL, 0, hdr("EdDSA", NULL), claims()),
        "another Ed25519 key");

    /* HMAC keyed with what the verifier holds: the PEM text, the DER. */
    one = G(jwt_pem_public(rsa1));
    BAD(&conf, tok("HS256", NULL, (unsigned char *) one, strlen(one),
                   hdr("HS256", NULL), claims()), "HMAC with the RSA PEM");
    BAD(&conf, tok("HS256", NULL, (unsigned char *) pem, strlen(pem),
                   hdr("HS256", NULL), claims()), "HMAC with the PEM file");
    der = (unsigned char *) G((char *) jwt_der_public(rsa1, &derlen));
    BAD(&conf, tok("HS256", NULL, der, derlen, hdr("HS256", NULL), claims()),
        "HMAC with the RSA DER");
    one = G(jwt_pem_public(ec256a));
    BAD(&conf, tok("HS256", NULL, (unsigned char *) one, strlen(one),
                   hdr("HS256", NULL), claims()), "HMAC with the EC PEM");

    /* One block per file, of each type. */
    conf.keys = keys_ok(G(jwt_pem_public(rsa1)), 1, 0);
    OK(&conf, honest("PS256", 0, NULL), "alice", &r);
    BAD(&conf, honest("ES256", 0, NULL), "no EC key");
    conf.keys = keys_ok(G(jwt_pem_public(ec256a)), 1, 0);
    OK(&conf, honest("ES256", 0, NULL), "alice", &r);
    BAD(&conf, honest("RS256", 0, NULL), "no RSA key");
    conf.keys = keys_ok(G(jwt_pem_public(ed1)), 1, 0);
    OK(&conf, honest("EdDSA", 0, NULL), "alice", &r);
    BAD(&conf, honest("ES256", 0, NULL), "no EC key");
}


static void
keys_load(void **state)
{
    pprof_jwt_keys_t  *keys;
    pprof_jwt_conf_t   conf;
    pprof_auth_result_t r;
    size_t             skipped;
    char               path[] = "/tmp/pprof-jwks-XXXXXX";
    char               err[256];
    const char        *text;
    int                fd;

    (void) state;

    text = jwks(jwk_rsa1, jwk_ed1, NULL);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);

    skipped = 99;
    keys = K(pprof_jwt_keys_load(path, &skipped, err, sizeof(err)));
    unlink(path);
    if (keys == NULL) {
        fail_msg("load refused: %s", err);
    }
    assert_int_equal(pprof_jwt_keys_count(keys), 2);
    assert_int_equal(skipped, 0);

    conf_init(&conf, keys);
    OK(&conf, honest("EdDSA", 1, NULL), "alice", &r);

    err[0] = '\0';
    keys = K(pprof_jwt_keys_load("/nonexistent/pprof/jwks.json", &skipped,
                                 err, sizeof(err)));
    assert_null(keys);
    assert_true(err[0] != '\0');
}


static void
alg_none_and_unknown(void **state)
{
    static const char  *headers[] = {
        "{\"alg\":\"none\"}",
        "{\"alg\":\"none\",\"kid\":\"oct\"}",
        "{\"alg\":\"None\"}",
        "{\"alg\":\"NONE\"}",
        "{\"alg\":\"nOnE\",\"kid\":\"rsa1\"}",
        "{\"alg\":\"\"}",
        "{\"alg\":null}",
        "{\"alg\":256}",
        "{\"alg\":[\"HS256\"]}",
        "{\"kid\":\"oct\"}",
        "{}",
        "{\"alg\":\"hs256\",\"kid\":\"oct\"}",
        "{\"alg\":\"HS256 \",\"kid\":\"oct\"}",
        "{\"alg\":\"HS256\\u0000\",\"kid\":\"oct\"}",
    };
    static const char  *unsupported[] = {
        "HS384", "HS512", "PS384", "PS512", "ES512", "RS1", "ES256K",
        "Ed25519", "ED25519",
    };

    pprof_jwt_conf_t  conf;
    char             *t, *h, *p, *sig;
    size_t            i;

    (void) state;

    all_conf(&conf);

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        /* Unsigned, and with a signature that would fit the oct key. */
        BAD(&conf, tok("none", NULL, NULL, 0, headers[i], claims()),
            headers[i]);
        BAD(&conf, tok("HS256", NULL, oct1, sizeof(oct1), headers[i],
                       claims()), headers[i]);
    }

    /* alg none with a valid signature of another algorithm borrowed. */
    t = honest("HS256", 1, NULL);
    sig = strrchr(t, '.');
    h = G(jwt_b64url((const unsigned char *) "{\"alg\":\"none\"}", 14));
    p = G(jwt_b64url((const unsigned char *) claims(), strlen(claims())));
    BAD(&conf, fmt("%s.%s%s", h, p, sig), "none with a signature");
    BAD(&conf, fmt("%s.%s.", h, p), "none, unsigned");
    BAD(&conf, fmt("%s.%s", h, p), "none, two segments");

    /* Algorithms outside the list, each signed as they say. */
    for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        const char  *alg = unsupported[i];

        if (strncmp(alg, "HS", 2) == 0) {
            t = jwt_sign(alg, NULL, oct1, sizeof(oct1), hdr(alg, "oct"),
                         claims());
        } else if (strncmp(alg, "PS", 2) == 0) {
            t = jwt_sign(alg, rsa1, NULL, 0, hdr(alg, "rsa1"), claims());
        } else if (strcmp(alg, "ES512") == 0) {
            t = jwt_sign(alg, ec521, NULL, 0, hdr(alg, NULL), claims());
        } else if (strncmp(alg, "Ed", 2) == 0 || strncmp(alg, "ED", 2) == 0) {
            t = jwt_sign("EdDSA", ed1, NULL, 0, hdr(alg, "ed"), claims());
        } else {
            t = jwt_sign("RS256", rsa1, NULL, 0, hdr(alg, "rsa1"), claims());
        }
        BAD(&conf, G(t), alg);
    }
}


/* The algorithm must fit the key's type; the signature is honest. */
static void
alg_key_mismatch(void **state)
{
    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;
    unsigned char       *der;
    size_t               derlen;
    char                *pem, *n;
    json_t              *j;

    (void) state;

    all_conf(&conf);

    /* HMAC keyed with a public key, in every form it could be held. */
    pem = G(jwt_pem_public(rsa1));
    BAD(&conf, tok("HS256", NULL, (unsigned char *) pem, strlen(pem),
                   hdr("HS256", "rsa1"), claims()), "HS256, RSA PEM");
    BAD(&conf, tok("HS256", NULL, (unsigned char *) pem, strlen(pem),
                   hdr("HS256", NULL), claims()), "HS256, RSA PEM, no kid");
    der = (unsigned char *) G((char *) jwt_der_public(rsa1, &derlen));
    BAD(&conf, tok("HS256", NULL, der, derlen, hdr("HS256", "rsa1"),
                   claims()), "HS256, RSA DER");
    BAD(&conf, tok("HS256", NULL, (unsigned char *) jwk_rsa1,
                   strlen(jwk_rsa1), hdr("HS256", "rsa1"), claims()),
        "HS256, RSA JWK");
    j = json_loads(jwk_rsa1, 0, NULL);
    assert_non_null(j);
    n = fmt("%s", json_string_value(json_object_get(j, "n")));
    json_decref(j);
    BAD(&conf, tok("HS256", NULL, (unsigned char *) n, strlen(n),
                   hdr("HS256", "rsa1"), claims()), "HS256, RSA n");
    pem = G(jwt_pem_public(ec256a));
    BAD(&conf, tok("HS256", NULL, (unsigned char *) pem, strlen(pem),
                   hdr("HS256", "ec256"), claims()), "HS256, EC PEM");
    pem = G(jwt_pem_public(ed1));
    BAD(&conf, tok("HS256", NULL, (unsigned char *) pem, strlen(pem),
                   hdr("HS256", "ed"), claims()), "HS256, Ed25519 PEM");

    /* The header names one family, the key and signature are another. */
    BAD(&conf, tok("ES256", ec256a, NULL, 0, hdr("RS256", "ec256"),
                   claims()), "RS256 on an EC key");
    BAD(&conf, tok("ES256", ec256a, NULL, 0, hdr("PS256", "ec256"),
                   claims()), "PS256 on an EC key");
    BAD(&conf, tok("RS256", rsa1, NULL, 0, hdr("ES256", "rsa1"), claims()),
        "ES256 on an RSA key");
    BAD(&conf, tok("EdDSA", ed1, NULL, 0, hdr("ES256", "ed"), claims()),
        "ES256 on an Ed25519 key");
    BAD(&conf, tok("ES256", ec256a, NULL, 0, hdr("EdDSA", "ec256"),
                   claims()), "EdDSA on an EC key");
    BAD(&conf, tok("RS256", rsa1, NULL, 0, hdr("EdDSA", "rsa1"), claims()),
        "EdDSA on an RSA key");
    BAD(&conf, tok("HS256", NULL, oct1, sizeof(oct1), hdr("RS256", "oct"),
                   claims()), "RS256 on an oct key");
    BAD(&conf, tok("HS256", NULL, oct1, sizeof(oct1), hdr("ES256", "oct"),
                   claims()), "ES256 on an oct key");
    BAD(&conf, tok("HS256", NULL, oct1, sizeof(oct1), hdr("EdDSA", "oct"),
                   claims()), "EdDSA on an oct key");

    /* The curve must fit: ES384 on P-256, ES256 on P-384. */
    BAD(&conf, tok("ES384", ec256a, NULL, 0, hdr("ES384", "ec256"),
                   claims()), "ES384 on a P-256 key");
    BAD(&conf, tok("ES384", ec256a, NULL, 0, hdr("ES384", NULL), claims()),
        "ES384 on a P-256 key, no kid");
    BAD(&conf, tok("ES256", ec384, NULL, 0, hdr("ES256", "ec384"), claims()),
        "ES256 on a P-384 key");
    BAD(&conf, tok("ES256", ec384, NULL, 0, hdr("ES256", NULL), claims()),
        "ES256 on a P-384 key, no kid");

    /* PKCS#1 v1.5 and PSS are not interchangeable. */
    BAD(&conf, tok("RS256", rsa1, NULL, 0, hdr("PS256", "rsa1"), claims()),
        "PS256 header, PKCS#1 signature");
    BAD(&conf, tok("PS256", rsa1, NULL, 0, hdr("RS256", "rsa1"), claims()),
        "RS256 header, PSS signature");
    /* Nor are the hashes. */
    BAD(&conf, tok("RS384", rsa1, NULL, 0, hdr("RS256", "rsa1"), claims()),
        "RS256 header, SHA-384 signature");
    BAD(&conf, tok("RS256", rsa1, NULL, 0, hdr("RS512", "rsa1"), claims()),
        "RS512 header, SHA-256 signature");

    /* An honest token still passes after all that. */
    OK(&conf, honest("ES256", 1, NULL), "alice", &r);
}


/* A JWK "alg" member must match the token's. */
static void
jwk_alg_member(void **state)
{
    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;
    char                *set;

    (void) state;

    set = jwks(G(jwt_jwk(rsa1, "rsa1", "RS256")),
               G(jwt_jwk(ec256a, "ec256", "ES256")),
               G(jwt_jwk(ed1, "ed", "EdDSA")),
               G(jwt_jwk_oct(oct1, sizeof(oct1), "oct", "HS256")), NULL);
    conf_init(&conf, keys_ok(set, 4, 0));

    OK(&conf, honest("RS256", 1, NULL), "alice", &r);
    OK(&conf, honest("RS256", 0, NULL), "alice", &r);
    OK(&conf, honest("ES256", 1, NULL), "alice", &r);
    OK(&conf, honest("EdDSA", 1, NULL), "alice", &r);
    OK(&conf, honest("HS256", 1, NULL), "alice", &r);
    BAD(&conf, honest("RS384", 1, NULL), "RS384 with an RS256 JWK");
    BAD(&conf, honest("RS512", 0, NULL), "RS512 with an RS256 JWK, no kid");
    BAD(&conf, honest("PS256", 1, NULL), "PS256 with an RS256 JWK");

    conf.keys = keys_ok(jwks(G(jwt_jwk(rsa1, "rsa1", "PS256")), NULL), 1, 0);
    OK(&conf, honest("PS256", 1, NULL), "alice", &r);
    BAD(&conf, honest("RS256", 1, NULL), "RS256 with a PS256 JWK");

    conf.keys = keys_ok(jwks(G(jwt_jwk(rsa1, "rsa1", "RS512")), NULL), 1, 0);
    OK(&conf, honest("RS512", 1, NULL), "alice", &r);
    BAD(&conf, honest("RS256", 1, NULL), "RS256 with an RS512 JWK");
}


/* Replaces the signature segment of t. */
static char *
resign(const char *t, const unsigned char *sig, size_t len)
{
    const char  *dot = strrchr(t, '.');

    return fmt("%.*s.%s", (int) (dot - t), t, G(jwt_b64url(sig, len)));
}


static void
bad_signature(void **state)
{
    pprof_jwt_conf_t  conf;
    unsigned char     sig[600];
    size_t            i, len, siglen, mark;
    char             *t, *u, *input;
    unsigned char    *raw;

    (void) state;

    all_conf(&conf);

    for (i = 0; i < NGOOD; i++) {
        const char  *alg = good_algs[i];

        t = honest(alg, 1, NULL);
        len = strlen(t);

        /* A character in the middle of the signature. */
        u = fmt("%s", t);
        u[len - 10] = u[len - 10] == 'A' ? 'B' : 'A';
        BAD(&conf, u, alg);

        /* No signature. */
        u = fmt("%.*s", (int) (strrchr(t, '.') - t + 1), t);
        BAD(&conf, u, alg);

        /* All zero bytes of the right length, all ones. */
        input = strrchr(t, '.') + 1;
        siglen = strlen(input) * 3 / 4;
        memset(sig, 0, siglen);
        BAD(&conf, resign(t, sig, siglen), alg);
        memset(sig, 0xff, siglen);
        BAD(&conf, resign(t, sig, siglen), alg);

        /* Another token's signature. */
        u = honest(alg, 1, claims_with(",\"x\":1"));
        BAD(&conf, fmt("%.*s%s", (int) (strrchr(t, '.') - t), t,
                       strrchr(u, '.')), alg);
    }

    /* Another key of the same type, under the kid of the trusted one. */
    BAD(&conf, tok("RS256", rsa2, NULL, 0, hdr("RS256", "rsa1"), claims()),
        "rsa2 as rsa1");
    BAD(&conf, tok("RS256", rsa2, NULL, 0, hdr("RS256", NULL), claims()),
        "rsa2, no kid");
    BAD(&conf, tok("ES256", ec256b, NULL, 0, hdr("ES256", "ec256"),
                   claims()), "ec256b as ec256");
    BAD(&conf, tok("EdDSA", ed2, NULL, 0, hdr("EdDSA", "ed"), claims()),
        "ed2 as ed");
    BAD(&conf, tok("HS256", NULL, oct2, sizeof(oct2), hdr("HS256", "oct"),
                   claims()), "oct2 as oct");
    BAD(&conf, tok("HS256", NULL, oct2, sizeof(oct2), hdr("HS256", NULL),
                   claims()), "oct2, no kid");
    BAD(&conf, tok("HS256", NULL, oct1, 31, hdr("HS256", "oct"), claims()),
        "oct1 less a byte");

    /* ECDSA in DER, as OpenSSL makes it: JWS wants R || S. */
    BAD(&conf, tokf("ES256", ec256a, NULL, 0, hdr("ES256", "ec256"),
                    claims(), JWT_SIGN_ECDSA_DER), "ES256 as DER");
    BAD(&conf, tokf("ES384", ec384, NULL, 0, hdr("ES384", "ec384"),
                    claims(), JWT_SIGN_ECDSA_DER), "ES384 as DER");

    /* R || S one byte too long or too short. */
    t = honest("ES256", 1, NULL);
    input = fmt("%.*s", (int) (strrchr(t, '.') - t), t);
    raw = (unsigned char *) G((char *) jwt_signature("ES256", ec256a, NULL,
                                  0, (unsigned char *) input, strlen(input),
                                  0, &siglen));
    assert_int_equal(siglen, 64);
    sig[0] = 0;
    memcpy(sig + 1, raw, 64);
    BAD(&conf, resign(t, sig, 65), "ES256 with a leading zero byte");
    memcpy(sig, raw, 64);
    sig[64] = 0;
    BAD(&conf, resign(t, sig, 65), "ES256 with a trailing zero byte");
    BAD(&conf, resign(t, raw, 63), "ES256 less a byte");
    /* The honest signature, to be sure the tests above mean something. */
    {
        pprof_auth_result_t  r;

        OK(&conf, resign(t, raw, 64), "alice", &r);
    }

    /*
     * An RSA signature is as long as the modulus: one that starts with a
     * zero byte passes whole and fails with the zero stripped.
     */
    for (i = 0; i < 4000; i++) {
        mark = unit_nstrings;
        t = honest("RS256", 1, claims_with(fmt(",\"jti\":%zu", i)));
        input = fmt("%.*s", (int) (strrchr(t, '.') - t), t);
        raw = (unsigned char *) G((char *) jwt_signature("RS256", rsa1, NULL,
                                      0, (unsigned char *) input,
                                      strlen(input), 0, &siglen));
        if (raw[0] == 0) {
            break;
        }
        /* Keep the garbage list short: drop this round's strings. */
        while (unit_nstrings > mark) {
            free(unit_strings[--unit_nstrings]);
        }
    }
    if (i < 4000) {
        pprof_auth_result_t  r;

        assert_int_equal(siglen, 256);
        OK(&conf, t, "alice", &r);
        BAD(&conf, resign(t, raw + 1, 255), "RS256 without its leading zero");
        memcpy(sig + 1, raw, 256);
        sig[0] = 0;
        BAD(&conf, resign(t, sig, 257), "RS256 with another leading zero");
    }

    /* PSS with another salt length than hLen = 32. */
    BAD(&conf, tokf("PS256", rsa1, NULL, 0, hdr("PS256", "rsa1"), claims(),
                    JWT_SIGN_PSS_SALT_MAX), "PSS, longest salt");
    BAD(&conf, tokf("PS256", rsa1, NULL, 0, hdr("PS256", "rsa1"), claims(),
                    JWT_SIGN_PSS_SALT_20), "PSS, 20-byte salt");
}


static void
time_claims(void **state)
{
    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;

    (void) state;

    all_conf(&conf);

    /* No exp at all. */
    BAD(&conf, honest("HS256", 1, "{\"sub\":\"alice\"}"), "no exp");
    BAD(&conf, honest("ES256", 1, fmt("{\"sub\":\"alice\",\"nbf\":%lld}",
                                      NOW - 10)), "nbf, no exp");

    /* exp: expired beyond the leeway, within it, in the future. */
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":\"alice\",\"exp\":%lld}",
                                      NOW - 31)), "expired 31s ago");
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":\"alice\",\"exp\":%lld}",
                                      NOW - 3600)), "expired an hour ago");
    OK(&conf, honest("HS256", 1, fmt("{\"sub\":\"alice\",\"exp\":%lld}",
                                     NOW - 29)), "alice", &r);
    OK(&conf, honest("HS256", 1, fmt("{\"sub\":\"alice\",\"exp\":%lld}",
                                     NOW + 1)), "alice", &r);

    /* nbf: too early beyond the leeway, within it, past. */
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":\"alice\",\"exp\":%lld,"
                                      "\"nbf\":%lld}", NOW + 600, NOW + 31)),
        "not before 31s from now");
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":\"alice\",\"exp\":%lld,"
                                      "\"nbf\":%lld}", NOW + 9000,
                                      NOW + 3600)),
        "not before an hour from now");
    OK(&conf, honest("HS256", 1, fmt("{\"sub\":\"alice\",\"exp\":%lld,"
                                     "\"nbf\":%lld}", NOW + 600, NOW + 29)),
       "alice", &r);
    OK(&conf, honest("HS256", 1, fmt("{\"sub\":\"alice\",\"exp\":%lld,"
                                     "\"nbf\":%lld}", NOW + 600, NOW - 600)),
       "alice", &r);

    /* Without leeway. */
    conf.leeway = 0;
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":\"alice\",\"exp\":%lld}",
                                      NOW - 1)), "expired 1s ago, no leeway");
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":\"alice\",\"exp\":%lld,"
                                      "\"nbf\":%lld}", NOW + 600, NOW + 1)),
        "nbf 1s from now, no leeway");
    OK(&conf, honest("HS256", 1, fmt("{\"sub\":\"alice\",\"exp\":%lld}",
                                     NOW + 1)), "alice", &r);

    /* The same token, verified at other times. */
    conf.leeway = 30;
    {
        char  *t = honest("EdDSA", 1, fmt("{\"sub\":\"alice\",\"exp\":%lld,"
                                          "\"nbf\":%lld}", NOW + 600,
                                          NOW - 600));

        BAD_AT(&conf, t, NOW + 631, "verified after exp + leeway");
        BAD_AT(&conf, t, NOW - 631, "verified before nbf - leeway");
        BAD_AT(&conf, t, NOW + 100000, "verified a day later");
    }

    /* exp and nbf that are not numbers. */
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":\"alice\",\"exp\":\"%lld\"}",
                                      NOW + 600)), "exp as a string");
    BAD(&conf, honest("HS256", 1, "{\"sub\":\"alice\",\"exp\":null}"),
        "exp null");
    BAD(&conf, honest("HS256", 1, "{\"sub\":\"alice\",\"exp\":true}"),
        "exp true");
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":\"alice\",\"exp\":[%lld]}",
                                      NOW + 600)), "exp as an array");
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":\"alice\",\"exp\":%lld,"
                                      "\"nbf\":\"%lld\"}", NOW + 600,
                                      NOW - 600)), "nbf as a string");
}


static void
issuer_audience(void **state)
{
    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;

    (void) state;

    all_conf(&conf);

    /* Not configured: anything goes. */
    OK(&conf, honest("HS256", 1, claims_with(",\"iss\":\"whoever\"")),
       "alice", &r);
    OK(&conf, honest("HS256", 1, claims_with(",\"aud\":\"whatever\"")),
       "alice", &r);

    conf.issuer = S("https://issuer.example");
    OK(&conf, honest("HS256", 1,
                     claims_with(",\"iss\":\"https://issuer.example\"")),
       "alice", &r);
    BAD(&conf, honest("HS256", 1, claims()), "no iss");
    BAD(&conf, honest("HS256", 1,
                      claims_with(",\"iss\":\"https://evil.example\"")),
        "wrong iss");
    BAD(&conf, honest("HS256", 1,
                      claims_with(",\"iss\":\"https://issuer.example/\"")),
        "iss with a slash more");
    BAD(&conf, honest("HS256", 1,
                      claims_with(",\"iss\":\"https://issuer.exampl\"")),
        "iss a prefix");
    BAD(&conf, honest("HS256", 1,
                      claims_with(",\"iss\":\"HTTPS://ISSUER.EXAMPLE\"")),
        "iss in capitals");
    BAD(&conf, honest("HS256", 1,
                      claims_with(",\"iss\":[\"https://issuer.example\"]")),
        "iss as an array");
    BAD(&conf, honest("HS256", 1,
                      claims_with(",\"iss\":\"https://issuer.example"
                                  "\\u0000x\"")), "iss with a NUL");

    conf.issuer = S("");
    conf.audience = S("pprof");
    OK(&conf, honest("HS256", 1, claims_with(",\"aud\":\"pprof\"")), "alice",
       &r);
    OK(&conf, honest("ES256", 1, claims_with(",\"aud\":[\"a\",\"pprof\"]")),
       "alice", &r);
    OK(&conf, honest("ES256", 1, claims_with(",\"aud\":[\"pprof\"]")),
       "alice", &r);
    BAD(&conf, honest("HS256", 1, claims()), "no aud");
    BAD(&conf, honest("HS256", 1, claims_with(",\"aud\":\"other\"")),
        "wrong aud");
    BAD(&conf, honest("HS256", 1, claims_with(",\"aud\":\"pprofx\"")),
        "aud with a suffix");
    BAD(&conf, honest("HS256", 1, claims_with(",\"aud\":\"ppro\"")),
        "aud a prefix");
    BAD(&conf, honest("HS256", 1, claims_with(",\"aud\":[\"a\",\"b\"]")),
        "aud array without it");
    BAD(&conf, honest("HS256", 1, claims_with(",\"aud\":[]")), "aud []");
    BAD(&conf, honest("HS256", 1, claims_with(",\"aud\":null")), "aud null");
    BAD(&conf, honest("HS256", 1, claims_with(",\"aud\":[[\"pprof\"]]")),
        "aud nested");
    BAD(&conf, honest("HS256", 1, claims_with(",\"aud\":\"pprof pprof\"")),
        "aud with a space");

    /* Both. */
    conf.issuer = S("https://issuer.example");
    OK(&conf, honest("EdDSA", 1, claims_with(",\"aud\":\"pprof\","
                                             "\"iss\":\"https://issuer"
                                             ".example\"")), "alice", &r);
    BAD(&conf, honest("EdDSA", 1, claims_with(",\"aud\":\"pprof\"")),
        "aud but no iss");
    BAD(&conf, honest("EdDSA", 1, claims_with(",\"iss\":\"https://issuer"
                                              ".example\"")),
        "iss but no aud");
}


/* Each failure has its own fixed sentence for the client (RFC 6750). */
static void
told(void **state)
{
    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;

    (void) state;

    all_conf(&conf);

    verify(&conf, S(honest("HS256", 1, fmt("{\"sub\":\"alice\",\"exp\":%lld}",
                                          NOW - 3600))), NOW, &r);
    assert_string_equal(r.token_error, "the token has expired");

    verify(&conf, S(honest("HS256", 1, fmt("{\"sub\":\"alice\",\"exp\":%lld,"
                                          "\"nbf\":%lld}", NOW + 9000,
                                          NOW + 3600))), NOW, &r);
    assert_string_equal(r.token_error, "the token is not valid yet");

    verify(&conf, S(honest("HS256", 1, "{\"sub\":\"alice\"}")), NOW, &r);
    assert_string_equal(r.token_error,
                        "the token's exp or nbf claim is missing or not a "
                        "number");

    verify(&conf, S("abc.def"), NOW, &r);
    assert_string_equal(r.token_error, "the token is malformed");

    verify(&conf, S("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.AAAA"), NOW, &r);
    assert_string_equal(r.token_error,
                        "the token's algorithm is not accepted");

    {
        char  *t = honest("ES256", 1, claims());
        char  *sig = strrchr(t, '.') + 1;

        sig[0] = (sig[0] == 'A') ? 'B' : 'A';
        verify(&conf, S(t), NOW, &r);
        assert_string_equal(r.token_error, "the token's signature does not "
                            "verify with a configured key");
    }

    verify(&conf, S(honest("HS256", 1, "{\"exp\":9999999999}")), NOW, &r);
    assert_string_equal(r.token_error,
                        "the token's identity or roles claim is not usable");

    verify(&conf, S(honest("HS256", 1, fmt("{\"sub\":\"a\\u0001b\","
                                          "\"exp\":%lld}", NOW + 600))),
           NOW, &r);
    assert_string_equal(r.token_error,
                        "the token's identity or roles claim is not usable");

    conf.audience = S("pprof");
    verify(&conf, S(honest("HS256", 1,
                           claims_with(",\"aud\":\"SECRETMARK\""))), NOW, &r);
    assert_string_equal(r.token_error,
                        "the token's audience does not include this gateway");

    conf.audience = S("");
    conf.issuer = S("https://issuer.example");
    verify(&conf, S(honest("HS256", 1,
                           claims_with(",\"iss\":\"SECRETMARK\""))), NOW, &r);
    assert_string_equal(r.token_error, "the token's issuer is not accepted");

    /* Passing now: a success leaves nothing to tell. */
    conf.issuer = S("");
    verify(&conf, S(honest("HS256", 1, claims())), NOW, &r);
    assert_int_equal(r.reason, PPROF_OK);
    assert_null(r.token_error);
}


/* A JSON header with n spaces before its closing brace. */
static char *
spaced(const char *alg, const char *kid, size_t n)
{
    return fmt("{\"alg\":\"%s\",\"kid\":\"%s\"%*s}", alg, kid, (int) n, "");
}

static const char  b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
b64val(char c)
{
    const char  *p = strchr(b64url, c);

    return (p && c) ? (int) (p - b64url) : -1;
}


/* Sets the lowest (unused) bit of the last character of a segment. */
static void
dirty_last(char *seg, size_t len)
{
    int  v = b64val(seg[len - 1]);

    assert_true(v >= 0);
    assert_int_equal(v & 1, 0);
    seg[len - 1] = b64url[v | 1];
}


static void
base64url_canonical(void **state)
{
    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;
    size_t               i, n, len;
    char                *h, *p, *t, *u, *sig, *c;
    char                 x[64];

    (void) state;

    all_conf(&conf);

    p = G(jwt_b64url((const unsigned char *) claims(), strlen(claims())));

    /* Headers of every length mod 3: padded, and with unused bits set. */
    for (n = 0; n < 3; n++) {
        h = spaced("HS256", "oct", n);
        len = strlen(h);
        h = G(jwt_b64url((const unsigned char *) h, len));

        /* The honest form passes, so what fails below is the encoding. */
        t = G(jwt_sign_segments("HS256", NULL, oct1, sizeof(oct1), h, p, 0));
        OK(&conf, t, "alice", &r);

        if (len % 3 == 0) {
            /* A length no encoding has: one character more. */
            u = fmt("%sA", h);
            BAD(&conf, G(jwt_sign_segments("HS256", NULL, oct1, sizeof(oct1),
                                           u, p, 0)), "header of 4n+1");
            u = fmt("%s=", h);
            BAD(&conf, G(jwt_sign_segments("HS256", NULL, oct1, sizeof(oct1),
                                           u, p, 0)), "header of 4n, '='");
            continue;
        }

        u = fmt("%s%s", h, len % 3 == 1 ? "==" : "=");
        BAD(&conf, G(jwt_sign_segments("HS256", NULL, oct1, sizeof(oct1), u,
                                       p, 0)), "padded header");
        u = fmt("%s=", h);
        BAD(&conf, G(jwt_sign_segments("HS256", NULL, oct1, sizeof(oct1), u,
                                       p, 0)), "header with one '='");

        u = fmt("%s", h);
        dirty_last(u, strlen(u));
        BAD(&conf, G(jwt_sign_segments("HS256", NULL, oct1, sizeof(oct1), u,
                                       p, 0)), "header with unused bits");
    }

    /* The payload likewise. */
    h = G(jwt_b64url((const unsigned char *) hdr("HS256", "oct"),
                     strlen(hdr("HS256", "oct"))));
    for (n = 0; n < 3; n++) {
        c = claims_with(fmt(",\"x\":\"%.*s\"", (int) n, "abc"));
        len = strlen(c);
        p = G(jwt_b64url((const unsigned char *) c, len));
        OK(&conf, G(jwt_sign_segments("HS256", NULL, oct1, sizeof(oct1), h, p,
                                      0)), "alice", &r);

        if (len % 3 == 0) {
            continue;
        }

        u = fmt("%s%s", p, len % 3 == 1 ? "==" : "=");
        BAD(&conf, G(jwt_sign_segments("HS256", NULL, oct1, sizeof(oct1), h,
                                       u, 0)), "padded payload");
        u = fmt("%s", p);
        dirty_last(u, strlen(u));
        BAD(&conf, G(jwt_sign_segments("HS256", NULL, oct1, sizeof(oct1), h,
                                       u, 0)), "payload with unused bits");
    }

    /*
     * '+' and '/' for '-' and '_': find payloads whose encoding has them,
     * then sign over the standard-alphabet form.
     */
    for (i = 0; i < 2; i++) {
        const char  want = i == 0 ? '-' : '_';
        const char  other = i == 0 ? '+' : '/';

        for (n = 0; n < 1000; n++) {
            snprintf(x, sizeof(x), ",\"x\":\"%zu%s\"", n, i ? "?" : ">");
            c = claims_with(x);
            p = G(jwt_b64url((const unsigned char *) c, strlen(c)));
            if (strchr(p, want) != NULL) {
                break;
            }
            free(unit_strings[--unit_nstrings]);
            free(unit_strings[--unit_nstrings]);
        }
        assert_true(n < 1000);

        OK(&conf, G(jwt_sign_segments("HS256", NULL, oct1, sizeof(oct1), h, p,
                                      0)), "alice", &r);
        u = fmt("%s", p);
        for (c = u; *c; c++) {
            if (*c == want) {
                *c = other;
            }
        }
        BAD(&conf, G(jwt_sign_segments("HS256", NULL, oct1, sizeof(oct1), h,
                                       u, 0)), i ? "'/' in payload"
                                                 : "'+' in payload");
    }

    /* Characters of no alphabet, where the signature covers them. */
    {
        static const char  junk[] = { '*', '%', ' ', '.', '\\', '"', '\n',
                                      '\x80', '~', '!' };

        p = G(jwt_b64url((const unsigned char *) claims(), strlen(claims())));
        for (i = 0; i < sizeof(junk); i++) {
            if (junk[i] == '.') {
                continue;
            }
            u = fmt("%s", p);
            u[5] = junk[i];
            BAD(&conf, G(jwt_sign_segments("HS256", NULL, oct1, sizeof(oct1),
                                           h, u, 0)), "odd character");
        }
    }

    /*
     * The signature: HS256 is 32 bytes (43 characters, 2 unused bits),
     * ES256 and EdDSA 64 (86, 4 unused bits).  The bytes stay the same.
     */
    for (i = 0; i < NGOOD; i++) {
        t = honest(good_algs[i], 1, NULL);
        sig = strrchr(t, '.') + 1;
        len = strlen(sig);

        if (len % 4 != 0) {
            BAD(&conf, fmt("%s=", t), "padded signature");
            BAD(&conf, fmt("%s%s", t, len % 4 == 2 ? "==" : "="),
                "padded signature");

            u = fmt("%s", t);
            dirty_last(u, strlen(u));
            BAD(&conf, u, "signature with unused bits");
        }
    }

    /* '-' or '_' in a signature, written '+' or '/'. */
    for (n = 0; n < 200; n++) {
        snprintf(x, sizeof(x), ",\"jti\":\"%zu\"", n);
        t = honest("HS256", 1, claims_with(x));
        sig = strrchr(t, '.') + 1;
        if (strpbrk(sig, "-_") != NULL) {
            break;
        }
    }
    assert_non_null(strpbrk(sig, "-_"));
    OK(&conf, t, "alice", &r);
    u = fmt("%s", t);
    for (c = strrchr(u, '.') + 1; *c; c++) {
        *c = *c == '-' ? '+' : *c == '_' ? '/' : *c;
    }
    BAD(&conf, u, "standard alphabet in the signature");
}


static void
trailing_garbage(void **state)
{
    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;
    size_t               i, len;
    char                *t, *dot;

    (void) state;

    all_conf(&conf);

    for (i = 0; i < NGOOD; i++) {
        t = honest(good_algs[i], 1, NULL);
        len = strlen(t);
        OK(&conf, t, "alice", &r);

        BAD(&conf, fmt("%s.", t), "trailing dot");
        BAD(&conf, fmt("%s.e30", t), "fourth segment");
        BAD(&conf, fmt("%s.%s", t, strrchr(t, '.') + 1), "signature twice");
        BAD(&conf, fmt("%s..", t), "two trailing dots");
        BAD(&conf, fmt("%s ", t), "trailing space");
        BAD(&conf, fmt("%s\n", t), "trailing newline");
        BAD(&conf, fmt("%s\r\n", t), "trailing CRLF");
        BAD(&conf, fmt("%s\t", t), "trailing tab");
        BAD(&conf, fmt(" %s", t), "leading space");
        BAD(&conf, fmt(".%s", t), "leading dot");
        bad_(&conf, SN(fmt("%s%c", t, 0), len + 1), NOW, "trailing NUL",
             __LINE__);
        bad_(&conf, SN(t, len - 1), NOW, "one character short", __LINE__);

        /* Segments: two, one, none; doubled dots. */
        dot = strrchr(t, '.');
        BAD(&conf, fmt("%.*s", (int) (dot - t), t), "two segments");
        BAD(&conf, fmt("%.*s", (int) (strchr(t, '.') - t), t), "one segment");
        BAD(&conf, fmt("%.*s.%s", (int) (dot - t), t, dot), "double dot");
        BAD(&conf, fmt("%.*s.%s", (int) (strchr(t, '.') - t), t,
                       strchr(t, '.')), "double first dot");
    }

    BAD(&conf, "", "empty");
    BAD(&conf, ".", "a dot");
    BAD(&conf, "..", "two dots");
    BAD(&conf, "...", "three dots");
    bad_(&conf, SN("\0", 1), NOW, "a NUL", __LINE__);
    BAD(&conf, "Bearer", "a word");
}


/* The length of base64url without padding for n bytes. */
static size_t
b64len(size_t n)
{
    return (n * 4 + 2) / 3;
}


static void
token_size(void **state)
{
    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;
    size_t               want, hl, pl, pad, sp;
    char                *h, *p, *t, *fill;

    (void) state;

    all_conf(&conf);

    fill = G(malloc(PPROF_JWT_TOKEN_MAX * 2));
    memset(fill, 'x', PPROF_JWT_TOKEN_MAX * 2 - 1);
    fill[PPROF_JWT_TOKEN_MAX * 2 - 1] = '\0';

    for (want = PPROF_JWT_TOKEN_MAX; want <= PPROF_JWT_TOKEN_MAX + 1;
         want++)
    {
        t = NULL;

        /* Lengths mod 4 of base64url are 0, 2 or 3: vary both segments. */
        for (sp = 0; sp < 3 && t == NULL; sp++) {
            h = spaced("HS256", "oct", sp);
            hl = b64len(strlen(h));

            for (pad = 0; pad < PPROF_JWT_TOKEN_MAX; pad++) {
                p = fmt("{\"sub\":\"alice\",\"exp\":%lld,\"pad\":\"%.*s\"}",
                        NOW + 600, (int) pad, fill);
                pl = b64len(strlen(p));
                if (hl + 1 + pl + 1 + 43 >= want) {
                    break;
                }
                free(unit_strings[--unit_nstrings]);
            }

            if (hl + 1 + pl + 1 + 43 == want) {
                t = tok("HS256", NULL, oct1, sizeof(oct1), h, p);
            }
        }

        assert_non_null(t);
        assert_int_equal(strlen(t), want);

        if (want == PPROF_JWT_TOKEN_MAX) {
            OK(&conf, t, "alice", &r);
        } else {
            BAD(&conf, t, "one byte over PPROF_JWT_TOKEN_MAX");
        }
    }

    p = fmt("{\"sub\":\"alice\",\"exp\":%lld,\"pad\":\"%s\"}", NOW + 600,
            fill);
    BAD(&conf, tok("HS256", NULL, oct1, sizeof(oct1), hdr("HS256", "oct"), p),
        "twice PPROF_JWT_TOKEN_MAX");
}


static void
crit_header(void **state)
{
    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;

    (void) state;

    all_conf(&conf);

    OK(&conf, tok("HS256", NULL, oct1, sizeof(oct1),
                  "{\"alg\":\"HS256\",\"kid\":\"oct\",\"typ\":\"JWT\","
                  "\"cty\":\"x\"}", claims()), "alice", &r);
    BAD(&conf, tok("HS256", NULL, oct1, sizeof(oct1),
                   "{\"alg\":\"HS256\",\"kid\":\"oct\",\"crit\":[\"exp\"]}",
                   claims()), "crit");
    BAD(&conf, tok("HS256", NULL, oct1, sizeof(oct1),
                   "{\"alg\":\"HS256\",\"kid\":\"oct\",\"crit\":[\"b64\"],"
                   "\"b64\":false}", claims()), "crit b64");
    BAD(&conf, tok("HS256", NULL, oct1, sizeof(oct1),
                   "{\"alg\":\"HS256\",\"kid\":\"oct\",\"crit\":[]}",
                   claims()), "empty crit");
    BAD(&conf, tok("ES256", ec256a, NULL, 0,
                   "{\"crit\":[\"x\"],\"x\":1,\"alg\":\"ES256\"}",
                   claims()), "crit first");
}


static void
duplicate_keys(void **state)
{
    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;

    (void) state;

    all_conf(&conf);

    BAD(&conf, tok("HS256", NULL, oct1, sizeof(oct1),
                   "{\"alg\":\"HS256\",\"alg\":\"HS256\",\"kid\":\"oct\"}",
                   claims()), "alg twice, same");
    BAD(&conf, tok("HS256", NULL, oct1, sizeof(oct1),
                   "{\"alg\":\"none\",\"alg\":\"HS256\",\"kid\":\"oct\"}",
                   claims()), "alg twice");
    BAD(&conf, tok("HS256", NULL, oct1, sizeof(oct1),
                   "{\"alg\":\"HS256\",\"kid\":\"x\",\"kid\":\"oct\"}",
                   claims()), "kid twice");
    BAD(&conf, honest("HS256", 1,
                      fmt("{\"sub\":\"alice\",\"sub\":\"root\","
                          "\"exp\":%lld}", NOW + 600)), "sub twice");
    BAD(&conf, honest("HS256", 1,
                      fmt("{\"sub\":\"alice\",\"exp\":%lld,\"exp\":%lld}",
                          NOW - 3600, NOW + 600)), "exp twice");
    BAD(&conf, honest("HS256", 1, claims_with(",\"roles\":[\"a\"],"
                                              "\"roles\":[\"admin\"]")),
        "roles twice");
    /* Escapes do not make another key. */
    BAD(&conf, honest("HS256", 1,
                      fmt("{\"sub\":\"alice\",\"s\\u0075b\":\"root\","
                          "\"exp\":%lld}", NOW + 600)), "sub and s\\u0075b");

    /* Nested objects are part of the one document: no duplicates there. */
    OK(&conf, honest("HS256", 1, claims_with(",\"ctx\":{\"a\":1,\"b\":2}")),
       "alice", &r);
    BAD(&conf, honest("HS256", 1, claims_with(",\"ctx\":{\"a\":1,\"a\":2}")),
        "nested duplicate");
}


/* fmt with every "EXP" replaced by an exp ten minutes after NOW. */
static char *
with_exp(const char *templ)
{
    char        *out, *o;
    const char  *p;

    out = G(malloc(strlen(templ) * 4 + 1));
    for (p = templ, o = out; *p; ) {
        if (strncmp(p, "EXP", 3) == 0) {
            o += sprintf(o, "%lld", NOW + 600);
            p += 3;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}


static void
not_objects(void **state)
{
    static const char  *bad_headers[] = {
        "[]", "[{\"alg\":\"HS256\",\"kid\":\"oct\"}]", "\"HS256\"", "null",
        "1", "true", "", " ", "{", "}", "{\"alg\":\"HS256\",\"kid\":\"oct\"",
        "{\"alg\":\"HS256\",\"kid\":\"oct\"}x",
        "{\"alg\":\"HS256\",\"kid\":\"oct\"}{}",
        "{\"alg\":\"HS256\",\"kid\":\"oct\",}",
        "{'alg':'HS256','kid':'oct'}",
        "{alg:\"HS256\",kid:\"oct\"}",
        "\xef\xbb\xbf{\"alg\":\"HS256\",\"kid\":\"oct\"}",
        "{\"alg\":\"HS256\",\"kid\":\"oct\"} /* */",
        "{\"alg\":\"HS256\",\"kid\":\"oct\",\"x\":\"\xff\"}",
    };
    static const char  *bad_payloads[] = {
        "[]", "[{\"sub\":\"alice\",\"exp\":EXP}]", "\"alice\"", "null", "1",
        "true", "", " ", "{", "}", "{\"sub\":\"alice\",\"exp\":EXP",
        "{\"sub\":\"alice\",\"exp\":EXP}x",
        "{\"sub\":\"alice\",\"exp\":EXP}{}",
        "{\"sub\":\"alice\",\"exp\":EXP,}",
        "{'sub':'alice','exp':EXP}",
        "{sub:\"alice\",exp:EXP}",
        "\xef\xbb\xbf{\"sub\":\"alice\",\"exp\":EXP}",
        "{\"sub\":\"alice\",\"exp\":EXP} /* */",
        "{\"sub\":\"alice\",\"exp\":EXP,\"x\":\"\xff\"}",
        "{\"sub\":\"al\xc3\",\"exp\":EXP}",
        "{\"sub\":\"alice\",\"exp\":EXP,\"x\":\"\\ud800\"}",
    };

    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;
    size_t               i;
    char                *h, *p, *c;

    (void) state;

    all_conf(&conf);

    /* The honest shapes pass, whitespace included. */
    OK(&conf, tok("HS256", NULL, oct1, sizeof(oct1),
                  "{ \"alg\" : \"HS256\" ,\n\"kid\":\"oct\" }",
                  with_exp("{\n  \"sub\": \"alice\",\n  \"exp\": EXP\n}")),
       "alice", &r);

    for (i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
        BAD(&conf, tok("HS256", NULL, oct1, sizeof(oct1), bad_headers[i],
                       claims()), bad_headers[i]);
    }

    for (i = 0; i < sizeof(bad_payloads) / sizeof(bad_payloads[0]); i++) {
        c = with_exp(bad_payloads[i]);
        BAD(&conf, tok("HS256", NULL, oct1, sizeof(oct1),
                       hdr("HS256", "oct"), c), c);
    }

    /* An embedded NUL after the header, after the payload. */
    h = G(jwt_b64url((const unsigned char *)
                     "{\"alg\":\"HS256\",\"kid\":\"oct\"}\0", 28));
    p = G(jwt_b64url((const unsigned char *) claims(), strlen(claims())));
    BAD(&conf, G(jwt_sign_segments("HS256", NULL, oct1, sizeof(oct1), h, p,
                                   0)), "NUL after the header");
    h = G(jwt_b64url((const unsigned char *) hdr("HS256", "oct"),
                     strlen(hdr("HS256", "oct"))));
    c = claims();
    p = G(jwt_b64url((const unsigned char *) c, strlen(c) + 1));
    BAD(&conf, G(jwt_sign_segments("HS256", NULL, oct1, sizeof(oct1), h, p,
                                   0)), "NUL after the payload");
}


static void
identity_claim(void **state)
{
    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;
    char                *name, *forged;

    (void) state;

    all_conf(&conf);

    BAD(&conf, honest("HS256", 1, fmt("{\"exp\":%lld}", NOW + 600)),
        "no sub");
    BAD(&conf, honest("HS256", 1, fmt("{\"exp\":%lld,\"email\":\"a@b\"}",
                                      NOW + 600)), "no sub, another claim");
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":42,\"exp\":%lld}",
                                      NOW + 600)), "sub a number");
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":null,\"exp\":%lld}",
                                      NOW + 600)), "sub null");
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":[\"alice\"],\"exp\":%lld}",
                                      NOW + 600)), "sub an array");
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":{},\"exp\":%lld}",
                                      NOW + 600)), "sub an object");
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":\"\",\"exp\":%lld}",
                                      NOW + 600)), "sub empty");
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":\"ali\\nce\",\"exp\":%lld}",
                                      NOW + 600)), "sub with a newline");
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":\"alice\\u0000root\","
                                      "\"exp\":%lld}", NOW + 600)),
        "sub with a NUL");
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":\"\\u001b[31m\","
                                      "\"exp\":%lld}", NOW + 600)),
        "sub with an escape");
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":\"a\\u007f\",\"exp\":%lld}",
                                      NOW + 600)), "sub with DEL");
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":\"a\\u0085b\","
                                      "\"exp\":%lld}", NOW + 600)),
        "sub with NEL");

    /* Up to PPROF_IDENTITY_MAX bytes, not one more. */
    name = G(malloc(PPROF_IDENTITY_MAX + 2));
    memset(name, 'n', PPROF_IDENTITY_MAX + 1);
    name[PPROF_IDENTITY_MAX] = '\0';
    OK(&conf, honest("HS256", 1, fmt("{\"sub\":\"%s\",\"exp\":%lld}", name,
                                     NOW + 600)), name, &r);
    name[PPROF_IDENTITY_MAX] = 'n';
    name[PPROF_IDENTITY_MAX + 1] = '\0';
    BAD(&conf, honest("HS256", 1, fmt("{\"sub\":\"%s\",\"exp\":%lld}", name,
                                      NOW + 600)), "sub too long");

    /* Its start stays for the audit; a token that does not verify, never. */
    pprof_jwt_verify(&conf, S(honest("HS256", 1, fmt("{\"sub\":\"%s\","
                                                     "\"exp\":%lld}", name,
                                                     NOW + 600))), NOW, &r);
    assert_int_equal(r.reason, PPROF_INVALID_CREDENTIAL);
    assert_int_equal(r.identity_len, 0);
    assert_int_equal(r.refused_len, PPROF_IDENTITY_MAX);
    assert_memory_equal(r.identity, name, PPROF_IDENTITY_MAX);
    forged = honest("HS256", 1, fmt("{\"sub\":\"%s\",\"exp\":%lld}", name,
                                    NOW + 600));
    forged[strlen(forged) - 3] ^= 'A' ^ 'B';
    pprof_jwt_verify(&conf, S(forged), NOW, &r);
    assert_int_equal(r.reason, PPROF_INVALID_CREDENTIAL);
    assert_int_equal(r.refused_len, 0);

    /* Escapes are decoded. */
    OK(&conf, honest("HS256", 1, fmt("{\"sub\":\"\\u0061lice\\/x\","
                                     "\"exp\":%lld}", NOW + 600)),
       "alice/x", &r);

    /* Another claim names the identity. */
    conf.identity_claim = S("email");
    OK(&conf, honest("ES256", 1, fmt("{\"sub\":\"1234\",\"exp\":%lld,"
                                     "\"email\":\"alice@example.com\"}",
                                     NOW + 600)), "alice@example.com", &r);
    BAD(&conf, honest("ES256", 1, claims()), "no email claim");
    BAD(&conf, honest("ES256", 1, fmt("{\"sub\":\"1234\",\"exp\":%lld,"
                                      "\"email\":true}", NOW + 600)),
        "email not a string");
}


static void
assert_roles_(const pprof_auth_result_t *r, const char *const *want,
    size_t n, int line)
{
    size_t  i;

    if (r->nroles != n) {
        fail_msg("line %d: want %zu roles, got %zu", line, n, r->nroles);
    }
    for (i = 0; i < n; i++) {
        if (r->roles[i].len != strlen(want[i])
            || memcmp(r->roles[i].data, want[i], r->roles[i].len) != 0)
        {
            fail_msg("line %d: role %zu: want \"%s\", got \"%.*s\"", line, i,
                     want[i], (int) (r->roles[i].len < 100 ? r->roles[i].len
                                                            : 100),
                     r->roles[i].data);
        }
    }
}

#define assert_roles(r, n, ...) do {                                          \
    const char *const  want_[] = { "", __VA_ARGS__ };                         \
    assert_roles_((r), want_ + 1, (n), __LINE__);                             \
} while (0)


static void
roles_claim(void **state)
{
    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;
    char                *list, *role;
    size_t               i, off;

    (void) state;

    all_conf(&conf);

    OK(&conf, honest("HS256", 1, claims_with(",\"roles\":[\"sre\","
                                             "\"viewer\"]")), "alice", &r);
    assert_roles(&r, 2, "sre", "viewer");

    OK(&conf, honest("RS256", 1, claims_with(",\"roles\":\"sre viewer "
                                             "ops\"")), "alice", &r);
    assert_roles(&r, 3, "sre", "viewer", "ops");

    OK(&conf, honest("HS256", 1, claims_with(",\"roles\":\"sre\"")), "alice",
       &r);
    assert_roles(&r, 1, "sre");

    OK(&conf, honest("HS256", 1, claims_with(",\"roles\":[]")), "alice", &r);
    assert_int_equal(r.nroles, 0);

    OK(&conf, honest("HS256", 1, claims()), "alice", &r);
    assert_int_equal(r.nroles, 0);

    /* A roles claim of another type, or holding one, is not ignored. */
    BAD(&conf, honest("HS256", 1, claims_with(",\"roles\":5")),
        "roles a number");
    BAD(&conf, honest("HS256", 1, claims_with(",\"roles\":{\"sre\":1}")),
        "roles an object");
    BAD(&conf, honest("HS256", 1, claims_with(",\"roles\":true")),
        "roles true");
    BAD(&conf, honest("HS256", 1, claims_with(",\"roles\":[\"sre\",5]")),
        "roles with a number");
    BAD(&conf, honest("HS256", 1, claims_with(",\"roles\":[[\"sre\"]]")),
        "roles nested");

    /* Another claim, and the default one then ignored. */
    conf.roles_claim = S("groups");
    OK(&conf, honest("EdDSA", 1, claims_with(",\"roles\":[\"admin\"],"
                                             "\"groups\":[\"dev\"]")),
       "alice", &r);
    assert_roles(&r, 1, "dev");
    OK(&conf, honest("EdDSA", 1, claims_with(",\"roles\":[\"admin\"]")),
       "alice", &r);
    assert_int_equal(r.nroles, 0);
    conf.roles_claim = S("roles");

    /* Up to PPROF_AUTH_ROLES_MAX roles, as an array and as a string. */
    list = G(malloc(PPROF_AUTH_ROLES_MAX * 8 + 16));
    for (i = 0, off = 0; i < PPROF_AUTH_ROLES_MAX; i++) {
        off += (size_t) sprintf(list + off, "%s\"r%zu\"", i ? "," : "", i);
    }
    OK(&conf, honest("HS256", 1, claims_with(fmt(",\"roles\":[%s]", list))),
       "alice", &r);
    assert_int_equal(r.nroles, PPROF_AUTH_ROLES_MAX);
    assert_int_equal(r.roles[PPROF_AUTH_ROLES_MAX - 1].len, 3);
    assert_memory_equal(r.roles[PPROF_AUTH_ROLES_MAX - 1].data, "r31", 3);
    BAD(&conf, honest("HS256", 1, claims_with(fmt(",\"roles\":[%s,\"one\"]",
                                                  list))), "33 roles");

    for (i = 0, off = 0; i < PPROF_AUTH_ROLES_MAX; i++) {
        off += (size_t) sprintf(list + off, "%sr%zu", i ? " " : "", i);
    }
    OK(&conf, honest("HS256", 1, claims_with(fmt(",\"roles\":\"%s\"", list))),
       "alice", &r);
    assert_int_equal(r.nroles, PPROF_AUTH_ROLES_MAX);
    BAD(&conf, honest("HS256", 1, claims_with(fmt(",\"roles\":\"%s one\"",
                                                  list))),
        "33 roles in a string");

    /* A role of PPROF_AUTH_ROLE_MAX bytes, and one more. */
    role = G(malloc(PPROF_AUTH_ROLE_MAX + 2));
    memset(role, 'r', PPROF_AUTH_ROLE_MAX);
    role[PPROF_AUTH_ROLE_MAX] = '\0';
    OK(&conf, honest("HS256", 1, claims_with(fmt(",\"roles\":[\"a\",\"%s\"]",
                                                 role))), "alice", &r);
    assert_roles(&r, 2, "a", role);
    OK(&conf, honest("HS256", 1, claims_with(fmt(",\"roles\":\"a %s\"",
                                                 role))), "alice", &r);
    assert_roles(&r, 2, "a", role);

    role[PPROF_AUTH_ROLE_MAX] = 'r';
    role[PPROF_AUTH_ROLE_MAX + 1] = '\0';
    BAD(&conf, honest("HS256", 1, claims_with(fmt(",\"roles\":[\"a\",\"%s\"]",
                                                  role))), "role too long");
    BAD(&conf, honest("HS256", 1, claims_with(fmt(",\"roles\":\"%s\"",
                                                  role))),
        "role too long in a string");

    /* Every role at its maximum, the most of them: rolebuf is full. */
    role[PPROF_AUTH_ROLE_MAX] = '\0';
    {
        char  *big = G(malloc(PPROF_AUTH_ROLES_MAX * (PPROF_AUTH_ROLE_MAX + 4)
                              + 16));

        for (i = 0, off = 0; i < PPROF_AUTH_ROLES_MAX; i++) {
            role[0] = (char) ('A' + i % 26);
            role[1] = (char) ('a' + i / 26);
            off += (size_t) sprintf(big + off, "%s\"%s\"", i ? "," : "",
                                    role);
        }
        OK(&conf, honest("HS256", 1, claims_with(fmt(",\"roles\":[%s]",
                                                     big))), "alice", &r);
        assert_int_equal(r.nroles, PPROF_AUTH_ROLES_MAX);
        for (i = 0; i < PPROF_AUTH_ROLES_MAX; i++) {
            role[0] = (char) ('A' + i % 26);
            role[1] = (char) ('a' + i / 26);
            assert_int_equal(r.roles[i].len, PPROF_AUTH_ROLE_MAX);
            assert_memory_equal(r.roles[i].data, role, PPROF_AUTH_ROLE_MAX);
        }
    }
}


static void
kid_selection(void **state)
{
    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;

    (void) state;

    conf_init(&conf, keys_ok(jwks(jwk_ec256a, jwk_ec256b, jwk_rsa1, jwk_ed1,
                                  jwk_ed2, NULL), 5, 0));

    /* kid picks the key. */
    OK(&conf, tok("ES256", ec256b, NULL, 0, hdr("ES256", "ec256b"), claims()),
       "alice", &r);
    OK(&conf, tok("ES256", ec256a, NULL, 0, hdr("ES256", "ec256"), claims()),
       "alice", &r);
    OK(&conf, tok("EdDSA", ed2, NULL, 0, hdr("EdDSA", "ed2"), claims()),
       "alice", &r);

    /* A kid naming the other key of the same type: no falling through. */
    BAD(&conf, tok("ES256", ec256b, NULL, 0, hdr("ES256", "ec256"),
                   claims()), "ec256b's token under ec256's kid");
    BAD(&conf, tok("EdDSA", ed2, NULL, 0, hdr("EdDSA", "ed"), claims()),
        "ed2's token under ed's kid");

    /* A kid naming a key of another type. */
    BAD(&conf, tok("ES256", ec256b, NULL, 0, hdr("ES256", "rsa1"), claims()),
        "ES256 with an RSA kid");
    BAD(&conf, tok("EdDSA", ed1, NULL, 0, hdr("EdDSA", "ec256"), claims()),
        "EdDSA with an EC kid");
    BAD(&conf, tok("RS256", rsa1, NULL, 0, hdr("RS256", "ed"), claims()),
        "RS256 with an Ed25519 kid");

    /* An unknown kid, though a key without it would verify. */
    BAD(&conf, tok("ES256", ec256b, NULL, 0, hdr("ES256", "nobody"),
                   claims()), "unknown kid");
    BAD(&conf, tok("ES256", ec256b, NULL, 0, hdr("ES256", ""), claims()),
        "empty kid");
    BAD(&conf, tok("ES256", ec256b, NULL, 0, hdr("ES256", "ec256b "),
                   claims()), "kid with a space");
    BAD(&conf, tok("ES256", ec256b, NULL, 0, hdr("ES256", "EC256B"),
                   claims()), "kid in capitals");
    BAD(&conf, tok("ES256", ec256b, NULL, 0, hdr("ES256", "ec256b\\u0000"),
                   claims()), "kid with a NUL");
    BAD(&conf, tok("ES256", ec256b, NULL, 0,
                   "{\"alg\":\"ES256\",\"kid\":5}", claims()), "kid a number");
    BAD(&conf, tok("ES256", ec256b, NULL, 0,
                   "{\"alg\":\"ES256\",\"kid\":[\"ec256b\"]}", claims()),
        "kid an array");

    /* No kid: every key of the fitting type is tried. */
    OK(&conf, tok("ES256", ec256a, NULL, 0, hdr("ES256", NULL), claims()),
       "alice", &r);
    OK(&conf, tok("ES256", ec256b, NULL, 0, hdr("ES256", NULL), claims()),
       "alice", &r);
    OK(&conf, tok("EdDSA", ed2, NULL, 0, hdr("EdDSA", NULL), claims()),
       "alice", &r);
    OK(&conf, tok("RS384", rsa1, NULL, 0, hdr("RS384", NULL), claims()),
       "alice", &r);
    BAD(&conf, tok("ES384", ec384, NULL, 0, hdr("ES384", NULL), claims()),
        "no P-384 key");
    BAD(&conf, tok("RS256", rsa2, NULL, 0, hdr("RS256", NULL), claims()),
        "an RSA key not in the set");
    BAD(&conf, tok("HS256", NULL, oct1, sizeof(oct1), hdr("HS256", NULL),
                   claims()), "no oct key");

    /* Keys without kid, token with none. */
    conf.keys = keys_ok(jwks(G(jwt_jwk(ec256a, NULL, NULL)),
                             G(jwt_jwk(ec256b, NULL, NULL)), NULL), 2, 0);
    OK(&conf, tok("ES256", ec256b, NULL, 0, hdr("ES256", NULL), claims()),
       "alice", &r);
    OK(&conf, tok("ES256", ec256a, NULL, 0, hdr("ES256", NULL), claims()),
       "alice", &r);
}


/* A JWK as JSON, edited: member set to a string (NULL: removed). */
static char *
jwk_edit(const char *jwk, const char *member, const char *value)
{
    json_t  *j;
    char    *s;

    j = json_loads(jwk, 0, NULL);
    assert_non_null(j);

    if (value == NULL) {
        json_object_del(j, member);
    } else {
        json_object_set_new(j, member, json_string(value));
    }

    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return G(s);
}

/* A member of a JWK, as JSON text decoded to bytes, with one bit flipped. */
static char *
jwk_flip(const char *jwk, const char *member, size_t byte)
{
    unsigned char  buf[1024];
    const char    *v;
    json_t        *j;
    size_t         n, i, bits;
    unsigned       acc;
    char          *s;
    int            c;

    j = json_loads(jwk, 0, NULL);
    assert_non_null(j);
    v = json_string_value(json_object_get(j, member));
    assert_non_null(v);

    /* Decode. */
    for (i = 0, n = 0, acc = 0, bits = 0; v[i]; i++) {
        c = b64val(v[i]);
        assert_true(c >= 0);
        acc = acc << 6 | (unsigned) c;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (unsigned char) (acc >> bits);
        }
    }

    assert_true(byte < n);
    buf[byte] ^= 1;

    s = jwt_b64url(buf, n);
    json_object_set_new(j, member, json_string(s));
    free(s);
    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return G(s);
}


/* Keys for algorithms this build does not verify with, and private keys. */
static void
jwks_foreign_alg_and_private(void **state)
{
    pprof_jwt_conf_t  conf;

    (void) state;

    /* An RSA key meant for RSA1_5 would load and never verify: skipped. */
    conf_init(&conf, keys_ok(jwks(jwk_edit(jwk_rsa2, "alg", "RSA1_5"),
                                  jwk_ed2, NULL), 1, 1));
    BAD(&conf, tok("RS256", rsa2, NULL, 0, hdr("RS256", "rsa2"), claims()),
        "the RSA1_5 key verifies nothing");
    keys_bad(jwks(jwk_edit(jwk_rsa2, "alg", "HS512"), NULL));

    /* An "alg" longer than any known name is skipped, not copied. */
    keys_bad(jwks(jwk_edit(jwk_rsa2, "alg", "RS256RS256RS256"), NULL));

    /* Private material is refused even on a key that would be skipped. */
    keys_bad(jwks(jwk_ed2, jwk_edit(jwk_edit(jwk_rsa2, "use", "enc"), "d",
                                    "AQAB"), NULL));

    /* Claim names must be usable JSON keys. */
    {
        const char  *err = NULL;

        conf.identity_claim.len = 0;
        assert_int_equal(pprof_jwt_conf_check(&conf, &err), -1);
        assert_non_null(err);
        conf_init(&conf, conf.keys);
        assert_int_equal(pprof_jwt_conf_check(&conf, &err), 0);
    }
}


static void
jwks_skipped(void **state)
{
    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;
    char                *set;
    const char          *unknown_kty, *p521, *k256, *x25519, *ed448, *enc,
                        *enc_oct;

    (void) state;

    unknown_kty = "{\"kty\":\"XYZ\",\"kid\":\"x\",\"k\":\"AAAA\"}";
    p521 = G(jwt_jwk(ec521, "p521", NULL));
    k256 = jwk_edit(jwk_ec256a, "crv", "secp256k1");
    x25519 = jwk_edit(jwk_ed1, "crv", "X25519");
    ed448 = fmt("{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"kid\":\"e448\","
                "\"x\":\"%s\"}",
                G(jwt_b64url((const unsigned char *)
                             "0123456789012345678901234567890123456789"
                             "01234567890123456", 57)));
    enc = jwk_edit(jwk_rsa2, "use", "enc");
    enc_oct = jwk_edit(jwk_oct1, "use", "enc");

    set = jwks(unknown_kty, p521, jwk_ed2, k256, x25519, ed448, enc, enc_oct,
               NULL);
    conf_init(&conf, keys_ok(set, 1, 7));

    OK(&conf, tok("EdDSA", ed2, NULL, 0, hdr("EdDSA", NULL), claims()),
       "alice", &r);
    BAD(&conf, tok("RS256", rsa2, NULL, 0, hdr("RS256", "rsa2"), claims()),
        "the skipped enc key");
    BAD(&conf, tok("HS256", NULL, oct1, sizeof(oct1), hdr("HS256", "oct"),
                   claims()), "the skipped enc oct key");
    BAD(&conf, tok("ES512", ec521, NULL, 0, hdr("ES512", "p521"), claims()),
        "the skipped P-521 key");

    /* Nothing but skipped keys: nothing usable, an error. */
    keys_bad(jwks(unknown_kty, p521, enc, NULL));
    keys_bad(jwks(x25519, NULL));
}


static void
jwks_broken(void **state)
{
    const char  *valid;
    char        *bad[40];
    size_t       n, i;

    (void) state;

    n = 0;

    /* RSA: members missing, not base64url, padded. */
    bad[n++] = jwk_edit(jwk_rsa1, "n", NULL);
    bad[n++] = jwk_edit(jwk_rsa1, "e", NULL);
    bad[n++] = jwk_edit(jwk_rsa1, "n", "***not base64***");
    bad[n++] = jwk_edit(jwk_rsa1, "e", "AQAB=");
    bad[n++] = jwk_edit(jwk_rsa1, "e", "AQ+B");
    bad[n++] = jwk_edit(jwk_rsa1, "n", "");
    bad[n++] = jwk_edit(jwk_rsa1, "e", "");

    /* EC: a point off the curve, members missing, wrong widths. */
    bad[n++] = jwk_flip(jwk_ec256a, "y", 31);
    bad[n++] = jwk_flip(jwk_ec256a, "x", 0);
    bad[n++] = jwk_flip(jwk_ec384, "y", 47);
    bad[n++] = jwk_edit(jwk_ec256a, "y", NULL);
    bad[n++] = jwk_edit(jwk_ec256a, "x", NULL);
    bad[n++] = jwk_edit(jwk_ec256a, "crv", NULL);
    bad[n++] = jwk_edit(jwk_ec256a, "x", "AAAA");
    bad[n++] = jwk_edit(jwk_ec256a, "y", "A$AA");
    /* P-384 coordinates under P-256. */
    {
        json_t  *j384, *j256;
        char    *s;

        j384 = json_loads(jwk_ec384, 0, NULL);
        j256 = json_loads(jwk_ec256a, 0, NULL);
        assert_non_null(j384);
        assert_non_null(j256);
        json_object_set(j384, "crv", json_object_get(j256, "crv"));
        s = json_dumps(j384, JSON_COMPACT);
        json_decref(j384);
        json_decref(j256);
        bad[n++] = G(s);
    }

    /* OKP: x missing, of the wrong length. */
    bad[n++] = jwk_edit(jwk_ed1, "x", NULL);
    bad[n++] = jwk_edit(jwk_ed1, "x", G(jwt_b64url(oct1, 31)));
    bad[n++] = jwk_edit(jwk_ed1, "x", G(jwt_b64url(oct_long, 33)));
    bad[n++] = jwk_edit(jwk_ed1, "crv", NULL);

    /* oct: k missing, not base64url, shorter than 32 bytes, empty. */
    bad[n++] = jwk_edit(jwk_oct1, "k", NULL);
    bad[n++] = jwk_edit(jwk_oct1, "k", "!!!!");
    bad[n++] = jwk_edit(jwk_oct1, "k", G(jwt_b64url(oct1, 31)));
    bad[n++] = jwk_edit(jwk_oct1, "k", G(jwt_b64url(oct1, 16)));
    bad[n++] = jwk_edit(jwk_oct1, "k", "");

    /* No kty. */
    bad[n++] = jwk_edit(jwk_rsa1, "kty", NULL);

    /* RSA under 2048 bits is refused when loaded. */
    bad[n++] = G(jwt_jwk(rsa_small, "small", NULL));

    assert_true(n <= sizeof(bad) / sizeof(bad[0]));

    valid = jwk_ed2;
    soft = 1;
    soft_failures = 0;

    for (i = 0; i < n; i++) {
        /* Alone, and among good keys: one broken key fails the set. */
        keys_bad(jwks(bad[i], NULL));
        if (i != n - 1) {
            keys_bad(jwks(valid, bad[i], NULL));
            keys_bad(jwks(bad[i], valid, NULL));
        }
    }

    /* Documents that are no JWKS. */
    keys_bad("");
    keys_bad("not json");
    keys_bad("[]");
    keys_bad("{}");
    keys_bad("{\"keys\":{}}");
    keys_bad("{\"keys\":[]}");
    keys_bad("{\"keys\":[1]}");
    keys_bad("{\"keys\":[[]]}");
    keys_bad("{\"keys\":null}");
    keys_bad(fmt("{\"keys\":[%s]", valid));
    keys_bad(fmt("{\"keys\":[%s]}x", valid));
    keys_bad(fmt("[%s]", valid));

    /* PEM that is no key, or a weak one. */
    keys_bad("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
    keys_bad("-----BEGIN PUBLIC KEY-----\n");
    keys_bad(G(jwt_pem_public(rsa_small)));

    soft = 0;
    if (soft_failures) {
        fail_msg("%zu broken key sets accepted or refused silently",
                 soft_failures);
    }
}


/*
 * RSA under 2048 bits is refused at load time.  Whether a set that also
 * holds a good key is refused whole or loads without it, the weak key must
 * never verify.
 */
static void
rsa_small_key(void **state)
{
    pprof_jwt_keys_t     *keys;
    pprof_jwt_conf_t      conf;
    size_t                skipped;
    char                 *set, err[256];

    (void) state;

    set = jwks(G(jwt_jwk(rsa_small, "small", NULL)), jwk_rsa1, NULL);
    keys = K(pprof_jwt_keys_parse((unsigned char *) set, strlen(set),
                                  &skipped, err, sizeof(err)));
    if (keys != NULL) {
        conf_init(&conf, keys);
        BAD(&conf, tok("RS256", rsa_small, NULL, 0, hdr("RS256", "small"),
                       claims()), "1024-bit key");
        BAD(&conf, tok("RS256", rsa_small, NULL, 0, hdr("RS256", NULL),
                       claims()), "1024-bit key, no kid");
    }

    set = fmt("%s%s", G(jwt_pem_public(rsa1)), G(jwt_pem_public(rsa_small)));
    keys = K(pprof_jwt_keys_parse((unsigned char *) set, strlen(set),
                                  &skipped, err, sizeof(err)));
    if (keys != NULL) {
        conf_init(&conf, keys);
        BAD(&conf, tok("RS256", rsa_small, NULL, 0, hdr("RS256", NULL),
                       claims()), "1024-bit PEM key");
    }
}


/* xorshift64*: reproducible randomness. */
static uint64_t  rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dULL;
}

static size_t
rndn(size_t n)
{
    return (size_t) (rnd() % n);
}


static void
fuzz(void **state)
{
    static const char  *algs[] = { "HS256", "ES256", "EdDSA", "RS256",
                                   "PS256", "ES384" };

    pprof_jwt_conf_t     conf;
    pprof_auth_result_t  r;
    unsigned char        buf[2048];
    size_t               a, i, k, len, pos, tried;
    char                *t;
    char                 seg[3][200];

    (void) state;

    all_conf(&conf);
    tried = 0;

    for (a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
        t = honest(algs[a], a % 2, claims_with(",\"roles\":[\"sre\"]"));
        len = strlen(t);
        assert_true(len + 8 < sizeof(buf));

        OK(&conf, t, "alice", &r);

        for (i = 0; i < 700; i++) {
            memcpy(buf, t, len);
            k = len;

            switch (rndn(5)) {

            case 0:       /* flip a bit */
                pos = rndn(k);
                buf[pos] ^= (unsigned char) (1u << rndn(8));
                break;

            case 1:       /* insert a byte */
                pos = rndn(k + 1);
                memmove(buf + pos + 1, buf + pos, k - pos);
                buf[pos] = (unsigned char) rndn(256);
                k++;
                break;

            case 2:       /* delete a byte */
                pos = rndn(k);
                memmove(buf + pos, buf + pos + 1, k - pos - 1);
                k--;
                break;

            case 3:       /* replace a byte by a base64url character */
                pos = rndn(k);
                {
                    unsigned char  c;

                    do {
                        c = (unsigned char) b64url[rndn(64)];
                    } while (c == buf[pos]);
                    buf[pos] = c;
                }
                break;

            default:      /* two changes */
                pos = rndn(k);
                buf[pos] = (unsigned char) b64url[rndn(64)];
                pos = rndn(k);
                buf[pos] ^= 0x20;
                if (k == len && memcmp(buf, t, len) == 0) {
                    buf[pos] ^= 0x01;
                }
                break;
            }

            if (k == len && memcmp(buf, t, len) == 0) {
                continue;
            }

            bad_(&conf, SN((char *) buf, k), NOW, algs[a], __LINE__);
            tried++;
        }
    }

    /* Random base64url segments, and random ones under a real header. */
    for (i = 0; i < 1500; i++) {
        for (a = 0; a < 3; a++) {
            k = rndn(a == 2 ? 180 : 60);
            for (pos = 0; pos < k; pos++) {
                seg[a][pos] = b64url[rndn(64)];
            }
            seg[a][k] = '\0';
        }

        if (i % 3 == 1) {
            t = G(jwt_b64url((const unsigned char *) hdr("HS256", "oct"),
                             strlen(hdr("HS256", "oct"))));
            snprintf(seg[0], sizeof(seg[0]), "%s", t);
        } else if (i % 3 == 2) {
            t = G(jwt_b64url((const unsigned char *) hdr("ES256", NULL),
                             strlen(hdr("ES256", NULL))));
            snprintf(seg[0], sizeof(seg[0]), "%s", t);
            t = G(jwt_b64url((const unsigned char *) claims(),
                             strlen(claims())));
            snprintf(seg[1], sizeof(seg[1]), "%s", t);
        }

        k = (size_t) snprintf((char *) buf, sizeof(buf), "%s.%s.%s", seg[0],
                              seg[1], seg[2]);
        bad_(&conf, SN((char *) buf, k), NOW, "random", __LINE__);
        tried++;

        /* Keep the garbage list short. */
        cleanup(NULL);
    }

    /* Random bytes. */
    for (i = 0; i < 500; i++) {
        k = rndn(300);
        for (pos = 0; pos < k; pos++) {
            buf[pos] = (unsigned char) rndn(256);
        }
        bad_(&conf, SN((char *) buf, k), NOW, "random bytes", __LINE__);
        tried++;
    }

    assert_true(tried > 5000);
}


int
main(void)
{
#define T(f)  cmocka_unit_test_teardown(f, cleanup)
    const struct CMUnitTest  tests[] = {
        T(algorithms_jwks),
        T(algorithms_pem),
        T(keys_load),
        T(alg_none_and_unknown),
        T(alg_key_mismatch),
        T(jwk_alg_member),
        T(bad_signature),
        T(time_claims),
        T(issuer_audience),
        T(told),
        T(base64url_canonical),
        T(trailing_garbage),
        T(token_size),
        T(crit_header),
        T(duplicate_keys),
        T(not_objects),
        T(identity_claim),
        T(roles_claim),
        T(kid_selection),
        T(jwks_foreign_alg_and_private),
        T(jwks_skipped),
        T(jwks_broken),
        T(rsa_small_key),
        T(fuzz),
    };
#undef T

    return cmocka_run_group_tests_name("jwt", tests, setup, teardown);
}
