/*
 * The streaming annotator (SPEC §9) on real Go profiles (t/unit/fixtures,
 * fetched from the Go 1.19 target) and on profiles compressed here by
 * zlib in every block layout it makes.  Each body is fed whole, byte by
 * byte and in random pieces, and must come out byte-identical each time:
 * one gzip member, the upstream's compressed bytes untouched up to its
 * final block, the comments appended with the next string indices, and
 * a seal that verifies.  A body that cannot be annotated must come out
 * exactly as it went in, with the reason.  Also: the comment lines as
 * written, and which forwarded bodies the gateway changes at all.
 */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <zlib.h>

#include "unit.h"
#include "proxy/proxy.h"
#include "proxy/verify.h"
#include "proxy/profile.pb-c.h"


#define LINE1  "pprof-gateway: audit_id=0123 identity=alice roles=oncall"
#define LINE2  "pprof-gateway: endpoint=heap params=- upstream=127.0.0.1:6060" \
               " at=2026-11-22T03:45:01.123456Z"

static EVP_PKEY  *key;


typedef struct {
    unsigned char  *data;
    size_t          len;
} buf_t;


/* Capacity is the next power of two above len, never stored. */
static void
buf_add(buf_t *b, const void *p, size_t n)
{
    size_t  cap;

    for (cap = 64; cap <= b->len; cap *= 2) { }

    if (b->data == NULL || b->len + n >= cap) {
        while (cap <= b->len + n) {
            cap *= 2;
        }
        b->data = realloc(b->data, cap);
        assert_non_null(b->data);
    }

    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
}


static buf_t
read_fixture(const char *name)
{
    char    path[256];
    char    chunk[4096];
    size_t  n;
    buf_t   b = { NULL, 0 };
    FILE   *f;

    snprintf(path, sizeof(path), "t/unit/fixtures/%s", name);
    f = fopen(path, "rb");
    assert_non_null(f);

    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        buf_add(&b, chunk, n);
    }

    fclose(f);
    return b;
}


/* Every member of a gzip stream inflated; *members counts them. */
static buf_t
gunzip(const buf_t *in, int *members, int *ok)
{
    unsigned char  out[16384];
    z_stream       z;
    buf_t          b = { NULL, 0 };
    int            rc;

    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 16 + 15), Z_OK);
    z.next_in = in->data;
    z.avail_in = (uInt) in->len;
    *members = 0;
    *ok = 0;

    for ( ;; ) {
        z.next_out = out;
        z.avail_out = sizeof(out);
        rc = inflate(&z, Z_NO_FLUSH);
        buf_add(&b, out, sizeof(out) - z.avail_out);

        if (rc == Z_STREAM_END) {
            (*members)++;
            if (z.avail_in == 0) {
                *ok = 1;
                break;
            }
            inflateReset(&z);
            continue;
        }

        if (rc != Z_OK) {
            break;
        }
    }

    inflateEnd(&z);
    return b;
}


static buf_t
gzip_with(const buf_t *in, int level, int strategy, size_t flush_every)
{
    unsigned char  out[16384];
    z_stream       z;
    buf_t          b = { NULL, 0 };
    size_t         off, n;
    int            flush;

    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, 16 + 15, 8,
                                  strategy), Z_OK);
    off = 0;

    do {
        n = in->len - off;
        if (flush_every && n > flush_every) {
            n = flush_every;
        }

        z.next_in = in->data + off;
        z.avail_in = (uInt) n;
        off += n;
        flush = off == in->len ? Z_FINISH : flush_every ? Z_FULL_FLUSH
                                                        : Z_NO_FLUSH;
        do {
            z.next_out = out;
            z.avail_out = sizeof(out);
            assert_int_not_equal(deflate(&z, flush), Z_STREAM_ERROR);
            buf_add(&b, out, sizeof(out) - z.avail_out);
        } while (z.avail_out == 0);

    } while (off < in->len);

    deflateEnd(&z);
    return b;
}


static void
put_varint(buf_t *b, uint64_t v)
{
    unsigned char  c;

    while (v >= 0x80) {
        c = (unsigned char) (v | 0x80);
        buf_add(b, &c, 1);
        v >>= 7;
    }

    c = (unsigned char) v;
    buf_add(b, &c, 1);
}


static void
put_bytes(buf_t *b, unsigned field, const void *p, size_t n)
{
    put_varint(b, (uint64_t) field << 3 | 2);
    put_varint(b, n);
    buf_add(b, p, n);
}


/*
 * A profile.proto with nfuncs functions of pseudo-random names (so that
 * it compresses into several blocks) and, like Go's delta profiles, with
 * fields after string_table.
 */
static buf_t
make_profile(size_t nfuncs, int first_string_empty)
{
    buf_t     b = { NULL, 0 }, m = { NULL, 0 };
    char      name[64];
    size_t    i;
    uint32_t  x = 12345;

    put_varint(&m, 1 << 3);
    put_varint(&m, 1);
    put_varint(&m, 2 << 3);
    put_varint(&m, 2);
    put_bytes(&b, 1, m.data, m.len);                  /* sample_type */
    free(m.data);

    for (i = 0; i < nfuncs; i++) {
        m.data = NULL;
        m.len = 0;
        put_varint(&m, 1 << 3);
        put_varint(&m, i + 1);
        put_varint(&m, 2 << 3);
        put_varint(&m, i + 3);
        put_bytes(&b, 5, m.data, m.len);              /* function */
        free(m.data);
    }

    put_bytes(&b, 6, first_string_empty ? "" : "x", first_string_empty ? 0 : 1);
    put_bytes(&b, 6, "samples", 7);
    put_bytes(&b, 6, "count", 5);

    for (i = 0; i < nfuncs; i++) {
        x = x * 1103515245 + 12345;
        snprintf(name, sizeof(name), "main.f%08x_%u", x, (unsigned) i);
        put_bytes(&b, 6, name, strlen(name));
    }

    put_varint(&b, 9 << 3);                           /* time_nanos */
    put_varint(&b, 1795319101123456789ULL);
    put_varint(&b, 10 << 3);                          /* duration_nanos */
    put_varint(&b, 5000000000ULL);
    return b;
}


/* The number of string_table entries, read independently of the core. */
static uint64_t
count_strings(const buf_t *pb)
{
    size_t    i = 0;
    uint64_t  tag, v, n = 0;
    unsigned  shift;

#define VARINT(out)                                                          \
    for (out = 0, shift = 0; ; shift += 7) {                                 \
        assert_true(i < pb->len);                                            \
        out |= (uint64_t) (pb->data[i] & 0x7f) << shift;                     \
        if (!(pb->data[i++] & 0x80)) break;                                  \
    }

    while (i < pb->len) {
        VARINT(tag);
        switch (tag & 7) {
        case 0: VARINT(v); break;
        case 1: i += 8; break;
        case 5: i += 4; break;
        case 2:
            VARINT(v);
            i += v;
            n += (tag >> 3) == 6;
            break;
        default: fail();
        }
    }

#undef VARINT
    return n;
}


/* SPLIT: in two pieces, the first split_at bytes long. */
typedef enum { WHOLE, BYTES, RANDOM, SPLIT } chunking_t;

static size_t  split_at;


/* The body through an annotator, fed as chunking says. */
static buf_t
annotate(const buf_t *in, chunking_t how, size_t hold_max, EVP_PKEY *k,
    pprof_annotate_reason_t *reason)
{
    pprof_annotator_t    *a;
    buf_t                 out = { NULL, 0 };
    unsigned char        *held;
    const unsigned char  *tail;
    size_t                off, n, nheld, pass, tail_len;

    a = pprof_annotator_create(hold_max);
    assert_non_null(a);

    for (off = 0; off < in->len; off += n) {
        n = how == WHOLE ? in->len : how == BYTES ? 1
            : how == SPLIT ? (off == 0 ? split_at : in->len - off)
            : 1 + (size_t) rand() % 3000;
        if (n > in->len - off) {
            n = in->len - off;
        }

        held = malloc(pprof_annotator_held(a) + 1);
        assert_non_null(held);
        pprof_annotator_feed(a, in->data + off, n, held, &nheld, &pass);
        assert_true(pass <= n);
        buf_add(&out, held, nheld);
        buf_add(&out, in->data + off, pass);
        free(held);
    }

    /* Before the end: truncated, unless it already failed. */
    assert_string_equal(pprof_annotation_outcome(PPROF_ANNOTATE_OK, a, 0,
                                                 k != NULL),
        pprof_annotate_reason_name(pprof_annotator_result(a)));

    tail_len = 0;
    *reason = pprof_annotator_finish(a, LINE1, LINE2, k, &tail, &tail_len);
    buf_add(&out, tail, tail_len);
    assert_int_equal(pprof_annotator_result(a), *reason);
    assert_string_equal(pprof_annotation_outcome(PPROF_ANNOTATE_OK, a, 0,
                                                 k != NULL),
                        *reason != PPROF_ANNOTATE_OK
                        ? pprof_annotate_reason_name(*reason)
                        : k ? "sealed" : "annotated");
    assert_string_equal(pprof_annotation_outcome(PPROF_ANNOTATE_OK, a, 1,
                                                 k != NULL), "truncated");
    pprof_annotator_free(a);
    return out;
}


/* The annotated body: everything SPEC §9 promises about it. */
static void
check_annotated(const buf_t *in, const buf_t *out, EVP_PKEY *k)
{
    buf_t          up, pb, suffix = { NULL, 0 };
    unsigned char  md[32];
    char           sha_line[PPROF_SHA256_LINE_LEN + 1];
    char           seal_line[PPROF_SEAL_LINE_LEN + 1];
    char           statement[4096];
    pprof_str_t    lines[4];
    size_t         i, differ, stlen = 0, nlines;
    int            members, ok;

    up = gunzip(in, &members, &ok);
    assert_true(ok);
    pb = gunzip(out, &members, &ok);
    assert_true(ok);
    assert_int_equal(members, 1);

    /* The upstream's profile, then exactly the comments' bytes. */
    assert_true(pb.len > up.len);
    assert_memory_equal(pb.data, up.data, up.len);

    SHA256(up.data, up.len, md);
    pprof_provenance_sha_line(md, sha_line);
    lines[0] = S(LINE1);
    lines[1] = S(LINE2);
    lines[2] = S(sha_line);
    nlines = 3;

    if (k != NULL) {
        /* The seal is the fourth line; it must verify over the rest. */
        stlen = pprof_seal_statement(statement, sizeof(statement), lines,
                                     up.len, in->data, 10);
        assert_true(stlen > 0);
        assert_int_equal(pprof_seal_line(key, statement, stlen, seal_line),
                         0);
        lines[3] = S(seal_line);
        nlines = 4;
    }

    suffix.data = malloc(8192);
    suffix.len = pprof_provenance_encode(suffix.data, 8192, lines, nlines,
                                         count_strings(&up));
    assert_true(suffix.len > 0);
    assert_int_equal(pb.len, up.len + suffix.len);
    assert_memory_equal(pb.data + up.len, suffix.data, suffix.len);

    if (k != NULL) {
        assert_true(pprof_sign_verify(k, statement, stlen,
                    seal_line + sizeof(PPROF_COMMENT_PREFIX "seal=") - 1,
                    PPROF_SIG_B64_LEN));
    }

    /*
     * Not recompressed: up to the last byte of the deflate data, the
     * upstream's bytes but one, where the final block's BFINAL bit was.
     */
    assert_true(out->len > in->len);
    for (i = 0, differ = 0; i + 9 < in->len; i++) {
        differ += in->data[i] != out->data[i];
    }

    assert_true(differ <= 1);

    free(up.data);
    free(pb.data);
    free(suffix.data);
}


static void
check_all_chunkings(const buf_t *in, EVP_PKEY *k)
{
    pprof_annotate_reason_t  r;
    buf_t                    whole, bytes, pieces;
    int                      i;

    whole = annotate(in, WHOLE, PPROF_ANNOTATE_HOLD_MAX, k, &r);
    assert_int_equal(r, PPROF_ANNOTATE_OK);
    check_annotated(in, &whole, k);

    bytes = annotate(in, BYTES, PPROF_ANNOTATE_HOLD_MAX, k, &r);
    assert_int_equal(r, PPROF_ANNOTATE_OK);
    assert_int_equal(bytes.len, whole.len);
    assert_memory_equal(bytes.data, whole.data, whole.len);
    free(bytes.data);

    for (i = 0; i < 20; i++) {
        pieces = annotate(in, RANDOM, PPROF_ANNOTATE_HOLD_MAX, k, &r);
        assert_int_equal(r, PPROF_ANNOTATE_OK);
        assert_int_equal(pieces.len, whole.len);
        assert_memory_equal(pieces.data, whole.data, whole.len);
        free(pieces.data);
    }

    free(whole.data);
}


static void
test_go_profiles(void **state)
{
    static const char  *names[] = {
        "goroutine.pb.gz", "heap.pb.gz", "heap-delta.pb.gz",
        "threadcreate.pb.gz"
    };

    size_t  i;
    buf_t   in;

    (void) state;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        in = read_fixture(names[i]);
        check_all_chunkings(&in, key);
        check_all_chunkings(&in, NULL);
        free(in.data);
    }
}


/* zlib's block layouts: stored, fixed, Huffman-only, dynamic, flushed. */
static void
test_zlib_layouts(void **state)
{
    static const struct { int level, strategy; size_t flush; } ways[] = {
        { 0, Z_DEFAULT_STRATEGY, 0 },
        { 1, Z_FIXED, 0 },
        { 6, Z_HUFFMAN_ONLY, 0 },
        { 6, Z_DEFAULT_STRATEGY, 0 },
        { 9, Z_DEFAULT_STRATEGY, 0 },
        { 6, Z_DEFAULT_STRATEGY, 777 },
        { 0, Z_DEFAULT_STRATEGY, 5000 },
        { 6, Z_RLE, 100000 },
    };

    size_t  i;
    buf_t   pb, gz;

    (void) state;

    pb = make_profile(20000, 1);

    for (i = 0; i < sizeof(ways) / sizeof(ways[0]); i++) {
        gz = gzip_with(&pb, ways[i].level, ways[i].strategy, ways[i].flush);
        check_all_chunkings(&gz, key);
        free(gz.data);
    }

    free(pb.data);

    /* A tiny profile: the whole deflate stream is one final block. */
    pb = make_profile(1, 1);
    gz = gzip_with(&pb, 6, Z_DEFAULT_STRATEGY, 0);
    check_all_chunkings(&gz, key);
    free(gz.data);
    free(pb.data);
}


/* Corrupt data may read as bad deflate or as a bad profile. */
#define ANY_FAILURE  PPROF_ANNOTATE_REASON_COUNT

/* The body comes out exactly as it went in, with the reason. */
static void
check_unchanged(const buf_t *in, size_t hold_max,
    pprof_annotate_reason_t want)
{
    pprof_annotate_reason_t  r;
    buf_t                    out;
    chunking_t               how;

    for (how = WHOLE; how <= RANDOM; how++) {
        out = annotate(in, how, hold_max, key, &r);
        if (want == ANY_FAILURE) {
            assert_int_not_equal(r, PPROF_ANNOTATE_OK);
        } else {
            assert_int_equal(r, want);
        }
        assert_int_equal(out.len, in->len);
        if (in->len) {
            assert_memory_equal(out.data, in->data, in->len);
        }
        free(out.data);
    }
}


static void
test_unannotatable(void **state)
{
    buf_t                  go, pb, gz, b;
    static const char      text[] = "heap profile: 1: 2 [3: 4] @ heap/1048576\n";
    static const char      gz_fname[] = "\x1f\x8b\x08\x08\0\0\0\0\0\xff";

    (void) state;

    go = read_fixture("heap.pb.gz");

    /* Text, a trace, nothing at all. */
    b.data = (unsigned char *) text;
    b.len = sizeof(text) - 1;
    check_unchanged(&b, PPROF_ANNOTATE_HOLD_MAX, PPROF_ANNOTATE_NOT_GZIP);
    b.data = (unsigned char *) "go 1.19 trace\0\0\0";
    b.len = 16;
    check_unchanged(&b, PPROF_ANNOTATE_HOLD_MAX, PPROF_ANNOTATE_NOT_GZIP);
    b.len = 0;
    check_unchanged(&b, PPROF_ANNOTATE_HOLD_MAX, PPROF_ANNOTATE_TRUNCATED);

    /* Cut anywhere: truncated, or not gzip when cut inside the magic. */
    b = go;
    b.len = go.len - 1;
    check_unchanged(&b, PPROF_ANNOTATE_HOLD_MAX, PPROF_ANNOTATE_TRUNCATED);
    b.len = go.len / 2;
    check_unchanged(&b, PPROF_ANNOTATE_HOLD_MAX, PPROF_ANNOTATE_TRUNCATED);
    b.len = 5;
    check_unchanged(&b, PPROF_ANNOTATE_HOLD_MAX, PPROF_ANNOTATE_TRUNCATED);

    /* A corrupt block, a wrong CRC, a wrong length. */
    b.data = malloc(go.len + go.len);
    memcpy(b.data, go.data, go.len);
    b.len = go.len;
    b.data[10] ^= 0xff;
    check_unchanged(&b, PPROF_ANNOTATE_HOLD_MAX, ANY_FAILURE);
    memcpy(b.data, go.data, go.len);
    b.data[10] = 0x07;                  /* BTYPE 11: reserved */
    check_unchanged(&b, PPROF_ANNOTATE_HOLD_MAX, PPROF_ANNOTATE_BAD_DEFLATE);
    memcpy(b.data, go.data, go.len);
    b.data[go.len - 6] ^= 0x01;
    check_unchanged(&b, PPROF_ANNOTATE_HOLD_MAX, PPROF_ANNOTATE_BAD_TRAILER);
    memcpy(b.data, go.data, go.len);
    b.data[go.len - 2] ^= 0x01;
    check_unchanged(&b, PPROF_ANNOTATE_HOLD_MAX, PPROF_ANNOTATE_BAD_TRAILER);

    /* Bytes after the member: junk, or a second member. */
    memcpy(b.data, go.data, go.len);
    memcpy(b.data + go.len, "junk", 4);
    b.len = go.len + 4;
    check_unchanged(&b, PPROF_ANNOTATE_HOLD_MAX,
                    PPROF_ANNOTATE_TRAILING_DATA);
    memcpy(b.data + go.len, go.data, go.len);
    b.len = 2 * go.len;
    check_unchanged(&b, PPROF_ANNOTATE_HOLD_MAX,
                    PPROF_ANNOTATE_TRAILING_DATA);
    free(b.data);

    /* gzip, but not a profile: text, or string_table[0] not "". */
    b.data = (unsigned char *) text;
    b.len = sizeof(text) - 1;
    gz = gzip_with(&b, 6, Z_DEFAULT_STRATEGY, 0);
    check_unchanged(&gz, PPROF_ANNOTATE_HOLD_MAX, PPROF_ANNOTATE_NOT_PROFILE);
    free(gz.data);
    pb = make_profile(10, 0);
    gz = gzip_with(&pb, 6, Z_DEFAULT_STRATEGY, 0);
    check_unchanged(&gz, PPROF_ANNOTATE_HOLD_MAX, PPROF_ANNOTATE_NOT_PROFILE);
    free(gz.data);

    /* A profile that ends inside a field. */
    pb.len -= 3;
    gz = gzip_with(&pb, 6, Z_DEFAULT_STRATEGY, 0);
    check_unchanged(&gz, PPROF_ANNOTATE_HOLD_MAX, PPROF_ANNOTATE_NOT_PROFILE);
    free(gz.data);
    free(pb.data);

    /* The final block larger than the hold: passes, unannotated. */
    pb = make_profile(20000, 1);
    gz = gzip_with(&pb, 6, Z_DEFAULT_STRATEGY, 0);
    check_unchanged(&gz, 4096, PPROF_ANNOTATE_BLOCK_TOO_LARGE);
    free(gz.data);
    free(pb.data);

    /* A gzip header with a name longer than the seal takes. */
    b.data = malloc(10 + 400 + go.len);
    memcpy(b.data, gz_fname, 10);
    memset(b.data + 10, 'n', 399);
    b.data[409] = '\0';
    memcpy(b.data + 410, go.data + 10, go.len - 10);
    b.len = 400 + go.len;
    check_unchanged(&b, PPROF_ANNOTATE_HOLD_MAX, PPROF_ANNOTATE_GZIP_HEADER);
    free(b.data);

    free(go.data);
}


/*
 * A valid member where inflate stops twice with no input taken: an empty
 * dynamic block whose end-of-block code and the fixed final block's header
 * share a byte.  No byte may be skipped, whatever the chunking.
 */
static void
test_empty_blocks(void **state)
{
    buf_t  in;

    (void) state;

    in = read_fixture("empty-blocks.pb.gz");
    check_all_chunkings(&in, key);
    free(in.data);
}


/* A short file name in the header: annotated, the header sealed as is. */
static void
test_gzip_header_name(void **state)
{
    pprof_annotate_reason_t  r;
    buf_t                    go, b, out, pb;
    int                      members, ok;

    (void) state;

    go = read_fixture("goroutine.pb.gz");
    b.data = malloc(go.len + 16);
    memcpy(b.data, "\x1f\x8b\x08\x08\0\0\0\0\0\xffprofile\0", 18);
    memcpy(b.data + 18, go.data + 10, go.len - 10);
    b.len = go.len + 8;

    out = annotate(&b, RANDOM, PPROF_ANNOTATE_HOLD_MAX, key, &r);
    assert_int_equal(r, PPROF_ANNOTATE_OK);
    assert_memory_equal(out.data, b.data, 18);
    pb = gunzip(&out, &members, &ok);
    assert_true(ok);
    assert_int_equal(members, 1);

    free(pb.data);
    free(out.data);
    free(b.data);
    free(go.data);
}

/* The comment lines: fields escaped, "-" for none, the time in UTC. */
static void
test_provenance_lines(void **state)
{
    static char         line1[PPROF_COMMENT_LINE_MAX];
    static char         line2[PPROF_COMMENT_LINE_MAX];
    static char         big[PPROF_COMMENT_LINE_MAX];
    pprof_provenance_t  p;
    pprof_str_t         roles[2];

    (void) state;

    memset(&p, 0, sizeof(p));
    roles[0] = S("oncall");
    roles[1] = S("viewer");
    p.audit_id = S("0123456789abcdef0123456789abcdef");
    p.identity = S("alice roles=admin%\xc3\xa9");
    p.roles = roles;
    p.nroles = 2;
    p.endpoint = S("profile");
    p.params = S("seconds=5");
    p.upstream = S("127.0.0.1:6060, 127.0.0.1:6061");
    p.time_us = 1795319101123456ULL;

    assert_int_equal(pprof_provenance_lines(&p, line1, line2), 0);
    assert_string_equal(line1, "pprof-gateway: audit_id="
        "0123456789abcdef0123456789abcdef"
        " identity=alice%20roles=admin%25%C3%A9 roles=oncall,viewer");
    assert_string_equal(line2, "pprof-gateway: endpoint=profile"
        " params=seconds=5 upstream=127.0.0.1:6060,%20127.0.0.1:6061"
        " at=2026-11-22T03:45:01.123456Z");

    /* Anonymous, no roles, no parameters, no upstream. */
    p.identity = S("");
    p.nroles = 0;
    p.params = S("");
    p.upstream = S("");
    assert_int_equal(pprof_provenance_lines(&p, line1, line2), 0);
    assert_string_equal(line1, "pprof-gateway: audit_id="
        "0123456789abcdef0123456789abcdef identity=- roles=-");
    assert_string_equal(line2, "pprof-gateway: endpoint=profile params=-"
        " upstream=- at=2026-11-22T03:45:01.123456Z");

    /* An identity, role or upstream that is "-" is not "none". */
    p.identity = S("-");
    roles[0] = S("-");
    roles[1] = S("--");
    p.nroles = 2;
    p.params = S("-");
    p.upstream = S("-");
    assert_int_equal(pprof_provenance_lines(&p, line1, line2), 0);
    assert_string_equal(line1, "pprof-gateway: audit_id="
        "0123456789abcdef0123456789abcdef identity=%2D roles=%2D,--");
    assert_string_equal(line2, "pprof-gateway: endpoint=profile params=%2D"
        " upstream=%2D at=2026-11-22T03:45:01.123456Z");
    p.nroles = 1;
    roles[0] = S("-x");
    assert_int_equal(pprof_provenance_lines(&p, line1, line2), 0);
    assert_string_equal(line1, "pprof-gateway: audit_id="
        "0123456789abcdef0123456789abcdef identity=%2D roles=-x");

    /* A line that cannot fit is refused, not cut. */
    memset(big, ' ', sizeof(big) - 1);
    p.identity = SN(big, sizeof(big) / 2);
    assert_int_equal(pprof_provenance_lines(&p, line1, line2), -1);
}


/* Which forwarded bodies change: proto profiles with 200, cmdline. */
static void
test_body_action(void **state)
{
    pprof_endpoint_t         ep;
    pprof_params_t           params;
    pprof_annotate_reason_t  why;

    (void) state;

    memset(&params, 0, sizeof(params));
    params.debug = -1;
    params.gc = -1;

    ep.kind = PPROF_EP_HEAP;
    assert_int_equal(pprof_proxy_body_action(&ep, &params, 1, 1, 0, 200, 0,
                                             &why), PPROF_BODY_ANNOTATE);
    assert_int_equal(why, PPROF_ANNOTATE_OK);

    params.debug = 0;
    ep.kind = PPROF_EP_SNAPSHOT;
    assert_int_equal(pprof_proxy_body_action(&ep, &params, 1, 1, 0, 200, 0,
                                             &why), PPROF_BODY_ANNOTATE);

    /* Not annotated, and why. */
    assert_int_equal(pprof_proxy_body_action(&ep, &params, 1, 1, 0, 404, 0,
                                             &why), PPROF_BODY_AS_IS);
    assert_int_equal(why, PPROF_ANNOTATE_STATUS);
    ep.kind = PPROF_EP_PROFILE;
    assert_int_equal(pprof_proxy_body_action(&ep, &params, 1, 1, 0, 200, 1,
                                             &why), PPROF_BODY_AS_IS);
    assert_int_equal(why, PPROF_ANNOTATE_ENCODED);

    /* Never annotated: off, HEAD, text, trace, index, symbol. */
    assert_int_equal(pprof_proxy_body_action(&ep, &params, 0, 1, 0, 200, 0,
                                             &why), PPROF_BODY_AS_IS);
    assert_int_equal(why, PPROF_ANNOTATE_REASON_COUNT);
    assert_int_equal(pprof_proxy_body_action(&ep, &params, 1, 1, 1, 200, 0,
                                             &why), PPROF_BODY_AS_IS);
    assert_int_equal(why, PPROF_ANNOTATE_REASON_COUNT);
    params.debug = 1;
    ep.kind = PPROF_EP_HEAP;
    assert_int_equal(pprof_proxy_body_action(&ep, &params, 1, 1, 0, 200, 0,
                                             &why), PPROF_BODY_AS_IS);
    assert_int_equal(why, PPROF_ANNOTATE_REASON_COUNT);
    params.debug = -1;

    for (ep.kind = PPROF_EP_INDEX; ep.kind <= PPROF_EP_TRACE; ep.kind++) {
        if (ep.kind == PPROF_EP_CMDLINE || ep.kind == PPROF_EP_PROFILE) {
            continue;
        }
        assert_int_equal(pprof_proxy_body_action(&ep, &params, 1, 1, 0, 200,
                                                 0, &why), PPROF_BODY_AS_IS);
        assert_int_equal(why, PPROF_ANNOTATE_REASON_COUNT);
    }

    /* cmdline: redacted whatever the status, unless off. */
    ep.kind = PPROF_EP_CMDLINE;
    assert_int_equal(pprof_proxy_body_action(&ep, &params, 1, 1, 0, 500, 0,
                                             &why), PPROF_BODY_REDACT);
    assert_int_equal(pprof_proxy_body_action(&ep, &params, 1, 0, 0, 200, 0,
                                             &why), PPROF_BODY_AS_IS);

    /* The audit's outcome. */
    assert_null(pprof_annotation_outcome(PPROF_ANNOTATE_REASON_COUNT, NULL,
                                         0, 1));
    assert_string_equal(pprof_annotation_outcome(PPROF_ANNOTATE_STATUS, NULL,
                                                 0, 1), "status");
    assert_string_equal(pprof_annotation_outcome(PPROF_ANNOTATE_OK, NULL,
                                                 0, 1), "truncated");

    assert_string_equal(pprof_annotate_reason_name(PPROF_ANNOTATE_OK),
                        "annotated");
    assert_string_equal(pprof_annotate_reason_name(PPROF_ANNOTATE_ENCODED),
                        "content_encoding");
    assert_string_equal(pprof_annotate_reason_name(PPROF_ANNOTATE_REASON_COUNT),
                        "unknown");
}


/*
 * A seal only on what verify-profile accepts.  The profiles below are
 * judged by protobuf-c, the verifier's own decoder, as the oracle: what
 * it refuses must pass byte for byte; what the annotator seals must
 * verify.  The bodies are fed whole and byte by byte, so that every tag,
 * length and nested message also straddles two calls.
 */

static char  verify_path[] = "/tmp/test_annotate.XXXXXX";
static char  verify_why[3 * PPROF_COMMENT_LINE_MAX];


static int
protobuf_c_takes(const buf_t *pb)
{
    Perftools__Profiles__Profile  *p;

    p = perftools__profiles__profile__unpack(NULL, pb->len, pb->data);
    perftools__profiles__profile__free_unpacked(p, NULL);
    return p != NULL;
}


static pprof_annotate_reason_t
sealed_or_unchanged(const buf_t *pb)
{
    pprof_annotate_reason_t  r, first;
    buf_t                    gz, out;
    chunking_t               how;
    FILE                    *f;

    gz = gzip_with(pb, 6, Z_DEFAULT_STRATEGY, 0);
    first = PPROF_ANNOTATE_REASON_COUNT;

    for (how = WHOLE; how <= BYTES; how++) {
        out = annotate(&gz, how, PPROF_ANNOTATE_HOLD_MAX, key, &r);

        if (r != PPROF_ANNOTATE_OK) {
            assert_int_equal(out.len, gz.len);
            assert_memory_equal(out.data, gz.data, gz.len);

        } else {
            f = fopen(verify_path, "wb");
            assert_non_null(f);
            assert_int_equal(fwrite(out.data, 1, out.len, f), out.len);
            assert_int_equal(fclose(f), 0);

            if (pprof_profile_verify(verify_path, key, verify_why,
                                     sizeof(verify_why)) != 0)
            {
                fail_msg("sealed, and verify-profile says: %s", verify_why);
            }
        }

        if (how == WHOLE) {
            first = r;
        }

        assert_int_equal(r, first);
        free(out.data);
    }

    free(gz.data);
    return r;
}


static buf_t
bytes_of(const char *hex)
{
    buf_t     b = { NULL, 0 };
    unsigned  v;
    int       n;

    while (sscanf(hex, " %2x%n", &v, &n) == 1) {
        unsigned char c = (unsigned char) v;

        buf_add(&b, &c, 1);
        hex += n;
    }

    return b;
}


static void
test_only_profiles_sealed(void **state)
{
    /* protobuf-c refuses each: they must pass as they came. */
    static const char  *refused[] = {
        /* The outside finding: sample_type (a message) as a varint. */
        "08 0a 32 00",
        /* A nested message cut inside a varint. */
        "12 02 08 81 32 00",
        /* A Line longer than the Location that holds it. */
        "22 04 22 05 08 01 32 00",
        /* Sample.label (a message) as a varint. */
        "12 02 18 01 32 00",
        /* Line.function_id (uint64) as a fixed32. */
        "22 07 22 05 0d 01 02 03 04 32 00",
        /* A group inside a Sample. */
        "12 01 0b 32 00",
        /* An unknown fixed64 longer than its Sample. */
        "12 05 49 01 02 03 04 32 00",
        /* A length, then a tag, in 6 bytes: protobuf-c reads 5. */
        "32 80 80 80 80 80 00",
        "b2 80 80 80 80 00 00",
        /* Packed comments: an 11-byte varint, a cut one. */
        "32 00 6a 0b ff ff ff ff ff ff ff ff ff ff 01",
        "32 00 6a 01 85",
        /* comment (repeated int64) as a fixed64; drop_frames as bytes. */
        "32 00 69 01 02 03 04 05 06 07 08",
        "32 00 3a 00",
        /* string_table as a varint. */
        "30 00",
    };

    /* protobuf-c takes each, and so may the annotator. */
    static const char  *taken[] = {
        /* Unknown fields of each wire type, at the top and nested. */
        "32 00 a0 06 01",
        "32 00 a1 06 01 02 03 04 05 06 07 08",
        "32 00 a2 06 02 ff ff",
        "32 00 a5 06 01 02 03 04",
        "12 03 4a 01 ff 32 00",
        /* comment packed and unpacked; a 10-byte time_nanos. */
        "32 00 32 01 61 32 01 62 6a 02 01 02 68 01 68 00",
        "32 00 48 ff ff ff ff ff ff ff ff ff 7f",
        /* A 5-byte length of 0; empty nested messages. */
        "32 80 80 80 80 00",
        "12 00 22 00 0a 00 32 00",
        /* Sample > Label, Location > Line, all their fields. */
        "12 0a 0a 01 01 12 01 07 1a 02 08 01 32 00",
        "22 0c 08 01 10 02 18 03 22 02 08 01 28 01 32 00",
        /* The packed run ends where its Sample does. */
        "12 04 0a 02 81 01 32 00",
    };

    size_t  i;
    buf_t   pb;

    (void) state;

    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        pb = bytes_of(refused[i]);
        if (protobuf_c_takes(&pb)) {
            fail_msg("protobuf-c takes %s", refused[i]);
        }
        assert_int_equal(sealed_or_unchanged(&pb), PPROF_ANNOTATE_NOT_PROFILE);
        free(pb.data);
    }

    for (i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
        pb = bytes_of(taken[i]);
        if (!protobuf_c_takes(&pb)) {
            fail_msg("protobuf-c refuses %s", taken[i]);
        }
        assert_int_equal(sealed_or_unchanged(&pb), PPROF_ANNOTATE_OK);
        free(pb.data);
    }
}


/*
 * Every field number 1-16 of every message, in each wire type, where
 * the message sits in a profile.  The annotator may refuse more than
 * protobuf-c only for a bool not written as a varint, which protobuf-c
 * reads from any wire type and no writer sends.
 */
static void
test_every_field_wire_type(void **state)
{
    /* Where each message sits: outer field, and inner for Label, Line. */
    static const struct { unsigned outer, inner; unsigned bools; } where[] = {
        { 0, 0, 0 },            /* Profile */
        { 1, 0, 0 },            /* ValueType */
        { 2, 0, 0 },            /* Sample */
        { 2, 3, 0 },            /* Label */
        { 3, 0, 0x780 },        /* Mapping: has_* are 7-10 */
        { 4, 0, 0x20 },         /* Location: is_folded is 5 */
        { 4, 4, 0 },            /* Line */
        { 5, 0, 0 },            /* Function */
    };

    static const unsigned char  payload[8][9] = {
        { 1, 0x01 }, { 8, 1, 2, 3, 4, 5, 6, 7, 8 }, { 3, 0x02, 0x08, 0x01 },
        { 0 }, { 0 }, { 4, 1, 2, 3, 4 }, { 0 }, { 0 }
    };

    size_t    m;
    unsigned  field, wire;
    buf_t     fld, in, pb;
    int       takes;

    (void) state;

    for (m = 0; m < sizeof(where) / sizeof(where[0]); m++) {
        for (field = 1; field <= 16; field++) {
            for (wire = 0; wire < 8; wire++) {
                fld.data = NULL;
                fld.len = 0;
                put_varint(&fld, field << 3 | wire);
                buf_add(&fld, payload[wire] + 1, payload[wire][0]);

                in = fld;
                if (where[m].inner) {
                    in.data = NULL;
                    in.len = 0;
                    put_bytes(&in, where[m].inner, fld.data, fld.len);
                }

                /* Strings enough for the comments the payloads make. */
                pb.data = NULL;
                pb.len = 0;
                put_bytes(&pb, 6, "", 0);
                while (pb.len < 2 + 9 * 3) {
                    put_bytes(&pb, 6, "s", 1);
                }
                if (where[m].outer) {
                    put_bytes(&pb, where[m].outer, in.data, in.len);
                } else {
                    buf_add(&pb, in.data, in.len);
                }

                takes = protobuf_c_takes(&pb);

                if (sealed_or_unchanged(&pb) == PPROF_ANNOTATE_OK) {
                    assert_true(takes);

                } else if (takes
                           && !((where[m].bools >> field & 1) && wire != 0))
                {
                    fail_msg("message %zu field %u wire type %u: protobuf-c "
                             "takes it, the annotator does not", m, field,
                             wire);
                }

                if (in.data != fld.data) {
                    free(in.data);
                }
                free(fld.data);
                free(pb.data);
            }
        }
    }
}


/* A small profile with each byte changed, and cut at each length. */
static void
test_mutations(void **state)
{
    static const unsigned char  values[] = {
        0x00, 0x01, 0x02, 0x05, 0x07, 0x08, 0x7f, 0x80, 0xff
    };

    buf_t   pb, m;
    size_t  i, j;

    (void) state;

    pb = make_profile(2, 1);

    for (i = 0; i < pb.len; i++) {
        for (j = 0; j <= sizeof(values); j++) {
            m.data = malloc(pb.len);
            memcpy(m.data, pb.data, pb.len);
            m.len = pb.len;
            m.data[i] = j < sizeof(values) ? values[j] : m.data[i] ^ 0x80;

            if (sealed_or_unchanged(&m) == PPROF_ANNOTATE_OK) {
                assert_true(protobuf_c_takes(&m));
            }

            /* Cut after byte i. */
            m.len = i + 1;
            memcpy(m.data, pb.data, m.len);
            if (sealed_or_unchanged(&m) == PPROF_ANNOTATE_OK) {
                assert_true(protobuf_c_takes(&m));
            }

            free(m.data);
        }
    }

    free(pb.data);
}


/*
 * A target that writes strings claiming to be the gateway's: never
 * sealed, since verify-profile would name them, and the audit says so.
 */
static void
test_planted_lines(void **state)
{
    static const struct { const char *s; int planted; } strings[] = {
        { "pprof-gateway: audit_id=0123 identity=alice roles=admin", 1 },
        { "pprof-gateway: seal=AAAA", 1 },
        { "pprof-gateway:", 1 },
        { " \t\r\nPPROF-Gateway: identity=root", 1 },
        { "\x1bpprof-gateway: x", 1 },
        { "pprof-gateway", 0 },
        { "pprof-gateway-seal/1", 0 },
        { "note: pprof-gateway: x", 1 },
        { "pprof-gateway;", 0 },
        { "pprof gateway:", 0 },
        { "pprof-gatewa\ny:", 1 },
        { "p\x7fprof-gate\x01way:", 1 },
    };

    pprof_annotate_reason_t  r;
    buf_t                    pb;
    size_t                   i;

    (void) state;

    for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        pb = make_profile(3, 1);
        put_bytes(&pb, 6, strings[i].s, strlen(strings[i].s));
        put_varint(&pb, 13 << 3);
        put_varint(&pb, 3 + 3);
        r = sealed_or_unchanged(&pb);
        assert_int_equal(r, strings[i].planted ? PPROF_ANNOTATE_PLANTED
                                               : PPROF_ANNOTATE_OK);
        free(pb.data);
    }

    /*
     * Comments that point past the upstream's strings: at the gateway's
     * own lines, shown again before them.  Go's parser refuses them too.
     */
    pb = bytes_of("32 00 68 01");
    assert_true(protobuf_c_takes(&pb));
    assert_int_equal(sealed_or_unchanged(&pb), PPROF_ANNOTATE_NOT_PROFILE);
    free(pb.data);
    pb = bytes_of("68 03 32 00 32 01 61 32 01 62");
    assert_int_equal(sealed_or_unchanged(&pb), PPROF_ANNOTATE_NOT_PROFILE);
    free(pb.data);
    pb = bytes_of("6a 03 02 00 01 32 00 32 01 61 32 01 62");
    assert_int_equal(sealed_or_unchanged(&pb), PPROF_ANNOTATE_OK);
    free(pb.data);
    pb = bytes_of("32 00 68 ff ff ff ff ff ff ff ff ff 01");
    assert_int_equal(sealed_or_unchanged(&pb), PPROF_ANNOTATE_NOT_PROFILE);
    free(pb.data);

    /* Not in a comment: still refused, the annotator cannot tell. */
    pb = make_profile(3, 1);
    put_bytes(&pb, 6, "pprof-gateway: x", 16);
    assert_int_equal(sealed_or_unchanged(&pb), PPROF_ANNOTATE_PLANTED);
    free(pb.data);

    assert_string_equal(pprof_annotate_reason_name(PPROF_ANNOTATE_PLANTED),
                        "planted_lines");
    assert_string_equal(pprof_annotate_reason_name(PPROF_ANNOTATE_TOO_LARGE),
                        "profile_too_large");
}


/*
 * The mark anywhere in a string: go tool pprof prints a comment as it is,
 * so whatever follows a line break (\n, \r, \v, \f, NEL, U+2028, or
 * what a terminal makes of an escape sequence) reads as a line of its
 * own.  The annotator sees each string in pieces, as inflate makes them:
 * stored blocks fed in two pieces cut the string at every offset.
 */
static void
test_planted_anywhere(void **state)
{
    static const char  *found[] = {
        "build 1.2\npprof-gateway: audit_id=0123 identity=root roles=admin",
        "build 1.2\rpprof-gateway: audit_id=0123 identity=root",
        "a\vpprof-gateway: x",
        "a\fPprof-Gateway: x",
        "a\xc2\x85pprof-gateway: x",
        "a\xe2\x80\xa8pPROF-gATEWAY: x",
        "a\xe2\x80\xa9\x1b[2K pprof-gateway: x",
        "ppprof-gateway:",
        "pprof-pprof-gateway:",
        "pprof-gatewapprof-gateway: x",
        "line one\nline two\n  \t pprof-gateway:",
    };
    static const char  finding[] = "build 1.2\npprof-gateway: audit_id=0123 "
                                   "identity=root roles=admin";
    static const char  near[] = "build 1.2\npprof-gateway-seal/1 pprof-gatewa";

    pprof_annotate_reason_t  r;
    buf_t                    pb, gz, out, big;
    size_t                   i;

    (void) state;

    for (i = 0; i < sizeof(found) / sizeof(found[0]); i++) {
        pb = make_profile(3, 1);
        put_bytes(&pb, 6, found[i], strlen(found[i]));
        put_varint(&pb, 13 << 3);
        put_varint(&pb, 3 + 3);
        assert_int_equal(sealed_or_unchanged(&pb), PPROF_ANNOTATE_PLANTED);
        free(pb.data);
    }

    /* The finding, and a near miss, cut at every offset. */
    for (i = 0; i < 2; i++) {
        pb = make_profile(3, 1);
        put_bytes(&pb, 6, i == 0 ? finding : near,
                  i == 0 ? sizeof(finding) - 1 : sizeof(near) - 1);
        put_varint(&pb, 13 << 3);
        put_varint(&pb, 3 + 3);
        gz = gzip_with(&pb, 0, Z_DEFAULT_STRATEGY, 0);

        for (split_at = 1; split_at < gz.len; split_at++) {
            out = annotate(&gz, SPLIT, PPROF_ANNOTATE_HOLD_MAX, key, &r);
            if (i == 0) {
                assert_int_equal(r, PPROF_ANNOTATE_PLANTED);
                assert_int_equal(out.len, gz.len);
                assert_memory_equal(out.data, gz.data, gz.len);

            } else {
                assert_int_equal(r, PPROF_ANNOTATE_OK);
                check_annotated(&gz, &out, key);
            }

            free(out.data);
        }

        free(gz.data);
        free(pb.data);
    }

    /*
     * Far into a string longer than any buffer, after a run of 'p's; the
     * same bytes as two strings are no mark, each string starts afresh.
     */
    big.len = 300000 + 14;
    big.data = malloc(big.len);
    assert_non_null(big.data);
    memset(big.data, 'x', 299000);
    memcpy(big.data + 299000, "\r\n", 2);
    memset(big.data + 299002, 'p', 300000 - 299002);
    memcpy(big.data + 300000, "rof-gateway: x", 14);
    pb = make_profile(3, 1);
    put_bytes(&pb, 6, big.data, big.len);
    assert_int_equal(sealed_or_unchanged(&pb), PPROF_ANNOTATE_PLANTED);
    free(pb.data);
    pb = make_profile(3, 1);
    put_bytes(&pb, 6, big.data, 300000);
    put_bytes(&pb, 6, big.data + 300000, 14);
    assert_int_equal(sealed_or_unchanged(&pb), PPROF_ANNOTATE_OK);
    free(pb.data);
    free(big.data);
}


static int
setup(void **state)
{
    (void) state;
    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    srand(42);
    return key == NULL || close(mkstemp(verify_path)) != 0;
}


static int
teardown(void **state)
{
    (void) state;
    EVP_PKEY_free(key);
    unlink(verify_path);
    return 0;
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_profiles),
        cmocka_unit_test(test_zlib_layouts),
        cmocka_unit_test(test_unannotatable),
        cmocka_unit_test(test_empty_blocks),
        cmocka_unit_test(test_gzip_header_name),
        cmocka_unit_test(test_provenance_lines),
        cmocka_unit_test(test_body_action),
        cmocka_unit_test(test_only_profiles_sealed),
        cmocka_unit_test(test_every_field_wire_type),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_planted_lines),
        cmocka_unit_test(test_planted_anywhere),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
