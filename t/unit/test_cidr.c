/* Stage 3: pprof_allow CIDR parsing and client address matching. */

#include <arpa/inet.h>

#include "unit.h"


/* Parses text, which must be valid, into *c. */
static void
parse_ok(const char *text, pprof_cidr_t *c)
{
    const char  *err = NULL;

    if (pprof_cidr_parse(S(text), c, &err) != 0) {
        fail_msg("\"%s\" refused: %s", text, err ? err : "(no message)");
    }
}


/* An address as the glue hands it over: family and network-order bytes. */
typedef struct {
    pprof_addr_family_t  family;
    unsigned char        bytes[16];
} client_t;


static client_t
v4(const char *text)
{
    client_t  c;

    memset(&c, 0, sizeof(c));
    c.family = PPROF_ADDR_INET;
    assert_int_equal(inet_pton(AF_INET, text, c.bytes), 1);
    return c;
}


static client_t
v6(const char *text)
{
    client_t  c;

    memset(&c, 0, sizeof(c));
    c.family = PPROF_ADDR_INET6;
    assert_int_equal(inet_pton(AF_INET6, text, c.bytes), 1);
    return c;
}


/* Whether a one-rule set made of rule admits the client. */
static int
admits(const char *rule, client_t client)
{
    pprof_cidr_t  c;

    parse_ok(rule, &c);
    return pprof_cidr_match(&c, 1, client.family, client.bytes);
}


static void
parse_ipv4(void **state)
{
    static const unsigned char  mask13[4] = { 0xff, 0xf8, 0, 0 };

    pprof_cidr_t  c;

    (void) state;

    parse_ok("10.0.0.0/8", &c);
    assert_int_equal(c.family, PPROF_ADDR_INET);
    assert_int_equal(c.addr[0], 10);
    assert_int_equal(c.mask[0], 0xff);
    assert_int_equal(c.mask[1], 0);

    /* A bare address is a /32. */
    parse_ok("192.168.1.7", &c);
    assert_int_equal(c.family, PPROF_ADDR_INET);
    assert_memory_equal(c.mask, "\xff\xff\xff\xff", 4);

    parse_ok("192.168.1.7/32", &c);
    assert_memory_equal(c.mask, "\xff\xff\xff\xff", 4);

    parse_ok("0.0.0.0/0", &c);
    assert_int_equal(c.family, PPROF_ADDR_INET);
    assert_memory_equal(c.mask, "\0\0\0\0", 4);

    /* A prefix that is not a byte boundary: 5 bits of the second byte. */
    parse_ok("10.8.0.0/13", &c);
    assert_memory_equal(c.mask, mask13, 4);
}


static void
parse_ipv6(void **state)
{
    unsigned char  full[16], zero[16], m127[16];
    pprof_cidr_t   c;

    (void) state;

    memset(full, 0xff, sizeof(full));
    memset(zero, 0, sizeof(zero));
    memset(m127, 0xff, sizeof(m127));
    m127[15] = 0xfe;

    parse_ok("2001:db8::/32", &c);
    assert_int_equal(c.family, PPROF_ADDR_INET6);
    assert_memory_equal(c.mask, "\xff\xff\xff\xff\0\0\0\0\0\0\0\0\0\0\0\0",
                        16);

    /* A bare address is a /128. */
    parse_ok("2001:db8::1", &c);
    assert_int_equal(c.family, PPROF_ADDR_INET6);
    assert_memory_equal(c.mask, full, 16);

    parse_ok("2001:db8::1/128", &c);
    assert_memory_equal(c.mask, full, 16);

    parse_ok("::/0", &c);
    assert_int_equal(c.family, PPROF_ADDR_INET6);
    assert_memory_equal(c.mask, zero, 16);

    parse_ok("2001:db8::/127", &c);
    assert_memory_equal(c.mask, m127, 16);

    /* Leading zeros in the length are still a number of bits. */
    parse_ok("10.0.0.0/008", &c);
    assert_int_equal(c.mask[0], 0xff);
    assert_int_equal(c.mask[1], 0);
}


static void
parse_all(void **state)
{
    pprof_cidr_t  c;

    (void) state;

    /* Poison first, so that a parse which leaves the struct alone shows. */
    memset(&c, 0xa5, sizeof(c));
    parse_ok("all", &c);
    assert_int_equal(c.family, PPROF_ADDR_ANY);
}


static void
parse_errors(void **state)
{
    static const char  *bad[] = {
        "10.0.0.1/8",              /* host bits: /32 or 10.0.0.0/8 meant? */
        "2001:db8::1/32",          /* the same for IPv6 */
        "10.0.0.0/33",
        "::/129",
        "10.0.0.0/",
        "10.0.0.0/-1",
        "10.0.0.0/+8",
        "10.0.0.0/08x",
        "10.0.0.0/8/8",
        "10.0.0.0/0008",
        "10.0.0.0/ 8",
        "1.2.3",
        "",
        "999.1.1.1",
        "all ",
        " all",
        "ALL",
        "al",
        "/8",
        "10.0.0.0 /8",
        "fe80::1%eth0",
        "localhost",
    };

    char          longtext[201];
    pprof_cidr_t  c;
    const char   *err;
    size_t        i;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        if (pprof_cidr_parse(S(bad[i]), &c, &err) != -1) {
            fail_msg("\"%s\" was accepted", bad[i]);
        }
        if (err == NULL || err[0] == '\0') {
            fail_msg("\"%s\" was refused without a message", bad[i]);
        }
    }

    /* The text is a length and bytes: a NUL must not end it early. */
    err = NULL;
    assert_int_equal(pprof_cidr_parse(SN("10.0.0.0\0/8", 11), &c, &err), -1);
    assert_non_null(err);
    err = NULL;
    assert_int_equal(pprof_cidr_parse(SN("all\0", 4), &c, &err), -1);
    assert_non_null(err);
    err = NULL;
    assert_int_equal(pprof_cidr_parse(SN("10.0.0.1\0", 9), &c, &err), -1);
    assert_non_null(err);

    /* Longer than any address: refused, not truncated into one. */
    memset(longtext, '1', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    memcpy(longtext, "10.0.0.1", 8);
    err = NULL;
    assert_int_equal(pprof_cidr_parse(S(longtext), &c, &err), -1);
    assert_non_null(err);

    /* An address followed by padding, past the internal buffer's size. */
    memset(longtext, ' ', sizeof(longtext) - 1);
    memcpy(longtext, "10.0.0.1", 8);
    err = NULL;
    assert_int_equal(pprof_cidr_parse(S(longtext), &c, &err), -1);
    assert_non_null(err);
}


static void
match_ipv4(void **state)
{
    (void) state;

    assert_true(admits("10.0.0.0/8", v4("10.0.0.0")));
    assert_true(admits("10.0.0.0/8", v4("10.255.255.255")));
    assert_false(admits("10.0.0.0/8", v4("11.0.0.0")));
    assert_false(admits("10.0.0.0/8", v4("9.255.255.255")));

    assert_true(admits("192.168.1.7", v4("192.168.1.7")));
    assert_false(admits("192.168.1.7", v4("192.168.1.6")));
    assert_true(admits("192.168.1.7/32", v4("192.168.1.7")));
    assert_false(admits("192.168.1.7/32", v4("192.168.1.8")));

    assert_true(admits("0.0.0.0/0", v4("203.0.113.9")));
    assert_true(admits("0.0.0.0/0", v4("255.255.255.255")));

    /* 10.8.0.0/13 is 10.8.0.0 .. 10.15.255.255. */
    assert_true(admits("10.8.0.0/13", v4("10.8.0.0")));
    assert_true(admits("10.8.0.0/13", v4("10.15.255.255")));
    assert_false(admits("10.8.0.0/13", v4("10.16.0.0")));
    assert_false(admits("10.8.0.0/13", v4("10.7.255.255")));
}


static void
match_ipv6(void **state)
{
    (void) state;

    assert_true(admits("2001:db8::/32", v6("2001:db8::1")));
    assert_true(admits("2001:db8::/32", v6("2001:db8:ffff:ffff::")));
    assert_false(admits("2001:db8::/32", v6("2001:db9::")));

    assert_true(admits("2001:db8::1", v6("2001:db8::1")));
    assert_false(admits("2001:db8::1", v6("2001:db8::2")));
    assert_true(admits("2001:db8::1/128", v6("2001:db8::1")));
    assert_false(admits("2001:db8::1/128", v6("2001:db8::")));

    assert_true(admits("::/0", v6("::1")));
    assert_true(admits("::/0", v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));

    /* /127 is a pair of addresses. */
    assert_true(admits("2001:db8::/127", v6("2001:db8::")));
    assert_true(admits("2001:db8::/127", v6("2001:db8::1")));
    assert_false(admits("2001:db8::/127", v6("2001:db8::2")));
}


static void
match_across_families(void **state)
{
    (void) state;

    /* A v4 rule never covers a native v6 client, and the reverse. */
    assert_false(admits("0.0.0.0/0", v6("::1")));
    assert_false(admits("0.0.0.0/0", v6("2001:db8::1")));
    assert_false(admits("::/0", v4("10.1.2.3")));
    assert_false(admits("::/0", v4("0.0.0.0")));

    /* ::ffff:10.1.2.3 is the IPv4 client 10.1.2.3 on a dual-stack socket. */
    assert_true(admits("10.0.0.0/8", v6("::ffff:10.1.2.3")));
    assert_true(admits("10.1.2.3", v6("::ffff:10.1.2.3")));
    assert_false(admits("10.0.0.0/8", v6("::ffff:11.1.2.3")));
    assert_true(admits("0.0.0.0/0", v6("::ffff:11.1.2.3")));

    /* The mapped form is still an IPv6 address for IPv6 rules. */
    assert_true(admits("::ffff:0:0/96", v6("::ffff:10.1.2.3")));
    assert_true(admits("::/0", v6("::ffff:10.1.2.3")));

    /* Only ::ffff:0:0/96 is mapped: not the deprecated ::a.b.c.d form. */
    assert_false(admits("10.0.0.0/8", v6("::10.1.2.3")));
    assert_false(admits("10.0.0.0/8", v6("::fffe:10.1.2.3")));
}


static void
match_unix_and_all(void **state)
{
    pprof_cidr_t  set[3];

    (void) state;

    parse_ok("0.0.0.0/0", &set[0]);
    parse_ok("::/0", &set[1]);
    parse_ok("all", &set[2]);

    /*
     * A unix-socket client has no address at all: the glue passes NULL,
     * which must never be read, and only "all" lets it in.
     */
    assert_false(pprof_cidr_match(set, 2, PPROF_ADDR_ANY, NULL));
    assert_true(pprof_cidr_match(set, 3, PPROF_ADDR_ANY, NULL));
    assert_true(pprof_cidr_match(&set[2], 1, PPROF_ADDR_ANY, NULL));

    assert_true(admits("all", v4("10.1.2.3")));
    assert_true(admits("all", v6("2001:db8::1")));
    assert_true(admits("all", v6("::ffff:10.1.2.3")));
}


static void
match_sets(void **state)
{
    pprof_cidr_t  set[3];
    client_t      c;

    (void) state;

    /* An empty set matches nothing: pprof_allow absent must not mean all. */
    c = v4("10.1.2.3");
    assert_false(pprof_cidr_match(NULL, 0, c.family, c.bytes));
    c = v6("::1");
    assert_false(pprof_cidr_match(NULL, 0, c.family, c.bytes));
    c = v6("::ffff:10.1.2.3");
    assert_false(pprof_cidr_match(NULL, 0, c.family, c.bytes));
    assert_false(pprof_cidr_match(NULL, 0, PPROF_ADDR_ANY, NULL));

    /* Any rule of a mixed set admits. */
    parse_ok("127.0.0.1", &set[0]);
    parse_ok("::1", &set[1]);
    parse_ok("10.8.0.0/13", &set[2]);

    c = v4("127.0.0.1");
    assert_true(pprof_cidr_match(set, 3, c.family, c.bytes));
    c = v6("::1");
    assert_true(pprof_cidr_match(set, 3, c.family, c.bytes));
    c = v4("10.9.1.1");
    assert_true(pprof_cidr_match(set, 3, c.family, c.bytes));
    c = v6("::ffff:10.9.1.1");
    assert_true(pprof_cidr_match(set, 3, c.family, c.bytes));
    c = v4("127.0.0.2");
    assert_false(pprof_cidr_match(set, 3, c.family, c.bytes));
    c = v6("::2");
    assert_false(pprof_cidr_match(set, 3, c.family, c.bytes));
    assert_false(pprof_cidr_match(set, 3, PPROF_ADDR_ANY, NULL));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(parse_ipv4),
        cmocka_unit_test(parse_ipv6),
        cmocka_unit_test(parse_all),
        cmocka_unit_test(parse_errors),
        cmocka_unit_test(match_ipv4),
        cmocka_unit_test(match_ipv6),
        cmocka_unit_test(match_across_families),
        cmocka_unit_test(match_unix_and_all),
        cmocka_unit_test(match_sets),
    };

    return cmocka_run_group_tests_name("cidr", tests, NULL, NULL);
}
