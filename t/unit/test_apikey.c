/*
 * The apikey source: the key file's grammar, and keys offered as
 * `Authorization: Bearer <key>` or as the password of `Basic`.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "unit.h"
#include "unit_strings.h"
#include "auth/auth.h"
#include "t/tools/jwt_sign.h"


/* Registered allocations, freed after each test (and after a failure). */
static pprof_apikeys_t  *kgarbage[32];
static size_t            nkgarbage;


static int
cleanup(void **state)
{
    (void) state;

    unit_free_strings();
    while (nkgarbage) {
        pprof_apikeys_free(kgarbage[--nkgarbage]);
    }
    return 0;
}


/* The lowercase hex SHA-256 of a key of len bytes. */
static char *
digest_n(const char *key, size_t len)
{
    unsigned char  md[32];
    unsigned int   n;
    char          *hex;
    size_t         i;

    assert_int_equal(EVP_Digest(key, len, md, &n, EVP_sha256(), NULL), 1);
    assert_int_equal(n, 32);

    hex = G(malloc(65));
    for (i = 0; i < 32; i++) {
        sprintf(hex + 2 * i, "%02x", md[i]);
    }
    return hex;
}

static char *
digest(const char *key)
{
    return digest_n(key, strlen(key));
}


static pprof_apikeys_t *
parse_ok_(const char *text, size_t len, int line)
{
    pprof_apikeys_t  *keys;
    char              err[256];

    err[0] = '\0';
    keys = pprof_apikeys_parse((const unsigned char *) text, len, err,
                               sizeof(err));
    if (keys == NULL) {
        fail_msg("line %d: key file refused (%s):\n%s", line, err, text);
    }

    assert_true(nkgarbage < sizeof(kgarbage) / sizeof(kgarbage[0]));
    kgarbage[nkgarbage++] = keys;
    return keys;
}

#define parse_ok(text)  parse_ok_((text), strlen(text), __LINE__)


/* Refused, naming line want_line. */
static void
parse_bad_(const char *text, size_t len, size_t want_line, int line)
{
    pprof_apikeys_t  *keys;
    char              err[256], want[32];
    const char       *at;

    memset(err, 0, sizeof(err));
    keys = pprof_apikeys_parse((const unsigned char *) text, len, err,
                               sizeof(err));
    if (keys != NULL) {
        pprof_apikeys_free(keys);
        fail_msg("line %d: key file accepted:\n%s", line, text);
    }

    snprintf(want, sizeof(want), "line %zu", want_line);
    at = strstr(err, want);

    /* "line 1" must not be found inside "line 12". */
    if (at == NULL || (at[strlen(want)] >= '0' && at[strlen(want)] <= '9')) {
        fail_msg("line %d: want an error naming \"%s\", got \"%s\"", line,
                 want, err);
    }
}

#define parse_bad(text, n)  parse_bad_((text), strlen(text), (n), __LINE__)


/* Identifies with one apikey source and the Authorization value given. */
static void
identify_(const pprof_apikeys_t *keys, pprof_str_t authorization,
    pprof_auth_result_t *r)
{
    pprof_auth_source_t  src;
    pprof_auth_input_t   in;

    memset(&src, 0, sizeof(src));
    src.method = PPROF_AUTH_APIKEY;
    src.apikeys = keys;

    memset(&in, 0, sizeof(in));
    in.authorization = authorization;
    in.now = 1700000000;

    memset(r, 0x5a, sizeof(*r));
    pprof_auth_identify(&src, 1, &in, r);
}


static void
ok_(const pprof_apikeys_t *keys, pprof_str_t auth, const char *identity,
    pprof_auth_result_t *r, int line)
{
    char  shown[300];

    identify_(keys, auth, r);

    if (r->reason != PPROF_OK) {
        show(shown, sizeof(shown), auth.data, auth.len);
        fail_msg("line %d: want ok, got %s (%s) for \"%s\"", line,
                 pprof_reason_name(r->reason),
                 r->detail ? r->detail : "no detail", shown);
    }
    assert_int_equal(r->method, PPROF_AUTH_APIKEY);
    if (r->identity_len != strlen(identity)
        || memcmp(r->identity, identity, r->identity_len) != 0)
    {
        show(shown, sizeof(shown), r->identity, r->identity_len);
        fail_msg("line %d: want identity \"%s\", got \"%s\"", line, identity,
                 shown);
    }
}

static void
bad_(const pprof_apikeys_t *keys, pprof_str_t auth, const char *why, int line)
{
    pprof_auth_result_t  r;

    identify_(keys, auth, &r);
    assert_refused_(&r, auth.data, auth.len, why, line);
}

#define OK(keys, auth, identity, r) \
    ok_((keys), S(auth), (identity), (r), __LINE__)
#define BAD(keys, auth, why)  bad_((keys), S(auth), (why), __LINE__)


static char *
basic(const char *user_colon_key)
{
    return fmt("Basic %s", G(jwt_b64std((const unsigned char *)
                                        user_colon_key,
                                        strlen(user_colon_key))));
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
                     want[i], (int) r->roles[i].len, r->roles[i].data);
        }
    }
}

#define assert_roles(r, n, ...) do {                                          \
    const char *const  want_[] = { "", __VA_ARGS__ };                         \
    assert_roles_((r), want_ + 1, (n), __LINE__);                             \
} while (0)


/* A file of three keys, with comments and blank lines. */
static const pprof_apikeys_t *
three_keys(void)
{
    return parse_ok(fmt("# pprof API keys\n"
                        "\n"
                        "%s alice sre viewer\n"
                        "%s bob      # no roles; this is a comment\n"
                        "\n"
                        "# ci's key\n"
                        "%s ci-bot capture # sre admin\n"
                        "\n",
                        digest("alice-key-0123456789"),
                        digest("bob-key-0123456789"),
                        digest("ci-key-0123456789")));
}


static void
file_grammar(void **state)
{
    const pprof_apikeys_t  *keys;
    pprof_auth_result_t     r;

    (void) state;

    keys = three_keys();

    OK(keys, "Bearer alice-key-0123456789", "alice", &r);
    assert_roles(&r, 2, "sre", "viewer");
    OK(keys, "Bearer bob-key-0123456789", "bob", &r);
    assert_int_equal(r.nroles, 0);
    /* A comment after content is no role. */
    OK(keys, "Bearer ci-key-0123456789", "ci-bot", &r);
    assert_roles(&r, 1, "capture");

    /* No newline at the end; a comment at the end. */
    keys = parse_ok(fmt("%s alice", digest("k1-0123456789")));
    OK(keys, "Bearer k1-0123456789", "alice", &r);
    keys = parse_ok(fmt("%s alice admin\n# the end", digest("k1-0123456789")));
    OK(keys, "Bearer k1-0123456789", "alice", &r);
    assert_roles(&r, 1, "admin");

    /* Comments only, nothing at all: no key matches. */
    keys = parse_ok("# nobody\n\n# yet\n");
    BAD(keys, "Bearer k1-0123456789", "empty file");

    /* The most roles a result holds. */
    keys = parse_ok(fmt("%s alice r0 r1 r2 r3 r4 r5 r6 r7 r8 r9 r10 r11 r12 "
                        "r13 r14 r15 r16 r17 r18 r19 r20 r21 r22 r23 r24 r25 "
                        "r26 r27 r28 r29 r30 r31\n",
                        digest("k1-0123456789")));
    OK(keys, "Bearer k1-0123456789", "alice", &r);
    assert_int_equal(r.nroles, PPROF_AUTH_ROLES_MAX);
    assert_int_equal(r.roles[31].len, 3);
    assert_memory_equal(r.roles[31].data, "r31", 3);
}


static void
file_errors(void **state)
{
    const char  *good, *dup;
    char        *d;

    (void) state;

    good = digest("good-key-0123456789");
    dup = fmt("%s", good);

    /* Digest of the wrong length, or not hex. */
    parse_bad(fmt("# keys\n%s alice\n%.63s bob\n", good, digest("x")), 3);
    parse_bad(fmt("%s alice\n\n\n%s0 bob\n", good, digest("x")), 4);
    parse_bad(fmt("%s alice\n%.32s bob\n", good, digest("x")), 2);
    d = fmt("%s", digest("x"));
    d[10] = 'g';
    parse_bad(fmt("%s alice\n%s bob\n", good, d), 2);
    d[10] = 'z';
    parse_bad(fmt("%s bob\n", d), 1);
    d = fmt("%s", digest("x"));
    d[0] = '-';
    parse_bad(fmt("%s alice\n%s bob\n", good, d), 2);
    d = fmt("0x%.62s bob\n", digest("x"));
    parse_bad(d, 1);
    parse_bad(fmt("%s alice\nalice-key-in-the-clear alice\n", good), 2);
    parse_bad(fmt("%s alice\n%s\n", good, "xyz"), 2);

    /* No identity. */
    parse_bad(fmt("%s alice\n%s\n", good, digest("x")), 2);
    parse_bad(fmt("%s alice\n%s   \n", good, digest("x")), 2);
    parse_bad(fmt("%s alice\n%s # bob\n", good, digest("x")), 2);
    parse_bad(fmt("# a\n# b\n# c\n%s", digest("x")), 4);

    /* The same digest twice, whoever it names. */
    parse_bad(fmt("%s alice\n%s bob\n", good, dup), 2);
    parse_bad(fmt("%s alice\n# x\n\n%s alice\n", good, dup), 4);

    /* An identity with control characters. */
    parse_bad(fmt("%s alice\n%s b\x01ob\n", good, digest("x")), 2);
    parse_bad(fmt("%s alice\n%s bob\x7f\n", good, digest("x")), 2);
    parse_bad(fmt("%s alice\n%s b\x1b[31mob\n", good, digest("x")), 2);
    parse_bad(fmt("%s alice\n%s b\xc2\x85ob\n", good, digest("x")), 2);
    {
        char  *t = fmt("%s alice\n%s bXob\n", good, digest("x"));

        *strchr(strchr(t, '\n') + 1 + 64 + 1, 'X') = '\0';
        parse_bad_(t, strlen(good) + 7 + 64 + 6, 2, __LINE__);
    }

    /* A line number past ten is not a prefix match. */
    parse_bad(fmt("\n\n\n\n\n\n\n\n\n\n\n%s\n", digest("x")), 12);
}


static void
bearer(void **state)
{
    const pprof_apikeys_t  *keys;
    pprof_auth_result_t     r;

    (void) state;

    keys = three_keys();

    BAD(keys, "Bearer alice-key-012345678", "a key less a character");
    BAD(keys, "Bearer alice-key-01234567890", "a key plus a character");
    BAD(keys, "Bearer ALICE-KEY-0123456789", "the key in capitals");
    BAD(keys, "Bearer unknown", "unknown key");
    BAD(keys, fmt("Bearer %s", digest("alice-key-0123456789")),
        "the digest as the key");
    BAD(keys, "Bearer ", "empty key");
    BAD(keys, "Bearer alice-key-0123456789 ", "key with a trailing space");
    BAD(keys, "Bearer alice-key-0123456789\t", "key with a trailing tab");
    bad_(keys, SN("Bearer alice-key-0123456789\0", 28), "key with a NUL",
         __LINE__);

    /* The scheme is a word of its own. */
    BAD(keys, "Beareralice-key-0123456789", "no space after Bearer");
    BAD(keys, "Bearer", "Bearer alone");
    BAD(keys, basic(":alice-key-0123456789") + 6, "Basic's credential alone");
    BAD(keys, fmt("Basic%s", basic(":alice-key-0123456789") + 6),
        "no space after Basic");

    /* Not a bearer or basic credential at all. */
    BAD(keys, "alice-key-0123456789", "no scheme");
    BAD(keys, "Token alice-key-0123456789", "another scheme");
    BAD(keys, "Digest username=\"alice\"", "digest");

    /* JWT-shaped is not for the apikey source, even if it is a key. */
    keys = parse_ok(fmt("%s jwtish\n%s twodots\n%s fourseg\n",
                        digest("aaa.bbb.ccc"), digest("aaa.bbb"),
                        digest("aaa.bbb.ccc.ddd")));
    BAD(keys, "Bearer aaa.bbb.ccc", "JWT-shaped key");
    OK(keys, "Bearer aaa.bbb", "twodots", &r);
    OK(keys, "Bearer aaa.bbb.ccc.ddd", "fourseg", &r);
}


static void
key_length(void **state)
{
    const pprof_apikeys_t  *keys;
    pprof_auth_result_t     r;
    char                   *key;

    (void) state;

    key = G(malloc(PPROF_APIKEY_MAX + 2));
    memset(key, 'k', PPROF_APIKEY_MAX + 1);
    key[PPROF_APIKEY_MAX + 1] = '\0';

    keys = parse_ok(fmt("%s longest\n%s toolong\n",
                        digest_n(key, PPROF_APIKEY_MAX),
                        digest_n(key, PPROF_APIKEY_MAX + 1)));

    OK(keys, fmt("Bearer %.*s", PPROF_APIKEY_MAX, key), "longest", &r);
    BAD(keys, fmt("Bearer %s", key), "key over PPROF_APIKEY_MAX");
    OK(keys, basic(fmt(":%.*s", PPROF_APIKEY_MAX, key)), "longest", &r);
    BAD(keys, basic(fmt(":%s", key)), "Basic key over PPROF_APIKEY_MAX");
    BAD(keys, basic(fmt("toolong:%s", key)),
        "Basic key over PPROF_APIKEY_MAX, with a name");

    /* Empty keys are no keys. */
    keys = parse_ok(fmt("%s empty\n", digest("")));
    BAD(keys, "Bearer ", "empty bearer key");
    BAD(keys, basic("empty:"), "empty Basic password");
    BAD(keys, basic(":"), "empty Basic user and password");
}


static void
basic_auth(void **state)
{
    const pprof_apikeys_t  *keys;
    pprof_auth_result_t     r;

    (void) state;

    keys = three_keys();

    /* The user is the key's identity, or empty. */
    OK(keys, basic("alice:alice-key-0123456789"), "alice", &r);
    assert_roles(&r, 2, "sre", "viewer");
    OK(keys, basic(":alice-key-0123456789"), "alice", &r);
    OK(keys, basic("ci-bot:ci-key-0123456789"), "ci-bot", &r);
    assert_roles(&r, 1, "capture");

    /* Another name, even a real one, is not the key's. */
    BAD(keys, basic("bob:alice-key-0123456789"), "bob with alice's key");
    BAD(keys, basic("root:alice-key-0123456789"), "root with alice's key");
    BAD(keys, basic("Alice:alice-key-0123456789"), "Alice with alice's key");
    BAD(keys, basic("alice :alice-key-0123456789"), "\"alice \"");
    BAD(keys, basic("alic:alice-key-0123456789"), "a prefix of alice");
    BAD(keys, basic("alicex:alice-key-0123456789"), "alice plus a letter");

    /* Unknown keys, missing halves. */
    BAD(keys, basic("alice:wrong"), "alice, unknown key");
    BAD(keys, basic("alice:"), "alice, no key");
    BAD(keys, basic("alice-key-0123456789"), "no colon");
    BAD(keys, basic("alice-key-0123456789:"), "the key as the user");
    BAD(keys, basic("alice:alice-key-0123456789 "), "key with a space");

    /* Base64 that is not. */
    BAD(keys, "Basic ", "empty Basic");
    BAD(keys, "Basic !!!!", "not base64");
    BAD(keys, fmt("%s=", basic(":alice-key-0123456789")), "extra padding");
    {
        /* ":alice-key-0123456789" is 21 bytes: no padding.  Add a byte. */
        char  *b = basic("x:alice-key-0123456789");

        /* 22 bytes: "==" at the end; one '=' dropped is malformed. */
        assert_int_equal(b[strlen(b) - 1], '=');
        b[strlen(b) - 1] = '\0';
        BAD(keys, b, "padding cut short");
    }
}


/*
 * The client hears one sentence for a wrong key and for a real key under
 * another name: telling them apart would say which keys are real.
 */
static void
told(void **state)
{
    const pprof_apikeys_t  *keys;
    pprof_auth_result_t     r;

    (void) state;

    keys = three_keys();

    identify_(keys, S("Bearer SECRETMARK"), &r);
    assert_int_equal(r.reason, PPROF_INVALID_CREDENTIAL);
    assert_string_equal(r.told, "the API key is not recognised");
    assert_string_equal(r.token_error, "the API key is not recognised");

    /* RFC 6750's error="invalid_token" is for Bearer tokens alone. */
    identify_(keys, S(basic("bob:alice-key-0123456789")), &r);
    assert_int_equal(r.reason, PPROF_INVALID_CREDENTIAL);
    assert_string_equal(r.told, "the API key is not recognised");
    assert_null(r.token_error);

    identify_(keys, S(basic("alice:SECRETMARK")), &r);
    assert_string_equal(r.told, "the API key is not recognised");
    assert_null(r.token_error);

    identify_(keys, S("Token SECRETMARK"), &r);
    assert_int_equal(r.reason, PPROF_INVALID_CREDENTIAL);
    assert_string_equal(r.told, "this kind of credential is not accepted here");
    assert_null(r.token_error);

    identify_(keys, S("Bearer alice-key-0123456789"), &r);
    assert_int_equal(r.reason, PPROF_OK);
    assert_null(r.told);
    assert_null(r.token_error);
}


static void
keys_load(void **state)
{
    pprof_apikeys_t      *keys;
    pprof_auth_result_t   r;
    char                  path[] = "/tmp/pprof-apikeys-XXXXXX";
    char                  err[256];
    const char           *text;
    int                   fd;

    (void) state;

    text = fmt("%s alice sre\n", digest("file-key-0123456789"));
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);

    err[0] = '\0';
    keys = pprof_apikeys_load(path, err, sizeof(err));
    unlink(path);
    if (keys == NULL) {
        fail_msg("load refused: %s", err);
    }
    kgarbage[nkgarbage++] = keys;

    OK(keys, "Bearer file-key-0123456789", "alice", &r);
    assert_roles(&r, 1, "sre");

    err[0] = '\0';
    assert_null(pprof_apikeys_load("/nonexistent/pprof/keys", err,
                                   sizeof(err)));
    assert_true(err[0] != '\0');

    /* Freeing nothing is fine. */
    pprof_apikeys_free(NULL);
}


int
main(void)
{
#define T(f)  cmocka_unit_test_teardown(f, cleanup)
    const struct CMUnitTest  tests[] = {
        T(file_grammar),
        T(file_errors),
        T(bearer),
        T(key_length),
        T(basic_auth),
        T(told),
        T(keys_load),
    };
#undef T

    return cmocka_run_group_tests_name("apikey", tests, NULL, NULL);
}
