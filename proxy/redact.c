/*
 * cmdline redaction (SPEC §10).  Go's cmdline endpoint answers os.Args
 * joined by NUL bytes, with no NUL after the last argument, so argv has
 * one field more than it has NULs.
 *
 * Each rule marks what it hides on a map of argv, one byte per byte of
 * argv and one more for its end; the body is then written in one pass,
 * each run of marked bytes as one "***".  The rules may overlap in any
 * order, and each reads argv once, so the whole costs time linear in its
 * length: the flag and key rules, the URL userinfo rule (both one pass
 * per argument), and each custom pattern's matches.
 *
 * Where Go's flag package would stop reading flags (at "--", or at the
 * first argument that is not a flag) the rules go on: what follows is
 * often handed to another program's flag parser, and a false alarm costs
 * three asterisks where a miss costs a secret.
 */

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"


#define MASK      "***"
#define MASK_LEN  (sizeof(MASK) - 1)

/*
 * The map's marks.  HIDDEN hides the byte; EMPTY is an empty hidden
 * range at that place (an empty value), which still writes "***" so that
 * the output does not say the value is empty.
 */
#define HIDDEN  0x02
#define EMPTY   0x01


struct pprof_redactor_s {
    pcre2_match_data  *match;       /* workers are single-threaded */
    size_t             npatterns;
    pcre2_code        *patterns[];
};


/*
 * What comes before a key inside an argument decides how it is read.  A
 * key is a name followed by "=": its value is hidden when the name is
 * sensitive.
 */
typedef enum {
    KEY_PROGRAM,    /* the start of argv[0]: the program, never a key */
    KEY_ARGUMENT,   /* the start of any other argument */
    KEY_NESTED,     /* after "=", a space or ",": a flag or key in a value */
    KEY_PARAM       /* after "?", "&", "#" or ";": a URL parameter */
} key_kind_t;


/*
 * Substrings that make a name sensitive.  "pass" also covers passwd and
 * password.  Names are compared with case folded, %XX decoded and with
 * "_" and "." read as "-", so api-key stands for api_key and api.key as
 * well, and private-key for private_key and private.key.
 */
#define WORD(s)  { s, sizeof(s) - 1 }

static const struct {
    const char  *s;
    size_t       len;
} sensitive[] = {
    WORD("pass"), WORD("pwd"), WORD("secret"), WORD("token"),
    WORD("apikey"), WORD("api-key"), WORD("credential"),
    WORD("private-key"), WORD("privatekey"), WORD("auth")
};

#undef WORD

#define WORD_MAX  16        /* longer than the longest word */


static int
hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


static unsigned char
fold(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return (unsigned char) (c - 'A' + 'a');
    }

    return (c == '_' || c == '.') ? '-' : c;
}


/*
 * Whether a word ends at each byte of the name, decoded as it is read:
 * the last WORD_MAX bytes are kept in a ring, so a name of any length is
 * read once, with no copy.
 */
static int
name_is_sensitive(const unsigned char *name, size_t len)
{
    size_t         i, w, j, n, seen;
    unsigned char  ring[WORD_MAX], c;

    seen = 0;

    for (i = 0; i < len; seen++) {
        c = name[i++];

        if (c == '%' && len - i >= 2 && hex(name[i]) >= 0
            && hex(name[i + 1]) >= 0)
        {
            c = (unsigned char) (hex(name[i]) << 4 | hex(name[i + 1]));
            i += 2;
        }

        ring[seen % WORD_MAX] = fold(c);

        for (w = 0; w < sizeof(sensitive) / sizeof(sensitive[0]); w++) {
            n = sensitive[w].len;

            for (j = 0; j < n && j <= seen
                        && ring[(seen - j) % WORD_MAX]
                           == (unsigned char) sensitive[w].s[n - 1 - j];
                 j++)
            {
                /* void */
            }

            if (j == n) {
                return 1;
            }
        }
    }

    return 0;
}


static void
hide(unsigned char *map, size_t start, size_t end)
{
    if (start == end) {
        map[start] |= EMPTY;

    } else {
        memset(map + start, HIDDEN, end - start);
    }
}


/* Bytes that end a name inside an argument, and what starts after them. */
static int
is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}


static int
is_param_start(unsigned char c)
{
    return c == '?' || c == '&' || c == '#' || c == ';';
}


static int
ends_name(unsigned char c)
{
    return is_space(c) || c == ',' || is_param_start(c);
}


/*
 * The flag and key rules on one argument, argv[a..b); 1 when the next
 * argument is this one's value.  Keys are read left to right, each from
 * where the last one stopped, so the argument is read once:
 *
 * - at the start of an argument after argv[0], dashes make a flag whose
 *   name runs to the first "=" (Go's own reading), and no dash a key such
 *   as PASSWORD=x;
 * - after "=", a space or ",", a flag or key inside a value: nested flags
 *   (-x=--password=y), keyword lists (host=h password=y, user=u,pass=y);
 * - after "?", "&", "#" or ";", a URL parameter, whose value ends at the
 *   next "&" or "#"; other values run to the end of the argument.
 *
 * A sensitive name with dashes and no "=" is a flag whose value follows:
 * the next argument when it ends this one, else the rest of this one.
 */
static int
flag_rules(unsigned char *map, const unsigned char *argv, size_t a, size_t b,
    key_kind_t kind)
{
    size_t  p, q, v;
    int     dashed;

    for (p = a; ; p = q + 1) {
        for (q = p; q < b && argv[q] == '-'; q++) {
            /* void */
        }

        dashed = (q > p);
        p = q;

        while (q < b && argv[q] != '='
               && ((kind == KEY_ARGUMENT && dashed) || !ends_name(argv[q])))
        {
            q++;
        }

        if (kind != KEY_PROGRAM && name_is_sensitive(argv + p, q - p)) {

            if (q < b && argv[q] == '=') {
                for (v = q + 1;
                     kind == KEY_PARAM && v < b && argv[v] != '&'
                     && argv[v] != '#';
                     v++)
                {
                    /* void */
                }

                hide(map, q + 1, kind == KEY_PARAM ? v : b);

                if (kind != KEY_PARAM || v == b) {
                    return 0;
                }

                /* Read on from the "&" or "#" that ended the value. */
                q = v;

            } else if (dashed) {
                if (q == b) {
                    return 1;
                }

                hide(map, q + 1, b);
                return 0;
            }
        }

        if (q == b) {
            return 0;
        }

        kind = is_param_start(argv[q]) ? KEY_PARAM : KEY_NESTED;
    }
}


/*
 * The password in a URL's userinfo, scheme://user:PASS@host, in one
 * argument.  The userinfo runs from the first "://" to the last "@" of
 * the argument: Go's URL parser takes the last "@" too, and a password
 * may hold "@", "/" or another "://".  Past its first ":" all is hidden,
 * so that of several URLs in one argument none keeps its password.
 * With no ":" the userinfo is hidden whole (a token given as the user
 * name, https://TOKEN@host/) unless it holds "/", "?" or "#", which make
 * the "@" part of a path or query instead.
 */
static void
userinfo_rule(unsigned char *map, const unsigned char *argv, size_t a,
    size_t b)
{
    size_t  i, at, start;

    for (at = b; at > a && argv[at - 1] != '@'; at--) {
        /* void */
    }

    if (at == a) {
        return;
    }

    at--;

    for (start = a; start + 3 <= at; start++) {
        if (memcmp(argv + start, "://", 3) == 0) {
            break;
        }
    }

    if (start + 3 > at) {
        return;
    }

    start += 3;

    for (i = start; i < at && argv[i] != ':'; i++) {
        /* void */
    }

    if (i < at) {
        hide(map, i + 1, at);
        return;
    }

    for (i = start; i < at; i++) {
        if (argv[i] == '/' || argv[i] == '?' || argv[i] == '#') {
            return;
        }
    }

    hide(map, start, at);
}


/* Marks each match of a custom pattern: 0, or -1 on a regex engine error. */
static int
pattern_rule(const pprof_redactor_t *r, const pcre2_code *re,
    unsigned char *map, const unsigned char *argv, size_t len)
{
    int          rc;
    size_t       from;
    PCRE2_SIZE  *ov;

    for (from = 0; from <= len; ) {
        rc = pcre2_match(re, argv, len, from, 0, r->match, NULL);

        if (rc == PCRE2_ERROR_NOMATCH) {
            return 0;
        }

        /* The match limit, the JIT stack, memory: nothing may be sent. */
        if (rc < 0) {
            return -1;
        }

        ov = pcre2_get_ovector_pointer(r->match);

        /* A pattern that needs a byte can still match none (\K, a
         * lookahead): nothing to hide, and the search moves past it. */
        if (ov[1] > ov[0]) {
            hide(map, ov[0], ov[1]);
        }

        from = (ov[1] > ov[0]) ? ov[1] : ov[1] + 1;
    }

    return 0;
}


static pcre2_code *
compile(pprof_str_t pattern, char *err, size_t errlen)
{
    int          code;
    uint32_t     minlength;
    PCRE2_SIZE   offset;
    PCRE2_UCHAR  msg[128];
    pcre2_code  *re;

    /* argv is bytes, not UTF-8: under (*UTF) one stray byte would make
     * every match an error, and the endpoint unusable. */
    re = pcre2_compile(pattern.data, pattern.len, PCRE2_NEVER_UTF, &code,
                       &offset, NULL);
    if (re == NULL) {
        pcre2_get_error_message(code, msg, sizeof(msg));
        snprintf(err, errlen, "%s at offset %zu", (char *) msg,
                 (size_t) offset);
        return NULL;
    }

    /*
     * A pattern that can match nothing would put "***" between any two
     * bytes.  PCRE2 proves a lower bound; when it cannot prove one byte,
     * the pattern is refused rather than trusted.
     */
    if (pcre2_pattern_info(re, PCRE2_INFO_MINLENGTH, &minlength) != 0
        || minlength == 0)
    {
        pcre2_code_free(re);
        snprintf(err, errlen, "it can match the empty string");
        return NULL;
    }

    /* Without JIT support pcre2_match() interprets: slower, same result. */
    (void) pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);

    return re;
}


pprof_redactor_t *
pprof_redactor_create(const pprof_str_t *patterns, size_t npatterns,
    char *err, size_t errlen)
{
    size_t             i;
    pprof_redactor_t  *r;

    r = calloc(1, sizeof(pprof_redactor_t)
                  + npatterns * sizeof(pcre2_code *));
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    for (i = 0; i < npatterns; i++) {
        r->patterns[i] = compile(patterns[i], err, errlen);
        if (r->patterns[i] == NULL) {
            pprof_redactor_free(r);
            return NULL;
        }
        r->npatterns++;
    }

    /* Only where a match starts and ends is read. */
    r->match = pcre2_match_data_create(1, NULL);
    if (r->match == NULL) {
        pprof_redactor_free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    return r;
}


void
pprof_redactor_free(pprof_redactor_t *r)
{
    size_t  i;

    if (r == NULL) {
        return;
    }

    for (i = 0; i < r->npatterns; i++) {
        pcre2_code_free(r->patterns[i]);
    }

    pcre2_match_data_free(r->match);
    free(r);
}


/*
 * Each run of hidden bytes becomes MASK_LEN bytes.  Runs that are not
 * empty cover at least one byte each and are separated by at least one
 * byte, so they at most double what they cover plus the byte after.  An
 * empty run is the value of a sensitive name, which has at least four
 * bytes ("pwd=") before it.  So the output never exceeds
 * PPROF_REDACT_BOUND(len); emit() still checks, so that a wrong bound
 * fails closed.
 */
static int
emit(unsigned char *out, size_t cap, size_t *o, const void *data,
    size_t len)
{
    if (len > cap - *o) {
        return -1;
    }

    memcpy(out + *o, data, len);
    *o += len;
    return 0;
}


static int
write_out(const unsigned char *map, const unsigned char *argv, size_t len,
    unsigned char *out, size_t cap, size_t *out_len, size_t *count)
{
    size_t  i, run, copied, o;

    o = 0;
    copied = 0;

    for (i = 0; i <= len; i++) {
        if (map[i] == 0) {
            continue;
        }

        for (run = i; run < len && (map[run] & HIDDEN); run++) {
            /* void */
        }

        if (emit(out, cap, &o, argv + copied, i - copied) != 0
            || emit(out, cap, &o, MASK, MASK_LEN) != 0)
        {
            return -1;
        }

        (*count)++;
        copied = run;

        /* An empty range where the run ends touches it: one "***". */
        i = run;
    }

    if (emit(out, cap, &o, argv + copied, len - copied) != 0) {
        return -1;
    }

    *out_len = o;
    return 0;
}


int
pprof_redact(const pprof_redactor_t *r, const unsigned char *argv,
    size_t len, unsigned char *out, size_t cap, size_t *out_len,
    size_t *count)
{
    int                   rc, value, next;
    size_t                a, b, i;
    unsigned char        *map;
    const unsigned char  *nul;

    *out_len = 0;
    *count = 0;

    /* An empty body is an empty argv[0]: nothing to hide. */
    if (len == 0) {
        return 0;
    }

    map = calloc(len + 1, 1);
    if (map == NULL) {
        return -1;
    }

    value = 0;

    for (a = 0; ; a = b + 1) {
        nul = memchr(argv + a, '\0', len - a);
        b = nul ? (size_t) (nul - argv) : len;

        next = flag_rules(map, argv, a, b, a == 0 ? KEY_PROGRAM : KEY_ARGUMENT);
        userinfo_rule(map, argv, a, b);

        /*
         * A sensitive flag's value is the next argument even when it looks
         * like a flag ("-token -x" sets token to "-x"), and even when this
         * argument is itself a value: hiding one argument too many is the
         * safe mistake.
         */
        if (value) {
            hide(map, a, b);
        }

        value = (a > 0) && next;

        if (b == len) {
            break;
        }
    }

    rc = 0;

    for (i = 0; i < r->npatterns && rc == 0; i++) {
        rc = pattern_rule(r, r->patterns[i], map, argv, len);
    }

    if (rc == 0) {
        rc = write_out(map, argv, len, out, cap, out_len, count);
    }

    if (rc != 0) {
        *out_len = 0;
        *count = 0;
    }

    free(map);
    return rc;
}
