/*
 * Stage 2's 308: which hosts a Location may name, and that it carries the
 * canonical request and nothing the client wrote.
 */

#include <stdio.h>

#include "unit.h"


static void
assert_host(const char *text, int port, const char *want)
{
    size_t  n = 12345;

    if (!pprof_host_valid(S(text), port, &n)) {
        fail_msg("\"%s\" refused", text);
    }
    if (n != strlen(want) || memcmp(text, want, n) != 0) {
        fail_msg("\"%s\": host \"%.*s\", want \"%s\"", text, (int) n, text,
                 want);
    }
}


static void
hosts_valid(void **state)
{
    size_t  i;
    char    longest[254];
    char    label[64];

    (void) state;

    assert_host("localhost", 0, "localhost");
    assert_host("gw.prod.example", 0, "gw.prod.example");
    assert_host("GW.Example", 0, "GW.Example");
    assert_host("xn--bcher-kva.example", 0, "xn--bcher-kva.example");
    assert_host("a-b.1.example", 0, "a-b.1.example");
    assert_host("1example.com", 0, "1example.com");
    assert_host("127.0.0.1", 0, "127.0.0.1");
    assert_host("[::1]", 0, "[::1]");
    assert_host("[2001:db8::1]", 0, "[2001:db8::1]");
    assert_host("[::ffff:10.0.0.1]", 0, "[::ffff:10.0.0.1]");

    /* A port is checked, then left out. */
    assert_host("gw.example:8080", 1, "gw.example");
    assert_host("gw.example:1", 1, "gw.example");
    assert_host("gw.example:65535", 1, "gw.example");
    assert_host("127.0.0.1:80", 1, "127.0.0.1");
    assert_host("[::1]:443", 1, "[::1]");

    /* 63-byte labels, 253 bytes in all. */
    memset(label, 'a', 63);
    label[63] = '\0';
    assert_host(label, 0, label);

    memset(longest, 'a', 253);
    for (i = 63; i < 253; i += 64) {
        longest[i] = '.';
    }
    longest[253] = '\0';
    assert_host(longest, 0, longest);
}


static void
hosts_invalid(void **state)
{
    static const char  *bad[] = {
        "",
        "good@evil.example",
        "user:pass@evil.example",
        "evil.example/x",
        "/evil.example",
        "\\evil.example",
        "evil.example\\x",
        "evil%2eexample",
        "evil.example?x",
        "evil.example#x",
        "a b",
        "a..b",
        ".example",
        "example.",
        "example..",
        ".",
        "-a.example",
        "a-.example",
        "a.-b.example",
        "_",
        "a_b.example",
        "*.example.com",
        "www.example.*",
        "~^www\\.example$",
        "$host",
        "gw.example:",
        "gw.example:0",
        "gw.example:65536",
        "gw.example:123456",
        "gw.example:08x",
        "gw.example:-1",
        "gw.example:+80",
        "gw.example:80:80",
        ":80",
        "127.1",
        "1.2.3",
        "1.2.3.4.5",
        "256.0.0.1",
        "01.2.3.4",
        "0x7f.0.0.1",
        "evil.0x7f",
        "a.123",
        "2130706433",
        "[::1",
        "::1",
        "[::1]x",
        "[::1]:",
        "[::1]:0",
        "[]",
        "[fe80::1%25eth0]",
        "[evil.example]",
        "[v1.x]",
        "gw.example\r\nX: y",
    };

    size_t  i, n;
    char    longname[300];
    char    label[65];

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (pprof_host_valid(S(bad[i]), 1, &n)) {
            fail_msg("\"%s\" accepted", bad[i]);
        }
    }

    assert_false(pprof_host_valid(SN("gw.example\0.evil", 16), 1, &n));
    assert_false(pprof_host_valid(SN("gw\xc3\xa9.example", 12), 1, &n));

    /* server_name never has a port. */
    assert_false(pprof_host_valid(S("gw.example:8080"), 0, &n));
    assert_false(pprof_host_valid(S("[::1]:443"), 0, &n));

    memset(label, 'a', 64);
    label[64] = '\0';
    assert_false(pprof_host_valid(S(label), 1, &n));

    memset(longname, 'a', 254);
    for (i = 63; i < 254; i += 64) {
        longname[i] = '.';
    }
    longname[254] = '\0';
    assert_false(pprof_host_valid(S(longname), 1, &n));
}


static const pprof_endpoint_t  cmdline = {
    { (const unsigned char *) "cmdline", 7 }, PPROF_EP_CMDLINE,
    PPROF_CLASS_CMDLINE
};


/* A GET without a body, its query args, under pprof_max_seconds 30. */
static void
assert_location(pprof_str_t server_name, pprof_str_t host,
    const pprof_endpoint_t *ep, pprof_str_t args, const char *want)
{
    char    buf[PPROF_LOCATION_MAX];
    size_t  n;

    memset(buf, 0x5a, sizeof(buf));
    n = pprof_redirect_location(server_name, host, S("/debug/pprof/"), ep,
                                args, 0, 30, buf, sizeof(buf));

    if (want == NULL) {
        if (n != 0) {
            fail_msg("want no redirect, got \"%.*s\"", (int) n, buf);
        }
        return;
    }

    if (n != strlen(want) || memcmp(buf, want, n) != 0) {
        fail_msg("got \"%.*s\", want \"%s\"", (int) n, buf, want);
    }
}


static void
location_host(void **state)
{
    (void) state;

    /* The server's own name comes first, whatever the Host says. */
    assert_location(S("gw.example"), S("evil.example"), &cmdline, S(""),
                    "https://gw.example/debug/pprof/cmdline");
    assert_location(S("gw.example"), S(""), &cmdline, S(""),
                    "https://gw.example/debug/pprof/cmdline");

    /* Names that are no host fall back to a valid Host, port dropped. */
    assert_location(S(""), S("gw.example:8080"), &cmdline, S(""),
                    "https://gw.example/debug/pprof/cmdline");
    assert_location(S("_"), S("gw.example"), &cmdline, S(""),
                    "https://gw.example/debug/pprof/cmdline");
    assert_location(S("*.example.com"), S("a.example.com"), &cmdline, S(""),
                    "https://a.example.com/debug/pprof/cmdline");
    assert_location(S("~^(?<n>.+)\\.example$"), S("[::1]:80"), &cmdline,
                    S(""), "https://[::1]/debug/pprof/cmdline");

    /* Neither: no redirect, a plain 403. */
    assert_location(S(""), S(""), &cmdline, S(""), NULL);
    assert_location(S("_"), S("good@evil.example"), &cmdline, S(""), NULL);
    assert_location(S(""), S("evil.example/x"), &cmdline, S(""), NULL);
    assert_location(S("*.example.com"), S("\\evil.example"), &cmdline,
                    S(""), NULL);
}


static void
location_canonical(void **state)
{
    pprof_endpoint_t  ep;
    char              buf[PPROF_LOCATION_MAX];

    (void) state;

    /* The canonical query, not the one sent. */
    assert_int_equal(pprof_policy_classify(S("/debug/pprof/"),
                         S("/debug/pprof/heap"), PPROF_METHOD_GET,
                         S("x=//evil.example&gc=1&debug=1"), &ep), PPROF_OK);
    assert_location(S("gw.example"), S(""), &ep,
                    S("x=//evil.example&gc=1&debug=1"),
                    "https://gw.example/debug/pprof/heap?debug=1&gc=1");

    /* A profile's implied seconds are spelled out, from max_seconds. */
    assert_int_equal(pprof_policy_classify(S("/debug/pprof/"),
                         S("/debug/pprof/profile"), PPROF_METHOD_GET, S(""),
                         &ep), PPROF_OK);
    assert_int_equal(pprof_redirect_location(S("gw.example"), S(""),
                         S("/debug/pprof/"), &ep, S(""), 0, 20, buf,
                         sizeof(buf)),
                     strlen("https://gw.example/debug/pprof/profile"
                            "?seconds=20"));
    assert_memory_equal(buf, "https://gw.example/debug/pprof/profile"
                             "?seconds=20", 49);

    /* The index: the prefix alone. */
    assert_int_equal(pprof_policy_classify(S("/debug/pprof/"),
                         S("/debug/pprof/"), PPROF_METHOD_GET, S(""), &ep),
                     PPROF_OK);
    assert_location(S("gw.example"), S(""), &ep, S(""),
                    "https://gw.example/debug/pprof/");

    /* Parameters that do not parse: no redirect rather than another one. */
    assert_int_equal(pprof_policy_classify(S("/debug/pprof/"),
                         S("/debug/pprof/profile"), PPROF_METHOD_GET,
                         S("seconds=abc"), &ep), PPROF_OK);
    assert_location(S("gw.example"), S(""), &ep, S("seconds=abc"), NULL);
    assert_int_equal(pprof_redirect_location(S("gw.example"), S(""),
                         S("/debug/pprof/"), &ep, S("seconds=31"), 0, 30,
                         buf, sizeof(buf)), 0);

    /* A GET with a body is a bad request, not one to send elsewhere. */
    assert_int_equal(pprof_redirect_location(S("gw.example"), S(""),
                         S("/debug/pprof/"), &cmdline, S(""), 5, 30, buf,
                         sizeof(buf)), 0);
}


static void
location_encoding(void **state)
{
    static const struct {
        const char  *name;
        size_t       len;
        const char  *want;
    } cases[] = {
        { "custom", 6, "https://gw/debug/pprof/custom" },
        { "a?b#c", 5, "https://gw/debug/pprof/a%3Fb%23c" },
        { "\\evil.example", 13, "https://gw/debug/pprof/%5Cevil.example" },
        { "100%", 4, "https://gw/debug/pprof/100%25" },
        { "a b\"<>", 6, "https://gw/debug/pprof/a%20b%22%3C%3E" },
        { "x\r\nSet-Cookie:y", 15,
          "https://gw/debug/pprof/x%0D%0ASet-Cookie:y" },
        { "nul\0x", 5, "https://gw/debug/pprof/nul%00x" },
        { "\xc3\xa9\x7f", 3, "https://gw/debug/pprof/%C3%A9%7F" },
        { "a-b._~!$&'()*+,;=:@", 19,
          "https://gw/debug/pprof/a-b._~!$&'()*+,;=:@" },
    };

    pprof_endpoint_t  ep;
    size_t            i;

    (void) state;

    ep.kind = PPROF_EP_SNAPSHOT;
    ep.cls = PPROF_CLASS_SNAPSHOT;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ep.name = SN(cases[i].name, cases[i].len);
        assert_location(S("gw"), S(""), &ep, S(""), cases[i].want);
    }

    /* A '/' inside a name is encoded; the prefix's own are not. */
    ep.name = S("a/b");
    assert_location(S("gw"), S(""), &ep, S(""),
                    "https://gw/debug/pprof/a%2Fb");
}


static void
location_room(void **state)
{
    char            buf[64];
    size_t          n;

    (void) state;

    /* Exactly enough room in the worst case, then one byte short. */
    n = pprof_redirect_location(S("gw"), S(""), S("/p/"), &cmdline, S(""), 0,
                                30, buf, 8 + 2 + 3 * 10 + 1);
    assert_int_equal(n, strlen("https://gw/p/cmdline"));
    assert_memory_equal(buf, "https://gw/p/cmdline", n);

    n = pprof_redirect_location(S("gw"), S(""), S("/p/"), &cmdline, S(""), 0,
                                30, buf, 8 + 2 + 3 * 10);
    assert_int_equal(n, 0);

    n = pprof_redirect_location(S("gw"), S(""), S("/p/"), &cmdline, S(""), 0,
                                30, buf, 0);
    assert_int_equal(n, 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(hosts_valid),
        cmocka_unit_test(hosts_invalid),
        cmocka_unit_test(location_host),
        cmocka_unit_test(location_canonical),
        cmocka_unit_test(location_encoding),
        cmocka_unit_test(location_room),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
