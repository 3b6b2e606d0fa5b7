/*
 * Stage 3: client address against IPv4 and IPv6 CIDR sets.
 */

#include <arpa/inet.h>
#include <string.h>

#include "policy.h"


#define TEXT_MAX  64                 /* longer than any IPv6 CIDR */


static int
parse_bits(const char *s, unsigned max, unsigned *bits)
{
    unsigned  v = 0;

    if (*s == '\0' || strlen(s) > 3) {
        return -1;
    }

    for ( ; *s; s++) {
        if (*s < '0' || *s > '9') {
            return -1;
        }
        v = v * 10 + (*s - '0');
    }

    if (v > max) {
        return -1;
    }

    *bits = v;
    return 0;
}


int
pprof_cidr_parse(pprof_str_t text, pprof_cidr_t *cidr, const char **err)
{
    char      buf[TEXT_MAX];
    char     *slash;
    unsigned  bits, size, i;

    memset(cidr, 0, sizeof(*cidr));

    if (text.len == 3 && memcmp(text.data, "all", 3) == 0) {
        cidr->family = PPROF_ADDR_ANY;
        return 0;
    }

    if (text.len == 0 || text.len >= sizeof(buf)
        || memchr(text.data, '\0', text.len))
    {
        *err = "is not an address";
        return -1;
    }

    memcpy(buf, text.data, text.len);
    buf[text.len] = '\0';

    slash = strchr(buf, '/');
    if (slash) {
        *slash++ = '\0';
    }

    if (inet_pton(AF_INET, buf, cidr->addr) == 1) {
        cidr->family = PPROF_ADDR_INET;
        size = 4;

    } else if (inet_pton(AF_INET6, buf, cidr->addr) == 1) {
        cidr->family = PPROF_ADDR_INET6;
        size = 16;

    } else {
        *err = "is not an IPv4 or IPv6 address";
        return -1;
    }

    bits = size * 8;

    if (slash && parse_bits(slash, size * 8, &bits) != 0) {
        *err = "has an invalid prefix length";
        return -1;
    }

    for (i = 0; i < size; i++) {
        if (bits >= 8) {
            cidr->mask[i] = 0xff;
            bits -= 8;

        } else {
            cidr->mask[i] = (unsigned char) (0xff00 >> bits);
            bits = 0;
        }

        /* 10.0.0.1/8 is ambiguous: the operator meant /32 or 10.0.0.0/8. */
        if (cidr->addr[i] & ~cidr->mask[i]) {
            *err = "has host bits set beyond its prefix length";
            return -1;
        }
    }

    return 0;
}


static int
match_one(const pprof_cidr_t *c, const unsigned char *addr, size_t size)
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
pprof_cidr_match(const pprof_cidr_t *set, size_t n,
    pprof_addr_family_t family, const unsigned char *addr)
{
    static const unsigned char  v4mapped[12] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
    };

    size_t  i;

    /* ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket. */
    if (family == PPROF_ADDR_INET6 && memcmp(addr, v4mapped, 12) == 0) {
        if (pprof_cidr_match(set, n, PPROF_ADDR_INET, addr + 12)) {
            return 1;
        }
    }

    for (i = 0; i < n; i++) {
        if (set[i].family == PPROF_ADDR_ANY) {
            return 1;
        }

        if (set[i].family != family || family == PPROF_ADDR_ANY) {
            continue;
        }

        if (match_one(&set[i], addr,
                      family == PPROF_ADDR_INET ? 4 : 16))
        {
            return 1;
        }
    }

    return 0;
}
