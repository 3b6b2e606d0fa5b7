/*
 * The streaming annotator (proxy/annotate.c), fed in the pieces the input
 * says, as nginx's body filter would feed it.
 *
 * Input: a flags byte, four chunk-size bytes (used in turn: 1 to 256
 * bytes a feed), a deflate byte and a step byte, the identity for comment
 * line 1 (a length byte and its bytes), then the body:
 *   flags & 1 = 0: the rest is an uncompressed profile, which the harness
 *                  gzips itself (level, strategy and block layout from the
 *                  deflate byte: one pass, Go's sync flush then an empty
 *                  final block, or a block boundary every step bytes, bit-
 *                  or byte-aligned), so that the fuzzer works on the
 *                  protobuf and the annotator's scanner sees it;
 *   flags & 1 = 1: the rest is the body as the upstream sent it.
 * Other flags: sign with an Ed25519 key (2), hold at most a few bytes (4),
 * comment lines that could not be written (8), a gzip header with a name
 * (16), or with an extra field longer than the seal carries (32).
 *
 * Asserts what SPEC §9 promises: the bytes sent are either the body byte
 * for byte, or one gzip member that inflates to what the body inflates
 * to, followed only by string_table (6) and comment (13) fields, one
 * comment per string, three lines, four with the seal; and a body that is
 * recorded "sealed" passes pprof_profile_verify() (proxy/profile_verify.c)
 * with the key's public half.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "proxy/proxy.h"
#include "proxy/verify.h"
#include "fuzz.h"


#define F_RAW        0x01
#define F_KEY        0x02
#define F_SMALL_HOLD 0x04
#define F_NO_LINES   0x08
#define F_NAME       0x10
#define F_EXTRA      0x20


static EVP_PKEY  *key;


typedef struct {
    unsigned char  *data;
    size_t          len;
    size_t          cap;
} buf_t;



static void
buf_add(buf_t *b, const void *p, size_t n)
{
    if (b->cap - b->len < n) {
        b->cap = (b->len + n) * 2 + 64;
        b->data = realloc(b->data, b->cap);
        if (b->data == NULL) {
            abort();
        }
    }

    if (n > 0) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }
}


static void
deflate_all(z_stream *z, buf_t *out, const unsigned char *p, size_t n,
    int flush)
{
    unsigned char  chunk[4096];
    int            rc;

    z->next_in = (unsigned char *) p;
    z->avail_in = (uInt) n;

    do {
        z->next_out = chunk;
        z->avail_out = sizeof(chunk);
        rc = deflate(z, flush);
        FZ_CHECK(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR);
        buf_add(out, chunk, sizeof(chunk) - z->avail_out);
    } while (z->avail_out == 0 || z->avail_in > 0);
}


/* The profile gzip'd in the layout the deflate and step bytes choose. */
static void
gzip_profile(pprof_str_t profile, uint8_t how, uint8_t step, uint8_t flags,
    buf_t *out)
{
    static const int  strategies[] = {
        Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE, Z_FIXED
    };

    static unsigned char  extra[300];
    z_stream              z;
    gz_header             h;
    size_t                i, n, piece;
    int                   layout;

    memset(&z, 0, sizeof(z));
    FZ_CHECK(deflateInit2(&z, how % 10, Z_DEFLATED, 16 + 15, 8,
                          strategies[(how / 10) % 5]) == Z_OK);

    if (flags & (F_NAME | F_EXTRA)) {
        memset(&h, 0, sizeof(h));
        h.time = 1700000000;
        h.os = 3;
        h.name = (unsigned char *) "profile";
        if (flags & F_EXTRA) {
            h.extra = extra;
            h.extra_len = sizeof(extra);
        }
        FZ_CHECK(deflateSetHeader(&z, &h) == Z_OK);
    }

    layout = (how / 50) % 4;
    piece = (size_t) step + 1;

    for (i = 0; i < profile.len; i += n) {
        n = layout < 2 ? profile.len : piece;
        n = n < profile.len - i ? n : profile.len - i;

        deflate_all(&z, out, profile.data + i, n,
                    layout == 0 ? Z_NO_FLUSH
                    : layout == 1 ? Z_SYNC_FLUSH
                    : layout == 2 ? Z_BLOCK : Z_FULL_FLUSH);
    }

    deflate_all(&z, out, NULL, 0, Z_FINISH);
    deflateEnd(&z);
}


/*
 * Every member inflated, in order; *members counts them and *clean says
 * whether the input is whole members and nothing else.
 */
static void
gunzip(const buf_t *in, buf_t *out, int *members, int *clean)
{
    unsigned char  chunk[16384];
    z_stream       z;
    int            rc;

    memset(&z, 0, sizeof(z));
    FZ_CHECK(inflateInit2(&z, 16 + 15) == Z_OK);
    z.next_in = in->data;
    z.avail_in = (uInt) in->len;
    *members = 0;
    *clean = 0;

    for ( ;; ) {
        z.next_out = chunk;
        z.avail_out = sizeof(chunk);
        rc = inflate(&z, Z_NO_FLUSH);
        buf_add(out, chunk, sizeof(chunk) - z.avail_out);

        if (rc == Z_STREAM_END) {
            (*members)++;
            if (z.avail_in == 0) {
                *clean = 1;
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
}


static int
varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    unsigned  shift;

    *v = 0;
    for (shift = 0; *p < end && shift < 64; shift += 7) {
        *v |= (uint64_t) (**p & 0x7f) << shift;
        if (!(*(*p)++ & 0x80)) {
            return 0;
        }
    }

    return -1;
}


/* What was appended: string_table and comment fields only, as many
 * comments as strings; returns how many. */
static size_t
check_appended(const unsigned char *p, size_t len)
{
    const unsigned char  *end = p + len;
    uint64_t              tag, v;
    size_t                strings = 0, comments = 0;

    while (p < end) {
        FZ_CHECK(varint(&p, end, &tag) == 0);

        if (tag == ((6 << 3) | 2)) {
            FZ_CHECK(varint(&p, end, &v) == 0 && v <= (uint64_t) (end - p));
            p += v;
            strings++;

        } else {
            FZ_CHECK(tag == ((13 << 3) | 0));
            FZ_CHECK(varint(&p, end, &v) == 0);
            comments++;
        }
    }

    FZ_CHECK(strings == comments);
    return strings;
}


static void
check_annotated(const buf_t *body, const buf_t *sent, int sealed,
    const pprof_annotator_t *a)
{
    buf_t        upstream = { NULL, 0, 0 }, whole = { NULL, 0, 0 };
    const char  *path;
    char         why[3 * PPROF_COMMENT_LINE_MAX];
    int          members, clean;
    size_t       n;

    gunzip(body, &upstream, &members, &clean);
    FZ_CHECK(members == 1 && clean);
    FZ_CHECK(pprof_annotator_upstream_bytes(a) == upstream.len);

    gunzip(sent, &whole, &members, &clean);
    FZ_CHECK(members == 1 && clean);
    FZ_CHECK(whole.len > upstream.len);
    FZ_CHECK(memcmp(whole.data, upstream.data, upstream.len) == 0);

    n = check_appended(whole.data + upstream.len, whole.len - upstream.len);
    FZ_CHECK(n == (sealed ? 4 : 3));

    if (sealed) {
        path = fz_scratch_write(sent->data, sent->len);

        if (pprof_profile_verify(path, key, why, sizeof(why)) != 0) {
            fz_failf(__FILE__, __LINE__, "recorded \"sealed\", but "
                     "pprof_profile_verify() says: %s", why);
        }
    }

    free(upstream.data);
    free(whole.data);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t                      in = { data, size };
    pprof_annotator_t        *a;
    pprof_annotate_reason_t   rc;
    pprof_provenance_t        prov;
    pprof_str_t               role = { (const unsigned char *) "oncall", 6 };
    buf_t                     body = { NULL, 0, 0 }, sent = { NULL, 0, 0 };
    unsigned char            *held_out;
    const unsigned char      *tail;
    static char               line1[PPROF_COMMENT_LINE_MAX];
    static char               line2[PPROF_COMMENT_LINE_MAX];
    const char               *outcome;
    uint8_t                   flags, chunks[4], how, step;
    size_t                    off, n, held, nheld, pass, tail_len, i;

    key = fz_ed25519();

    flags = fz_u8(&in);
    for (i = 0; i < 4; i++) {
        chunks[i] = fz_u8(&in);
    }
    how = fz_u8(&in);
    step = fz_u8(&in);

    memset(&prov, 0, sizeof(prov));
    prov.audit_id.data = (const unsigned char *) "0123456789abcdef";
    prov.audit_id.len = 16;
    prov.identity = fz_field(&in);
    prov.roles = &role;
    prov.nroles = 1;
    prov.endpoint.data = (const unsigned char *) "heap";
    prov.endpoint.len = 4;
    prov.time_us = 1700000000123456ULL;

    if (flags & F_RAW) {
        pprof_str_t  rest = fz_rest(&in);

        buf_add(&body, rest.data, rest.len);

    } else {
        gzip_profile(fz_rest(&in), how, step, flags, &body);
    }

    a = pprof_annotator_create(flags & F_SMALL_HOLD ? 8 + (size_t) step
                                                    : PPROF_ANNOTATE_HOLD_MAX);
    FZ_CHECK(a != NULL);

    for (off = 0, i = 0; off < body.len; off += n, i++) {
        n = (size_t) chunks[i % 4] + 1;
        n = n < body.len - off ? n : body.len - off;

        /* Exactly what the feed may write, so that ASan sees a byte more. */
        held = pprof_annotator_held(a);
        held_out = malloc(held > 0 ? held : 1);
        FZ_CHECK(held_out != NULL);

        pprof_annotator_feed(a, body.data + off, n, held_out, &nheld, &pass);
        FZ_CHECK(nheld <= held && pass <= n);

        buf_add(&sent, held_out, nheld);
        buf_add(&sent, body.data + off, pass);
        free(held_out);
    }

    if (flags & F_NO_LINES
        || pprof_provenance_lines(&prov, line1, line2) != 0)
    {
        rc = pprof_annotator_finish(a, NULL, NULL, NULL, &tail, &tail_len);
    } else {
        rc = pprof_annotator_finish(a, line1, line2,
                                    flags & F_KEY ? key : NULL, &tail,
                                    &tail_len);
    }

    buf_add(&sent, tail, tail_len);

    FZ_CHECK(rc == pprof_annotator_result(a));
    FZ_CHECK(rc < PPROF_ANNOTATE_STATUS);

    outcome = pprof_annotation_outcome(PPROF_ANNOTATE_OK, a, 0,
                                       (flags & F_KEY) != 0);

    if (rc != PPROF_ANNOTATE_OK) {
        FZ_CHECK(strcmp(outcome, pprof_annotate_reason_name(rc)) == 0);
        FZ_CHECK(sent.len == body.len
                 && (body.len == 0
                     || memcmp(sent.data, body.data, body.len) == 0));

    } else {
        FZ_CHECK(strcmp(outcome, flags & F_KEY ? "sealed" : "annotated")
                 == 0);
        check_annotated(&body, &sent, (flags & F_KEY) != 0, a);
    }

    pprof_annotator_free(a);
    free(body.data);
    free(sent.data);
    return 0;
}
