/*
 * Stage 6: query parameters as Go's net/url reads them, checked against
 * SPEC §4 and written back in one canonical form.  Nothing the client sent
 * is copied through: the canonical string is printed from parsed numbers.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"


#define PAIRS_MAX      64
#define TOKEN_MAX      32            /* longer keys and values are never ours */
#define INT_DIGITS_MAX 9
#define FRAC_DIGITS    6


typedef struct {
    unsigned char  data[TOKEN_MAX];
    size_t         len;               /* decoded length, may exceed TOKEN_MAX */
} token_t;


/* Percent- and '+'-decoding as url.QueryUnescape does; -1 on bad escapes. */
static int
decode(const unsigned char *p, size_t n, token_t *t)
{
    size_t  i;
    int     c, hi, lo;

    t->len = 0;

    for (i = 0; i < n; i++) {
        c = p[i];

        if (c == '%') {
            if (n - i < 3) {
                return -1;
            }
            hi = pprof_hex_value(p[i + 1]);
            lo = pprof_hex_value(p[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            c = hi << 4 | lo;
            i += 2;

        } else if (c == '+') {
            c = ' ';
        }

        if (t->len < TOKEN_MAX) {
            t->data[t->len] = (unsigned char) c;
        }
        t->len++;
    }

    return 0;
}


static int
token_is(const token_t *t, const char *s)
{
    size_t  n = strlen(s);

    return t->len == n && memcmp(t->data, s, n) == 0;
}


/* A plain unsigned decimal: no sign, no space, at most INT_DIGITS_MAX. */
static int
parse_uint(const token_t *t, uint64_t *v)
{
    size_t  i;

    if (t->len == 0 || t->len > INT_DIGITS_MAX) {
        return -1;
    }

    *v = 0;
    for (i = 0; i < t->len; i++) {
        if (t->data[i] < '0' || t->data[i] > '9') {
            return -1;
        }
        *v = *v * 10 + (t->data[i] - '0');
    }

    return 0;
}


/* "D+" or "D+.D{1,6}" into microseconds, for trace. */
static int
parse_decimal_us(const token_t *t, uint64_t *us)
{
    token_t   ipart;
    uint64_t  whole, frac;
    size_t    dot, i, digits;

    if (t->len > TOKEN_MAX) {
        return -1;
    }

    for (dot = 0; dot < t->len && t->data[dot] != '.'; dot++) {
        /* find the point */
    }

    ipart.len = dot;
    memcpy(ipart.data, t->data, dot);

    if (parse_uint(&ipart, &whole) != 0) {
        return -1;
    }

    frac = 0;

    if (dot < t->len) {
        digits = t->len - dot - 1;

        if (digits == 0 || digits > FRAC_DIGITS) {
            return -1;
        }

        for (i = dot + 1; i < t->len; i++) {
            if (t->data[i] < '0' || t->data[i] > '9') {
                return -1;
            }
            frac = frac * 10 + (t->data[i] - '0');
        }

        for ( ; digits < FRAC_DIGITS; digits++) {
            frac *= 10;
        }
    }

    *us = whole * 1000000 + frac;
    return 0;
}


/* Records a value, refusing a repeat that disagrees with the first. */
static int
set_once(long long *slot, long long v)
{
    if (*slot >= 0 && *slot != v) {
        return -1;
    }
    *slot = v;
    return 0;
}


typedef struct {
    long long  debug;
    long long  gc;
    long long  seconds_us;
    char      *detail;                /* the refusal's explanation, or NULL */
} seen_t;


/*
 * A refusal, explained to the client from fixed text and the location's
 * own limits: nothing the client sent is copied into it.
 */
static pprof_reason_t
refuse(seen_t *seen, const char *fmt, ...)
{
    va_list  args;

    if (seen && seen->detail) {
        va_start(args, fmt);
        vsnprintf(seen->detail, PPROF_PARAMS_DETAIL_MAX, fmt, args);
        va_end(args);
    }

    return PPROF_BAD_PARAMETER;
}


static pprof_reason_t
take(const pprof_endpoint_t *ep, const token_t *key, const token_t *val,
    unsigned max_seconds, seen_t *seen)
{
    uint64_t  v;
    int       snapshot;

    snapshot = ep->kind == PPROF_EP_HEAP || ep->kind == PPROF_EP_SNAPSHOT;

    if (token_is(key, "debug") && snapshot) {
        if (parse_uint(val, &v) != 0 || v > 2) {
            return refuse(seen, "debug must be 0, 1 or 2");
        }
        if (set_once(&seen->debug, v)) {
            return refuse(seen, "debug is given twice with different values");
        }

    } else if (token_is(key, "gc") && ep->kind == PPROF_EP_HEAP) {
        if (parse_uint(val, &v) != 0 || v > 1) {
            return refuse(seen, "gc must be 0 or 1");
        }
        if (set_once(&seen->gc, v)) {
            return refuse(seen, "gc is given twice with different values");
        }

    } else if (token_is(key, "seconds")
               && (snapshot || ep->kind == PPROF_EP_PROFILE))
    {
        if (parse_uint(val, &v) != 0 || v < 1 || v > max_seconds) {
            return refuse(seen, "seconds must be 1..%u", max_seconds);
        }
        if (set_once(&seen->seconds_us, (long long) v * 1000000)) {
            return refuse(seen, "seconds is given twice with different "
                          "values");
        }

    } else if (token_is(key, "seconds") && ep->kind == PPROF_EP_TRACE) {
        if (parse_decimal_us(val, &v) != 0 || v == 0
            || v > (uint64_t) max_seconds * 1000000)
        {
            return refuse(seen, "seconds must be 0.000001..%u", max_seconds);
        }
        if (set_once(&seen->seconds_us, (long long) v)) {
            return refuse(seen, "seconds is given twice with different "
                          "values");
        }
    }

    /* Other keys are not forwarded, so they need no verdict. */
    return PPROF_OK;
}


/*
 * Walks "k=v&k=v", decoding each side.  With ep, every pair goes through
 * take() and malformed escapes fail; without, it only notes a "seconds" key.
 */
static pprof_reason_t
walk(pprof_str_t args, const pprof_endpoint_t *ep, unsigned max_seconds,
    seen_t *seen, int *has_seconds)
{
    const unsigned char  *p, *end, *amp, *eq;
    token_t               key, val;
    size_t                pairs;
    pprof_reason_t        rc;

    p = args.data;
    end = args.data + args.len;
    pairs = 0;

    while (p < end) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        if (amp != p) {
            if (++pairs > PAIRS_MAX) {
                return refuse(seen, "at most %d query parameters",
                              PAIRS_MAX);
            }

            eq = memchr(p, '=', amp - p);
            if (eq == NULL) {
                eq = amp;
            }

            if (decode(p, eq - p, &key) != 0
                || decode(eq == amp ? eq : eq + 1,
                          eq == amp ? 0 : (size_t) (amp - eq - 1), &val) != 0)
            {
                if (ep) {
                    return refuse(seen, "the query has a malformed "
                                  "%%-escape");
                }

            } else if (ep) {
                rc = take(ep, &key, &val, max_seconds, seen);
                if (rc != PPROF_OK) {
                    return rc;
                }

            } else if (token_is(&key, "seconds")) {
                *has_seconds = 1;
            }
        }

        p = amp + 1;
    }

    return PPROF_OK;
}


int
pprof_params_has_seconds(pprof_str_t args)
{
    int   found = 0;

    (void) walk(args, NULL, 0, NULL, &found);
    return found;
}


static pprof_reason_t
check_body(const pprof_endpoint_t *ep, pprof_method_t method,
    long long body_len, seen_t *seen)
{
    if (method == PPROF_METHOD_POST && ep->kind == PPROF_EP_SYMBOL) {
        /* The limit must be known before anything is read or forwarded. */
        if (body_len < 0 || body_len > PPROF_SYMBOL_BODY_MAX) {
            return refuse(seen, "a symbol body must have a Content-Length "
                          "of at most %d bytes", PPROF_SYMBOL_BODY_MAX);
        }
        return PPROF_OK;
    }

    return body_len == 0 ? PPROF_OK
                         : refuse(seen, "this request takes no body");
}


static void
print_canonical(pprof_params_t *params)
{
    char    *p, *end;
    uint64_t frac;
    int      digits;

    p = params->canonical;
    end = params->canonical + sizeof(params->canonical);

    if (params->debug >= 0) {
        p += snprintf(p, end - p, "&debug=%d", params->debug);
    }

    if (params->gc >= 0) {
        p += snprintf(p, end - p, "&gc=%d", params->gc);
    }

    if (params->seconds_us) {
        p += snprintf(p, end - p, "&seconds=%llu",
                      (unsigned long long) (params->seconds_us / 1000000));

        frac = params->seconds_us % 1000000;
        if (frac) {
            for (digits = FRAC_DIGITS; frac % 10 == 0; digits--) {
                frac /= 10;
            }
            p += snprintf(p, end - p, ".%0*llu", digits,
                          (unsigned long long) frac);
        }
    }

    /* Drop the leading '&'; the buffer is sized for the longest form. */
    if (p > params->canonical) {
        params->canonical_len = p - params->canonical - 1;
        memmove(params->canonical, params->canonical + 1,
                params->canonical_len + 1);

    } else {
        params->canonical_len = 0;
        params->canonical[0] = '\0';
    }
}


pprof_reason_t
pprof_policy_params(const pprof_endpoint_t *ep, pprof_str_t args,
    pprof_method_t method, long long body_len, unsigned max_seconds,
    pprof_params_t *params)
{
    seen_t          seen = { -1, -1, -1, params->detail };
    pprof_reason_t  rc;

    params->detail[0] = '\0';

    if (max_seconds < 1 || max_seconds > PPROF_MAX_SECONDS_LIMIT) {
        return PPROF_INTERNAL_ERROR;
    }

    rc = check_body(ep, method, body_len, &seen);
    if (rc != PPROF_OK) {
        return rc;
    }

    rc = walk(args, ep, max_seconds, &seen, NULL);
    if (rc != PPROF_OK) {
        return rc;
    }

    /* Go refuses seconds with debug; a delta text profile does not exist. */
    if (seen.seconds_us > 0 && seen.debug > 0) {
        return refuse(&seen, "seconds cannot be combined with debug=1 or 2");
    }

    if (seen.seconds_us < 0) {
        if (ep->kind == PPROF_EP_PROFILE) {
            seen.seconds_us = (long long) (max_seconds < 30 ? max_seconds : 30)
                              * 1000000;

        } else if (ep->kind == PPROF_EP_TRACE) {
            seen.seconds_us = 1000000;
        }
    }

    params->debug = (int) seen.debug;
    params->gc = (int) seen.gc;
    params->seconds_us = seen.seconds_us > 0 ? (uint64_t) seen.seconds_us : 0;

    print_canonical(params);

    return PPROF_OK;
}
