/*
 * The xfcc identity source (auth/xfcc.c) through pprof_auth_identify:
 * Istio's and Envoy's own header samples, quoting and escapes, several
 * elements and lines, an untrusted peer, and malformed headers.
 */

#include <stdio.h>
#include <stdlib.h>

#include "unit.h"
#include "auth/auth.h"


static const pprof_auth_source_t  xfcc_only[] = { { .method = PPROF_AUTH_XFCC } };


static void
identify_lines(const char **lines, size_t n, int trusted,
    const pprof_auth_source_t *src, size_t nsrc, pprof_auth_result_t *res)
{
    pprof_str_t         v[8];
    pprof_auth_input_t  in;
    size_t              i;

    memset(&in, 0, sizeof(in));

    for (i = 0; i < n; i++) {
        v[i] = S(lines[i]);
    }

    in.xfcc = v;
    in.nxfcc = n;
    in.xfcc_trusted = trusted;

    pprof_auth_identify(src, nsrc, &in, res);
}


static pprof_auth_result_t *
identify1(const char *line)
{
    static pprof_auth_result_t  res;

    identify_lines(&line, 1, 1, xfcc_only, 1, &res);
    return &res;
}


static void
expect_identity(const char *line, const char *identity)
{
    pprof_auth_result_t  *res = identify1(line);

    if (res->reason != PPROF_OK) {
        fail_msg("%s: %s (%s)", line, pprof_reason_name(res->reason),
                 res->detail ? res->detail : "-");
    }

    assert_int_equal(res->method, PPROF_AUTH_XFCC);
    assert_int_equal(res->identity_len, strlen(identity));
    assert_memory_equal(res->identity, identity, strlen(identity));
}


static void
expect_invalid(const char *line)
{
    pprof_auth_result_t  *res = identify1(line);

    if (res->reason != PPROF_INVALID_CREDENTIAL) {
        fail_msg("accepted: %s (%s)", line, pprof_reason_name(res->reason));
    }

    assert_non_null(res->detail);
    assert_int_equal(res->identity_len, 0);
}


/* As Istio's sidecars write it: an empty Subject, the SPIFFE ID in URI. */
static void
test_istio_samples(void **state)
{
    (void) state;

    expect_identity("By=spiffe://cluster.local/ns/default/sa/default;"
                    "Hash=20afebed6da091c850264cc751b8c9306abac02993f80bdb"
                    "76282237422bd098;Subject=\"\";"
                    "URI=spiffe://cluster.local/ns/default/sa/default",
                    "spiffe://cluster.local/ns/default/sa/default");

    expect_identity("By=spiffe://cluster.local/ns/test-mesh/sa/httpbin;"
                    "Hash=2ca8d1110b113d2bc48e1847254e3588feed9863b69a9bd6"
                    "ee4fa9a8eacf56a4;Subject=\"\";URI=spiffe://cluster.local"
                    "/ns/istio-system/sa/istio-ingressgateway-service-account",
                    "spiffe://cluster.local/ns/istio-system/sa/"
                    "istio-ingressgateway-service-account");
}


/* Envoy's documented samples: URI first, then DNS, keys in any case. */
static void
test_envoy_samples(void **state)
{
    (void) state;

    expect_identity("By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c"
                    "0149c1309e9ba61d6425303443c0748a02dd8de688;Subject=\"/C="
                    "US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client\";"
                    "URI=http://testclient.lyft.com;DNS=lyft.com;"
                    "DNS=www.lyft.com",
                    "http://testclient.lyft.com");

    /* Envoy writes "URI=" for a certificate without one. */
    expect_identity("By=spiffe://mesh/ns/a/sa/b;Hash=00;Subject=\"CN=x\";"
                    "URI=;DNS=client.lyft.com;DNS=www.lyft.com",
                    "client.lyft.com");

    expect_identity("uri=spiffe://a/b;URI=spiffe://c/d", "spiffe://a/b");
    expect_identity("dNs=first.example;DNS=second.example", "first.example");
    expect_identity("SUBJECT=\"CN=Test Client,OU=Lyft\"", "Test Client");
    expect_identity("Hash=00;Cert=\"-----BEGIN%20CERTIFICATE-----%0A\";"
                    "Chain=\"x\";Subject=\"\";URI=spiffe://a/b",
                    "spiffe://a/b");
}


/*
 * No URI and no DNS: the Subject's CN, with RFC 4514 escapes.  Quoted
 * commas and semicolons split neither elements nor pairs.
 */
static void
test_subject(void **state)
{
    (void) state;

    expect_identity("By=spiffe://x;Subject=\"emailAddress=ops@example.com,"
                    "CN=Test Frontend Team,OU=Lyft Engineering,O=Lyft\\, Inc."
                    ",L=San Francisco,ST=California,C=US\";URI=",
                    "Test Frontend Team");

    expect_identity("Subject=\"CN=O'Brien\\, \\\"Bob\\\"\\; ops,O=a\\;b\"",
                    "O'Brien, \"Bob\"; ops");

    expect_identity("Subject=\"O=x\\,CN=fake,CN=real\"", "real");
    expect_identity("Subject=\"CN=caf\\C3\\A9+UID=7,O=x\"", "caf\xc3\xa9");
    expect_identity("Subject=\"2.5.4.3=oid,O=x\"", "oid");
    expect_identity("Subject=\"O=a, CN=spaced\"", "spaced");
    expect_identity("Subject=\"CN=back\\\\slash\"", "back\\slash");
}


/* The nearest proxy's element, the last, decides; earlier ones must parse. */
static void
test_elements(void **state)
{
    pprof_auth_result_t  res;
    const char          *two[] = { "URI=spiffe://far/a", "URI=spiffe://near/b" };
    const char          *bad[] = { "URI=spiffe://near/b", "URI=\"x" };

    (void) state;

    expect_identity("URI=spiffe://far/a,URI=spiffe://near/b",
                    "spiffe://near/b");
    expect_identity("Subject=\"CN=x\\,y\";URI=spiffe://a,By=b;"
                    "URI=spiffe://c", "spiffe://c");
    expect_identity("URI=spiffe://a , DNS=near.example", "near.example");
    expect_identity("URI=\"spiffe://a/\\\"q\\\"\"", "spiffe://a/\"q\"");

    identify_lines(two, 2, 1, xfcc_only, 1, &res);
    assert_int_equal(res.reason, PPROF_OK);
    assert_int_equal(res.identity_len, strlen("spiffe://near/b"));
    assert_memory_equal(res.identity, "spiffe://near/b", res.identity_len);

    /* A malformed line anywhere refuses the whole header. */
    identify_lines(bad, 2, 1, xfcc_only, 1, &res);
    assert_int_equal(res.reason, PPROF_INVALID_CREDENTIAL);
    identify_lines(bad + 1, 1, 1, xfcc_only, 1, &res);
    assert_int_equal(res.reason, PPROF_INVALID_CREDENTIAL);
}


/* From an untrusted peer the header is not there: the next source runs. */
static void
test_untrusted(void **state)
{
    pprof_auth_result_t         res;
    const char                 *line = "URI=spiffe://forged/admin";
    const char                 *junk = "\"";
    static const pprof_auth_source_t  list[] = {
        { .method = PPROF_AUTH_XFCC }, { .method = PPROF_AUTH_ANONYMOUS }
    };

    (void) state;

    identify_lines(&line, 1, 0, xfcc_only, 1, &res);
    assert_int_equal(res.reason, PPROF_UNAUTHENTICATED);
    assert_int_equal(res.identity_len, 0);

    identify_lines(&junk, 1, 0, xfcc_only, 1, &res);
    assert_int_equal(res.reason, PPROF_UNAUTHENTICATED);

    identify_lines(&line, 1, 0, list, 2, &res);
    assert_int_equal(res.reason, PPROF_OK);
    assert_int_equal(res.method, PPROF_AUTH_ANONYMOUS);

    identify_lines(NULL, 0, 1, list, 2, &res);
    assert_int_equal(res.method, PPROF_AUTH_ANONYMOUS);

    /* Trusted and present: xfcc decides, even when it refuses. */
    identify_lines(&junk, 1, 1, list, 2, &res);
    assert_int_equal(res.reason, PPROF_INVALID_CREDENTIAL);
    assert_int_equal(res.method, PPROF_AUTH_XFCC);
}


static void
test_malformed(void **state)
{
    static const char  *bad[] = {
        "",
        " ",
        "\"",
        "URI=\"spiffe://a",
        "URI=spiffe://a,,URI=spiffe://b",
        "URI=spiffe://a,",
        ",URI=spiffe://a",
        "URI=spiffe://a;",
        "URI=spiffe://a;;DNS=x",
        "URI",
        "=spiffe://a",
        "URI spiffe://a",
        "By=spiffe://a;Hash=00",
        "By=spiffe://a,URI=spiffe://b",
        "URI=spiffe://a\\b",
        "URI=\"spiffe://a\\b\"",
        "URI=\"spiffe://a\"b",
        "URI=\"spiffe://a\" x",
        "URI=spiffe://a=b",
        "URI=spi\"ffe",
        "URI=spiffe://a\x01",
        "URI=\"spiffe://a\x7f\"",
        "Subject=\"CN=a\";Subject=\"CN=b\"",
        "Subject=\"\"",
        "Subject=\"CN=a,CN=b\"",
        "Subject=\"CN=a+CN=b\"",
        "Subject=\"/C=US/ST=CA/CN=Test Client\"",
        "Subject=\"CN=a;OU=b\"",
        "Subject=\"CN=a\\\"",
        "Subject=\"CN=a\\zz\"",
        "Subject=\"CN=a\\4\"",
        "Subject=\"CN=a\\",
        "Subject=\"CN=#0403616263\"",
        "Subject=\"CN=a,\"",
        "Subject=\"CN\"",
        "Subject=\"O=x\"",
        "Subject=\"CN=\"",
        "Subject=\"CN=spiffe://prod.example/ns/sre/x\"",
        "Subject=\"CN=host:443\"",
        "Subject=\"CN=a\\0Ab\"",
        "DNS=spiffe://prod.example/ns/sre/x",
        "DNS=\"a b.example\"",
        "DNS=host:443",
        "URI=;DNS=;Subject=\"OU=x\"",
    };

    size_t  i;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_invalid(bad[i]);
    }
}


/* Too long: an identity beyond PPROF_IDENTITY_MAX, or the whole header. */
static void
test_oversize(void **state)
{
    char                  *line, *big[2];
    pprof_auth_result_t   *res, r2;
    size_t                 n;

    (void) state;

    n = PPROF_IDENTITY_MAX + 100;
    line = malloc(n + 16);
    assert_non_null(line);
    memcpy(line, "URI=spiffe://", 13);
    memset(line + 13, 'a', n);
    line[13 + n] = '\0';

    res = identify1(line);
    assert_int_equal(res->reason, PPROF_INVALID_CREDENTIAL);
    assert_int_equal(res->identity_len, 0);
    assert_int_equal(res->refused_len, PPROF_IDENTITY_MAX);
    assert_memory_equal(res->identity, "spiffe://aaa", 12);

    /* The Subject's own cap, far beyond any CN. */
    n = 5000;
    line = realloc(line, n + 32);
    assert_non_null(line);
    strcpy(line, "Subject=\"CN=a,O=");
    memset(line + 16, 'o', n);
    strcpy(line + 16 + n, "\"");
    expect_invalid(line);

    /* Two lines, each fine, too long together. */
    n = PPROF_XFCC_MAX / 2 + 1;
    big[0] = malloc(n + 1);
    big[1] = malloc(n + 1);
    assert_non_null(big[0]);
    assert_non_null(big[1]);
    memcpy(big[0], "Hash=", 5);
    memset(big[0] + 5, '0', n - 5);
    big[0][n] = '\0';
    strcpy(big[1], big[0]);
    memcpy(big[1] + n - 12, ";URI=spiffe:", 12);

    identify_lines((const char **) big + 1, 1, 1, xfcc_only, 1, &r2);
    assert_int_equal(r2.reason, PPROF_OK);
    identify_lines((const char **) big, 2, 1, xfcc_only, 1, &r2);
    assert_int_equal(r2.reason, PPROF_INVALID_CREDENTIAL);
    assert_string_equal(r2.detail, "X-Forwarded-Client-Cert is too long");

    free(big[0]);
    free(big[1]);
    free(line);
}


static void
test_source_word(void **state)
{
    pprof_auth_source_t  src;
    const char          *err = NULL;

    (void) state;

    assert_int_equal(pprof_auth_source_parse(S("xfcc"), &src, &err), 0);
    assert_int_equal(src.method, PPROF_AUTH_XFCC);
    assert_string_equal(pprof_auth_method_name(PPROF_AUTH_XFCC), "xfcc");
    assert_int_equal(pprof_auth_source_parse(S("XFCC"), &src, &err), -1);
    assert_null(pprof_auth_challenge(xfcc_only, 1));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_istio_samples),
        cmocka_unit_test(test_envoy_samples),
        cmocka_unit_test(test_subject),
        cmocka_unit_test(test_elements),
        cmocka_unit_test(test_untrusted),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_source_word),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
