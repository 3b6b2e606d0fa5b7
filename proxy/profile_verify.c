/*
 * pprof-audit verify-profile: whether a profile file is, byte for byte,
 * what the gateway sealed (SPEC §9).
 *
 * The annotator keeps the upstream's gzip header and appends its lines at
 * the end of the uncompressed profile, so a sealed file is
 *
 *     gzip header | deflate(upstream profile | appended bytes) | trailer
 *
 * Nothing is taken on trust from the file's layout: the lines are read
 * from the decoded profile, their bytes are re-encoded and must be the end
 * of the data, what comes before must hash to line 3 and decode as a
 * profile on its own, and the statement over lines 1-3, that length and
 * the header must verify against line 4.  Bytes after the first gzip
 * member, which some readers read and others skip, are refused, so that
 * a file that verifies has one reading.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "verify.h"
#include "proxy/profile.pb-c.h"


/* The profile is decoded whole: what a hostile file can make us hold. */
#define PROFILE_MAX     ((size_t) PPROF_PROFILE_MAX)
#define OUT_FIRST       ((size_t) 1 << 20)
#define READ_CHUNK      65536

#if READ_CHUNK <= PPROF_GZIP_HEADER_MAX
#error "a whole gzip header must fit the first read"
#endif

/* Per line, pprof_provenance_encode() adds a tag and a length varint, and
 * a comment's tag and index varint. */
#define VARINT_MAX      10
#define SUFFIX_MAX      (PPROF_COMMENT_LINES \
                         * (PPROF_COMMENT_LINE_MAX + 2 * (1 + VARINT_MAX)))

/* Lines 1-3, "upstream_bytes=" with 20 digits, the header as hex. */
#define STATEMENT_MAX   (3 * PPROF_COMMENT_LINE_MAX \
                         + 2 * PPROF_GZIP_HEADER_MAX + 128)

#define SHA_LINE        2
#define SEAL_LINE       3

typedef Perftools__Profiles__Profile  profile_t;


typedef struct {
    unsigned char  *data;
    size_t          len;
    size_t          cap;
    unsigned char   header[PPROF_GZIP_HEADER_MAX];
    size_t          header_len;
} gunzipped_t;

/* What is rebuilt from the lines: lines long, so kept off the stack. */
typedef struct {
    char            text[PPROF_COMMENT_LINES][PPROF_COMMENT_LINE_MAX];
    pprof_str_t     line[PPROF_COMMENT_LINES];
    uint64_t        upstream_strings;
    unsigned char   suffix[SUFFIX_MAX];
    char            statement[STATEMENT_MAX];
} rebuilt_t;


static const char *const  line_start[PPROF_COMMENT_LINES] = {
    PPROF_COMMENT_PREFIX "audit_id=",
    PPROF_COMMENT_PREFIX "endpoint=",
    PPROF_COMMENT_PREFIX "upstream_sha256=",
    PPROF_COMMENT_PREFIX "seal="
};


static int
fail(char *why, size_t whylen, const char *f, ...)
{
    va_list  ap;

    if (whylen > 0) {
        va_start(ap, f);
        vsnprintf(why, whylen, f, ap);
        va_end(ap);
    }

    return -1;
}


static int
read_chunk(FILE *f, unsigned char *buf, size_t *n, char *why, size_t whylen)
{
    *n = fread(buf, 1, READ_CHUNK, f);

    if (ferror(f)) {
        return fail(why, whylen, "read error: %s", strerror(errno));
    }

    return 0;
}


/*
 * inflate() names what the trailer check found in zs->msg: say it in the
 * gzip terms an operator can look up.
 */
static int
corrupt(const z_stream *zs, int rc, char *why, size_t whylen)
{
    const char  *msg;

    if (rc == Z_MEM_ERROR) {
        return fail(why, whylen, "out of memory");
    }

    msg = zs->msg ? zs->msg : "zlib error";

    if (strcmp(msg, "incorrect data check") == 0) {
        return fail(why, whylen, "CRC mismatch: the gzip trailer's CRC-32 "
                    "does not match the data");
    }

    if (strcmp(msg, "incorrect length check") == 0) {
        return fail(why, whylen, "length mismatch: the gzip trailer's ISIZE "
                    "does not match the data");
    }

    return fail(why, whylen, "corrupt gzip data (%s)", msg);
}


static int
grow(z_stream *zs, gunzipped_t *gz, char *why, size_t whylen)
{
    unsigned char  *p;
    size_t          n;

    if (gz->cap == PROFILE_MAX) {
        return fail(why, whylen, "larger than %zu MiB uncompressed",
                    PROFILE_MAX >> 20);
    }

    n = gz->cap == 0 ? OUT_FIRST : gz->cap * 2;
    if (n > PROFILE_MAX) {
        n = PROFILE_MAX;
    }

    p = realloc(gz->data, n);
    if (p == NULL) {
        return fail(why, whylen, "out of memory");
    }

    gz->data = p;
    zs->next_out = p + zs->total_out;
    zs->avail_out = (uInt) (n - zs->total_out);
    gz->cap = n;
    return 0;
}


/*
 * The header first: with Z_BLOCK, inflate() returns right after it, and
 * sets 128 in data_type once it stands before the first deflate block.
 */
static int
gunzip_header(FILE *f, z_stream *zs, unsigned char *in, gunzipped_t *gz,
    char *why, size_t whylen)
{
    size_t  n;
    int     rc;

    if (read_chunk(f, in, &n, why, whylen) != 0) {
        return -1;
    }

    if (n == 0) {
        return fail(why, whylen, "not gzip: the file is empty");
    }

    zs->next_in = in;
    zs->avail_in = (uInt) n;

    rc = inflate(zs, Z_BLOCK);

    if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return fail(why, whylen, "not gzip (%s)",
                    zs->msg ? zs->msg : "bad header");
    }

    if (zs->total_in > PPROF_GZIP_HEADER_MAX) {
        return fail(why, whylen, "gzip header longer than %d bytes",
                    PPROF_GZIP_HEADER_MAX);
    }

    if (!(zs->data_type & 128)) {
        return fail(why, whylen, "truncated: the file ends in the gzip "
                    "header");
    }

    gz->header_len = zs->total_in;
    memcpy(gz->header, in, gz->header_len);
    return 0;
}


static int
gunzip_rest(FILE *f, z_stream *zs, unsigned char *in, gunzipped_t *gz,
    char *why, size_t whylen)
{
    size_t  n;
    int     rc;

    for ( ;; ) {
        if (zs->avail_out == 0 && grow(zs, gz, why, whylen) != 0) {
            return -1;
        }

        if (zs->avail_in == 0) {
            if (read_chunk(f, in, &n, why, whylen) != 0) {
                return -1;
            }

            if (n == 0) {
                return fail(why, whylen, "truncated: the file ends in the "
                            "gzip member");
            }

            zs->next_in = in;
            zs->avail_in = (uInt) n;
        }

        rc = inflate(zs, Z_NO_FLUSH);

        if (rc == Z_STREAM_END) {
            break;
        }

        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            return corrupt(zs, rc, why, whylen);
        }
    }

    gz->len = zs->total_out;

    /* A reader that stops at the first member's end would not see more. */
    if (zs->avail_in == 0) {
        if (read_chunk(f, in, &n, why, whylen) != 0) {
            return -1;
        }

        zs->next_in = in;
        zs->avail_in = (uInt) n;
    }

    if (zs->avail_in >= 2 && zs->next_in[0] == 0x1f && zs->next_in[1] == 0x8b)
    {
        return fail(why, whylen, "more than one gzip member");
    }

    if (zs->avail_in > 0) {
        return fail(why, whylen, "trailing bytes after the gzip member");
    }

    return 0;
}


/* One gzip member and nothing after it, its CRC-32 and ISIZE checked. */
static int
gunzip(FILE *f, gunzipped_t *gz, char *why, size_t whylen)
{
    unsigned char  *in;
    z_stream        zs;
    int             rc;

    in = malloc(READ_CHUNK);
    if (in == NULL) {
        return fail(why, whylen, "out of memory");
    }

    memset(&zs, 0, sizeof(zs));

    /* 16: gzip only; a zlib or raw stream is not what the gateway sends. */
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        free(in);
        return fail(why, whylen, "out of memory");
    }

    /* inflate() wants somewhere to write even while it reads the header. */
    rc = grow(&zs, gz, why, whylen);

    if (rc == 0) {
        rc = gunzip_header(f, &zs, in, gz, why, whylen);
    }

    if (rc == 0) {
        rc = gunzip_rest(f, &zs, in, gz, why, whylen);
    }

    inflateEnd(&zs);
    free(in);
    return rc;
}


static int
printable(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


/*
 * The gateway's lines are the last four comments, indexing the last four
 * strings in order: the annotator appends exactly that, and comments the
 * upstream wrote stay before them.  Read from the seal backwards, so that
 * a profile without one says so.
 */
static int
read_lines(const profile_t *p, rebuilt_t *rb, char *why, size_t whylen)
{
    const char  *s;
    size_t       i, k, ns, nc, len;

    ns = p->n_string_table;
    nc = p->n_comment;

    if (ns == 0 || p->string_table[0][0] != '\0') {
        return fail(why, whylen, "not a profile.proto: string_table[0] is "
                    "not \"\"");
    }

    /* Go's parser refuses these too, and the annotator never seals them. */
    for (i = 0; i < nc; i++) {
        if (p->comment[i] < 0 || (uint64_t) p->comment[i] >= ns) {
            return fail(why, whylen, "not a profile.proto: comment %zu "
                        "points outside string_table", i + 1);
        }
    }

    for (k = 0; k < PPROF_COMMENT_LINES; k++) {
        i = PPROF_COMMENT_LINES - 1 - k;

        if (nc <= k || ns <= k + 1
            || (uint64_t) p->comment[nc - 1 - k] != ns - 1 - k
            || strncmp(p->string_table[ns - 1 - k], line_start[i],
                       strlen(line_start[i])) != 0)
        {
            if (i == SEAL_LINE) {
                return fail(why, whylen, "no gateway seal: the last comment "
                            "is not a \"%s\" line", line_start[i]);
            }

            return fail(why, whylen, "gateway comments missing or out of "
                        "order: no \"%s\" line before the seal",
                        line_start[i]);
        }

        s = p->string_table[ns - 1 - k];
        len = strlen(s);

        /* The gateway escapes everything else, and the tool prints them. */
        if (len >= PPROF_COMMENT_LINE_MAX || !printable(s, len)) {
            return fail(why, whylen, "gateway comment %zu is too long or not "
                        "printable ASCII", i + 1);
        }

        memcpy(rb->text[i], s, len + 1);
        rb->line[i].data = (const unsigned char *) rb->text[i];
        rb->line[i].len = len;
    }

    rb->upstream_strings = ns - PPROF_COMMENT_LINES;
    return 0;
}


/*
 * Comments before the gateway's four that claim to be the gateway's: a
 * target can write them, and go tool pprof shows them first, each of
 * its lines as a line of its own.  Each is named by its place among the
 * comments and its text around the mark, cut and made printable.
 */
static int
planted(const profile_t *p, char *why, size_t whylen)
{
    const char  *s;
    size_t       i, k, from, n, used, count;
    int          mark;
    char         text[81];

    count = 0;
    used = 0;

    /* read_lines() has checked every index. */
    for (i = 0; i + PPROF_COMMENT_LINES < p->n_comment; i++) {
        s = p->string_table[p->comment[i]];

        for (k = 0, mark = 0; s[k] != '\0' && mark < PPROF_GATEWAY_MARK_YES;
             k++)
        {
            mark = pprof_gateway_mark(mark, (const unsigned char *) s + k, 1);
        }

        if (mark != PPROF_GATEWAY_MARK_YES) {
            continue;
        }

        /* The mark ends at k: show it from a little before. */
        from = k > sizeof(text) / 2 ? k - sizeof(text) / 2 : 0;

        for (k = 0; s[from + k] != '\0' && k < sizeof(text) - 1; k++) {
            text[k] = s[from + k] >= 0x20 && s[from + k] < 0x7f ? s[from + k]
                                                                : '?';
        }

        text[k] = '\0';

        if (count++ == 0) {
            n = (size_t) snprintf(why, whylen, "comment lines claim to be "
                                  "the gateway's but are not under its "
                                  "seal:");
            used = n < whylen ? n : whylen;
        }

        n = (size_t) snprintf(why + used, whylen - used, " comment %zu "
                              "\"%s%s%s\";", i + 1, from > 0 ? "..." : "",
                              text, s[from + k] != '\0' ? "..." : "");
        used += n < whylen - used ? n : whylen - used;
    }

    return count > 0 ? -1 : 0;
}


/*
 * malloc() that notes a failure: a profile too large for memory is not a
 * corrupt one, and protobuf-c returns NULL for both.  What it allocates
 * is freed by free_unpacked()'s default, free().
 */
static void *
decode_alloc(void *oom, size_t size)
{
    void  *p = malloc(size);

    if (p == NULL) {
        *(int *) oom = 1;
    }

    return p;
}


static void
decode_free(void *oom, void *p)
{
    (void) oom;
    free(p);
}


static profile_t *
decode(const unsigned char *data, size_t len, int *oom)
{
    ProtobufCAllocator  a = { decode_alloc, decode_free, oom };

    *oom = 0;
    return perftools__profiles__profile__unpack(&a, len, data);
}


/* line3: line 3 as read from the profile, NUL-terminated. */
static int
check_sha(const unsigned char *upstream, size_t len, const char *line3,
    char *why, size_t whylen)
{
    unsigned char  md[EVP_MAX_MD_SIZE];
    char           expect[PPROF_SHA256_LINE_LEN + 1];
    size_t         start;

    start = strlen(line_start[SHA_LINE]);

    if (strlen(line3) != PPROF_SHA256_LINE_LEN
        || strspn(line3 + start, "0123456789abcdef")
           != PPROF_SHA256_LINE_LEN - start)
    {
        return fail(why, whylen, "malformed upstream_sha256 line: not 64 "
                    "lowercase hex digits");
    }

    if (EVP_Digest(upstream, len, md, NULL, EVP_sha256(), NULL) != 1) {
        return fail(why, whylen, "SHA-256 failed");
    }

    pprof_provenance_sha_line(md, expect);

    if (memcmp(expect, line3, PPROF_SHA256_LINE_LEN) != 0) {
        return fail(why, whylen, "profile changed: upstream_sha256 does not "
                    "match");
    }

    return 0;
}


static int
check(const gunzipped_t *gz, EVP_PKEY *pubkey, rebuilt_t *rb, char *why,
    size_t whylen)
{
    profile_t    *p;
    const char   *seal;
    size_t        n, upstream_len, start;
    int           rc, oom;

    p = decode(gz->data, gz->len, &oom);
    if (p == NULL) {
        return fail(why, whylen, oom ? "out of memory decoding the profile"
                                     : "not a profile.proto");
    }

    rc = read_lines(p, rb, why, whylen);

    if (rc == 0) {
        rc = planted(p, why, whylen);
    }

    /* The whole decode is let go before the upstream's own. */
    perftools__profiles__profile__free_unpacked(p, NULL);

    if (rc != 0) {
        return -1;
    }

    n = pprof_provenance_encode(rb->suffix, SUFFIX_MAX, rb->line,
                                PPROF_COMMENT_LINES, rb->upstream_strings);

    if (n == 0 || n > gz->len
        || memcmp(gz->data + gz->len - n, rb->suffix, n) != 0)
    {
        return fail(why, whylen, "gateway comments are not the end of the "
                    "profile, encoded as the gateway encodes them");
    }

    upstream_len = gz->len - n;

    if (check_sha(gz->data, upstream_len, rb->text[SHA_LINE], why, whylen)
        != 0)
    {
        return -1;
    }

    /* Otherwise its last field could reach into the appended bytes. */
    p = decode(gz->data, upstream_len, &oom);
    if (p == NULL) {
        return fail(why, whylen, oom ? "out of memory decoding the profile"
                                     : "the upstream's profile, before the "
                                       "gateway comments, is not a "
                                       "profile.proto");
    }

    perftools__profiles__profile__free_unpacked(p, NULL);

    n = pprof_seal_statement(rb->statement, STATEMENT_MAX, rb->line,
                             upstream_len, gz->header, gz->header_len);
    start = strlen(line_start[SEAL_LINE]);
    seal = rb->text[SEAL_LINE] + start;

    if (n == 0
        || !pprof_sign_verify(pubkey, rb->statement, n, seal,
                              rb->line[SEAL_LINE].len - start))
    {
        return fail(why, whylen, "seal does not verify: another key, or "
                    "the comments or the gzip header were changed");
    }

    snprintf(why, whylen, "%s\n%s\n%s", rb->text[0], rb->text[1],
             rb->text[2]);
    return 0;
}


int
pprof_profile_verify(const char *path, EVP_PKEY *pubkey, char *why,
    size_t whylen)
{
    FILE         *f;
    gunzipped_t   gz;
    rebuilt_t    *rb;
    int           rc;

    if (pubkey == NULL) {
        return fail(why, whylen, "no public key to check the seal with");
    }

    f = fopen(path, "rb");
    if (f == NULL) {
        return fail(why, whylen, "cannot open: %s", strerror(errno));
    }

    memset(&gz, 0, sizeof(gz));
    rc = gunzip(f, &gz, why, whylen);
    fclose(f);

    if (rc == 0) {
        rb = malloc(sizeof(rebuilt_t));
        rc = rb ? check(&gz, pubkey, rb, why, whylen)
                : fail(why, whylen, "out of memory");
        free(rb);
    }

    free(gz.data);
    return rc;
}
