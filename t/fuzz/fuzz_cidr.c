/*
 * CIDR parsing and matching (policy/cidr.c), stage 3.
 *
 * Input: the text as a length byte and its bytes (what pprof_allow is
 * given), then 16 address bytes.  Asserts that a parsed CIDR has a
 * contiguous mask, no host bits, and nothing beyond its family's size;
 * that printing it back and parsing again gives the same CIDR; and that
 * matching an address agrees with the mask, an IPv4-mapped IPv6 address
 * matching as its IPv4 address does.
 */

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    return 0;
}


/* The prefix length of a contiguous mask, -1 if it is not one. */
static int
mask_bits(const unsigned char *mask, size_t size)
{
    size_t  i;
    int     bits = 0, ended = 0;
    unsigned char  m;

    for (i = 0; i < size; i++) {
        for (m = 0x80; m; m >>= 1) {
            if (mask[i] & m) {
                if (ended) {
                    return -1;
                }
                bits++;
            } else {
                ended = 1;
            }
        }
    }

    return bits;
}


static int
expect_match(const pprof_cidr_t *c, const unsigned char *addr, size_t size)
{
    size_t  i;

    for (i = 0; i < size; i++) {
        if ((addr[i] & c->mask[i]) != c->addr[i]) {
            return 0;
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t                 in = { data, size };
    pprof_cidr_t         c, again;
    pprof_str_t          text, addr;
    const char          *err = NULL;
    unsigned char        a[16], mapped[16];
    char                 buf[INET6_ADDRSTRLEN + 8];
    size_t               n, i;
    int                  rc, bits, want;

    text = fz_field(&in);
    addr = fz_bytes(&in, 16);
    memset(a, 0, sizeof(a));
    memcpy(a, addr.data, addr.len);

    rc = pprof_cidr_parse(text, &c, &err);

    if (rc != 0) {
        FZ_CHECK(rc == -1 && err != NULL);
        return 0;
    }

    if (c.family == PPROF_ADDR_ANY) {
        FZ_CHECK(fz_str_is(text, "all"));
        FZ_CHECK(pprof_cidr_match(&c, 1, PPROF_ADDR_INET, a) == 1);
        FZ_CHECK(pprof_cidr_match(&c, 1, PPROF_ADDR_INET6, a) == 1);
        FZ_CHECK(pprof_cidr_match(&c, 1, PPROF_ADDR_ANY, a) == 1);
        return 0;
    }

    FZ_CHECK(c.family == PPROF_ADDR_INET || c.family == PPROF_ADDR_INET6);

    n = c.family == PPROF_ADDR_INET ? 4 : 16;
    bits = mask_bits(c.mask, n);
    FZ_CHECK(bits >= 0);

    for (i = 0; i < 16; i++) {
        FZ_CHECK((c.addr[i] & ~c.mask[i]) == 0);
        FZ_CHECK(i < n || (c.addr[i] == 0 && c.mask[i] == 0));
    }

    /* Printed back, it reads as itself. */
    FZ_CHECK(inet_ntop(n == 4 ? AF_INET : AF_INET6, c.addr, buf,
                       INET6_ADDRSTRLEN) != NULL);
    snprintf(buf + strlen(buf), 8, "/%d", bits);

    text.data = (const unsigned char *) buf;
    text.len = strlen(buf);
    FZ_CHECK(pprof_cidr_parse(text, &again, &err) == 0);
    FZ_CHECK(memcmp(&again, &c, sizeof(c)) == 0);

    want = expect_match(&c, a, n);
    FZ_CHECK(pprof_cidr_match(&c, 1, c.family, a) == want);
    FZ_CHECK(pprof_cidr_match(&c, 1, PPROF_ADDR_ANY, a) == 0);

    if (c.family == PPROF_ADDR_INET) {
        memset(mapped, 0, 10);
        mapped[10] = 0xff;
        mapped[11] = 0xff;
        memcpy(mapped + 12, a, 4);
        FZ_CHECK(pprof_cidr_match(&c, 1, PPROF_ADDR_INET6, mapped) == want);
        FZ_CHECK(pprof_cidr_match(&c, 1, PPROF_ADDR_INET6, a)
                 == (memcmp(a, mapped, 12) == 0 && expect_match(&c, a + 12, 4)));
    }

    return 0;
}
