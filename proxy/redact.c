/*
 * cmdline redaction (SPEC §10).  Go's cmdline endpoint answers os.Args
 * joined by NUL bytes, with no NUL after the last argument, so argv has
 * one field more than it has NULs.
 *
 * Sources mark byte ranges of argv as secret, each in increasing order:
 * the flag rules (a sensitive flag's value, after its "=" or as the next
 * argument), and each custom pattern with its matches.  They are merged
 * as they come, so no list of ranges is ever built: ranges that overlap or
 * touch become one "***", and the count is how many "***" were written.
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
 * The next range of one source.  Source 0 is the flag rules; source i > 0
 * is custom pattern i - 1, searched again from "from" when it moves on.
 */
typedef struct {
    size_t  start;
    size_t  end;
    size_t  from;
    int     live;
} source_t;


struct pprof_redactor_s {
    pcre2_match_data  *match;       /* workers are single-threaded */
    source_t          *sources;     /* scratch for one pprof_redact() */
    size_t             npatterns;
    pcre2_code        *patterns[];
};


/* Where the flag rules are between two fields of argv. */
typedef struct {
    size_t  pos;            /* start of the next field; len + 1 at the end */
    int     program;        /* the next field is argv[0] */
    int     value_next;     /* the next field is a sensitive flag's value */
} flags_t;


/*
 * Substrings that make a flag name sensitive.  "pass" also covers passwd
 * and password.  Names are compared with case folded and with "_" and "."
 * read as "-", so api-key stands for api_key and api.key as well, and
 * private-key for private_key and private.key.
 */
static const char *const  sensitive[] = {
    "pass", "secret", "token", "apikey", "api-key", "credential",
    "private-key", "privatekey", "auth"
};


static unsigned char
fold(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return (unsigned char) (c - 'A' + 'a');
    }

    return (c == '_' || c == '.') ? '-' : c;
}


static int
name_is_sensitive(const unsigned char *name, size_t len)
{
    size_t  w, i, j, n;

    for (w = 0; w < sizeof(sensitive) / sizeof(sensitive[0]); w++) {
        n = strlen(sensitive[w]);

        for (i = 0; i + n <= len; i++) {
            for (j = 0; j < n && fold(name[i + j]) == sensitive[w][j]; j++) {
                /* void */
            }

            if (j == n) {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * The next range the flag rules hide, field by field; 0 when there is
 * none left.  Go accepts any number of leading dashes here as a flag (it
 * refuses three, but a program of its own may not).
 */
static int
flags_next(flags_t *f, const unsigned char *argv, size_t len,
    source_t *s)
{
    size_t                a, b, p, name_end;
    int                   value;
    const unsigned char  *nul, *eq;

    while (f->pos <= len) {
        a = f->pos;
        nul = memchr(argv + a, '\0', len - a);
        b = nul ? (size_t) (nul - argv) : len;
        f->pos = b + 1;

        value = f->value_next;
        f->value_next = 0;

        /* argv[0] is the program: custom patterns only. */
        if (f->program) {
            f->program = 0;
            continue;
        }

        for (p = a; p < b && argv[p] == '-'; p++) {
            /* void */
        }

        eq = (p > a) ? memchr(argv + p, '=', b - p) : NULL;
        name_end = eq ? (size_t) (eq - argv) : b;

        if (p > a && name_is_sensitive(argv + p, name_end - p)) {
            if (eq == NULL) {
                /*
                 * Its value is the next argument, even one that looks
                 * like a flag ("-token -x" sets token to "-x"), and even
                 * when this field is itself a value: hiding one argument
                 * too many is the safe mistake.
                 */
                f->value_next = 1;

            } else if (!value) {
                s->start = (size_t) (eq - argv) + 1;
                s->end = b;
                return 1;
            }
        }

        if (value) {
            s->start = a;
            s->end = b;
            return 1;
        }
    }

    return 0;
}


/* The next match of a custom pattern: 1, 0 when none is left, -1 on error. */
static int
pattern_next(const pprof_redactor_t *r, const pcre2_code *re,
    const unsigned char *argv, size_t len, source_t *s)
{
    int          rc;
    PCRE2_SIZE  *ov;

    while (s->from <= len) {
        rc = pcre2_match(re, argv, len, s->from, 0, r->match, NULL);

        if (rc == PCRE2_ERROR_NOMATCH) {
            return 0;
        }

        /* The match limit, the JIT stack, memory: nothing may be sent. */
        if (rc < 0) {
            return -1;
        }

        ov = pcre2_get_ovector_pointer(r->match);

        if (ov[1] > ov[0]) {
            s->start = ov[0];
            s->end = ov[1];
            s->from = ov[1];
            return 1;
        }

        /* A pattern that needs a byte can still match none (\K, a
         * lookahead): nothing to hide, and the search moves past it. */
        s->from = ov[1] + 1;
    }

    return 0;
}


static int
advance(const pprof_redactor_t *r, flags_t *flags, size_t i,
    const unsigned char *argv, size_t len)
{
    source_t  *s = &r->sources[i];
    int        rc;

    rc = (i == 0) ? flags_next(flags, argv, len, s)
                  : pattern_next(r, r->patterns[i - 1], argv, len, s);

    s->live = (rc == 1);
    return rc < 0 ? -1 : 0;
}


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
    r->sources = calloc(npatterns + 1, sizeof(source_t));
    if (r->match == NULL || r->sources == NULL) {
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
    free(r->sources);
    free(r);
}


/*
 * Each run of hidden bytes becomes MASK_LEN bytes.  Runs that are not
 * empty cover at least one byte each and are separated by at least one
 * byte, so they at most double what they cover plus the byte after.  An
 * empty run is the value of a flag that has at least five bytes ("-auth")
 * before it.  So the output never exceeds PPROF_REDACT_BOUND(len); emit()
 * still checks, so that a wrong bound fails closed.
 */
int
pprof_redact(const pprof_redactor_t *r, const unsigned char *argv,
    size_t len, unsigned char *out, size_t cap, size_t *out_len,
    size_t *count)
{
    size_t     i, first, start, end, copied, o;
    int        grown;
    flags_t    flags = { 0, 1, 0 };
    source_t  *s = r->sources;

    *out_len = 0;
    *count = 0;

    /* An empty body is an empty argv[0]: nothing to hide. */
    if (len == 0) {
        return 0;
    }

    for (i = 0; i <= r->npatterns; i++) {
        s[i].from = 0;
        if (advance(r, &flags, i, argv, len) != 0) {
            return -1;
        }
    }

    o = 0;
    copied = 0;

    for ( ;; ) {
        first = r->npatterns + 1;

        for (i = 0; i <= r->npatterns; i++) {
            if (s[i].live && (first > r->npatterns
                              || s[i].start < s[first].start))
            {
                first = i;
            }
        }

        if (first > r->npatterns) {
            break;
        }

        start = s[first].start;
        end = s[first].end;

        /* Ranges that overlap or touch the run join it. */
        do {
            grown = 0;

            for (i = 0; i <= r->npatterns; i++) {
                if (!s[i].live || s[i].start > end) {
                    continue;
                }

                if (s[i].end > end) {
                    end = s[i].end;
                }

                if (advance(r, &flags, i, argv, len) != 0) {
                    return -1;
                }

                grown = 1;
            }

        } while (grown);

        if (emit(out, cap, &o, argv + copied, start - copied) != 0
            || emit(out, cap, &o, MASK, MASK_LEN) != 0)
        {
            return -1;
        }

        copied = end;
        (*count)++;
    }

    if (emit(out, cap, &o, argv + copied, len - copied) != 0) {
        return -1;
    }

    *out_len = o;
    return 0;
}
