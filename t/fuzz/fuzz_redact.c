/*
 * cmdline redaction (proxy/redact.c): the argv a target answers, and the
 * operator's custom patterns.
 *
 * Input: a mode byte, then
 *   mode 0: argv (NUL-separated), redacted by the sensitive-word rules
 *           alone and by those with two custom patterns;
 *   mode 1: a pattern (a length byte and its bytes), then argv (cut to
 *           256 bytes, for a pattern may backtrack).
 * Asserts that redaction succeeds within PPROF_REDACT_BOUND whenever the
 * patterns are the harness's own (the output buffer has exactly that
 * size, so ASan sees a byte more); that the rules alone keep every NUL
 * (argv keeps its fields) and leave argv[0] as it is; that redacting
 * their output again changes nothing; that nothing counted hidden means
 * nothing changed; and that adding custom patterns never hides less.
 */

#include <stdlib.h>
#include <string.h>

#include "proxy/proxy.h"
#include "fuzz.h"


#define ARGV_PATTERN_MAX  256

static pprof_redactor_t  *rules, *custom;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const  patterns[] = {
        "AKIA[0-9A-Z]{16}", "(?i)bearer\\s+[a-z0-9._-]+"
    };

    pprof_str_t  p[2];
    char         err[256];
    size_t       i;

    (void) argc;
    (void) argv;

    for (i = 0; i < 2; i++) {
        p[i].data = (const unsigned char *) patterns[i];
        p[i].len = strlen(patterns[i]);
    }

    rules = pprof_redactor_create(NULL, 0, err, sizeof(err));
    custom = pprof_redactor_create(p, 2, err, sizeof(err));

    if (rules == NULL || custom == NULL) {
        abort();
    }

    return 0;
}


static size_t
count_nul(const unsigned char *p, size_t len)
{
    size_t  i, n = 0;

    for (i = 0; i < len; i++) {
        n += p[i] == '\0';
    }

    return n;
}


/* Redacts into a buffer of exactly the bound; NULL if refused. */
static unsigned char *
redact(const pprof_redactor_t *r, pprof_str_t argv, size_t *out_len,
    size_t *count)
{
    unsigned char  *out;
    size_t          cap = PPROF_REDACT_BOUND(argv.len);

    out = malloc(cap);
    FZ_CHECK(out != NULL);

    if (pprof_redact(r, argv.data, argv.len, out, cap, out_len, count)
        != 0)
    {
        free(out);
        return NULL;
    }

    FZ_CHECK(*out_len <= cap);
    return out;
}


static int
has_scheme_sep(const unsigned char *p, size_t len)
{
    size_t  i;

    for (i = 0; i + 3 <= len; i++) {
        if (p[i] == ':' && p[i + 1] == '/' && p[i + 2] == '/') {
            return 1;
        }
    }

    return 0;
}


static size_t
stars(const unsigned char *p, size_t len)
{
    size_t  i, n = 0;

    for (i = 0; i + 3 <= len; i++) {
        if (p[i] == '*' && p[i + 1] == '*' && p[i + 2] == '*') {
            n++;
            i += 2;
        }
    }

    return n;
}


/*
 * Redacting the output again changes nothing, or only hides more: a
 * hidden value can take a delimiter with it (a ';' that started another
 * key), so a second reading may see a flag where the first saw two keys.
 * Every argument is then the same, or has "***" and shows no more bytes
 * outside it than before (an empty argument after a flag becomes "***").
 */
static void
only_hides(const unsigned char *a, size_t alen, const unsigned char *b,
    size_t blen)
{
    const unsigned char  *ae, *be;
    size_t                an, bn;

    FZ_CHECK(count_nul(a, alen) == count_nul(b, blen));

    for ( ;; ) {
        ae = memchr(a, '\0', alen);
        be = memchr(b, '\0', blen);
        an = ae ? (size_t) (ae - a) : alen;
        bn = be ? (size_t) (be - b) : blen;

        FZ_CHECK((an == bn && memcmp(a, b, an) == 0)
                 || (stars(b, bn) > 0
                     && bn - 3 * stars(b, bn) <= an - 3 * stars(a, an)));

        if (ae == NULL) {
            FZ_CHECK(be == NULL);
            return;
        }

        a += an + 1;
        alen -= an + 1;
        b += bn + 1;
        blen -= bn + 1;
    }
}


static int
has_key_start(const unsigned char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] != '\0' && strchr("= ,;?&#", p[i]) != NULL) {
            return 1;
        }
    }

    return 0;
}


static void
fixed(pprof_str_t argv)
{
    unsigned char        *out, *again, *more;
    const unsigned char  *nul;
    size_t                len, count, len2, count2, len3, count3, first;
    pprof_str_t           redacted;

    out = redact(rules, argv, &len, &count);
    FZ_CHECK(out != NULL);
    FZ_CHECK(count_nul(out, len) == count_nul(argv.data, argv.len));
    FZ_CHECK(count > 0 || (len == argv.len
                           && memcmp(out, argv.data, len) == 0));

    /*
     * argv[0] is the program: it is never read as a flag, so one with no
     * place a key can start ('=', ' ', ',', ';', '?', '&', '#') and no URL
     * ("://") in it is left as it is.
     */
    nul = memchr(argv.data, '\0', argv.len);
    first = nul ? (size_t) (nul - argv.data) + 1 : argv.len;
    if (!has_key_start(argv.data, first) && !has_scheme_sep(argv.data, first))
    {
        FZ_CHECK(len >= first && memcmp(out, argv.data, first) == 0);
    }

    redacted.data = out;
    redacted.len = len;
    again = redact(rules, redacted, &len2, &count2);
    FZ_CHECK(again != NULL);
    only_hides(out, len, again, len2);

    more = redact(custom, argv, &len3, &count3);
    FZ_CHECK(more != NULL);
    FZ_CHECK(count3 >= (count > 0 ? 1 : 0));

    free(out);
    free(again);
    free(more);
}


static void
operator_pattern(pprof_str_t pattern, pprof_str_t argv)
{
    pprof_redactor_t  *r;
    unsigned char     *out;
    char               err[256];
    size_t             len, count;

    err[0] = '\0';
    r = pprof_redactor_create(&pattern, 1, err, sizeof(err));

    if (r == NULL) {
        FZ_CHECK(err[0] != '\0');
        return;
    }

    if (argv.len > ARGV_PATTERN_MAX) {
        argv.len = ARGV_PATTERN_MAX;
    }

    /* A match limit may stop a pattern: then nothing may be sent. */
    out = redact(r, argv, &len, &count);
    if (out != NULL) {
        FZ_CHECK(count > 0 || (len == argv.len
                               && memcmp(out, argv.data, len) == 0));
    }

    free(out);
    pprof_redactor_free(r);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t         in = { data, size };
    pprof_str_t  pattern;

    if (fz_u8(&in) & 1) {
        pattern = fz_field(&in);
        operator_pattern(pattern, fz_rest(&in));
    } else {
        fixed(fz_rest(&in));
    }

    return 0;
}
