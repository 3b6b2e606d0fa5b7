/*
 * Audit records (SPEC §8): each record is one line of JSON whose last
 * member, prev, is the SHA-256 of the line before it, so that a line cannot
 * be edited, dropped or moved without breaking the chain; checkpoints sign
 * the chain's head with Ed25519, so that it cannot be rewritten wholesale
 * by someone who can write the file but does not hold the key.
 *
 * Strings are escaped so that the line is always valid JSON whatever the
 * bytes: quote and backslash as \" and \\, control characters (0x00-0x1f
 * and 0x7f) as \u00XX, valid UTF-8 as is, and every byte that is not part
 * of a valid UTF-8 sequence (stray continuation bytes, overlong forms,
 * surrogates, code points above U+10FFFF, cut sequences) as \u00XX of that
 * byte.  The byte value survives for forensics; the price is that \u00e9
 * decodes like a real "é", so a reader who must tell them apart looks at
 * the raw line, where they differ.
 */

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "proxy.h"
#include "text.h"


/* The longest line without its newline: line and newline fit LINE_MAX. */
#define LINE_LEN_MAX    (PPROF_AUDIT_LINE_MAX - 1)

/* 9999-12-31T23:59:59Z + 1 s: the last second RFC 3339 can write. */
#define TS_SECONDS_MAX   253402300800ULL



static const char  hex_digits[] = "0123456789abcdef";


static void
put_lit(pprof_text_t *o, const char *s)
{
    pprof_text_put(o, s, strlen(s));
}


static void
put_num(pprof_text_t *o, uint64_t n)
{
    char  digits[24];
    int   len;

    len = snprintf(digits, sizeof(digits), "%llu", (unsigned long long) n);
    pprof_text_put(o, digits, (size_t) len);
}


/* The length of the valid UTF-8 sequence at p (RFC 3629), 0 if none. */
static size_t
utf8_len(const unsigned char *p, size_t left)
{
    unsigned char  lo = 0x80, hi = 0xbf;
    size_t         n, i;

    if (p[0] < 0x80) {
        return 1;
    }

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;

    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        if (p[0] == 0xe0) {
            lo = 0xa0;              /* overlong */
        } else if (p[0] == 0xed) {
            hi = 0x9f;              /* surrogates */
        }

    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        if (p[0] == 0xf0) {
            lo = 0x90;              /* overlong */
        } else if (p[0] == 0xf4) {
            hi = 0x8f;              /* above U+10FFFF */
        }

    } else {
        return 0;                   /* continuation, C0, C1, F5-FF */
    }

    if (left < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


static void
put_escaped_byte(pprof_text_t *o, unsigned char c)
{
    char  esc[6] = { '\\', 'u', '0', '0', hex_digits[c >> 4],
                     hex_digits[c & 0x0f] };

    pprof_text_put(o, esc, sizeof(esc));
}


static void
put_str(pprof_text_t *o, pprof_str_t s)
{
    const unsigned char  *p = s.data, *end = s.data + s.len;
    size_t                n;

    pprof_text_put(o, "\"", 1);

    while (p < end) {
        if (*p == '"' || *p == '\\') {
            pprof_text_put(o, "\\", 1);
            pprof_text_put(o, p, 1);
            p++;

        } else if (*p < 0x20 || *p == 0x7f) {
            put_escaped_byte(o, *p);
            p++;

        } else {
            n = utf8_len(p, (size_t) (end - p));
            if (n == 0) {
                put_escaped_byte(o, *p);
                p++;

            } else {
                pprof_text_put(o, p, n);
                p += n;
            }
        }
    }

    pprof_text_put(o, "\"", 1);
}


/* Optional fields: an empty string means "none", written as null. */
static void
put_str_or_null(pprof_text_t *o, pprof_str_t s)
{
    if (s.len == 0) {
        put_lit(o, "null");
    } else {
        put_str(o, s);
    }
}


static void
put_key(pprof_text_t *o, const char *name)
{
    pprof_text_put(o, ",\"", 2);
    put_lit(o, name);
    pprof_text_put(o, "\":", 2);
}


static void
put_field(pprof_text_t *o, const char *name, pprof_str_t s)
{
    put_key(o, name);
    put_str(o, s);
}


static void
put_nullable(pprof_text_t *o, const char *name, pprof_str_t s)
{
    put_key(o, name);
    put_str_or_null(o, s);
}


static void
put_uint_field(pprof_text_t *o, const char *name, uint64_t n)
{
    put_key(o, name);
    put_num(o, n);
}


/* A count that does not always apply: negative is null. */
static void
put_count_or_null(pprof_text_t *o, const char *name, int64_t n)
{
    put_key(o, name);

    if (n < 0) {
        put_lit(o, "null");
    } else {
        put_num(o, (uint64_t) n);
    }
}


/* n decimal digits of v, zero-padded; v has no more than n. */
static void
digits(char *p, uint64_t v, size_t n)
{
    while (n--) {
        p[n] = (char) ('0' + v % 10);
        v /= 10;
    }
}


/*
 * RFC 3339 in UTC from Unix microseconds, by the civil-from-days
 * arithmetic rather than gmtime_r(): no time_t range, no locale, no time
 * zone.  -1 past year 9999, which four digits cannot write.
 */
int
pprof_rfc3339(char ts[PPROF_RFC3339_LEN], uint64_t time_us)
{
    uint64_t  secs, days, sod, era, doe, yoe, doy, mp, y, m, d;

    secs = time_us / 1000000;
    if (secs >= TS_SECONDS_MAX) {
        return -1;
    }

    days = secs / 86400;
    sod = secs % 86400;

    /* Days since 0000-03-01, in 400-year eras of 146097 days. */
    days += 719468;
    era = days / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = yoe + era * 400 + (m <= 2);

    digits(ts, y, 4);
    ts[4] = '-';
    digits(ts + 5, m, 2);
    ts[7] = '-';
    digits(ts + 8, d, 2);
    ts[10] = 'T';
    digits(ts + 11, sod / 3600, 2);
    ts[13] = ':';
    digits(ts + 14, sod / 60 % 60, 2);
    ts[16] = ':';
    digits(ts + 17, sod % 60, 2);
    ts[19] = '.';
    digits(ts + 20, time_us % 1000000, 6);
    ts[26] = 'Z';
    ts[27] = '\0';

    return 0;
}


/* prev is copied into the line as is: only lowercase hex may be. */
static int
is_hash(const char hex[PPROF_AUDIT_HASH_HEX])
{
    size_t  i;

    for (i = 0; i < PPROF_AUDIT_HASH_HEX; i++) {
        if (!((hex[i] >= '0' && hex[i] <= '9')
              || (hex[i] >= 'a' && hex[i] <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * The line is NUL-terminated, so the length is < cap; and it is at most
 * LINE_LEN_MAX whatever cap is, for a longer line would be refused by
 * pprof_audit_verify() and break the log for good.
 */
size_t
pprof_audit_encode(char *buf, size_t cap, const pprof_audit_record_t *rec,
    uint64_t seq, const char prev[PPROF_AUDIT_HASH_HEX], const char *sig)
{
    pprof_text_t        o = { buf, cap, 0 };
    const char  *stage;
    char         ts[PPROF_RFC3339_LEN];
    size_t       i, len;

    switch (rec->stage) {
    case PPROF_AUDIT_DECISION:
        stage = "decision";
        break;
    case PPROF_AUDIT_RESPONSE:
        stage = "response";
        break;
    case PPROF_AUDIT_CHECKPOINT:
        stage = "checkpoint";
        break;
    default:
        return 0;
    }

    if (cap == 0 || !is_hash(prev) || pprof_rfc3339(ts, rec->time_us) != 0) {
        return 0;
    }

    put_lit(&o, "{\"v\":1");
    put_uint_field(&o, "seq", seq);
    put_lit(&o, ",\"ts\":\"");
    put_lit(&o, ts);
    put_lit(&o, "\"");
    put_field(&o, "audit_id", rec->audit_id);
    put_lit(&o, ",\"stage\":\"");
    put_lit(&o, stage);
    put_lit(&o, "\"");

    if (rec->stage == PPROF_AUDIT_CHECKPOINT) {
        pprof_str_t  s;

        s.data = (const unsigned char *) (sig ? sig : "");
        s.len = strlen((const char *) s.data);

        put_uint_field(&o, "records", rec->records);
        put_field(&o, "signature", s);

    } else {
        put_field(&o, "client", rec->client);
        put_nullable(&o, "tls", rec->tls);
        put_nullable(&o, "identity", rec->identity);
        put_field(&o, "auth", rec->auth);

        put_lit(&o, ",\"roles\":[");
        for (i = 0; i < rec->nroles; i++) {
            if (i) {
                pprof_text_put(&o, ",", 1);
            }
            put_str(&o, rec->roles[i]);
        }
        put_lit(&o, "]");

        put_field(&o, "method", rec->method);
        put_field(&o, "endpoint", rec->endpoint);
        put_nullable(&o, "class", rec->cls);
        put_field(&o, "params", rec->params);
        put_lit(&o, rec->allow ? ",\"decision\":\"allow\""
                               : ",\"decision\":\"deny\"");
        put_field(&o, "reason", rec->reason);
        put_lit(&o, rec->enforced ? ",\"enforced\":true"
                                  : ",\"enforced\":false");

        if (rec->stage == PPROF_AUDIT_RESPONSE) {
            put_uint_field(&o, "status", rec->status);
            put_uint_field(&o, "bytes", rec->bytes);
            put_field(&o, "sha256", rec->sha256);
            put_uint_field(&o, "duration_ms", rec->duration_ms);
            put_nullable(&o, "upstream", rec->upstream);
            put_nullable(&o, "annotation", rec->annotation);
            put_count_or_null(&o, "redacted", rec->redacted);
        }
    }

    put_lit(&o, ",\"prev\":\"");
    pprof_text_put(&o, prev, PPROF_AUDIT_HASH_HEX);
    put_lit(&o, "\"}");

    if (o.full) {
        return 0;
    }

    len = cap - o.left;
    if (len > LINE_LEN_MAX) {
        return 0;
    }

    buf[len] = '\0';
    return len;
}


/*
 * Should the digest ever fail, the hash is 'x's: not hex, so encoding a
 * record after it fails, and verification sees a mismatch, rather than
 * the chain silently restarting from zeros.
 */
void
pprof_audit_hash(const char *line, size_t len, char hex[PPROF_AUDIT_HASH_HEX])
{
    unsigned char  md[EVP_MAX_MD_SIZE];
    unsigned int   mdlen = 0;
    size_t         i;

    if (EVP_Digest(line, len, md, &mdlen, EVP_sha256(), NULL) != 1
        || mdlen * 2 != PPROF_AUDIT_HASH_HEX)
    {
        memset(hex, 'x', PPROF_AUDIT_HASH_HEX);
        return;
    }

    for (i = 0; i < mdlen; i++) {
        hex[2 * i] = hex_digits[md[i] >> 4];
        hex[2 * i + 1] = hex_digits[md[i] & 0x0f];
    }
}


/*
 * The signature covers the exact line a verifier rebuilds by emptying the
 * signature string, prev included: one checkpoint vouches for every line
 * before it.  Only Ed25519 is taken, so that EVP_DigestSign with no digest
 * means the same thing here and in pprof_audit_verify().
 */
size_t
pprof_audit_checkpoint(char *buf, size_t cap,
    const pprof_audit_record_t *rec, uint64_t seq,
    const char prev[PPROF_AUDIT_HASH_HEX], EVP_PKEY *key)
{
    pprof_audit_record_t   cp;
    char                   b64[PPROF_SIG_B64_LEN + 1];
    size_t                 len;

    /* Whatever the caller left in stage, this is a checkpoint. */
    cp = *rec;
    cp.stage = PPROF_AUDIT_CHECKPOINT;

    len = pprof_audit_encode(buf, cap, &cp, seq, prev, "");
    if (len == 0 || pprof_sign(key, buf, len, b64) != 0) {
        return 0;
    }

    return pprof_audit_encode(buf, cap, &cp, seq, prev, b64);
}
