/*
 * The streaming annotator (SPEC §9).
 *
 * A gzip member ends with a deflate block marked final, then CRC-32 and
 * length.  To append to it without recompressing, the final block's
 * BFINAL bit is cleared, new blocks are compressed after the last bit of
 * it (deflatePrime carries the bits of its last, partial byte), and the
 * trailer is rebuilt with crc32_combine: the technique of zlib's
 * examples/gzappend.c, done here on a stream.
 *
 * Streaming means knowing, as bytes pass, which of them may still change.
 * Only the final block's header bit and what follows it do, and a block
 * is known to be final only once its header is read.  inflate() with
 * Z_TREES stops at every block boundary and after every block header, and
 * its data_type tells the bit position reached: so bytes up to the
 * position decoded inside a non-final block are released as they come,
 * and only a block header being read, or the final block, is held back.
 * Go ends its members with an empty stored final block: a few bytes.
 *
 * What inflates is hashed (the upstream's profile, for the seal) and
 * scanned as protobuf wire format at the top level only: enough to count
 * string_table entries, whose indices the appended comments continue.
 * The nested messages are skipped by length, unread.
 */

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "proxy.h"


#define WINDOW           262144     /* inflate output, hashed and scanned */

/* inflate's data_type */
#define DT_BITS          63         /* unused bits of the input consumed */
#define DT_LAST          64         /* in the final block */
#define DT_BOUNDARY      128        /* at the end of a block (or header) */
#define DT_HEADER_DONE   256        /* just after a block header */

#define FIELD_NUMBER_MAX    ((1u << 29) - 1)

/*
 * What protobuf-c, and so verify-profile, takes: tags and lengths of at
 * most 5 bytes, other varints of at most 10, and at most 16 * (2^23 - 1)
 * fields in one message (its scan stops there), less the 8 appended.  A
 * length near 2^32 wraps in its arithmetic: refused here.
 */
#define TAG_BYTES_MAX       5
#define LEN_BYTES_MAX       5
#define VARINT_BYTES_MAX    10
#define FIELDS_MAX          (16u * ((1u << 23) - 1) - 2 * PPROF_COMMENT_LINES)
#define LEN_MAX             ((uint64_t) UINT32_MAX - 16)


typedef enum {
    GZ_HEADER = 0,      /* reading the gzip header */
    GZ_BLOCKS,          /* deflate blocks */
    GZ_TRAILER,         /* after the final block: CRC-32 and length */
    GZ_END              /* the member is complete */
} gz_state_t;


/*
 * profile.proto, as far as the scanner must know it to accept no more
 * than protobuf-c does: for each message, what its fields 1-15 hold.
 * Other numbers are fields protobuf-c keeps as unknown.
 */
enum {
    M_PROFILE = 0,
    M_VALUE_TYPE,
    M_SAMPLE,
    M_LABEL,
    M_MAPPING,
    M_LOCATION,
    M_LINE,
    M_FUNCTION,
    M_PACKED,           /* a packed run of varints, read like a message */
    M_COMMENTS          /* the same, of Profile.comment: each one noted */
};

#define K_UNKNOWN   0   /* wire types 0, 1, 2 and 5, passed over */
#define K_VARINT    1   /* int64, uint64 and bool: wire type 0 */
#define K_PACKED    2   /* repeated int64 or uint64: wire type 0, or 2 */
#define K_STRING    3   /* Profile.string_table */
#define K_MESSAGE   4   /* wire type 2, and its own fields checked */
#define K_COMMENT   5   /* Profile.comment: K_PACKED, its indices noted */
#define K_MASK      7
#define MSG(m)      (K_MESSAGE | (m) << 3)
#define V           K_VARINT

static const unsigned char  schema[M_PACKED][16] = {
    [M_PROFILE]    = { 0, MSG(M_VALUE_TYPE), MSG(M_SAMPLE), MSG(M_MAPPING),
                       MSG(M_LOCATION), MSG(M_FUNCTION), K_STRING, V, V, V,
                       V, MSG(M_VALUE_TYPE), V, K_COMMENT, V, V },
    [M_VALUE_TYPE] = { 0, V, V },
    [M_SAMPLE]     = { 0, K_PACKED, K_PACKED, MSG(M_LABEL) },
    [M_LABEL]      = { 0, V, V, V, V },
    [M_MAPPING]    = { 0, V, V, V, V, V, V, V, V, V, V },
    [M_LOCATION]   = { 0, V, V, V, MSG(M_LINE), V },
    [M_LINE]       = { 0, V, V, V },
    [M_FUNCTION]   = { 0, V, V, V, V, V },
};

#undef V

/* Profile > Sample > Label or a packed run; Profile > Location > Line. */
#define PB_DEPTH    3


typedef enum {
    PB_TAG = 0,         /* a tag; in a packed run, a value */
    PB_LEN,
    PB_VARINT,
    PB_SKIP,
    PB_STRING           /* a string_table entry: does it claim the mark? */
} pb_state_t;

typedef struct {
    uint64_t     end;            /* where a nested message ends */
    uint32_t     nfields;
    unsigned     msg;
} pb_frame_t;

typedef struct {
    pb_state_t   state;
    uint64_t     value;          /* varint being read */
    unsigned     nbytes;         /* its bytes so far */
    unsigned     kind;           /* of the field whose tag was read */
    uint64_t     pos;            /* bytes scanned */
    uint64_t     skip;           /* bytes of a field still to pass */
    int          mark;           /* pprof_gateway_mark() of a string */
    unsigned     depth;
    pb_frame_t   frame[PB_DEPTH];
    uint64_t     nstrings;
    uint64_t     planted;        /* strings that claim to be the gateway's */
    uint64_t     comments;
    uint64_t     comment_max;    /* the highest string index a comment has */
} pb_scan_t;

struct pprof_annotator_s {
    z_stream                  z;
    int                       z_ready;
    gz_state_t                gz;
    pprof_annotate_reason_t   failed;      /* OK while annotation holds */
    int                       finished;

    EVP_MD_CTX               *sha;
    pb_scan_t                 pb;

    /* Offsets count bytes of the compressed body, bit positions bits. */
    uint64_t                  fed;
    uint64_t                  release;     /* bytes before go out as is */
    uint64_t                  header_bit;  /* of the block being read */
    int                       in_header;   /* its BFINAL not known yet */
    int                       in_final;
    uint64_t                  end_bit;     /* where the final block ends */

    unsigned char             gzip_header[PPROF_GZIP_HEADER_MAX];
    size_t                    gzip_header_len;

    /* The bytes held back: [hold_start, fed). */
    unsigned char            *hold;
    size_t                    hold_len;
    size_t                    hold_cap;
    size_t                    hold_max;
    uint64_t                  hold_start;

    unsigned char            *tail;
    unsigned char             window[WINDOW];
};


static void annotate_fail(pprof_annotator_t *a, pprof_annotate_reason_t why);
static void annotate_inflate(pprof_annotator_t *a, const unsigned char *in,
    size_t len);
static void annotate_position(pprof_annotator_t *a);
static int pb_scan(pb_scan_t *pb, const unsigned char *p, size_t len);
static inline int pb_tag(unsigned msg, uint64_t tag, uint32_t *nfields,
    unsigned *kind, uint64_t *skip);
static int pb_value(pb_scan_t *pb, uint64_t n);
static void pb_comment(pb_scan_t *pb, uint64_t index);
static inline int pb_varint(const unsigned char *p, size_t n, size_t *i,
    unsigned max, uint64_t *v);
static int pb_whole(unsigned msg, const unsigned char *p, size_t n,
    uint32_t *nfields);
static int hold_append(pprof_annotator_t *a, const unsigned char *p,
    size_t len);
static pprof_annotate_reason_t annotate_tail(pprof_annotator_t *a,
    const char *line1, const char *line2, EVP_PKEY *key, size_t *tail_len);


pprof_annotator_t *
pprof_annotator_create(size_t hold_max)
{
    pprof_annotator_t  *a;

    a = calloc(1, sizeof(pprof_annotator_t));
    if (a == NULL) {
        return NULL;
    }

    a->hold_max = hold_max;
    a->sha = EVP_MD_CTX_new();

    /* 16 + 15: a gzip member only, with zlib checking its trailer. */
    if (a->sha == NULL
        || EVP_DigestInit_ex(a->sha, EVP_sha256(), NULL) != 1
        || inflateInit2(&a->z, 16 + 15) != Z_OK)
    {
        pprof_annotator_free(a);
        return NULL;
    }

    a->z_ready = 1;
    return a;
}


void
pprof_annotator_free(pprof_annotator_t *a)
{
    if (a == NULL) {
        return;
    }

    if (a->z_ready) {
        inflateEnd(&a->z);
    }

    EVP_MD_CTX_free(a->sha);
    free(a->hold);
    free(a->tail);
    free(a);
}


size_t
pprof_annotator_held(const pprof_annotator_t *a)
{
    return a->hold_len;
}


pprof_annotate_reason_t
pprof_annotator_result(const pprof_annotator_t *a)
{
    if (a->failed != PPROF_ANNOTATE_OK) {
        return a->failed;
    }

    return a->finished ? PPROF_ANNOTATE_OK : PPROF_ANNOTATE_TRUNCATED;
}


uint64_t
pprof_annotator_upstream_bytes(const pprof_annotator_t *a)
{
    return a->z.total_out;
}


/* From now on every byte passes as it came. */
static void
annotate_fail(pprof_annotator_t *a, pprof_annotate_reason_t why)
{
    if (a->failed == PPROF_ANNOTATE_OK) {
        a->failed = why;
    }
}


void
pprof_annotator_feed(pprof_annotator_t *a, const unsigned char *in,
    size_t len, unsigned char *held_out, size_t *nheld, size_t *pass)
{
    uint64_t  start, release;
    size_t    n;

    start = a->fed;

    if (a->fed < PPROF_GZIP_HEADER_MAX) {
        n = PPROF_GZIP_HEADER_MAX - (size_t) a->fed;
        n = n < len ? n : len;
        memcpy(a->gzip_header + a->fed, in, n);
    }

    a->fed += len;

    if (a->failed == PPROF_ANNOTATE_OK && len > 0) {
        if (a->gz == GZ_END) {
            annotate_fail(a, PPROF_ANNOTATE_TRAILING_DATA);

        } else {
            annotate_inflate(a, in, len);

            if (a->failed == PPROF_ANNOTATE_OK && a->gz != GZ_END
                && a->z.total_in != a->fed)
            {
                annotate_fail(a, PPROF_ANNOTATE_BAD_DEFLATE);
            }
        }
    }

    release = a->failed == PPROF_ANNOTATE_OK ? a->release : a->fed;

    if (a->failed == PPROF_ANNOTATE_OK
        && a->fed - release > a->hold_max)
    {
        annotate_fail(a, PPROF_ANNOTATE_BLOCK_TOO_LARGE);
        release = a->fed;
    }

    /* Held bytes that are now released go first, then the input's. */
    if (release <= start) {
        *nheld = (size_t) (release - a->hold_start);
        *pass = 0;

    } else {
        *nheld = a->hold_len;
        *pass = (size_t) (release - start);
    }

    if (*nheld > 0) {
        memcpy(held_out, a->hold, *nheld);
        memmove(a->hold, a->hold + *nheld, a->hold_len - *nheld);
        a->hold_len -= *nheld;
    }

    a->hold_start = release;

    if (hold_append(a, in + *pass, len - *pass) != 0) {
        /* Out of memory holding back: give up and send what is held. */
        annotate_fail(a, PPROF_ANNOTATE_NO_MEMORY);

        if (a->hold_len > 0) {
            memcpy(held_out + *nheld, a->hold, a->hold_len);
        }

        *nheld += a->hold_len;
        a->hold_len = 0;
        *pass = len;
        a->hold_start = a->fed;
    }
}


static int
hold_append(pprof_annotator_t *a, const unsigned char *p, size_t len)
{
    unsigned char  *hold;
    size_t          cap;

    if (len == 0) {
        return 0;
    }

    if (a->hold_cap - a->hold_len < len) {
        cap = a->hold_cap ? a->hold_cap : 4096;

        while (cap - a->hold_len < len) {
            cap *= 2;
        }

        hold = realloc(a->hold, cap);
        if (hold == NULL) {
            return -1;
        }

        a->hold = hold;
        a->hold_cap = cap;
    }

    memcpy(a->hold + a->hold_len, p, len);
    a->hold_len += len;
    return 0;
}


/*
 * Every byte of in is inflated, hashed and scanned, or the annotation
 * fails: the bit positions are offsets in the body only while nothing is
 * skipped.
 */
static void
annotate_inflate(pprof_annotator_t *a, const unsigned char *in, size_t len)
{
    size_t  produced, n;
    uLong   in_before, out_before;
    int     rc, dt_before;

    a->z.next_in = (unsigned char *) in;
    a->z.avail_in = 0;

    for ( ;; ) {
        /* zlib counts its input in uInt: a larger buffer goes in parts. */
        if (a->z.avail_in == 0) {
            n = len < UINT_MAX ? len : UINT_MAX;
            a->z.avail_in = (uInt) n;
            len -= n;
        }

        in_before = a->z.total_in;
        out_before = a->z.total_out;
        dt_before = a->z.data_type;

        a->z.next_out = a->window;
        a->z.avail_out = WINDOW;

        rc = inflate(&a->z, Z_TREES);

        produced = WINDOW - a->z.avail_out;

        if (produced > 0) {
            if (EVP_DigestUpdate(a->sha, a->window, produced) != 1) {
                annotate_fail(a, PPROF_ANNOTATE_NO_MEMORY);
                return;
            }

            if (pb_scan(&a->pb, a->window, produced) != 0) {
                annotate_fail(a, PPROF_ANNOTATE_NOT_PROFILE);
                return;
            }

            /* Never sealed: verify-profile would say it is not ours. */
            if (a->pb.planted > 0) {
                annotate_fail(a, PPROF_ANNOTATE_PLANTED);
                return;
            }

            /* Never sealed: more than verify-profile reads. */
            if (a->z.total_out >= PPROF_PROFILE_MAX) {
                annotate_fail(a, PPROF_ANNOTATE_TOO_LARGE);
                return;
            }
        }

        if (rc == Z_STREAM_END) {
            a->gz = GZ_END;

            if (a->z.avail_in > 0 || len > 0) {
                annotate_fail(a, PPROF_ANNOTATE_TRAILING_DATA);
            }

            return;
        }

        /*
         * Z_BUF_ERROR is "nothing moved": the input is spent, or inflate
         * only stepped over a boundary with bits it already held (a stop
         * of Z_TREES), and goes on at the next call.
         */
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            annotate_fail(a, rc == Z_MEM_ERROR ? PPROF_ANNOTATE_NO_MEMORY
                             : a->gz == GZ_HEADER ? PPROF_ANNOTATE_NOT_GZIP
                             : a->gz == GZ_TRAILER ? PPROF_ANNOTATE_BAD_TRAILER
                             : PPROF_ANNOTATE_BAD_DEFLATE);
            return;
        }

        annotate_position(a);

        if (a->failed != PPROF_ANNOTATE_OK
            || (a->z.avail_in == 0 && len == 0 && a->z.avail_out > 0))
        {
            return;
        }

        if (rc == Z_BUF_ERROR && a->z.total_in == in_before
            && a->z.total_out == out_before && a->z.data_type == dt_before)
        {
            /* Input left that inflate will not take: never seen; fail. */
            annotate_fail(a, PPROF_ANNOTATE_BAD_DEFLATE);
            return;
        }
    }
}


/*
 * Moves the release point after an inflate() return.  The bit position
 * reached is what inflate() consumed less the bits it holds unused.
 */
static void
annotate_position(pprof_annotator_t *a)
{
    int       dt;
    uint64_t  bit;

    dt = a->z.data_type;
    bit = (uint64_t) a->z.total_in * 8 - (unsigned) (dt & DT_BITS);

    if (a->gz == GZ_HEADER) {
        /* The seal signs the header: only as much as it can carry. */
        if (a->z.total_in > PPROF_GZIP_HEADER_MAX) {
            annotate_fail(a, PPROF_ANNOTATE_GZIP_HEADER);
            return;
        }

        if (!(dt & DT_BOUNDARY)) {
            return;
        }

        /* The gzip header is complete: the first block starts here. */
        a->gzip_header_len = a->z.total_in;
        a->gz = GZ_BLOCKS;
        a->header_bit = bit;
        a->in_header = 1;
        a->release = bit / 8;
        return;
    }

    if (a->gz != GZ_BLOCKS) {
        return;
    }

    if (dt & DT_BOUNDARY) {
        if (dt & DT_LAST) {
            a->gz = GZ_TRAILER;
            a->end_bit = bit;
            return;
        }

        /* The next block's header, and its BFINAL bit, start here. */
        a->header_bit = bit;
        a->in_header = 1;
        a->release = bit / 8;
        return;
    }

    if (dt & DT_HEADER_DONE) {
        a->in_header = 0;
        a->in_final = (dt & DT_LAST) != 0;
    }

    /* Inside a block known not to be final, what is decoded may go. */
    if (!a->in_header && !a->in_final) {
        a->release = bit / 8;
    }
}


/*
 * The whole Profile message, as it inflates, checked as protobuf-c will
 * unpack it: every known field with a wire type its type allows, nested
 * messages read field by field within their length, packed runs value by
 * value.  Strings are passed over, but for whether they claim to be a
 * gateway line.  -1 on what protobuf-c would refuse, and on a little it
 * takes that no profile writer sends (a bool not written as a varint,
 * field number 0).
 *
 * A nested message whose rest is in view, the common case, is read at
 * once by pb_whole().  Otherwise it is read a byte at a time: a varint, a
 * tag or a length may straddle two calls, and so may nested messages,
 * whose ends the scanner keeps on a stack.
 */
static int
pb_scan(pb_scan_t *pb, const unsigned char *p, size_t len)
{
    pb_frame_t     *f;
    uint64_t        v;
    size_t          n, i;
    unsigned        max;
    unsigned char   b;

    for ( ;; ) {

        /* A nested message ends where its length said, between fields. */
        while (pb->depth > 0 && pb->pos == pb->frame[pb->depth].end) {
            if (pb->state != PB_TAG || pb->nbytes != 0) {
                return -1;
            }

            pb->depth--;
        }

        if (len == 0) {
            return 0;
        }

        /* What is in view of the innermost message. */
        f = &pb->frame[pb->depth];
        n = len;

        if (pb->depth > 0 && f->end - pb->pos <= n) {
            n = (size_t) (f->end - pb->pos);

            if (pb->state == PB_TAG && pb->nbytes == 0
                && f->msg != M_COMMENTS)
            {
                if (pb_whole(f->msg, p, n, &f->nfields) != 0) {
                    return -1;
                }

                p += n;
                len -= n;
                pb->pos += n;
                continue;
            }
        }

        if (pb->state == PB_SKIP || pb->state == PB_STRING) {
            n = n < pb->skip ? n : (size_t) pb->skip;

            if (pb->state == PB_STRING) {
                pb->mark = pprof_gateway_mark(pb->mark, p, n);

                if (pb->mark == PPROF_GATEWAY_MARK_YES) {
                    pb->planted++;
                    pb->state = PB_SKIP;
                }
            }

            p += n;
            len -= n;
            pb->pos += n;
            pb->skip -= n;

            if (pb->skip == 0) {
                pb->state = PB_TAG;
            }

            continue;
        }

        /* Only where each varint of a packed run ends matters. */
        if (f->msg == M_PACKED) {
            for (i = 0; i < n; i++) {
                if (!(p[i] & 0x80)) {
                    pb->nbytes = 0;

                } else if (++pb->nbytes == VARINT_BYTES_MAX) {
                    return -1;
                }
            }

            p += n;
            len -= n;
            pb->pos += n;
            continue;
        }

        max = pb->state == PB_LEN ? LEN_BYTES_MAX
              : pb->state == PB_TAG && f->msg != M_COMMENTS ? TAG_BYTES_MAX
              : VARINT_BYTES_MAX;

        /* A whole varint in view. */
        if (pb->nbytes == 0 && n >= max) {
            i = 0;

            if (pb_varint(p, n, &i, max, &v) != 0) {
                return -1;
            }

            p += i;
            len -= i;
            pb->pos += i;

            if (pb_value(pb, v) != 0) {
                return -1;
            }

            continue;
        }

        if (pb->nbytes == max) {
            return -1;
        }

        b = *p++;
        len--;
        pb->pos++;
        pb->value |= (uint64_t) (b & 0x7f) << (7 * pb->nbytes);
        pb->nbytes++;

        if (b & 0x80) {
            continue;
        }

        v = pb->value;
        pb->value = 0;
        pb->nbytes = 0;

        if (pb_value(pb, v) != 0) {
            return -1;
        }
    }
}


/*
 * What a tag of a message leads to: PB_VARINT, PB_LEN, or PB_SKIP of
 * *skip bytes; -1 for what protobuf-c refuses (groups, wire types 6 and
 * 7, known fields of the wrong type).  *kind is the field's K_ and
 * message.
 */
static inline int
pb_tag(unsigned msg, uint64_t tag, uint32_t *nfields, unsigned *kind,
    uint64_t *skip)
{
    uint64_t  field;

    field = tag >> 3;

    if (field == 0 || field > FIELD_NUMBER_MAX || ++*nfields > FIELDS_MAX) {
        return -1;
    }

    *kind = field < 16 ? schema[msg][field] : K_UNKNOWN;

    switch ((*kind & K_MASK) << 3 | (unsigned) (tag & 7)) {
    case K_UNKNOWN << 3 | 0:
    case K_VARINT << 3 | 0:
    case K_PACKED << 3 | 0:
    case K_COMMENT << 3 | 0:
        return PB_VARINT;

    case K_UNKNOWN << 3 | 2:
    case K_PACKED << 3 | 2:
    case K_COMMENT << 3 | 2:
    case K_STRING << 3 | 2:
    case K_MESSAGE << 3 | 2:
        return PB_LEN;

    case K_UNKNOWN << 3 | 1:
        *skip = 8;
        return PB_SKIP;

    case K_UNKNOWN << 3 | 5:
        *skip = 4;
        return PB_SKIP;

    default:
        return -1;
    }
}


/* A varint read a byte at a time: a tag, a length or a value. */
static int
pb_value(pb_scan_t *pb, uint64_t n)
{
    pb_frame_t  *f;
    uint64_t     left;
    int          next;

    f = &pb->frame[pb->depth];

    /* What is left of the innermost message; the top level is open. */
    left = pb->depth > 0 ? f->end - pb->pos : UINT64_MAX;

    switch (pb->state) {

    case PB_TAG:
        if (f->msg == M_COMMENTS) {
            pb_comment(pb, n);
            return 0;
        }

        next = pb_tag(f->msg, n, &f->nfields, &pb->kind, &pb->skip);

        if (next < 0 || (next == PB_SKIP && pb->skip > left)) {
            return -1;
        }

        pb->state = (pb_state_t) next;
        return 0;

    case PB_LEN:
        if (n > LEN_MAX || n > left) {
            return -1;
        }

        pb->state = PB_TAG;

        switch (pb->kind & K_MASK) {

        case K_STRING:
            /* string_table[0] must be "" (Go's parser insists). */
            if (pb->nstrings == 0 && n != 0) {
                return -1;
            }

            pb->nstrings++;
            pb->mark = 0;
            break;

        case K_MESSAGE:
        case K_PACKED:
        case K_COMMENT:
            if (n == 0) {
                return 0;
            }

            if (pb->depth + 1 == PB_DEPTH) {
                return -1;
            }

            f = &pb->frame[++pb->depth];
            f->end = pb->pos + n;
            f->nfields = 0;
            f->msg = (pb->kind & K_MASK) == K_PACKED ? M_PACKED
                     : (pb->kind & K_MASK) == K_COMMENT ? M_COMMENTS
                     : pb->kind >> 3;
            return 0;
        }

        if (n > 0) {
            pb->skip = n;
            pb->state = (pb->kind & K_MASK) == K_STRING ? PB_STRING : PB_SKIP;
        }

        return 0;

    default: /* PB_VARINT */
        if ((pb->kind & K_MASK) == K_COMMENT) {
            pb_comment(pb, n);
        }

        pb->state = PB_TAG;
        return 0;
    }
}


/*
 * A comment is a string_table index.  One past the upstream's strings
 * would show the gateway's own lines again, earlier, as the target's:
 * checked once the strings are counted.
 */
static void
pb_comment(pb_scan_t *pb, uint64_t index)
{
    if (pb->comments++ == 0 || index > pb->comment_max) {
        pb->comment_max = index;
    }
}


/* A varint of at most max bytes within p[*i, n), or -1. */
static inline int
pb_varint(const unsigned char *p, size_t n, size_t *i, unsigned max,
    uint64_t *v)
{
    unsigned  k;

    *v = 0;

    for (k = 0; k < max && *i < n; k++) {
        *v |= (uint64_t) (p[*i] & 0x7f) << (7 * k);

        if (!(p[(*i)++] & 0x80)) {
            return 0;
        }
    }

    return -1;
}


/*
 * The rest of a nested message, whole in p[0, n), from a field boundary:
 * the same rules as pb_scan(), at once.  Messages nest at most PB_DEPTH
 * deep in profile.proto, and so does this.
 */
static int
pb_whole(unsigned msg, const unsigned char *p, size_t n, uint32_t *nfields)
{
    size_t    i, run;
    uint64_t  v, skip;
    unsigned  kind;
    uint32_t  sub;

    if (msg == M_PACKED) {
        for (i = 0, run = 0; i < n; i++) {
            run = p[i] & 0x80 ? run + 1 : 0;

            if (run == VARINT_BYTES_MAX) {
                return -1;
            }
        }

        return run == 0 ? 0 : -1;
    }

    i = 0;

    while (i < n) {
        if (pb_varint(p, n, &i, TAG_BYTES_MAX, &v) != 0) {
            return -1;
        }

        switch (pb_tag(msg, v, nfields, &kind, &skip)) {

        case PB_VARINT:
            if (pb_varint(p, n, &i, VARINT_BYTES_MAX, &v) != 0) {
                return -1;
            }

            break;

        case PB_SKIP:
            if (skip > n - i) {
                return -1;
            }

            i += skip;
            break;

        case PB_LEN:
            if (pb_varint(p, n, &i, LEN_BYTES_MAX, &v) != 0 || v > n - i) {
                return -1;
            }

            /* Only Profile, never whole, holds strings. */
            if ((kind & K_MASK) == K_MESSAGE || (kind & K_MASK) == K_PACKED) {
                sub = 0;

                if (pb_whole((kind & K_MASK) == K_PACKED ? M_PACKED
                                                         : kind >> 3,
                             p + i, v, &sub) != 0)
                {
                    return -1;
                }
            }

            i += v;
            break;

        default:
            return -1;
        }
    }

    return 0;
}


pprof_annotate_reason_t
pprof_annotator_finish(pprof_annotator_t *a, const char *line1,
    const char *line2, EVP_PKEY *key, const unsigned char **tail,
    size_t *tail_len)
{
    pprof_annotate_reason_t  rc;

    rc = PPROF_ANNOTATE_OK;

    if (a->failed == PPROF_ANNOTATE_OK) {
        if (line1 == NULL || line2 == NULL) {
            rc = PPROF_ANNOTATE_COMMENT_TOO_LONG;

        } else if (a->gz != GZ_END) {
            rc = PPROF_ANNOTATE_TRUNCATED;

        } else if (a->pb.state != PB_TAG || a->pb.nbytes != 0
                   || a->pb.depth != 0 || a->pb.nstrings == 0
                   || (a->pb.comments > 0
                       && a->pb.comment_max >= a->pb.nstrings))
        {
            /*
             * Ended inside a field, no string_table to continue, or a
             * comment that is no string of the upstream's (Go's parser
             * refuses those too).
             */
            rc = PPROF_ANNOTATE_NOT_PROFILE;

        } else {
            rc = annotate_tail(a, line1, line2, key, tail_len);
        }

        annotate_fail(a, rc);
    }

    a->finished = 1;

    if (a->failed == PPROF_ANNOTATE_OK) {
        *tail = a->tail;
        return PPROF_ANNOTATE_OK;
    }

    *tail = a->hold;
    *tail_len = a->hold_len;
    return a->failed;
}


/*
 * The held bytes, with the final block made not final, then the comments
 * in new blocks after its last bit, then the trailer of the whole.
 */
static pprof_annotate_reason_t
annotate_tail(pprof_annotator_t *a, const char *line1, const char *line2,
    EVP_PKEY *key, size_t *tail_len)
{
    unsigned char   md[EVP_MAX_MD_SIZE];
    unsigned char  *suffix, *t;
    char            sha_line[PPROF_SHA256_LINE_LEN + 1];
    char            seal_line[PPROF_SEAL_LINE_LEN + 1];
    char           *statement;
    unsigned        mdlen, bits;
    size_t          keep, slen, scap, stlen, tcap, nlines, i;
    uint64_t        crc, total;
    z_stream        d;
    pprof_str_t     lines[PPROF_COMMENT_LINES];
    int             rc;

    if (EVP_DigestFinal_ex(a->sha, md, &mdlen) != 1 || mdlen != 32) {
        return PPROF_ANNOTATE_NO_MEMORY;
    }

    pprof_provenance_sha_line(md, sha_line);

    lines[0].data = (const unsigned char *) line1;
    lines[0].len = strlen(line1);
    lines[1].data = (const unsigned char *) line2;
    lines[1].len = strlen(line2);
    lines[2].data = (const unsigned char *) sha_line;
    lines[2].len = strlen(sha_line);
    nlines = 3;

    scap = 3 * PPROF_COMMENT_LINE_MAX + 1024;
    statement = malloc(scap);
    suffix = malloc(scap + PPROF_SEAL_LINE_LEN);

    if (statement == NULL || suffix == NULL) {
        free(statement);
        free(suffix);
        return PPROF_ANNOTATE_NO_MEMORY;
    }

    if (key != NULL) {
        stlen = pprof_seal_statement(statement, scap, lines,
                                     a->z.total_out, a->gzip_header,
                                     a->gzip_header_len);

        if (stlen == 0 || pprof_seal_line(key, statement, stlen, seal_line)
                          != 0)
        {
            free(statement);
            free(suffix);
            return PPROF_ANNOTATE_SEAL_FAILED;
        }

        lines[3].data = (const unsigned char *) seal_line;
        lines[3].len = strlen(seal_line);
        nlines = 4;
    }

    free(statement);

    slen = pprof_provenance_encode(suffix, scap + PPROF_SEAL_LINE_LEN, lines,
                                   nlines, a->pb.nstrings);

    /*
     * Held: from the byte of the final block's header to the trailer.
     * The positions were kept so; should they not be, nothing is changed.
     */
    if (a->header_bit / 8 < a->hold_start || a->end_bit < a->header_bit
        || a->end_bit / 8 + 1 > a->hold_start + a->hold_len)
    {
        free(suffix);
        return PPROF_ANNOTATE_BAD_DEFLATE;
    }

    if (a->z.total_out + slen >= PPROF_PROFILE_MAX) {
        free(suffix);
        return PPROF_ANNOTATE_TOO_LARGE;
    }

    keep = (size_t) (a->end_bit / 8 - a->hold_start);
    bits = (unsigned) (a->end_bit % 8);

    tcap = keep + 1 + slen + slen / 8 + 256 + 8;
    t = malloc(tcap);

    if (slen == 0 || t == NULL) {
        free(suffix);
        free(t);
        return PPROF_ANNOTATE_NO_MEMORY;
    }

    memcpy(t, a->hold, keep + (bits ? 1 : 0));
    t[a->header_bit / 8 - a->hold_start] &= ~(1u << (a->header_bit % 8));

    /* Small window and memory: a few hundred bytes are compressed. */
    memset(&d, 0, sizeof(z_stream));

    if (deflateInit2(&d, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -9, 1,
                     Z_DEFAULT_STRATEGY) != Z_OK)
    {
        free(suffix);
        free(t);
        return PPROF_ANNOTATE_NO_MEMORY;
    }

    rc = bits ? deflatePrime(&d, (int) bits, t[keep] & ((1u << bits) - 1))
              : Z_OK;

    d.next_in = suffix;
    d.avail_in = (uInt) slen;
    d.next_out = t + keep;
    d.avail_out = (uInt) (tcap - keep - 8);

    if (rc == Z_OK) {
        rc = deflate(&d, Z_FINISH);
    }

    i = keep + (tcap - keep - 8 - d.avail_out);
    deflateEnd(&d);

    if (rc != Z_STREAM_END) {
        free(suffix);
        free(t);
        return PPROF_ANNOTATE_NO_MEMORY;
    }

    crc = crc32_combine(a->z.adler, crc32(0, suffix, (uInt) slen),
                        (z_off_t) slen);
    total = (uint64_t) a->z.total_out + slen;
    free(suffix);

    /* The trailer: CRC-32 and length mod 2^32, little-endian. */
    t[i++] = (unsigned char) crc;
    t[i++] = (unsigned char) (crc >> 8);
    t[i++] = (unsigned char) (crc >> 16);
    t[i++] = (unsigned char) (crc >> 24);
    t[i++] = (unsigned char) total;
    t[i++] = (unsigned char) (total >> 8);
    t[i++] = (unsigned char) (total >> 16);
    t[i++] = (unsigned char) (total >> 24);

    a->tail = t;
    *tail_len = i;
    return PPROF_ANNOTATE_OK;
}
