/*
 * The xfcc source: an identity from the X-Forwarded-Client-Cert header
 * that an Envoy-style proxy sets after verifying the client's certificate.
 *
 * The header is a comma-separated list of elements, one per proxy, the
 * nearest proxy's last.  An element is ';'-separated key=value pairs; a
 * value holding ',', ';' or '=' is double-quoted, with \" and \\ escaped.
 * Only the last element is believed: the proxy that reached us vouches for
 * the certificate it saw itself, not for what earlier hops wrote.
 *
 * The whole header must parse, every element of it: a header that two
 * readers could split differently is refused, not interpreted.
 */

#include <string.h>

#include "auth_source.h"


#define SUBJECT_MAX  4096            /* a DN longer than this is refused */


typedef struct {
    const unsigned char  *p;         /* raw, between the quotes if quoted */
    size_t                n;
    int                   quoted;
} value_t;

typedef struct {
    value_t  uri;                    /* the first non-empty of each */
    value_t  dns;
    value_t  subject;
    int      subjects;
} element_t;


static int
key_is(const unsigned char *p, size_t n, const char *key)
{
    pprof_str_t  s;

    s.data = p;
    s.len = n;

    return pprof_ascii_equal_ci(s, key);
}


static int
ows(int c)
{
    return c == ' ' || c == '\t';
}


static int
key_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '-' || c == '_';
}


/* A quoted value from just past its opening quote; *p ends past the close. */
static const char *
scan_quoted(const unsigned char **p, const unsigned char *end, value_t *v)
{
    const unsigned char  *q = *p;

    v->p = q;
    v->quoted = 1;

    while (q < end) {
        if (*q < 0x20 || *q == 0x7f) {
            return "X-Forwarded-Client-Cert holds a control character";
        }

        if (*q == '"') {
            v->n = q - v->p;
            *p = q + 1;
            return NULL;
        }

        /* \" and \\ are escapes; any other backslash stands for itself. */
        if (*q == '\\' && q + 1 < end && (q[1] == '"' || q[1] == '\\')) {
            q++;
        }

        q++;
    }

    return "X-Forwarded-Client-Cert has an unbalanced quote";
}


static const char *
scan_plain(const unsigned char **p, const unsigned char *end, value_t *v)
{
    const unsigned char  *q = *p;

    v->p = q;
    v->quoted = 0;

    for ( ; q < end && *q != ';' && *q != ','; q++) {
        if (*q < 0x20 || *q == 0x7f) {
            return "X-Forwarded-Client-Cert holds a control character";
        }

        if (*q == '"' || *q == '\\' || *q == '=') {
            return "X-Forwarded-Client-Cert has an unquoted value holding "
                   "'\"', '\\' or '='";
        }
    }

    v->n = q - v->p;

    while (v->n && ows(v->p[v->n - 1])) {
        v->n--;
    }

    *p = q;
    return NULL;
}


/* One element, up to the ',' that ends it or the end of the line. */
static const char *
parse_element(const unsigned char **pp, const unsigned char *end,
    element_t *el)
{
    const unsigned char  *p = *pp, *key;
    size_t                keylen;
    value_t               v;
    const char           *err;

    memset(el, 0, sizeof(*el));

    for ( ;; ) {
        while (p < end && ows(*p)) {
            p++;
        }

        for (key = p; p < end && key_char(*p); p++) {
            /* the key */
        }

        keylen = p - key;

        if (keylen == 0 || p == end || *p != '=') {
            return (p == end || *p == ',') && keylen == 0
                   ? "X-Forwarded-Client-Cert has an empty element or pair"
                   : "X-Forwarded-Client-Cert has a pair that is not "
                     "key=value";
        }

        p++;

        if (p < end && *p == '"') {
            p++;
            err = scan_quoted(&p, end, &v);

            while (err == NULL && p < end && ows(*p)) {
                p++;
            }

            if (err == NULL && p < end && *p != ';' && *p != ',') {
                err = "X-Forwarded-Client-Cert has text after a quoted value";
            }

        } else {
            err = scan_plain(&p, end, &v);
        }

        if (err) {
            return err;
        }

        /* Envoy writes "URI=" for a certificate without one: not a name. */
        if (key_is(key, keylen, "uri")) {
            if (el->uri.p == NULL && v.n) {
                el->uri = v;
            }

        } else if (key_is(key, keylen, "dns")) {
            if (el->dns.p == NULL && v.n) {
                el->dns = v;
            }

        } else if (key_is(key, keylen, "subject")) {
            el->subject = v;
            el->subjects++;
        }

        if (p == end || *p == ',') {
            break;
        }

        p++;                                   /* the ';' */
    }

    if (el->subjects > 1) {
        return "X-Forwarded-Client-Cert element has more than one Subject";
    }

    if (el->uri.p == NULL && el->dns.p == NULL && el->subjects == 0) {
        return "X-Forwarded-Client-Cert element names no URI, DNS or Subject";
    }

    *pp = p;
    return NULL;
}


/*
 * A quoted URI or DNS value without its escapes, into out (capacity cap);
 * returns the whole length, which may exceed cap, or -1 on a stray '\'.
 */
static long
unescape(const value_t *v, unsigned char *out, size_t cap)
{
    size_t  i, n;

    for (i = 0, n = 0; i < v->n; i++, n++) {
        if (v->quoted && v->p[i] == '\\') {
            if (i + 1 == v->n || (v->p[i + 1] != '"' && v->p[i + 1] != '\\')) {
                return -1;
            }
            i++;
        }

        if (n < cap) {
            out[n] = v->p[i];
        }
    }

    return (long) n;
}


/*
 * The CN of an RFC 4514 DN, as OpenSSL prints it for Envoy: RDNs separated
 * by ',', multi-valued ones by '+', values with \X and \HH escapes.  The
 * raw quoted text is the DN itself (Envoy quotes it without escaping, and
 * its \" and \\ are the DN's own).  Decoded into out (capacity cap).
 */
static const char *
subject_cn(const value_t *v, unsigned char *out, size_t cap, size_t *outlen)
{
    const unsigned char  *p = v->p, *end = v->p + v->n, *type;
    size_t                typelen, n;
    int                   cn, found, c, hi, lo;

    if (v->n > SUBJECT_MAX) {
        return "X-Forwarded-Client-Cert Subject is too long";
    }

    found = 0;

    while (p < end) {
        while (p < end && *p == ' ') {
            p++;
        }

        for (type = p; p < end && (key_char(*p) || *p == '.'); p++) {
            /* the attribute type: a keyword or a dotted OID */
        }

        typelen = p - type;

        if (typelen == 0 || p == end || *p != '=') {
            return "X-Forwarded-Client-Cert Subject is not an RFC 4514 DN";
        }

        p++;

        cn = key_is(type, typelen, "cn") || key_is(type, typelen, "2.5.4.3");

        if (cn && found) {
            /* Which CN the CA meant is a guess we refuse to make. */
            return "X-Forwarded-Client-Cert Subject has more than one CN";
        }

        if (cn && p < end && *p == '#') {
            return "X-Forwarded-Client-Cert Subject CN is hex-encoded";
        }

        found |= cn;
        n = 0;

        while (p < end && *p != ',' && *p != '+') {
            c = *p++;

            if (c == ';') {
                /* A separator to RFC 2253 readers, text to RFC 4514 ones. */
                return "X-Forwarded-Client-Cert Subject holds an unescaped "
                       "';'";
            }

            if (c == '\\') {
                if (p == end) {
                    return "X-Forwarded-Client-Cert Subject has a bad escape";
                }

                if (strchr(",+\"\\<>;=# ", *p) != NULL) {
                    c = *p++;

                } else {
                    hi = pprof_hex_value(*p);
                    lo = p + 1 < end ? pprof_hex_value(p[1]) : -1;

                    if (hi < 0 || lo < 0) {
                        return "X-Forwarded-Client-Cert Subject has a bad "
                               "escape";
                    }

                    c = hi << 4 | lo;
                    p += 2;
                }
            }

            if (cn) {
                if (n < cap) {
                    out[n] = (unsigned char) c;
                }
                n++;
            }
        }

        if (cn) {
            *outlen = n;
        }

        if (p < end) {
            p++;                               /* ',' or '+' */

            if (p == end) {
                return "X-Forwarded-Client-Cert Subject is not an RFC 4514 "
                       "DN";
            }
        }
    }

    if (!found) {
        return "X-Forwarded-Client-Cert names no URI, DNS or CN";
    }

    return NULL;
}


static void
invalid(pprof_auth_result_t *result, const char *detail)
{
    result->reason = PPROF_INVALID_CREDENTIAL;
    result->detail = detail;
}


/* The identity of the nearest proxy's element. */
static void
identify(const element_t *el, pprof_auth_result_t *result)
{
    unsigned char  buf[SUBJECT_MAX];
    long           n;
    size_t         len;
    const char    *err;

    if (el->uri.p || el->dns.p) {
        n = unescape(el->uri.p ? &el->uri : &el->dns, buf, sizeof(buf));

        if (n < 0) {
            invalid(result, "X-Forwarded-Client-Cert has a bad escape");
            return;
        }

        if (el->uri.p == NULL
            && !pprof_auth_name_valid(buf, (size_t) n < sizeof(buf)
                                           ? (size_t) n : sizeof(buf), 1))
        {
            invalid(result, "X-Forwarded-Client-Cert DNS is not a DNS name");
            return;
        }

        /* Cut at the buffer, it is still longer than any identity. */
        len = (size_t) n < sizeof(buf) ? (size_t) n : sizeof(buf);
        (void) pprof_auth_set_identity(result, buf, len, 1);
        return;
    }

    len = 0;
    err = subject_cn(&el->subject, buf, sizeof(buf), &len);

    if (err) {
        invalid(result, err);
        return;
    }

    if (len > sizeof(buf)) {
        len = sizeof(buf);
    }

    if (!pprof_auth_name_valid(buf, len, 0)) {
        invalid(result, "X-Forwarded-Client-Cert CN looks like a URI; only "
                        "a URI names one");
        return;
    }

    (void) pprof_auth_set_identity(result, buf, len, 0);
}


void
pprof_auth_xfcc(const pprof_auth_input_t *input, pprof_auth_result_t *result)
{
    size_t                i, total;
    element_t             el;
    const unsigned char  *p, *end;
    const char           *err;

    if (!input->xfcc_trusted || input->nxfcc == 0) {
        result->reason = PPROF_UNAUTHENTICATED;
        return;
    }

    for (i = 0, total = 0; i < input->nxfcc; i++) {
        total += input->xfcc[i].len;
    }

    if (total > PPROF_XFCC_MAX) {
        invalid(result, "X-Forwarded-Client-Cert is too long");
        return;
    }

    /* Lines are joined with ',': each holds whole elements. */
    for (i = 0; i < input->nxfcc; i++) {
        p = input->xfcc[i].data;
        end = p + input->xfcc[i].len;

        for ( ;; ) {
            err = parse_element(&p, end, &el);

            if (err) {
                invalid(result, err);
                return;
            }

            if (p == end) {
                break;
            }

            p++;                               /* the ',' */
        }
    }

    identify(&el, result);
}
