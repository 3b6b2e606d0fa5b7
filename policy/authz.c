/*
 * The authorization service mode: the facts of a request that another
 * proxy holds, read from the headers of its check.  Who the client is
 * (X-Forwarded-For), what it asked for (the check's own path, or the
 * X-Forwarded-* or X-Original-* headers), whether its query is already
 * canonical, and the headers the answer hands back.
 *
 * The proxy forwards the client's request as it is: whatever this file
 * judges is what the target will read, so a request that could be read
 * two ways is refused rather than interpreted.
 */

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"


#define ENTRY_MAX  64                  /* longer than "[IPv6]:port" */


static int
ows(int c)
{
    return c == ' ' || c == '\t';
}


/* ":port", 1 to 65535, or nothing. */
static int
port_ok(const char *s)
{
    unsigned long  v = 0;
    size_t         n = 0;

    if (*s == '\0') {
        return 1;
    }

    if (*s++ != ':') {
        return 0;
    }

    for ( ; *s; s++, n++) {
        if (*s < '0' || *s > '9' || n == 5) {
            return 0;
        }
        v = v * 10 + (*s - '0');
    }

    return n > 0 && v >= 1 && v <= 65535;
}


/*
 * One X-Forwarded-For entry: IPv4, IPv6, "[IPv6]", each with an optional
 * ":port" (as nginx's realip reads them).  0, or -1 for anything else.
 */
static int
parse_entry(const unsigned char *p, size_t n, pprof_addr_t *a)
{
    char   buf[ENTRY_MAX], *close, *colon;

    if (n == 0 || n >= sizeof(buf) || memchr(p, '\0', n)) {
        return -1;
    }

    memcpy(buf, p, n);
    buf[n] = '\0';
    memset(a, 0, sizeof(*a));

    if (buf[0] == '[') {
        close = strchr(buf, ']');
        if (close == NULL || !port_ok(close + 1)) {
            return -1;
        }
        *close = '\0';
        a->family = PPROF_ADDR_INET6;
        return inet_pton(AF_INET6, buf + 1, a->addr) == 1 ? 0 : -1;
    }

    colon = strchr(buf, ':');

    /* Two colons or more: a bare IPv6 address, which takes no port. */
    if (colon && strchr(colon + 1, ':')) {
        a->family = PPROF_ADDR_INET6;
        return inet_pton(AF_INET6, buf, a->addr) == 1 ? 0 : -1;
    }

    if (colon) {
        if (!port_ok(colon)) {
            return -1;
        }
        *colon = '\0';
    }

    a->family = PPROF_ADDR_INET;
    return inet_pton(AF_INET, buf, a->addr) == 1 ? 0 : -1;
}


static int
trusted_addr(const pprof_addr_t *a, const pprof_cidr_t *trusted, size_t n)
{
    return a->family != PPROF_ADDR_ANY
           && pprof_cidr_match(trusted, n, a->family, a->addr);
}


pprof_reason_t
pprof_authz_client(pprof_values_t xff, const pprof_addr_t *proxy,
    const pprof_cidr_t *trusted, size_t ntrusted, pprof_addr_t *client,
    const char **detail)
{
    const unsigned char  *v, *s, *e;
    size_t                i, start, end;
    pprof_addr_t          a;

    *client = *proxy;

    /* Only what trusted proxies added is believed, from the right. */
    if (!trusted_addr(proxy, trusted, ntrusted)) {
        return PPROF_OK;
    }

    for (i = xff.n; i-- > 0; ) {
        v = xff.v[i].data;
        end = xff.v[i].len;

        for ( ;; ) {
            for (start = end; start > 0 && v[start - 1] != ','; start--) {
                /* back to the previous comma */
            }

            s = v + start;
            e = v + end;

            while (s < e && ows(*s)) {
                s++;
            }
            while (e > s && ows(e[-1])) {
                e--;
            }

            /* Empty list elements are ignored, as RFC 9110 asks. */
            if (e > s) {
                if (parse_entry(s, e - s, &a) != 0) {
                    *detail = "an X-Forwarded-For entry that decides the "
                              "client is not an IP address";
                    return PPROF_BAD_PARAMETER;
                }

                *client = a;

                if (!trusted_addr(&a, trusted, ntrusted)) {
                    return PPROF_OK;
                }
            }

            if (start == 0) {
                break;
            }

            end = start - 1;
        }
    }

    return PPROF_OK;
}


size_t
pprof_addr_text(const pprof_addr_t *a, char *buf, size_t cap)
{
    if (a->family == PPROF_ADDR_ANY
        || inet_ntop(a->family == PPROF_ADDR_INET ? AF_INET : AF_INET6,
                     a->addr, buf, cap) == NULL)
    {
        return 0;
    }

    return strlen(buf);
}


/* The one value of a header that must appear exactly once. */
static pprof_reason_t
one(pprof_values_t v, const char *missing, const char *repeated,
    pprof_str_t *out, const char **detail)
{
    if (v.n != 1) {
        *detail = v.n ? repeated : missing;
        return PPROF_BAD_PARAMETER;
    }

    *out = v.v[0];
    return PPROF_OK;
}


static int
tchar(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}


static pprof_reason_t
set_method(pprof_str_t m, pprof_authz_request_t *req, const char **detail)
{
    size_t  i;

    if (m.len == 0 || m.len > 32) {
        *detail = "the original method is not an HTTP method";
        return PPROF_BAD_PARAMETER;
    }

    for (i = 0; i < m.len; i++) {
        if (!tchar(m.data[i])) {
            *detail = "the original method is not an HTTP method";
            return PPROF_BAD_PARAMETER;
        }
    }

    /* Methods are case-sensitive: "get" is not GET, and is refused. */
    req->method_name = m;
    req->method = PPROF_METHOD_OTHER;

    if (m.len == 3 && memcmp(m.data, "GET", 3) == 0) {
        req->method = PPROF_METHOD_GET;

    } else if (m.len == 4 && memcmp(m.data, "HEAD", 4) == 0) {
        req->method = PPROF_METHOD_HEAD;

    } else if (m.len == 4 && memcmp(m.data, "POST", 4) == 0) {
        req->method = PPROF_METHOD_POST;
    }

    return PPROF_OK;
}


/*
 * The path decoded as nginx decodes $uri, refusing whatever nginx's
 * normalisation would change and whatever the target might split in
 * another place: then the decoded path is what every reader reads.
 */
static const char *
decode_path(const unsigned char *p, size_t n, unsigned char *out,
    size_t *outlen)
{
    size_t  i, seg, o;
    int     c, hi, lo;

    o = 0;
    seg = 0;                              /* where the segment began */

    for (i = 0; i < n; i++) {
        c = p[i];

        if (c == '/') {
            if (i > 0 && seg == i) {
                return "the original path holds \"//\"";
            }

            if ((i - seg == 1 && p[seg] == '.')
                || (i - seg == 2 && p[seg] == '.' && p[seg + 1] == '.'))
            {
                return "the original path holds a \".\" or \"..\" segment";
            }

            seg = i + 1;

        } else if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '#') {
            return "the original path holds a space, control, backslash, "
                   "'#' or non-ASCII byte";

        } else if (c == '%') {
            hi = i + 2 < n ? pprof_hex_value(p[i + 1]) : -1;
            lo = i + 2 < n ? pprof_hex_value(p[i + 2]) : -1;

            if (hi < 0 || lo < 0) {
                return "the original path has a malformed %-escape";
            }

            c = hi << 4 | lo;
            i += 2;

            if (c < 0x20 || c == 0x7f || strchr("/\\.%?#", c) != NULL) {
                return "the original path encodes '/', '\\', '.', '%', '?', "
                       "'#' or a control byte, which readers split or decode "
                       "differently";
            }
        }

        out[o++] = (unsigned char) c;
    }

    if ((n - seg == 1 && p[seg] == '.')
        || (n - seg == 2 && p[seg] == '.' && p[seg + 1] == '.'))
    {
        return "the original path holds a \".\" or \"..\" segment";
    }

    *outlen = o;
    return NULL;
}


/* "/path?query" into the request. */
static pprof_reason_t
origin_form(pprof_str_t target, pprof_authz_request_t *req,
    const char **detail)
{
    const unsigned char  *q;
    size_t                plen;

    if (target.len == 0 || target.data[0] != '/') {
        *detail = "the original URI is not an absolute path";
        return PPROF_BAD_PARAMETER;
    }

    if (target.len > PPROF_AUTHZ_URI_MAX) {
        *detail = "the original URI is too long";
        return PPROF_BAD_PARAMETER;
    }

    q = memchr(target.data, '?', target.len);
    plen = q ? (size_t) (q - target.data) : target.len;

    /* Never NULL: stage 6 does pointer arithmetic on it. */
    req->query.data = q ? q + 1 : target.data + target.len;
    req->query.len = q ? target.len - plen - 1 : 0;

    *detail = decode_path(target.data, plen, req->path, &req->path_len);

    return *detail ? PPROF_BAD_PARAMETER : PPROF_OK;
}


/*
 * X-Original-URL: "http[s]://authority/path?query".  The authority is
 * ignored, but must be one: a '\' or other byte that some URL parsers
 * read as the start of the path is refused.
 */
static pprof_reason_t
url_origin(pprof_str_t url, pprof_str_t *origin, const char **detail)
{
    size_t  i, skip;

    skip = pprof_ascii_starts_ci(url, "https://") ? 8 : pprof_ascii_starts_ci(url, "http://") ? 7 : 0;

    if (skip == 0) {
        *detail = "X-Original-URL is not an absolute http or https URL";
        return PPROF_BAD_PARAMETER;
    }

    for (i = skip; i < url.len && url.data[i] != '/'; i++) {
        if (!(tchar(url.data[i]) || strchr(":@[]()", url.data[i]) != NULL)
            || url.data[i] == '%' || url.data[i] == '#')
        {
            *detail = "X-Original-URL has a malformed host";
            return PPROF_BAD_PARAMETER;
        }
    }

    if (i == skip || i == url.len) {
        *detail = "X-Original-URL names no host or no path";
        return PPROF_BAD_PARAMETER;
    }

    origin->data = url.data + i;
    origin->len = url.len - i;
    return PPROF_OK;
}


pprof_reason_t
pprof_authz_request(pprof_authz_mode_t mode, pprof_str_t prefix,
    const pprof_authz_check_t *check, pprof_authz_request_t *req,
    const char **detail)
{
    pprof_str_t     method, target, uri;
    pprof_reason_t  rc;

    memset(req, 0, sizeof(*req));
    *detail = NULL;

    switch (mode) {

    case PPROF_AUTHZ_ENVOY:
        method = check->method;
        target = check->target;

        if (target.len < prefix.len
            || (prefix.len
                && memcmp(target.data, prefix.data, prefix.len) != 0)
            || target.len == prefix.len || target.data[prefix.len] != '/')
        {
            *detail = "the check's path does not start with "
                      "pprof_authz_prefix and a '/'";
            return PPROF_UNKNOWN_ENDPOINT;
        }

        target.data += prefix.len;
        target.len -= prefix.len;
        break;

    case PPROF_AUTHZ_FORWARD:
        rc = one(check->forwarded_method, "X-Forwarded-Method is missing",
                 "X-Forwarded-Method is repeated", &method, detail);
        if (rc != PPROF_OK) {
            return rc;
        }

        rc = one(check->forwarded_uri, "X-Forwarded-Uri is missing",
                 "X-Forwarded-Uri is repeated", &target, detail);
        if (rc != PPROF_OK) {
            return rc;
        }
        break;

    case PPROF_AUTHZ_ORIGINAL:
        rc = one(check->original_method, "X-Original-Method is missing",
                 "X-Original-Method is repeated", &method, detail);
        if (rc != PPROF_OK) {
            return rc;
        }

        if (check->original_url.n > 1 || check->original_uri.n > 1) {
            *detail = "X-Original-URL or X-Original-URI is repeated";
            return PPROF_BAD_PARAMETER;
        }

        if (check->original_url.n == 0 && check->original_uri.n == 0) {
            *detail = "X-Original-URL and X-Original-URI are missing";
            return PPROF_BAD_PARAMETER;
        }

        if (check->original_url.n == 0) {
            target = check->original_uri.v[0];
            break;
        }

        rc = url_origin(check->original_url.v[0], &target, detail);
        if (rc != PPROF_OK) {
            return rc;
        }

        /* Both sent: they must name one request, or neither counts. */
        if (check->original_uri.n) {
            uri = check->original_uri.v[0];

            if (uri.len != target.len
                || memcmp(uri.data, target.data, uri.len) != 0)
            {
                *detail = "X-Original-URL and X-Original-URI disagree";
                return PPROF_BAD_PARAMETER;
            }
        }
        break;

    default:
        *detail = "unknown authorization mode";
        return PPROF_INTERNAL_ERROR;
    }

    rc = set_method(method, req, detail);
    if (rc == PPROF_OK) {
        rc = origin_form(target, req, detail);
    }

    /* Envoy sends its checks without a body; a body is not ours to read. */
    if (rc == PPROF_OK && check->body) {
        *detail = "a check request carries no body";
        rc = PPROF_BAD_PARAMETER;
    }

    return rc;
}


/* Only one "https" counts: a list may hold a client's own word. */
int
pprof_authz_https(pprof_values_t proto)
{
    return proto.n == 1 && pprof_ascii_equal_ci(proto.v[0], "https");
}


pprof_reason_t
pprof_authz_params(const pprof_endpoint_t *ep, pprof_str_t query,
    pprof_method_t method, long long body_len, unsigned max_seconds,
    pprof_params_t *params, char *detail, size_t cap)
{
    pprof_reason_t  rc;
    int             implicit;

    if (cap) {
        detail[0] = '\0';
    }

    rc = pprof_policy_params(ep, query, method, body_len, max_seconds,
                             params);
    if (rc != PPROF_OK) {
        snprintf(detail, cap, "%s", params->detail);
        return rc;
    }

    /* The proxy sends no seconds on: Go then captures its own default. */
    implicit = (ep->kind == PPROF_EP_PROFILE || ep->kind == PPROF_EP_TRACE)
               && !pprof_params_has_seconds(query);

    if (implicit && ep->kind == PPROF_EP_PROFILE && max_seconds < 30) {
        snprintf(detail, cap, "profile without seconds runs Go's 30 s, over "
                 "the limit: send seconds=%u or fewer", max_seconds);
        return PPROF_BAD_PARAMETER;
    }

    if ((implicit && query.len == 0)
        || (query.len == params->canonical_len
            && memcmp(query.data, params->canonical, query.len) == 0))
    {
        return PPROF_OK;
    }

    if (params->canonical_len) {
        snprintf(detail, cap, "the query must be canonical: %s",
                 params->canonical);

    } else {
        snprintf(detail, cap, "this endpoint takes no query");
    }

    return PPROF_BAD_PARAMETER;
}


static int
unreserved(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || (c && strchr("-._~:/@", c));
}


int
pprof_authz_identity_header(pprof_str_t identity, char *buf, size_t cap,
    size_t *len)
{
    static const char  digits[] = "0123456789ABCDEF";

    size_t  i, o;

    for (i = 0, o = 0; i < identity.len; i++) {
        if (o + (unreserved(identity.data[i]) ? 1 : 3) + 1 > cap) {
            return -1;
        }

        if (unreserved(identity.data[i])) {
            buf[o++] = (char) identity.data[i];

        } else {
            buf[o++] = '%';
            buf[o++] = digits[identity.data[i] >> 4];
            buf[o++] = digits[identity.data[i] & 0xf];
        }
    }

    if (o + 1 > cap) {
        return -1;
    }

    buf[o] = '\0';
    *len = o;
    return 0;
}


int
pprof_authz_roles_header(const pprof_str_t *roles, size_t n, char *buf,
    size_t cap, size_t *len)
{
    size_t  i, o;

    for (i = 0, o = 0; i < n; i++) {
        /* A comma or space would split a role in two for the reader. */
        if (!pprof_role_name_valid(roles[i])
            || o + (i > 0) + roles[i].len + 1 > cap)
        {
            return -1;
        }

        if (i > 0) {
            buf[o++] = ',';
        }

        memcpy(buf + o, roles[i].data, roles[i].len);
        o += roles[i].len;
    }

    if (o + 1 > cap) {
        return -1;
    }

    buf[o] = '\0';
    *len = o;
    return 0;
}


int
pprof_authz_status(pprof_authz_mode_t mode, pprof_reason_t reason)
{
    int  status;

    status = pprof_reason_status(reason);

    if (mode == PPROF_AUTHZ_ORIGINAL && status != 401) {
        return 403;
    }

    return status;
}
