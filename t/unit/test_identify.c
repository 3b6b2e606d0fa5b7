/*
 * pprof_auth_identify over lists of sources: order, who claims the
 * Authorization header, $variable and anonymous sources, the words of
 * pprof_identity and the 401 challenge.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "unit.h"
#include "unit_strings.h"
#include "auth/auth.h"
#include "t/tools/jwt_sign.h"


#define NOW  1700000000LL


static unsigned char      secret[32];
static pprof_jwt_keys_t  *jwt_keys;
static pprof_jwt_conf_t   jwt_conf;
static pprof_apikeys_t   *api_keys;
static EVP_PKEY          *cert_key;

static const char  api_key[] = "apikey-for-carol-0123456789";




static int
cleanup(void **state)
{
    (void) state;

    unit_free_strings();
    return 0;
}


static int
setup(void **state)
{
    unsigned char  md[32];
    unsigned int   n;
    char           jwks[256], file[256], *jwk, *list[1];
    size_t         i, skipped;
    char           err[256];

    (void) state;

    cert_key = jwt_keygen_ec("P-256");
    if (cert_key == NULL || jwt_random(secret, sizeof(secret)) != 0) {
        return -1;
    }

    jwk = jwt_jwk_oct(secret, sizeof(secret), "k1", NULL);
    if (jwk == NULL) {
        return -1;
    }
    list[0] = jwk;
    {
        char  *s = jwt_jwks((const char *const *) list, 1);

        free(jwk);
        if (s == NULL) {
            return -1;
        }
        snprintf(jwks, sizeof(jwks), "%s", s);
        free(s);
    }

    jwt_keys = pprof_jwt_keys_parse((unsigned char *) jwks, strlen(jwks),
                                    &skipped, err, sizeof(err));
    if (jwt_keys == NULL) {
        fprintf(stderr, "JWKS refused: %s\n", err);
        return -1;
    }

    memset(&jwt_conf, 0, sizeof(jwt_conf));
    jwt_conf.keys = jwt_keys;
    jwt_conf.leeway = 30;
    jwt_conf.identity_claim = S("sub");
    jwt_conf.roles_claim = S("roles");

    if (EVP_Digest(api_key, strlen(api_key), md, &n, EVP_sha256(), NULL)
        != 1)
    {
        return -1;
    }
    for (i = 0; i < 32; i++) {
        sprintf(file + 2 * i, "%02x", md[i]);
    }
    snprintf(file + 64, sizeof(file) - 64, " carol ops\n");

    api_keys = pprof_apikeys_parse((unsigned char *) file, strlen(file), err,
                                   sizeof(err));
    if (api_keys == NULL) {
        fprintf(stderr, "API keys refused: %s\n", err);
        return -1;
    }

    return 0;
}


static int
teardown(void **state)
{
    (void) state;

    pprof_jwt_keys_free(jwt_keys);
    pprof_apikeys_free(api_keys);
    EVP_PKEY_free(cert_key);
    return 0;
}


/* Sources. */

static pprof_auth_source_t
src(pprof_auth_method_t method)
{
    pprof_auth_source_t  s;

    memset(&s, 0, sizeof(s));
    s.method = method;
    if (method == PPROF_AUTH_JWT) {
        s.jwt = &jwt_conf;
    } else if (method == PPROF_AUTH_APIKEY) {
        s.apikeys = api_keys;
    }
    return s;
}

static pprof_auth_source_t
var(size_t index)
{
    pprof_auth_source_t  s = src(PPROF_AUTH_VARIABLE);

    s.variable = index;
    return s;
}

#define CERT  src(PPROF_AUTH_CERT)
#define JWT   src(PPROF_AUTH_JWT)
#define KEY   src(PPROF_AUTH_APIKEY)
#define ANON  src(PPROF_AUTH_ANONYMOUS)

#define LIST(...)  (const pprof_auth_source_t[]) { __VA_ARGS__ },             \
    sizeof((const pprof_auth_source_t[]) { __VA_ARGS__ })                     \
        / sizeof(pprof_auth_source_t)


/* Credentials. */

static char *
jwt_for(const char *sub, const char *roles_json)
{
    char  *payload, *t;

    payload = roles_json
              ? fmt("{\"sub\":\"%s\",\"exp\":%lld,\"roles\":%s}", sub,
                    NOW + 600, roles_json)
              : fmt("{\"sub\":\"%s\",\"exp\":%lld}", sub, NOW + 600);

    t = G(jwt_sign("HS256", NULL, secret, sizeof(secret),
                   "{\"alg\":\"HS256\",\"kid\":\"k1\"}", payload));
    return fmt("Bearer %s", t);
}

static char *
bad_jwt(void)
{
    unsigned char  other[32];

    memset(other, 7, sizeof(other));
    return fmt("Bearer %s",
               G(jwt_sign("HS256", NULL, other, sizeof(other),
                          "{\"alg\":\"HS256\",\"kid\":\"k1\"}",
                          fmt("{\"sub\":\"mallory\",\"exp\":%lld}",
                              NOW + 600))));
}

static char *
basic(const char *user_colon_key)
{
    return fmt("Basic %s", G(jwt_b64std((const unsigned char *)
                                        user_colon_key,
                                        strlen(user_colon_key))));
}


/* A self-signed certificate naming cn; verified or not is an input. */
static X509 *
cert(const char *cn)
{
    X509  *x;

    x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    assert_int_equal(X509_set_pubkey(x, cert_key), 1);
    assert_int_equal(X509_NAME_add_entry_by_NID(X509_get_subject_name(x),
                         NID_commonName, MBSTRING_ASC,
                         (const unsigned char *) cn, -1, -1, 0), 1);
    assert_int_equal(X509_NAME_add_entry_by_NID(X509_get_issuer_name(x),
                         NID_commonName, MBSTRING_ASC,
                         (const unsigned char *) "test CA", -1, -1, 0), 1);
    assert_true(X509_sign(x, cert_key, EVP_sha256()) > 0);
    return x;
}


/* What a request offers. */
typedef struct {
    const char         *authorization;   /* NULL: no header */
    X509               *cert;
    long                verify;
    const pprof_str_t  *variables;
    size_t              nvariables;
    const char         *no_cert;
} offer_t;


static void
identify(const pprof_auth_source_t *list, size_t n, const offer_t *o,
    pprof_auth_result_t *r)
{
    pprof_auth_input_t  in;

    memset(&in, 0, sizeof(in));
    in.cert = o->cert;
    in.verify_result = o->verify;
    in.authorization = o->authorization ? S(o->authorization) : S("");
    in.variables = o->variables;
    in.nvariables = o->nvariables;
    in.no_cert = o->no_cert;
    in.now = NOW;

    memset(r, 0x5a, sizeof(*r));
    pprof_auth_identify(list, n, &in, r);
}


static void
want_identity_(const pprof_auth_result_t *r, pprof_auth_method_t method,
    const char *identity, int line)
{
    char  shown[200];

    if (r->reason != PPROF_OK) {
        fail_msg("line %d: want ok, got %s (%s)", line,
                 pprof_reason_name(r->reason),
                 r->detail ? r->detail : "no detail");
    }
    if (r->method != method) {
        fail_msg("line %d: want method %s, got %s", line,
                 pprof_auth_method_name(method),
                 pprof_auth_method_name(r->method));
    }
    if (r->identity_len != strlen(identity)
        || memcmp(r->identity, identity, r->identity_len) != 0)
    {
        show(shown, sizeof(shown), r->identity,
             r->identity_len < 100 ? r->identity_len : 100);
        fail_msg("line %d: want identity \"%s\", got \"%s\"", line, identity,
                 shown);
    }
}

static void
want_invalid_(const pprof_auth_result_t *r, int line)
{
    if (r->reason != PPROF_INVALID_CREDENTIAL) {
        fail_msg("line %d: want invalid_credential, got %s (method %s)",
                 line, pprof_reason_name(r->reason),
                 pprof_auth_method_name(r->method));
    }
    if (r->identity_len != 0) {
        fail_msg("line %d: refused but identity_len %zu", line,
                 r->identity_len);
    }
    if (r->detail == NULL) {
        fail_msg("line %d: refused without a detail", line);
    }
}

static void
want_nobody_(const pprof_auth_result_t *r, int line)
{
    if (r->reason != PPROF_UNAUTHENTICATED) {
        fail_msg("line %d: want unauthenticated, got %s (method %s)", line,
                 pprof_reason_name(r->reason),
                 pprof_auth_method_name(r->method));
    }
    if (r->identity_len != 0) {
        fail_msg("line %d: unauthenticated but identity_len %zu", line,
                 r->identity_len);
    }
}

#define want_identity(r, m, id)  want_identity_((r), (m), (id), __LINE__)
#define want_invalid(r)          want_invalid_((r), __LINE__)
#define want_nobody(r)           want_nobody_((r), __LINE__)


static void
source_words(void **state)
{
    static const struct {
        const char           *word;
        pprof_auth_method_t   method;
    } good[] = {
        { "cert", PPROF_AUTH_CERT },
        { "jwt", PPROF_AUTH_JWT },
        { "apikey", PPROF_AUTH_APIKEY },
        { "anonymous", PPROF_AUTH_ANONYMOUS },
        { "$remote_user", PPROF_AUTH_VARIABLE },
        { "$http_x_auth_request_user", PPROF_AUTH_VARIABLE },
        { "$x", PPROF_AUTH_VARIABLE },
    };
    static const char  *bad[] = {
        "$", "", "JWT", "Jwt", "foo", "jwt ", " jwt", "apikeys", "api_key",
        "ApiKey", "Anonymous", "cert,jwt", "variable", "none", "bearer",
        "basic",
    };

    pprof_auth_source_t  s;
    const char          *err;
    size_t               i;

    (void) state;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        memset(&s, 0x5a, sizeof(s));
        err = NULL;
        if (pprof_auth_source_parse(S(good[i].word), &s, &err) != 0) {
            fail_msg("\"%s\" refused: %s", good[i].word,
                     err ? err : "no message");
        }
        if (s.method != good[i].method) {
            fail_msg("\"%s\": want method %s, got %d", good[i].word,
                     pprof_auth_method_name(good[i].method), (int) s.method);
        }
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        if (pprof_auth_source_parse(S(bad[i]), &s, &err) != -1) {
            fail_msg("\"%s\" was accepted", bad[i]);
        }
        if (err == NULL || err[0] == '\0') {
            fail_msg("\"%s\" was refused without a message", bad[i]);
        }
    }

    /* A NUL is not the end of the word. */
    err = NULL;
    assert_int_equal(pprof_auth_source_parse(SN("jwt\0", 4), &s, &err), -1);
    assert_non_null(err);

    assert_string_equal(pprof_auth_method_name(PPROF_AUTH_JWT), "jwt");
    assert_string_equal(pprof_auth_method_name(PPROF_AUTH_APIKEY), "apikey");
}


static void
challenge(void **state)
{
    static const char  bearer[] = "Bearer realm=\"pprof\"";

    const char  *c;

    (void) state;

    c = pprof_auth_challenge(LIST(JWT));
    assert_non_null(c);
    assert_string_equal(c, bearer);
    c = pprof_auth_challenge(LIST(KEY));
    assert_non_null(c);
    assert_string_equal(c, bearer);
    c = pprof_auth_challenge(LIST(CERT, var(0), KEY, ANON));
    assert_non_null(c);
    assert_string_equal(c, bearer);
    c = pprof_auth_challenge(LIST(CERT, JWT));
    assert_non_null(c);
    assert_string_equal(c, bearer);

    assert_null(pprof_auth_challenge(LIST(CERT)));
    assert_null(pprof_auth_challenge(LIST(ANON)));
    assert_null(pprof_auth_challenge(LIST(var(0))));
    assert_null(pprof_auth_challenge(LIST(CERT, var(0), ANON)));
    assert_null(pprof_auth_challenge(NULL, 0));
}


static pprof_tls_conflict_t
conflict(const pprof_auth_source_t *list, size_t n, int tls,
    pprof_tls_verify_t verify)
{
    return pprof_auth_tls_conflict(list, n, tls, verify);
}


/* nginx -t's question: does the server's ssl_verify_client defeat them? */
static void
tls_conflict(void **state)
{
    (void) state;

    /* verify off: a certificate source never sees one, TLS or not */
    assert_int_equal(conflict(LIST(CERT), 1, PPROF_TLS_VERIFY_OFF),
                     PPROF_TLS_CONFLICT_CERT_UNASKED);
    assert_int_equal(conflict(LIST(CERT), 0, PPROF_TLS_VERIFY_OFF),
                     PPROF_TLS_CONFLICT_CERT_UNASKED);
    assert_int_equal(conflict(LIST(JWT, CERT), 1, PPROF_TLS_VERIFY_OFF),
                     PPROF_TLS_CONFLICT_CERT_UNASKED);
    assert_int_equal(conflict(LIST(CERT), 1, PPROF_TLS_VERIFY_ON),
                     PPROF_TLS_CONFLICT_NONE);
    assert_int_equal(conflict(LIST(CERT), 1, PPROF_TLS_VERIFY_OPTIONAL),
                     PPROF_TLS_CONFLICT_NONE);

    /* verify on: key users are answered 400 first, where there is TLS */
    assert_int_equal(conflict(LIST(JWT), 1, PPROF_TLS_VERIFY_ON),
                     PPROF_TLS_CONFLICT_KEY_REFUSED);
    assert_int_equal(conflict(LIST(CERT, KEY), 1, PPROF_TLS_VERIFY_ON),
                     PPROF_TLS_CONFLICT_KEY_REFUSED);
    assert_int_equal(conflict(LIST(JWT), 0, PPROF_TLS_VERIFY_ON),
                     PPROF_TLS_CONFLICT_NONE);
    assert_int_equal(conflict(LIST(KEY), 0, PPROF_TLS_VERIFY_ON),
                     PPROF_TLS_CONFLICT_NONE);
    assert_int_equal(conflict(LIST(JWT), 1, PPROF_TLS_VERIFY_OPTIONAL),
                     PPROF_TLS_CONFLICT_NONE);
    assert_int_equal(conflict(LIST(KEY), 1, PPROF_TLS_VERIFY_OFF),
                     PPROF_TLS_CONFLICT_NONE);

    /* sources that TLS does not concern */
    assert_int_equal(conflict(LIST(ANON, var(0)), 1, PPROF_TLS_VERIFY_ON),
                     PPROF_TLS_CONFLICT_NONE);
    assert_int_equal(conflict(LIST(ANON, var(0)), 0, PPROF_TLS_VERIFY_OFF),
                     PPROF_TLS_CONFLICT_NONE);
    assert_int_equal(conflict(NULL, 0, 1, PPROF_TLS_VERIFY_OFF),
                     PPROF_TLS_CONFLICT_NONE);
}


static void
nothing_offered(void **state)
{
    pprof_auth_result_t  r;
    offer_t              o;
    pprof_str_t          empty[1] = { { NULL, 0 } };

    (void) state;

    memset(&o, 0, sizeof(o));
    o.variables = empty;
    o.nvariables = 1;

    identify(LIST(JWT), &o, &r);
    want_nobody(&r);
    identify(LIST(KEY), &o, &r);
    want_nobody(&r);
    identify(LIST(JWT, KEY), &o, &r);
    want_nobody(&r);
    identify(LIST(CERT, JWT, KEY, var(0)), &o, &r);
    want_nobody(&r);
    assert_int_equal(r.method, PPROF_AUTH_NONE);
    identify(NULL, 0, &o, &r);
    want_nobody(&r);

    /* An empty header is no header. */
    o.authorization = "";
    identify(LIST(JWT, KEY), &o, &r);
    want_nobody(&r);
}


static void
first_identity_wins(void **state)
{
    pprof_auth_result_t  r;
    offer_t              o;
    pprof_str_t          vars[2];

    (void) state;

    memset(&o, 0, sizeof(o));
    vars[0] = S("dave");
    vars[1] = S("");
    o.variables = vars;
    o.nvariables = 2;

    /* Each source alone. */
    o.authorization = jwt_for("alice", "[\"sre\"]");
    identify(LIST(JWT), &o, &r);
    want_identity(&r, PPROF_AUTH_JWT, "alice");
    assert_int_equal(r.nroles, 1);
    assert_int_equal(r.roles[0].len, 3);
    assert_memory_equal(r.roles[0].data, "sre", 3);

    o.authorization = fmt("Bearer %s", api_key);
    identify(LIST(KEY), &o, &r);
    want_identity(&r, PPROF_AUTH_APIKEY, "carol");
    assert_int_equal(r.nroles, 1);
    assert_memory_equal(r.roles[0].data, "ops", 3);

    o.authorization = NULL;
    identify(LIST(var(0)), &o, &r);
    want_identity(&r, PPROF_AUTH_VARIABLE, "dave");
    assert_int_equal(r.nroles, 0);
    identify(LIST(ANON), &o, &r);
    want_identity(&r, PPROF_AUTH_ANONYMOUS, "anonymous");
    assert_int_equal(r.nroles, 0);

    /* jwt and apikey share the header: the token's shape decides. */
    o.authorization = jwt_for("alice", NULL);
    identify(LIST(KEY, JWT), &o, &r);
    want_identity(&r, PPROF_AUTH_JWT, "alice");
    identify(LIST(JWT, KEY), &o, &r);
    want_identity(&r, PPROF_AUTH_JWT, "alice");
    o.authorization = fmt("Bearer %s", api_key);
    identify(LIST(JWT, KEY), &o, &r);
    want_identity(&r, PPROF_AUTH_APIKEY, "carol");
    identify(LIST(KEY, JWT), &o, &r);
    want_identity(&r, PPROF_AUTH_APIKEY, "carol");
    o.authorization = basic(fmt("carol:%s", api_key));
    identify(LIST(JWT, KEY), &o, &r);
    want_identity(&r, PPROF_AUTH_APIKEY, "carol");

    /* Nothing offered to the first: the next speaks. */
    o.authorization = NULL;
    identify(LIST(JWT, KEY, var(0), ANON), &o, &r);
    want_identity(&r, PPROF_AUTH_VARIABLE, "dave");
    identify(LIST(CERT, var(1), ANON), &o, &r);
    want_identity(&r, PPROF_AUTH_ANONYMOUS, "anonymous");
    identify(LIST(var(1), var(0)), &o, &r);
    want_identity(&r, PPROF_AUTH_VARIABLE, "dave");

    /* Offered to both: the first in the list. */
    o.authorization = jwt_for("alice", NULL);
    identify(LIST(var(0), JWT), &o, &r);
    want_identity(&r, PPROF_AUTH_VARIABLE, "dave");
    identify(LIST(JWT, var(0)), &o, &r);
    want_identity(&r, PPROF_AUTH_JWT, "alice");
    identify(LIST(ANON, JWT), &o, &r);
    want_identity(&r, PPROF_AUTH_ANONYMOUS, "anonymous");
    identify(LIST(JWT, ANON), &o, &r);
    want_identity(&r, PPROF_AUTH_JWT, "alice");

    o.cert = cert("svc-cert");
    o.verify = X509_V_OK;
    identify(LIST(CERT, JWT), &o, &r);
    want_identity(&r, PPROF_AUTH_CERT, "svc-cert");
    identify(LIST(JWT, CERT), &o, &r);
    want_identity(&r, PPROF_AUTH_JWT, "alice");

    /* A valid certificate first: the header is never looked at. */
    o.authorization = bad_jwt();
    identify(LIST(CERT, JWT), &o, &r);
    want_identity(&r, PPROF_AUTH_CERT, "svc-cert");
    o.authorization = "Digest nonsense";
    identify(LIST(CERT, JWT, KEY), &o, &r);
    want_identity(&r, PPROF_AUTH_CERT, "svc-cert");

    X509_free(o.cert);
}


static void
invalid_ends_search(void **state)
{
    pprof_auth_result_t  r;
    offer_t              o;
    pprof_str_t          vars[1];

    (void) state;

    memset(&o, 0, sizeof(o));
    vars[0] = S("dave");
    o.variables = vars;
    o.nvariables = 1;

    /* A bad token: no falling back to a variable or to anonymous. */
    o.authorization = bad_jwt();
    identify(LIST(JWT, ANON), &o, &r);
    want_invalid(&r);
    assert_int_equal(r.method, PPROF_AUTH_JWT);
    identify(LIST(JWT, var(0)), &o, &r);
    want_invalid(&r);
    identify(LIST(JWT, KEY, ANON), &o, &r);
    want_invalid(&r);
    identify(LIST(KEY, JWT, ANON), &o, &r);
    want_invalid(&r);

    /* A bad API key likewise. */
    o.authorization = "Bearer not-a-known-key";
    identify(LIST(KEY, ANON), &o, &r);
    want_invalid(&r);
    assert_int_equal(r.method, PPROF_AUTH_APIKEY);
    identify(LIST(JWT, KEY, var(0)), &o, &r);
    want_invalid(&r);
    o.authorization = basic(fmt("mallory:%s", api_key));
    identify(LIST(KEY, ANON), &o, &r);
    want_invalid(&r);

    /* A failed certificate. */
    o.authorization = jwt_for("alice", NULL);
    o.cert = cert("svc-cert");
    o.verify = X509_V_ERR_CERT_HAS_EXPIRED;
    identify(LIST(CERT, JWT, ANON), &o, &r);
    want_invalid(&r);
    assert_int_equal(r.method, PPROF_AUTH_CERT);
    X509_free(o.cert);
    o.cert = NULL;

    /* A variable with control characters. */
    vars[0] = S("dave\r\nX-Injected: 1");
    o.authorization = NULL;
    identify(LIST(var(0), ANON), &o, &r);
    want_invalid(&r);
    assert_int_equal(r.method, PPROF_AUTH_VARIABLE);
    vars[0] = S("\x1b[31mdave");
    identify(LIST(var(0), ANON), &o, &r);
    want_invalid(&r);
    vars[0] = SN("da\0ve", 5);
    identify(LIST(var(0), ANON), &o, &r);
    want_invalid(&r);
    vars[0] = S("da\x7fve");
    identify(LIST(var(0)), &o, &r);
    want_invalid(&r);
}


static void
unclaimed_header(void **state)
{
    pprof_auth_result_t  r;
    offer_t              o;
    pprof_str_t          vars[1];

    (void) state;

    memset(&o, 0, sizeof(o));

    /* Basic, with only jwt to read it. */
    o.authorization = basic(fmt("carol:%s", api_key));
    identify(LIST(JWT), &o, &r);
    want_invalid(&r);
    identify(LIST(CERT, JWT), &o, &r);
    want_invalid(&r);

    /* A bearer key that is not JWT-shaped, with only jwt. */
    o.authorization = fmt("Bearer %s", api_key);
    identify(LIST(JWT), &o, &r);
    want_invalid(&r);
    o.authorization = "Bearer a.b";
    identify(LIST(JWT), &o, &r);
    want_invalid(&r);

    /* A JWT-shaped bearer with only apikey, valid JWT or not. */
    o.authorization = jwt_for("alice", NULL);
    identify(LIST(KEY), &o, &r);
    want_invalid(&r);
    identify(LIST(CERT, KEY), &o, &r);
    want_invalid(&r);
    o.authorization = "Bearer a.b.c";
    identify(LIST(KEY), &o, &r);
    want_invalid(&r);

    /* Schemes nobody reads. */
    o.authorization = "Digest username=\"alice\"";
    identify(LIST(JWT, KEY), &o, &r);
    want_invalid(&r);
    o.authorization = "Negotiate YII=";
    identify(LIST(JWT), &o, &r);
    want_invalid(&r);
    o.authorization = "garbage";
    identify(LIST(KEY), &o, &r);
    want_invalid(&r);

    /*
     * With no jwt or apikey source, the header is not the gateway's: it is
     * what auth_basic turned into $remote_user, say.
     */
    vars[0] = S("dave");
    o.variables = vars;
    o.nvariables = 1;
    o.authorization = basic("dave:hunter2");
    identify(LIST(var(0)), &o, &r);
    want_identity(&r, PPROF_AUTH_VARIABLE, "dave");
    identify(LIST(CERT, var(0)), &o, &r);
    want_identity(&r, PPROF_AUTH_VARIABLE, "dave");
    o.authorization = jwt_for("alice", NULL);
    identify(LIST(ANON), &o, &r);
    want_identity(&r, PPROF_AUTH_ANONYMOUS, "anonymous");
    o.authorization = "garbage";
    identify(LIST(CERT), &o, &r);
    want_nobody(&r);
}


/*
 * Why no certificate could come is the 401's detail, where cert is a
 * source and nothing else decided: the operator finds the setting.
 */
static void
no_cert_detail(void **state)
{
    static const char  why[] = "ssl_verify_client is off";

    pprof_auth_result_t  r;
    offer_t              o;

    (void) state;

    memset(&o, 0, sizeof(o));
    o.no_cert = why;

    identify(LIST(CERT), &o, &r);
    want_nobody(&r);
    assert_ptr_equal(r.detail, why);
    identify(LIST(JWT, CERT, KEY), &o, &r);
    want_nobody(&r);
    assert_ptr_equal(r.detail, why);

    /* Without a cert source, a certificate was never the way in. */
    identify(LIST(JWT, KEY), &o, &r);
    want_nobody(&r);
    assert_null(r.detail);

    /* A header nobody reads keeps its own reason. */
    o.authorization = "garbage";
    identify(LIST(CERT, KEY), &o, &r);
    want_invalid(&r);
    assert_string_equal(r.detail,
                        "no identity source accepts this kind of credential");

    /* A certificate that came is judged, whatever the caller thought. */
    o.authorization = NULL;
    o.cert = cert("svc-cert");
    o.verify = X509_V_OK;
    identify(LIST(CERT), &o, &r);
    want_identity(&r, PPROF_AUTH_CERT, "svc-cert");
    X509_free(o.cert);

    o.cert = NULL;
    o.no_cert = NULL;
    identify(LIST(CERT), &o, &r);
    want_nobody(&r);
    assert_null(r.detail);
}


static void
variable_source(void **state)
{
    pprof_auth_result_t  r;
    offer_t              o;
    pprof_str_t          vars[3];
    char                *name;

    (void) state;

    memset(&o, 0, sizeof(o));
    vars[0] = S("");
    vars[1] = S("alice@example.com");
    vars[2] = S("jos\xc3\xa9");
    o.variables = vars;
    o.nvariables = 3;

    /* Empty: not offered. */
    identify(LIST(var(0)), &o, &r);
    want_nobody(&r);
    assert_int_equal(r.method, PPROF_AUTH_NONE);

    identify(LIST(var(1)), &o, &r);
    want_identity(&r, PPROF_AUTH_VARIABLE, "alice@example.com");
    identify(LIST(var(0), var(2)), &o, &r);
    want_identity(&r, PPROF_AUTH_VARIABLE, "jos\xc3\xa9");

    /* A value is taken as it is, spaces included. */
    vars[0] = S("Alice Smith");
    identify(LIST(var(0)), &o, &r);
    want_identity(&r, PPROF_AUTH_VARIABLE, "Alice Smith");

    /* Up to PPROF_IDENTITY_MAX bytes. */
    name = G(malloc(PPROF_IDENTITY_MAX + 1));
    memset(name, 'v', PPROF_IDENTITY_MAX + 1);
    vars[0] = SN(name, PPROF_IDENTITY_MAX);
    identify(LIST(var(0)), &o, &r);
    assert_int_equal(r.reason, PPROF_OK);
    assert_int_equal(r.identity_len, PPROF_IDENTITY_MAX);
    assert_int_equal(r.refused_len, 0);
    vars[0] = SN(name, PPROF_IDENTITY_MAX + 1);
    identify(LIST(var(0), ANON), &o, &r);
    want_invalid(&r);

    /* Longer: refused, but its start is kept for the audit record. */
    memset(name, 'w', PPROF_IDENTITY_MAX + 1);
    identify(LIST(var(0), ANON), &o, &r);
    want_invalid(&r);
    assert_int_equal(r.identity_len, 0);
    assert_int_equal(r.refused_len, PPROF_IDENTITY_MAX);
    assert_memory_equal(r.identity, name, PPROF_IDENTITY_MAX);

    /* Only until the next identification. */
    vars[0] = S("Alice Smith");
    identify(LIST(var(0)), &o, &r);
    want_identity(&r, PPROF_AUTH_VARIABLE, "Alice Smith");
    assert_int_equal(r.refused_len, 0);
    vars[0] = S("");
    identify(LIST(var(0)), &o, &r);
    assert_int_equal(r.reason, PPROF_UNAUTHENTICATED);
    assert_int_equal(r.refused_len, 0);

    /* Control characters, C0 and C1. */
    vars[0] = S("a\tb");
    identify(LIST(var(0)), &o, &r);
    want_invalid(&r);
    vars[0] = S("a\nb");
    identify(LIST(var(0)), &o, &r);
    want_invalid(&r);
    vars[0] = S("a\xc2\x9b" "31m");
    identify(LIST(var(0)), &o, &r);
    want_invalid(&r);
}


static void
anonymous_source(void **state)
{
    pprof_auth_result_t  r;
    offer_t              o;

    (void) state;

    memset(&o, 0, sizeof(o));

    identify(LIST(ANON), &o, &r);
    want_identity(&r, PPROF_AUTH_ANONYMOUS, "anonymous");
    assert_int_equal(r.nroles, 0);
    identify(LIST(ANON, ANON), &o, &r);
    want_identity(&r, PPROF_AUTH_ANONYMOUS, "anonymous");
    identify(LIST(JWT, KEY, CERT, ANON), &o, &r);
    want_identity(&r, PPROF_AUTH_ANONYMOUS, "anonymous");
}


/* One result reused across requests leaks nothing from one to the next. */
static void
result_reuse(void **state)
{
    pprof_auth_result_t  r;
    pprof_auth_input_t   in;

    (void) state;

    memset(&in, 0, sizeof(in));
    in.now = NOW;
    memset(&r, 0, sizeof(r));

    in.authorization = S(jwt_for("alice", "[\"sre\",\"admin\"]"));
    pprof_auth_identify(LIST(JWT, ANON), &in, &r);
    want_identity(&r, PPROF_AUTH_JWT, "alice");
    assert_int_equal(r.nroles, 2);

    in.authorization = S(bad_jwt());
    pprof_auth_identify(LIST(JWT, ANON), &in, &r);
    want_invalid(&r);
    assert_int_equal(r.nroles, 0);

    in.authorization = S(jwt_for("alice", "[\"sre\",\"admin\"]"));
    pprof_auth_identify(LIST(JWT), &in, &r);
    in.authorization = S("");
    pprof_auth_identify(LIST(JWT, ANON), &in, &r);
    want_identity(&r, PPROF_AUTH_ANONYMOUS, "anonymous");
    assert_int_equal(r.nroles, 0);

    in.authorization = S(jwt_for("alice", "[\"sre\",\"admin\"]"));
    pprof_auth_identify(LIST(JWT), &in, &r);
    in.authorization = S("");
    pprof_auth_identify(LIST(JWT), &in, &r);
    want_nobody(&r);
    assert_int_equal(r.nroles, 0);
    assert_int_equal(r.method, PPROF_AUTH_NONE);

    /* A JWT whose roles are refused (one too long) leaves none behind. */
    in.authorization = S(jwt_for("alice", fmt("[\"sre\",\"%0*d\"]",
                                              PPROF_AUTH_ROLE_MAX + 1, 0)));
    pprof_auth_identify(LIST(JWT), &in, &r);
    want_invalid(&r);
    assert_int_equal(r.nroles, 0);
}


int
main(void)
{
#define T(f)  cmocka_unit_test_teardown(f, cleanup)
    const struct CMUnitTest  tests[] = {
        T(source_words),
        T(challenge),
        T(tls_conflict),
        T(nothing_offered),
        T(first_identity_wins),
        T(invalid_ends_search),
        T(unclaimed_header),
        T(no_cert_detail),
        T(variable_source),
        T(anonymous_source),
        T(result_reuse),
    };
#undef T

    return cmocka_run_group_tests_name("identify", tests, setup, teardown);
}
