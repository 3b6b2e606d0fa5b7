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
 *
 * Every string has a cap, counted in the bytes it takes in the line
 * (quotes and escapes included), so that a record with every field at its
 * cap still fits PPROF_AUDIT_LINE_MAX: what the client sends can make a
 * record long, never unwritable.  A string over its cap is cut at a whole
 * character or escape and ends in "\u2026" (written as UTF-8), and the
 * record says "truncated":true.  Numbers stop at 2^53 - 1, the largest
 * integer every JSON reader (jansson's int64, jq's and JavaScript's
 * doubles) holds exactly.
 */

#include <string.h>

#include <openssl/evp.h>

#include "proxy.h"
#include "text.h"


/* The longest line without its newline: line and newline fit LINE_MAX. */
#define LINE_LEN_MAX    (PPROF_AUDIT_LINE_MAX - 1)

/* 9999-12-31T23:59:59Z + 1 s: the last second RFC 3339 can write. */
#define TS_SECONDS_MAX   253402300800ULL

/*
 * Caps in line bytes, quotes included.  Their sum and the fixed part of a
 * response record stay under LINE_LEN_MAX (test_audit.c encodes a record
 * with every field at its cap), with room left for fields to come.
 */
#define CAP_AUDIT_ID     64
#define CAP_CLIENT       128
#define CAP_TLS          32
#define CAP_IDENTITY     1280
#define CAP_AUTH         32
#define CAP_ROLE         128
#define CAP_ROLES        2048         /* the whole array, brackets included */
#define CAP_METHOD       64
#define CAP_PATH         1024
#define CAP_ENDPOINT     256
#define CAP_CLASS        32
#define CAP_PARAMS       256
#define CAP_REASON       64
#define CAP_SHA256       80
#define CAP_UPSTREAM     512
#define CAP_ANNOTATION   256
#define CAP_SHARED       32
#define CAP_UPSTREAM_SAID  (2 + PPROF_BUSY_BODY_MAX + 64)  /* a line or so
                                                          of escapes */

/* A gateway id that pprof_audit_gateway_check() took is never cut. */
#define CAP_GATEWAY      (2 + 2 * PPROF_AUDIT_GATEWAY_MAX)

/* "…" and its length in UTF-8. */
#define ELLIPSIS         "\xe2\x80\xa6"
#define ELLIPSIS_LEN     3

/* A cut string is at least its quotes and the ellipsis. */
#define CUT_MIN          (2 + ELLIPSIS_LEN)



static const char  hex_digits[] = "0123456789abcdef";


static void
put_lit(pprof_text_t *o, const char *s)
{
    pprof_text_put(o, s, strlen(s));
}


static void
put_num(pprof_text_t *o, uint64_t n)
{
    char  digits[20], *p;

    p = digits + sizeof(digits);

    do {
        *--p = (char) ('0' + n % 10);
        n /= 10;
    } while (n);

    pprof_text_put(o, p, (size_t) (digits + sizeof(digits) - p));
}


/*
 * A byte that stands for itself in the line: printable ASCII but quote
 * and backslash.  Most of a record is made of them, and the encoder
 * takes them in runs rather than one unit at a time.
 */
static int
plain_byte(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}


/* How many bytes from p on, at most max, are plain. */
static size_t
plain_run(const unsigned char *p, size_t max)
{
    size_t  n;

    for (n = 0; n < max && plain_byte(p[n]); n++) {
        /* void */
    }

    return n;
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


/*
 * The unit of a string at p, which a cut never splits: *in bytes of the
 * string that take the returned number of line bytes, 2 for \" and \\,
 * 6 for \u00XX, else a UTF-8 sequence as it is.
 */
static size_t
unit(const unsigned char *p, size_t left, size_t *in)
{
    size_t  n;

    *in = 1;

    if (*p == '"' || *p == '\\') {
        return 2;
    }

    if (*p < 0x20 || *p == 0x7f) {
        return 6;
    }

    n = utf8_len(p, left);
    if (n == 0) {
        return 6;
    }

    *in = n;
    return n;
}


static void
put_units(pprof_text_t *o, const unsigned char *p, size_t len)
{
    const unsigned char  *end;
    size_t                out, in;

    /* An absent field is {NULL, 0}, and NULL + 0 is undefined in C. */
    if (len == 0) {
        return;
    }

    end = p + len;

    while (p < end) {
        in = plain_run(p, (size_t) (end - p));
        if (in > 0) {
            pprof_text_put(o, p, in);
            p += in;
            continue;
        }

        out = unit(p, (size_t) (end - p), &in);

        if (*p == '"' || *p == '\\') {
            pprof_text_put(o, "\\", 1);
            pprof_text_put(o, p, 1);

        } else if (out != in) {
            put_escaped_byte(o, *p);

        } else {
            pprof_text_put(o, p, in);
        }

        p += in;
    }
}


/* How many bytes of s, whole units, take at most room line bytes (*out). */
static size_t
fit(pprof_str_t s, size_t room, size_t *out)
{
    size_t  i, w, u, in;

    for (i = 0, w = 0; i < s.len; i += in, w += u) {
        /* A plain byte is one line byte; a run stops at the room left. */
        in = plain_run(s.data + i, s.len - i < room - w ? s.len - i
                                                         : room - w);
        if (in > 0) {
            u = in;
            continue;
        }

        u = unit(s.data + i, s.len - i, &in);
        if (w + u > room) {
            break;
        }
    }

    *out = w;
    return i;
}


/*
 * s without the incomplete UTF-8 sequence that a cut made before the
 * encoder may have left at its end: it would be written as escapes of
 * its bytes, half a character that never was.
 */
static size_t
whole_chars(pprof_str_t s)
{
    unsigned char  c;
    size_t         k, need;

    for (k = 1; k <= 4 && k <= s.len; k++) {
        c = s.data[s.len - k];

        if (c < 0x80) {
            break;
        }

        if (c >= 0xc0) {
            need = c >= 0xf0 ? 4 : (c >= 0xe0 ? 3 : 2);
            return need > k ? s.len - k : s.len;
        }
    }

    return s.len;
}


/*
 * A JSON string in at most cap line bytes: s whole if it fits and was
 * not cut already (cut_before), else the units that fit and the ellipsis.
 * Returns the line bytes it takes; o NULL only measures.
 */
static size_t
put_capped(pprof_text_t *o, pprof_str_t s, size_t cap, int cut_before,
    int *truncated)
{
    size_t  n, out;
    int     cut;

    /* Most strings are plain bytes within their cap: one pass, one copy. */
    if (!cut_before && s.len > 0 && s.len + 2 <= cap
        && plain_run(s.data, s.len) == s.len)
    {
        if (o != NULL) {
            pprof_text_put(o, "\"", 1);
            pprof_text_put(o, s.data, s.len);
            pprof_text_put(o, "\"", 1);
        }

        return s.len + 2;
    }

    if (cut_before) {
        s.len = whole_chars(s);
    }

    n = fit(s, cap - 2, &out);
    cut = cut_before || n < s.len;

    if (cut) {
        n = fit(s, cap - CUT_MIN, &out);
        out += ELLIPSIS_LEN;
    }

    if (o != NULL) {
        pprof_text_put(o, "\"", 1);
        put_units(o, s.data, n);
        if (cut) {
            put_lit(o, ELLIPSIS);
            *truncated = 1;
        }
        pprof_text_put(o, "\"", 1);
    }

    return out + 2;
}


static void
put_key(pprof_text_t *o, const char *name)
{
    pprof_text_put(o, ",\"", 2);
    put_lit(o, name);
    pprof_text_put(o, "\":", 2);
}


static void
put_field(pprof_text_t *o, const char *name, pprof_str_t s, size_t cap,
    int *truncated)
{
    put_key(o, name);
    (void) put_capped(o, s, cap, 0, truncated);
}


/* Optional fields: an empty string means "none", written as null. */
static void
put_nullable(pprof_text_t *o, const char *name, pprof_str_t s, size_t cap,
    int *truncated)
{
    put_key(o, name);

    if (s.len == 0) {
        put_lit(o, "null");
    } else {
        (void) put_capped(o, s, cap, 0, truncated);
    }
}


/*
 * Each role within CAP_ROLE and the array within CAP_ROLES.  Roles that
 * do not fit are left out and a last element "…" says so; while roles
 * remain, room for it is kept.
 */
static void
put_roles(pprof_text_t *o, const pprof_str_t *roles, size_t n,
    int *truncated)
{
    size_t  i, used, need, keep;
    int     measured;

    put_lit(o, ",\"roles\":[");
    used = 1;

    for (i = 0; i < n; i++) {
        need = (i > 0) + put_capped(NULL, roles[i], CAP_ROLE, 0, &measured);
        keep = i + 1 < n ? 1 + CUT_MIN : 0;

        if (used + need + keep + 1 > CAP_ROLES) {
            put_lit(o, i > 0 ? ",\"" ELLIPSIS "\"" : "\"" ELLIPSIS "\"");
            *truncated = 1;
            break;
        }

        if (i > 0) {
            pprof_text_put(o, ",", 1);
        }

        (void) put_capped(o, roles[i], CAP_ROLE, 0, truncated);
        used += need;
    }

    pprof_text_put(o, "]", 1);
}


/* A number beyond PPROF_AUDIT_NUM_MAX is written as that: at least so. */
static void
put_uint_field(pprof_text_t *o, const char *name, uint64_t n, int *truncated)
{
    put_key(o, name);

    if (n > PPROF_AUDIT_NUM_MAX) {
        n = PPROF_AUDIT_NUM_MAX;
        *truncated = 1;
    }

    put_num(o, n);
}


/* A count that does not always apply: negative is null. */
static void
put_count_or_null(pprof_text_t *o, const char *name, int64_t n,
    int *truncated)
{
    if (n < 0) {
        put_key(o, name);
        put_lit(o, "null");
    } else {
        put_uint_field(o, name, (uint64_t) n, truncated);
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


/*
 * A gateway id names the gateway in every record of a fleet, and its
 * leases in Redis: it must be whole and unambiguous there.  So it is
 * UTF-8 without control characters (C0, DEL, C1), of a bounded length,
 * which takes at most two line bytes per byte (a quote or a backslash)
 * and is never cut.
 */
const char *
pprof_audit_gateway_check(pprof_str_t name)
{
    size_t  i, n;

    if (name.len == 0) {
        return "is empty";
    }

    if (name.len > PPROF_AUDIT_GATEWAY_MAX) {
        return "is longer than 255 bytes";
    }

    for (i = 0; i < name.len; i += n) {
        if (name.data[i] < 0x20 || name.data[i] == 0x7f) {
            return "holds a control character";
        }

        n = utf8_len(name.data + i, name.len - i);
        if (n == 0) {
            return "is not UTF-8";
        }

        /* C1 (U+0080-U+009F): NEL breaks lines for some readers. */
        if (n == 2 && name.data[i] == 0xc2 && name.data[i + 1] < 0xa0) {
            return "holds a control character";
        }
    }

    return NULL;
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
 * pprof_audit_verify() and break the log for good.  The caps make every
 * record fit, so that check is only a guard.  A seq beyond what a JSON
 * number holds is refused rather than written wrong: the chain must not
 * repeat one.
 */
size_t
pprof_audit_encode(char *buf, size_t cap, const pprof_audit_record_t *rec,
    uint64_t seq, const char prev[PPROF_AUDIT_HASH_HEX], const char *sig)
{
    pprof_text_t   o = { buf, cap, 0 };
    const char    *stage;
    char           ts[PPROF_RFC3339_LEN];
    size_t         len;
    int            cut;

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

    if (cap == 0 || seq > PPROF_AUDIT_NUM_MAX || !is_hash(prev)
        || pprof_rfc3339(ts, rec->time_us) != 0)
    {
        return 0;
    }

    cut = 0;

    put_lit(&o, "{\"v\":1");
    put_uint_field(&o, "seq", seq, &cut);
    put_lit(&o, ",\"ts\":\"");
    put_lit(&o, ts);
    put_lit(&o, "\"");
    put_field(&o, "audit_id", rec->audit_id, CAP_AUDIT_ID, &cut);
    put_lit(&o, ",\"stage\":\"");
    put_lit(&o, stage);
    put_lit(&o, "\"");

    /* Which gateway of a fleet wrote the line, checkpoints included. */
    if (rec->gateway.len) {
        put_field(&o, "gateway", rec->gateway, CAP_GATEWAY, &cut);
    }

    if (rec->stage == PPROF_AUDIT_CHECKPOINT) {
        put_uint_field(&o, "records", rec->records, &cut);

        /* Ahead of the signature, which verification finds from the end. */
        if (cut) {
            put_lit(&o, ",\"truncated\":true");
        }

        /* The signature is ours and never cut: a cut one would be wrong. */
        sig = sig ? sig : "";
        put_lit(&o, ",\"signature\":\"");
        put_units(&o, (const unsigned char *) sig, strlen(sig));
        put_lit(&o, "\"");

    } else {
        put_field(&o, "client", rec->client, CAP_CLIENT, &cut);
        put_nullable(&o, "tls", rec->tls, CAP_TLS, &cut);

        put_key(&o, "identity");
        if (rec->identity.len == 0) {
            put_lit(&o, "null");
        } else {
            (void) put_capped(&o, rec->identity, CAP_IDENTITY,
                              rec->identity_cut, &cut);
        }

        put_field(&o, "auth", rec->auth, CAP_AUTH, &cut);
        put_roles(&o, rec->roles, rec->nroles, &cut);
        put_field(&o, "method", rec->method, CAP_METHOD, &cut);
        put_field(&o, "path", rec->path, CAP_PATH, &cut);
        put_field(&o, "endpoint", rec->endpoint, CAP_ENDPOINT, &cut);
        put_nullable(&o, "class", rec->cls, CAP_CLASS, &cut);
        put_field(&o, "params", rec->params, CAP_PARAMS, &cut);
        put_lit(&o, rec->allow ? ",\"decision\":\"allow\""
                               : ",\"decision\":\"deny\"");
        put_field(&o, "reason", rec->reason, CAP_REASON, &cut);
        put_lit(&o, rec->enforced ? ",\"enforced\":true"
                                  : ",\"enforced\":false");

        if (rec->shared.len) {
            put_field(&o, "shared", rec->shared, CAP_SHARED, &cut);
        }

        /* A proxy's check: who asked, beside the client it asked for. */
        if (rec->proxy.len) {
            put_lit(&o, ",\"mode\":\"authz\"");
            put_field(&o, "proxy", rec->proxy, CAP_CLIENT, &cut);
        }

        if (rec->stage == PPROF_AUDIT_RESPONSE) {
            put_uint_field(&o, "status", rec->status, &cut);
            put_uint_field(&o, "bytes", rec->bytes, &cut);
            put_field(&o, "sha256", rec->sha256, CAP_SHA256, &cut);
            put_uint_field(&o, "duration_ms", rec->duration_ms, &cut);
            put_nullable(&o, "upstream", rec->upstream, CAP_UPSTREAM, &cut);
            put_nullable(&o, "annotation", rec->annotation, CAP_ANNOTATION,
                         &cut);
            put_count_or_null(&o, "redacted", rec->redacted, &cut);

            /* The target's own answer, when the gateway answered for it. */
            if (rec->upstream_status) {
                put_uint_field(&o, "upstream_status", rec->upstream_status,
                               &cut);
                put_field(&o, "upstream_said", rec->upstream_said,
                          CAP_UPSTREAM_SAID, &cut);
            }
        }

        if (cut) {
            put_lit(&o, ",\"truncated\":true");
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
 * SHA-256 fetched once.  EVP_sha256() makes every digest look the
 * implementation up by name again and EVP_Digest() allocates a context
 * each time, which together cost as much as hashing a record.  The
 * processes that hash (an nginx worker, the verifier) do it from one
 * thread; a fetch that failed is tried again next time.
 */
int
pprof_audit_sha256_init(EVP_MD_CTX *ctx)
{
    static EVP_MD  *md;

    if (md == NULL) {
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
    }

    return md != NULL && EVP_DigestInit_ex2(ctx, md, NULL) == 1 ? 0 : -1;
}


/*
 * Should the digest ever fail, the hash is 'x's: not hex, so encoding a
 * record after it fails, and verification sees a mismatch, rather than
 * the chain silently restarting from zeros.  One context serves every
 * line.
 */
void
pprof_audit_hash(const char *line, size_t len, char hex[PPROF_AUDIT_HASH_HEX])
{
    static EVP_MD_CTX  *ctx;

    unsigned char  md[EVP_MAX_MD_SIZE];
    unsigned int   mdlen = 0;
    size_t         i;

    if (ctx == NULL) {
        ctx = EVP_MD_CTX_new();
    }

    if (ctx == NULL
        || pprof_audit_sha256_init(ctx) != 0
        || EVP_DigestUpdate(ctx, line, len) != 1
        || EVP_DigestFinal_ex(ctx, md, &mdlen) != 1
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
