/*
 * Stage 2's 308 for pprof_tls redirect: where it may point.  A Location is
 * built only from a name the module can vouch for and the canonical request.
 * The request target as sent is never copied: "//evil.example/../x" and a
 * Host of "good@evil.example" would otherwise send a browser to another
 * site.
 */

#include <arpa/inet.h>
#include <string.h>

#include "policy.h"


#define HOST_MAX   253               /* a DNS name's longest text form */
#define LABEL_MAX  63
#define IP_TEXT    64                /* longer than any IPv6 literal */


static int
is_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9');
}


static int
is_digits(const unsigned char *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }
    }

    return n > 0;
}


static int
address_valid(int family, const unsigned char *p, size_t n)
{
    char           text[IP_TEXT];
    unsigned char  addr[16];

    if (n == 0 || n >= sizeof(text)) {
        return 0;
    }

    memcpy(text, p, n);
    text[n] = '\0';

    return inet_pton(family, text, addr) == 1;
}


/*
 * A label that a URL parser reads as a number ("1", "0x7f") turns the whole
 * name into an IPv4 address in browsers ("127.1" is 127.0.0.1): such a
 * name is accepted only as a plain dotted quad.
 */
static int
numeric_label(const unsigned char *p, size_t n)
{
    size_t  i;

    if (n > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        for (i = 2; i < n; i++) {
            if (!((p[i] >= '0' && p[i] <= '9')
                  || ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'f')))
            {
                return 0;
            }
        }

        return 1;
    }

    return is_digits(p, n);
}


/* DNS labels of letters, digits and inner hyphens, or a dotted quad. */
static int
name_valid(const unsigned char *p, size_t n)
{
    size_t  i, start;

    if (n == 0 || n > HOST_MAX) {
        return 0;
    }

    start = 0;

    for (i = 0; i <= n; i++) {
        if (i < n && p[i] != '.') {
            if (!is_alnum(p[i]) && p[i] != '-') {
                return 0;
            }
            continue;
        }

        if (i == start || i - start > LABEL_MAX
            || p[start] == '-' || p[i - 1] == '-')
        {
            return 0;
        }

        if (i == n && numeric_label(p + start, i - start)) {
            return address_valid(AF_INET, p, n);
        }

        start = i + 1;
    }

    return 1;
}


int
pprof_host_valid(pprof_str_t text, int port, size_t *hostlen)
{
    const unsigned char  *p, *end, *colon;
    unsigned long         v;
    size_t                n;

    p = text.data;
    end = text.data + text.len;

    if (text.len == 0) {
        return 0;
    }

    if (p[0] == '[') {
        colon = memchr(p, ']', text.len);
        if (colon == NULL || !address_valid(AF_INET6, p + 1, colon - p - 1)) {
            return 0;
        }

        n = colon + 1 - p;
        colon = (n < text.len) ? colon + 1 : NULL;

        if (colon && *colon != ':') {
            return 0;
        }

    } else {
        colon = memchr(p, ':', text.len);
        n = colon ? (size_t) (colon - p) : text.len;

        if (!name_valid(p, n)) {
            return 0;
        }
    }

    if (colon) {
        if (!port || !is_digits(colon + 1, end - colon - 1)
            || end - colon - 1 > 5)
        {
            return 0;
        }

        for (v = 0, p = colon + 1; p < end; p++) {
            v = v * 10 + (*p - '0');
        }

        if (v == 0 || v > 65535) {
            return 0;
        }
    }

    *hostlen = n;
    return 1;
}


/*
 * Bytes that stand for themselves in a path: RFC 3986's unreserved and
 * sub-delims, ':' and '@', and '/' where segments are joined.  The rest,
 * '%', '?', '#' and '\' among them, are percent-encoded, so that the path
 * the client is sent to decodes to the one that was classified.
 */
static char *
path_put(char *out, const unsigned char *p, size_t n, int slash)
{
    static const char  hex[] = "0123456789ABCDEF";

    size_t  i;

    for (i = 0; i < n; i++) {
        if (is_alnum(p[i]) || (slash && p[i] == '/')
            || (p[i] != '\0' && strchr("-._~!$&'()*+,;=:@", p[i]) != NULL))
        {
            *out++ = (char) p[i];
            continue;
        }

        *out++ = '%';
        *out++ = hex[p[i] >> 4];
        *out++ = hex[p[i] & 0x0f];
    }

    return out;
}


/*
 * Stage 2 runs before stage 6, so the parameters are judged here for the
 * Location alone.  Only GET and HEAD are redirected, and both take the
 * same parameters.
 */
size_t
pprof_redirect_location(pprof_str_t server_name, pprof_str_t host,
    pprof_str_t prefix, const pprof_endpoint_t *ep, pprof_str_t args,
    long long body_len, unsigned max_seconds, char *location, size_t cap)
{
    char            *p;
    size_t           n, need;
    pprof_params_t   params;

    /*
     * A redirect that dropped a bad parameter would run another request
     * than the one asked for ("profile?seconds=abc" as a 30 s capture).
     */
    if (pprof_policy_params(ep, args, PPROF_METHOD_GET, body_len, max_seconds,
                            &params)
        != PPROF_OK)
    {
        return 0;
    }

    /* server_name may be "", "_", "*.example.com" or "~regex": none names. */
    if (pprof_host_valid(server_name, 0, &n)) {
        host = server_name;

    } else if (!pprof_host_valid(host, 1, &n)) {
        return 0;
    }

    need = sizeof("https://") - 1 + n + 3 * (prefix.len + ep->name.len)
           + 1 + params.canonical_len;

    if (need > cap) {
        return 0;
    }

    p = location;
    memcpy(p, "https://", sizeof("https://") - 1);
    p += sizeof("https://") - 1;
    memcpy(p, host.data, n);
    p += n;
    p = path_put(p, prefix.data, prefix.len, 1);
    p = path_put(p, ep->name.data, ep->name.len, 0);

    if (params.canonical_len) {
        *p++ = '?';
        memcpy(p, params.canonical, params.canonical_len);
        p += params.canonical_len;
    }

    return p - location;
}
