/*
 * The authorization service mode's facts (policy/authz.c): the client
 * behind X-Forwarded-For, the original request from the proxy's headers,
 * canonical-only parameters, and the allow answer's headers.  Hostile
 * input throughout: forged chains, another host, path tricks, duplicated
 * and oversize headers.
 */

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "unit.h"


static pprof_cidr_t  trusted[2];


static int
setup(void **state)
{
    const char  *err;

    (void) state;

    if (pprof_cidr_parse(S("10.0.0.0/8"), &trusted[0], &err) != 0
        || pprof_cidr_parse(S("fd00::/8"), &trusted[1], &err) != 0)
    {
        return -1;
    }

    return 0;
}


static pprof_addr_t
addr(const char *text)
{
    pprof_addr_t  a;

    memset(&a, 0, sizeof(a));

    if (inet_pton(AF_INET, text, a.addr) == 1) {
        a.family = PPROF_ADDR_INET;

    } else {
        assert_int_equal(inet_pton(AF_INET6, text, a.addr), 1);
        a.family = PPROF_ADDR_INET6;
    }

    return a;
}


/* The client for these X-Forwarded-For lines, as text; NULL if refused. */
static const char *
client_of(const char *proxy, const char **lines, size_t n)
{
    static char          text[PPROF_ADDR_TEXT_MAX];
    pprof_str_t          v[8];
    pprof_values_t       xff = { v, n };
    pprof_addr_t         p, c;
    const char          *detail = NULL;
    size_t               i;

    for (i = 0; i < n; i++) {
        v[i] = S(lines[i]);
    }

    p = addr(proxy);

    if (pprof_authz_client(xff, &p, trusted, 2, &c, &detail) != PPROF_OK) {
        assert_non_null(detail);
        return NULL;
    }

    assert_true(pprof_addr_text(&c, text, sizeof(text)) > 0);
    return text;
}


static const char *
client1(const char *line)
{
    return client_of("10.0.0.1", &line, 1);
}


static void
test_client(void **state)
{
    const char  *lines[] = { "203.0.113.7, 10.0.0.9", "10.0.0.2" };
    const char  *rev[] = { "10.0.0.2", "203.0.113.7" };

    (void) state;

    /* No header: the proxy itself. */
    assert_string_equal(client_of("10.0.0.1", NULL, 0), "10.0.0.1");

    assert_string_equal(client1("203.0.113.7"), "203.0.113.7");
    assert_string_equal(client1("198.51.100.1, 10.0.0.5"), "198.51.100.1");

    /* A forged chain: the client claims a trusted hop, then is appended. */
    assert_string_equal(client1("10.0.0.9, 203.0.113.7"), "203.0.113.7");
    assert_string_equal(client1("1.1.1.1, 203.0.113.7"), "203.0.113.7");
    assert_string_equal(client1("evil, 203.0.113.7"), "203.0.113.7");
    assert_string_equal(client1("10.0.0.9,,not an address,203.0.113.7"),
                        "203.0.113.7");

    /* Every entry trusted: the leftmost. */
    assert_string_equal(client1("10.0.0.9, 10.0.0.2"), "10.0.0.9");
    assert_string_equal(client1("fd00::5, ::ffff:10.0.0.3"), "fd00::5");

    /* Several lines are one list, in order. */
    assert_string_equal(client_of("10.0.0.1", lines, 2), "203.0.113.7");
    assert_string_equal(client_of("10.0.0.1", rev, 2), "203.0.113.7");

    /* Ports and brackets, as nginx's realip reads them; empty elements. */
    assert_string_equal(client1("203.0.113.7:5555"), "203.0.113.7");
    assert_string_equal(client1("[2001:db8::1]:443"), "2001:db8::1");
    assert_string_equal(client1("[2001:db8::1]"), "2001:db8::1");
    assert_string_equal(client1(" 2001:db8::1 ,\t"), "2001:db8::1");
    assert_string_equal(client1(", ,203.0.113.7,"), "203.0.113.7");
    assert_string_equal(client1(""), "10.0.0.1");
    assert_string_equal(client1(" , "), "10.0.0.1");

    /* An untrusted proxy's header is not read at all. */
    assert_string_equal(client_of("192.0.2.1", (const char *[]) { "10.0.0.9" },
                                  1), "192.0.2.1");
}


static void
test_client_refused(void **state)
{
    static const char  *bad[] = {
        "unknown",
        "203.0.113.7, unknown",
        "10.0.0.9, garbage, 10.0.0.2",
        "1.2.3",
        "1.2.3.4:0",
        "1.2.3.4:65536",
        "1.2.3.4:123456",
        "1.2.3.4:",
        "1.2.3.4:x",
        "[2001:db8::1",
        "[2001:db8::1]x",
        "[2001:db8::1]:",
        "[1.2.3.4]",
        "2001:db8::1:443:x",
        "fe80::1%eth0",
        "1.2.3.4 5.6.7.8",
        "0000000000000000000000000000000000000000000000000000000000000001.2",
    };

    pprof_str_t     v;
    pprof_values_t  xff = { &v, 1 };
    pprof_addr_t    p, c, unix_peer;
    const char     *detail;
    size_t          i;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (client1(bad[i]) != NULL) {
            fail_msg("X-Forwarded-For \"%s\" accepted", bad[i]);
        }
    }

    /* A NUL inside an entry. */
    v = SN("203.0.113.7\0", 12);
    p = addr("10.0.0.1");
    detail = NULL;
    assert_int_equal(pprof_authz_client(xff, &p, trusted, 2, &c, &detail),
                     PPROF_BAD_PARAMETER);
    assert_non_null(detail);

    /* A peer that is not IP is no trusted proxy: it stays the client. */
    memset(&unix_peer, 0, sizeof(unix_peer));
    v = S("203.0.113.7");
    assert_int_equal(pprof_authz_client(xff, &unix_peer, trusted, 2, &c,
                                        &detail), PPROF_OK);
    assert_int_equal(c.family, PPROF_ADDR_ANY);
    assert_int_equal(pprof_addr_text(&c, (char [64]) { 0 }, 64), 0);
}


typedef struct {
    pprof_authz_check_t    check;
    pprof_str_t            values[5][3];
} check_t;


static void
set(pprof_values_t *v, pprof_str_t *store, const char *a, const char *b)
{
    v->v = store;
    v->n = 0;

    if (a) {
        store[v->n++] = S(a);
    }
    if (b) {
        store[v->n++] = S(b);
    }
}


static pprof_reason_t
forward(const char *m1, const char *m2, const char *u1, const char *u2,
    pprof_authz_request_t *req, const char **detail)
{
    check_t  c;

    memset(&c, 0, sizeof(c));
    set(&c.check.forwarded_method, c.values[0], m1, m2);
    set(&c.check.forwarded_uri, c.values[1], u1, u2);

    /* What the other modes read must not count here. */
    set(&c.check.original_method, c.values[2], "POST", NULL);
    set(&c.check.original_uri, c.values[3], "/debug/pprof/cmdline", NULL);
    c.check.method = S("PUT");
    c.check.target = S("/debug/pprof/trace");

    return pprof_authz_request(PPROF_AUTHZ_FORWARD, S(""), &c.check, req,
                               detail);
}


static pprof_reason_t
original(const char *m, const char *url, const char *url2, const char *uri,
    pprof_authz_request_t *req, const char **detail)
{
    check_t  c;

    memset(&c, 0, sizeof(c));
    set(&c.check.original_method, c.values[0], m, NULL);
    set(&c.check.original_url, c.values[1], url, url2);
    set(&c.check.original_uri, c.values[2], uri, NULL);
    set(&c.check.forwarded_uri, c.values[3], "/debug/pprof/cmdline", NULL);

    return pprof_authz_request(PPROF_AUTHZ_ORIGINAL, S(""), &c.check, req,
                               detail);
}


static pprof_reason_t
envoy(const char *prefix, const char *method, const char *target,
    pprof_authz_request_t *req, const char **detail)
{
    check_t  c;

    memset(&c, 0, sizeof(c));
    c.check.method = S(method);
    c.check.target = S(target);
    set(&c.check.forwarded_uri, c.values[0], "/debug/pprof/cmdline", NULL);

    return pprof_authz_request(PPROF_AUTHZ_ENVOY, S(prefix), &c.check, req,
                               detail);
}


static void
expect_request(pprof_reason_t rc, const char *detail,
    const pprof_authz_request_t *req, pprof_method_t method,
    const char *path, const char *query)
{
    if (rc != PPROF_OK) {
        fail_msg("refused: %s (%s)", pprof_reason_name(rc),
                 detail ? detail : "-");
    }

    assert_null(detail);
    assert_int_equal(req->method, method);
    assert_int_equal(req->path_len, strlen(path));
    assert_memory_equal(req->path, path, req->path_len);
    assert_int_equal(req->query.len, strlen(query));
    assert_memory_equal(req->query.data, query, req->query.len);
}


static void
test_request_modes(void **state)
{
    static pprof_authz_request_t  req;
    const char                   *d;
    pprof_reason_t                rc;

    (void) state;

    rc = envoy("/authz", "GET", "/authz/debug/pprof/heap?debug=1", &req, &d);
    expect_request(rc, d, &req, PPROF_METHOD_GET, "/debug/pprof/heap",
                   "debug=1");
    assert_int_equal(req.method_name.len, 3);

    rc = envoy("", "HEAD", "/debug/pprof/", &req, &d);
    expect_request(rc, d, &req, PPROF_METHOD_HEAD, "/debug/pprof/", "");
    assert_non_null(req.query.data);          /* stage 6 adds to it */

    rc = envoy("", "POST", "/debug/pprof/symbol?", &req, &d);
    expect_request(rc, d, &req, PPROF_METHOD_POST, "/debug/pprof/symbol", "");

    /* Not under the prefix: another path, so no endpoint of ours. */
    assert_int_equal(envoy("/authz", "GET", "/debug/pprof/heap", &req, &d),
                     PPROF_UNKNOWN_ENDPOINT);
    assert_non_null(d);
    assert_int_equal(envoy("/authz", "GET", "/authzdebug/pprof/heap", &req,
                           &d), PPROF_UNKNOWN_ENDPOINT);
    assert_int_equal(envoy("/authz", "GET", "/authz", &req, &d),
                     PPROF_UNKNOWN_ENDPOINT);
    assert_int_equal(envoy("/authz", "GET", "/authz?x=1", &req, &d),
                     PPROF_UNKNOWN_ENDPOINT);
    assert_int_equal(envoy("", "GET", "", &req, &d), PPROF_UNKNOWN_ENDPOINT);
    assert_int_equal(envoy("/authz", "GET", "/auth", &req, &d),
                     PPROF_UNKNOWN_ENDPOINT);

    rc = forward("GET", NULL, "/debug/pprof/profile?seconds=5", NULL, &req,
                 &d);
    expect_request(rc, d, &req, PPROF_METHOD_GET, "/debug/pprof/profile",
                   "seconds=5");

    /* Only the path and query of X-Original-URL count, not its host. */
    rc = original("GET", "https://evil.example:8443/debug/pprof/heap?gc=1",
                  NULL, NULL, &req, &d);
    expect_request(rc, d, &req, PPROF_METHOD_GET, "/debug/pprof/heap", "gc=1");

    rc = original("GET", "HTTP://user@[2001:db8::1]/debug/pprof/", NULL,
                  NULL, &req, &d);
    expect_request(rc, d, &req, PPROF_METHOD_GET, "/debug/pprof/", "");

    rc = original("GET", NULL, NULL, "/debug/pprof/goroutine?debug=2", &req,
                  &d);
    expect_request(rc, d, &req, PPROF_METHOD_GET, "/debug/pprof/goroutine",
                   "debug=2");

    rc = original("GET", "http://h/debug/pprof/heap", NULL,
                  "/debug/pprof/heap", &req, &d);
    expect_request(rc, d, &req, PPROF_METHOD_GET, "/debug/pprof/heap", "");

    /* Methods are case-sensitive tokens; others are for stage 1 (405). */
    rc = forward("get", NULL, "/debug/pprof/heap", NULL, &req, &d);
    expect_request(rc, d, &req, PPROF_METHOD_OTHER, "/debug/pprof/heap", "");
    rc = forward("DELETE", NULL, "/debug/pprof/heap", NULL, &req, &d);
    expect_request(rc, d, &req, PPROF_METHOD_OTHER, "/debug/pprof/heap", "");

    /* Harmless escapes decode as nginx decodes them. */
    rc = forward("GET", NULL, "/debug/pprof/%68eap", NULL, &req, &d);
    expect_request(rc, d, &req, PPROF_METHOD_GET, "/debug/pprof/heap", "");
    rc = forward("GET", NULL, "/debug/pprof/my%20profile%C3%A9", NULL, &req,
                 &d);
    expect_request(rc, d, &req, PPROF_METHOD_GET,
                   "/debug/pprof/my profile\xc3\xa9", "");
    rc = forward("GET", NULL, "/debug/pprof/heap.x?a#b", NULL, &req, &d);
    expect_request(rc, d, &req, PPROF_METHOD_GET, "/debug/pprof/heap.x",
                   "a#b");
}


/* Never a guess: missing, repeated or contradictory headers are 400. */
static void
test_request_headers(void **state)
{
    static pprof_authz_request_t  req;
    const char                   *d;

    (void) state;

#define BAD(call)                                                            \
    do {                                                                     \
        d = NULL;                                                            \
        assert_int_equal(call, PPROF_BAD_PARAMETER);                         \
        assert_non_null(d);                                                  \
    } while (0)

    BAD(forward(NULL, NULL, "/debug/pprof/heap", NULL, &req, &d));
    BAD(forward("GET", "GET", "/debug/pprof/heap", NULL, &req, &d));
    BAD(forward("GET", "POST", "/debug/pprof/heap", NULL, &req, &d));
    BAD(forward("GET", NULL, NULL, NULL, &req, &d));
    BAD(forward("GET", NULL, "/debug/pprof/heap", "/debug/pprof/heap", &req,
                &d));
    BAD(forward("", NULL, "/debug/pprof/heap", NULL, &req, &d));
    BAD(forward("G ET", NULL, "/debug/pprof/heap", NULL, &req, &d));
    BAD(forward("GET\r\n", NULL, "/debug/pprof/heap", NULL, &req, &d));
    BAD(forward("GETGETGETGETGETGETGETGETGETGETGET", NULL,
                "/debug/pprof/heap", NULL, &req, &d));

    BAD(original(NULL, NULL, NULL, "/debug/pprof/heap", &req, &d));
    BAD(original("GET", NULL, NULL, NULL, &req, &d));
    BAD(original("GET", "http://h/debug/pprof/heap",
                 "http://h/debug/pprof/cmdline", NULL, &req, &d));
    BAD(original("GET", "http://h/debug/pprof/cmdline", NULL,
                 "/debug/pprof/heap", &req, &d));
    BAD(original("GET", "ftp://h/debug/pprof/heap", NULL, NULL, &req, &d));
    BAD(original("GET", "/debug/pprof/heap", NULL, NULL, &req, &d));
    BAD(original("GET", "https:/debug/pprof/heap", NULL, NULL, &req, &d));
    BAD(original("GET", "https:///debug/pprof/heap", NULL, NULL, &req, &d));
    BAD(original("GET", "https://h", NULL, NULL, &req, &d));
    BAD(original("GET", "https://h?x=/debug/pprof/heap", NULL, NULL, &req,
                 &d));
    BAD(original("GET", "https://h#/debug/pprof/heap", NULL, NULL, &req, &d));
    BAD(original("GET", "https://h\\@evil/debug/pprof/heap", NULL, NULL, &req,
                 &d));
    BAD(original("GET", "https://h%2F/debug/pprof/heap", NULL, NULL, &req,
                 &d));
    BAD(original("GET", "https://h/debug/pprof/../pprof/heap", NULL, NULL,
                 &req, &d));
    BAD(original("GET", NULL, NULL, "debug/pprof/heap", &req, &d));
    BAD(original("GET", NULL, NULL, "http://h/debug/pprof/heap", &req, &d));

#undef BAD
}


/* Paths that nginx would normalise, or a reader could split otherwise. */
static void
test_request_paths(void **state)
{
    static const char  *bad[] = {
        "/debug/pprof/../pprof/heap",
        "/debug/pprof/./heap",
        "/debug/pprof/heap/..",
        "/debug/pprof/heap/.",
        "/debug/pprof/..",
        "/debug//pprof/heap",
        "//debug/pprof/heap",
        "/debug/pprof//",
        "/debug/pprof/%2e%2e/pprof/heap",
        "/debug/pprof/%2E%2E/cmdline",
        "/debug/pprof/.%2e/heap",
        "/debug/pprof%2Fheap",
        "/debug/pprof/heap%2f",
        "/debug/pprof/heap%5C",
        "/debug/pprof/heap%5c..%5ccmdline",
        "/debug/pprof/heap%00",
        "/debug/pprof/heap%0a",
        "/debug/pprof/heap%7F",
        "/debug/pprof/heap%252F",
        "/debug/pprof/heap%3Fdebug=2",
        "/debug/pprof/heap%23",
        "/debug/pprof/heap%2",
        "/debug/pprof/heap%",
        "/debug/pprof/heap%zz",
        "/debug/pprof/heap\\..\\cmdline",
        "/debug/pprof/heap#frag",
        "/debug/pprof/he ap",
        "/debug/pprof/heap\t",
        "/debug/pprof/h\xc3\xa9",
        "/debug/pprof/heap\x7f",
        "",
        "?debug=1",
        "*",
    };

    static pprof_authz_request_t  req;
    const char                   *d;
    char                         *big;
    size_t                        i;
    pprof_reason_t                rc;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        d = NULL;
        rc = forward("GET", NULL, bad[i], NULL, &req, &d);
        if (rc != PPROF_BAD_PARAMETER || d == NULL) {
            fail_msg("X-Forwarded-Uri \"%s\": %s", bad[i],
                     pprof_reason_name(rc));
        }

        rc = envoy("", "GET", bad[i], &req, &d);
        if (rc == PPROF_OK) {
            fail_msg("envoy path \"%s\" accepted", bad[i]);
        }
    }

    /* Oversize: refused, never cut. */
    big = malloc(PPROF_AUTHZ_URI_MAX + 2);
    assert_non_null(big);
    memset(big, 'a', PPROF_AUTHZ_URI_MAX + 1);
    big[0] = '/';
    big[PPROF_AUTHZ_URI_MAX + 1] = '\0';
    assert_int_equal(forward("GET", NULL, big, NULL, &req, &d),
                     PPROF_BAD_PARAMETER);
    big[PPROF_AUTHZ_URI_MAX] = '\0';
    assert_int_equal(forward("GET", NULL, big, NULL, &req, &d), PPROF_OK);
    assert_int_equal(req.path_len, PPROF_AUTHZ_URI_MAX);
    free(big);
}


static pprof_reason_t
params(const char *uri, const char *query, unsigned max, pprof_params_t *p,
    char *detail)
{
    pprof_endpoint_t  ep;
    pprof_reason_t    rc;

    rc = pprof_policy_classify(S("/debug/pprof/"), S(uri), PPROF_METHOD_GET,
                               S(query), &ep);
    assert_int_equal(rc, PPROF_OK);

    return pprof_authz_params(&ep, S(query), PPROF_METHOD_GET, 0, max, p,
                              detail, PPROF_AUTHZ_DETAIL_MAX);
}


static void
test_params(void **state)
{
    pprof_params_t  p;
    char            d[PPROF_AUTHZ_DETAIL_MAX];

    (void) state;

    assert_int_equal(params("/debug/pprof/heap", "debug=1&gc=1", 30, &p, d),
                     PPROF_OK);
    assert_string_equal(d, "");
    assert_int_equal(params("/debug/pprof/heap", "", 30, &p, d), PPROF_OK);
    assert_int_equal(params("/debug/pprof/cmdline", "", 30, &p, d), PPROF_OK);
    assert_int_equal(params("/debug/pprof/goroutine", "debug=2", 30, &p, d),
                     PPROF_OK);
    assert_int_equal(params("/debug/pprof/heap", "seconds=5", 30, &p, d),
                     PPROF_OK);
    assert_int_equal(params("/debug/pprof/trace", "seconds=0.5", 30, &p, d),
                     PPROF_OK);

    /* Not canonical: 400, and the message says what would pass. */
    assert_int_equal(params("/debug/pprof/heap", "gc=1&debug=1", 30, &p, d),
                     PPROF_BAD_PARAMETER);
    assert_string_equal(d, "the query must be canonical: debug=1&gc=1");
    assert_int_equal(params("/debug/pprof/heap", "debug=1&debug=1", 30, &p,
                            d), PPROF_BAD_PARAMETER);
    assert_string_equal(d, "the query must be canonical: debug=1");
    assert_int_equal(params("/debug/pprof/heap", "debug=1&x=2", 30, &p, d),
                     PPROF_BAD_PARAMETER);
    assert_string_equal(d, "the query must be canonical: debug=1");
    assert_int_equal(params("/debug/pprof/heap", "d%65bug=1", 30, &p, d),
                     PPROF_BAD_PARAMETER);
    assert_int_equal(params("/debug/pprof/heap", "debug=1&", 30, &p, d),
                     PPROF_BAD_PARAMETER);
    assert_int_equal(params("/debug/pprof/heap", "debug=1#x", 30, &p, d),
                     PPROF_BAD_PARAMETER);
    assert_int_equal(params("/debug/pprof/profile", "seconds=05", 30, &p, d),
                     PPROF_BAD_PARAMETER);
    assert_string_equal(d, "the query must be canonical: seconds=5");
    assert_int_equal(params("/debug/pprof/trace", "seconds=1.50", 30, &p, d),
                     PPROF_BAD_PARAMETER);
    assert_string_equal(d, "the query must be canonical: seconds=1.5");
    assert_int_equal(params("/debug/pprof/cmdline", "x=1", 30, &p, d),
                     PPROF_BAD_PARAMETER);
    assert_string_equal(d, "this endpoint takes no query");

    /* Out of range: stage 6's own verdict and its explanation. */
    assert_int_equal(params("/debug/pprof/heap", "debug=3", 30, &p, d),
                     PPROF_BAD_PARAMETER);
    assert_string_equal(d, "debug must be 0, 1 or 2");
    assert_int_equal(params("/debug/pprof/profile", "seconds=31", 30, &p, d),
                     PPROF_BAD_PARAMETER);
    assert_string_equal(d, "seconds must be 1..30");

    /* No seconds: Go's own 30 s (trace 1 s), over the limit or not. */
    assert_int_equal(params("/debug/pprof/profile", "", 30, &p, d), PPROF_OK);
    assert_int_equal(p.seconds_us, 30000000);
    assert_int_equal(params("/debug/pprof/trace", "", 5, &p, d), PPROF_OK);
    assert_int_equal(p.seconds_us, 1000000);
    assert_int_equal(params("/debug/pprof/profile", "", 10, &p, d),
                     PPROF_BAD_PARAMETER);
    assert_non_null(strstr(d, "seconds=10"));
    assert_int_equal(params("/debug/pprof/profile", "seconds=10", 10, &p, d),
                     PPROF_OK);
    assert_int_equal(params("/debug/pprof/profile", "x=1", 30, &p, d),
                     PPROF_BAD_PARAMETER);
    assert_string_equal(d, "the query must be canonical: seconds=30");
}


static void
test_identity_header(void **state)
{
    char    buf[64];
    size_t  n;

    (void) state;

    assert_int_equal(pprof_authz_identity_header(
                         S("spiffe://cluster.local/ns/a/sa/b"), buf,
                         sizeof(buf), &n), 0);
    assert_string_equal(buf, "spiffe://cluster.local/ns/a/sa/b");
    assert_int_equal(n, strlen(buf));

    assert_int_equal(pprof_authz_identity_header(S("carol@example.com"), buf,
                                                 sizeof(buf), &n), 0);
    assert_string_equal(buf, "carol@example.com");

    assert_int_equal(pprof_authz_identity_header(
                         S("O'Brien, \"Bob\"; ops%\r\n"), buf, sizeof(buf),
                         &n), 0);
    assert_string_equal(buf, "O%27Brien%2C%20%22Bob%22%3B%20ops%25%0D%0A");

    assert_int_equal(pprof_authz_identity_header(S("caf\xc3\xa9~-._+?#[]"),
                                                 buf, sizeof(buf), &n), 0);
    assert_string_equal(buf, "caf%C3%A9~-._%2B%3F%23%5B%5D");

    assert_int_equal(pprof_authz_identity_header(SN("a\0b", 3), buf,
                                                 sizeof(buf), &n), 0);
    assert_string_equal(buf, "a%00b");

    /* Exactly the room needed, and one byte less. */
    assert_int_equal(pprof_authz_identity_header(S(" "), buf, 4, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(pprof_authz_identity_header(S(" "), buf, 3, &n), -1);
    assert_int_equal(pprof_authz_identity_header(S("ab"), buf, 3, &n), 0);
    assert_int_equal(pprof_authz_identity_header(S("ab"), buf, 2, &n), -1);
}


static void
test_roles_header(void **state)
{
    char         buf[16];
    size_t       n;
    pprof_str_t  roles[3] = { S("sre"), S("dev-ops"), S("x") };
    pprof_str_t  bad[] = { S("a,b"), S("a b"), S(""), S("caf\xc3\xa9"),
                           SN("a\0", 2) };
    size_t       i;

    (void) state;

    assert_int_equal(pprof_authz_roles_header(roles, 3, buf, sizeof(buf), &n),
                     0);
    assert_string_equal(buf, "sre,dev-ops,x");
    assert_int_equal(n, 13);

    assert_int_equal(pprof_authz_roles_header(roles, 0, buf, sizeof(buf), &n),
                     0);
    assert_string_equal(buf, "");
    assert_int_equal(n, 0);

    assert_int_equal(pprof_authz_roles_header(roles, 3, buf, 14, &n), 0);
    assert_int_equal(pprof_authz_roles_header(roles, 3, buf, 13, &n), -1);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pprof_authz_roles_header(&bad[i], 1, buf,
                                                  sizeof(buf), &n), -1);
    }
}


/* A check with a body is refused, after what it names has been read. */
static void
check_body(void **state)
{
    check_t                 c;
    const char             *d;
    pprof_authz_request_t   req;

    (void) state;

    memset(&c, 0, sizeof(c));
    c.check.method = S("GET");
    c.check.target = S("/debug/pprof/heap");

    assert_int_equal(pprof_authz_request(PPROF_AUTHZ_ENVOY, S(""), &c.check,
                                         &req, &d), PPROF_OK);

    c.check.body = 1;
    assert_int_equal(pprof_authz_request(PPROF_AUTHZ_ENVOY, S(""), &c.check,
                                         &req, &d), PPROF_BAD_PARAMETER);
    assert_string_equal(d, "a check request carries no body");

    /* A request it cannot read says so first. */
    c.check.target = S("/debug/pprof/../heap");
    assert_int_equal(pprof_authz_request(PPROF_AUTHZ_ENVOY, S(""), &c.check,
                                         &req, &d), PPROF_BAD_PARAMETER);
    assert_string_not_equal(d, "a check request carries no body");
}


/* X-Forwarded-Proto: exactly one value, https in any case. */
static void
forwarded_proto(void **state)
{
    pprof_str_t     v[2];
    pprof_values_t  proto = { v, 0 };

    (void) state;

    assert_false(pprof_authz_https(proto));

    v[0] = S("https");
    proto.n = 1;
    assert_true(pprof_authz_https(proto));

    v[0] = S("HTTPS");
    assert_true(pprof_authz_https(proto));

    v[0] = S("http");
    assert_false(pprof_authz_https(proto));

    v[0] = S("https, http");
    assert_false(pprof_authz_https(proto));

    v[0] = S("https ");
    assert_false(pprof_authz_https(proto));

    v[0] = S("https");
    v[1] = S("https");
    proto.n = 2;
    assert_false(pprof_authz_https(proto));
}


/* auth_request passes on only 401 and 403: original mode maps the rest. */
static void
denial_status(void **state)
{
    pprof_reason_t  r;

    (void) state;

    for (r = PPROF_UNKNOWN_ENDPOINT; r < PPROF_REASON_COUNT; r++) {
        assert_int_equal(pprof_authz_status(PPROF_AUTHZ_ENVOY, r),
                         pprof_reason_status(r));
        assert_int_equal(pprof_authz_status(PPROF_AUTHZ_FORWARD, r),
                         pprof_reason_status(r));
        assert_int_equal(pprof_authz_status(PPROF_AUTHZ_ORIGINAL, r),
                         pprof_reason_status(r) == 401 ? 401 : 403);
    }

    assert_int_equal(pprof_authz_status(PPROF_AUTHZ_ORIGINAL,
                                        PPROF_RATE_LIMITED), 403);
    assert_int_equal(pprof_authz_status(PPROF_AUTHZ_ORIGINAL,
                                        PPROF_UNAUTHENTICATED), 401);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(denial_status),
        cmocka_unit_test(check_body),
        cmocka_unit_test(forwarded_proto),
        cmocka_unit_test(test_client),
        cmocka_unit_test(test_client_refused),
        cmocka_unit_test(test_request_modes),
        cmocka_unit_test(test_request_headers),
        cmocka_unit_test(test_request_paths),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_identity_header),
        cmocka_unit_test(test_roles_header),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
