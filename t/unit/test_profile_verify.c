/*
 * pprof-audit verify-profile (SPEC §9): a sealed profile verifies with
 * the gateway's key and nothing else, and every change to what the file
 * says fails, whether a byte flipped anywhere, a second gzip member, bytes
 * after it, a cut, comments dropped, moved or forged, or a seal made over
 * lines that are not what the gateway writes.
 *
 * The profiles are made here: a small profile.proto hand-encoded below,
 * the comments of proxy/provenance.c appended, gzip'd by zlib into a
 * temporary file.  The Go profiles of t/unit/fixtures, annotated by the
 * streaming annotator, must verify too.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <zlib.h>

#include "unit.h"
#include "proxy/proxy.h"
#include "proxy/verify.h"
#include "t/tools/jwt_sign.h"


/* 2026-11-22T03:45:01.123456Z */
#define TIME_US     1795319101123456ULL

#define GZ_NAME     "heap"
#define GZ_MTIME    1795319101UL
#define GZ_LEVEL    6

#define BUF_MAX     65536
#define WHY_MAX     (3 * PPROF_COMMENT_LINE_MAX)

#define SEAL_START  (sizeof(PPROF_COMMENT_PREFIX "seal=") - 1)
#define SHA_START   (sizeof(PPROF_COMMENT_PREFIX "upstream_sha256=") - 1)


/*
 * A profile as Go writes one: string_table last, numbers packed.  It has
 * a comment of its own, which the gateway's must follow.
 */
static const unsigned char  upstream[] = {
    /* sample_type { type: 1 "samples", unit: 2 "count" } */
    0x0a, 0x04, 0x08, 0x01, 0x10, 0x02,
    /* sample { location_id: [1], value: [7] } */
    0x12, 0x06, 0x0a, 0x01, 0x01, 0x12, 0x01, 0x07,
    /* location { id: 1, line { function_id: 1, line: 42 } } */
    0x22, 0x08, 0x08, 0x01, 0x22, 0x04, 0x08, 0x01, 0x10, 0x2a,
    /* function { id: 1, name: 3, filename: 4 } */
    0x2a, 0x06, 0x08, 0x01, 0x10, 0x03, 0x20, 0x04,
    /* time_nanos: 1795319101123456789 */
    0x48, 0x95, 0xde, 0xbf, 0x87, 0xde, 0xa6, 0x90, 0xf5, 0x18,
    /* comment: 5 */
    0x68, 0x05,
    /* string_table: "", "samples", "count", "main.main", "main.go", "note" */
    0x32, 0x00,
    0x32, 0x07, 's', 'a', 'm', 'p', 'l', 'e', 's',
    0x32, 0x05, 'c', 'o', 'u', 'n', 't',
    0x32, 0x09, 'm', 'a', 'i', 'n', '.', 'm', 'a', 'i', 'n',
    0x32, 0x07, 'm', 'a', 'i', 'n', '.', 'g', 'o',
    0x32, 0x04, 'n', 'o', 't', 'e'
};

#define UPSTREAM_STRINGS  6

/* string_table[0] = "x": not a profile to Go's parser. */
static const unsigned char  no_empty_string[] = { 0x32, 0x01, 'x' };


typedef struct {
    unsigned char  data[BUF_MAX];
    size_t         len;
} buf_t;

typedef struct {
    char           text[PPROF_COMMENT_LINES][PPROF_COMMENT_LINE_MAX];
    pprof_str_t    line[PPROF_COMMENT_LINES];
} lines_t;


static EVP_PKEY       *signer, *other, *pub;

static char            dir[] = "/tmp/test_profile_verify.XXXXXX";
static char            path[sizeof(dir) + 16];

/* The header every file here is written with, and so sealed with. */
static unsigned char   header[PPROF_GZIP_HEADER_MAX];
static size_t          header_len;

/* Big: kept off the stack. */
static buf_t           raw, gz, file, back;
static lines_t         lines;
static char            why[WHY_MAX];


static void
gzip_to(buf_t *out, const unsigned char *data, size_t len, const char *name,
    int level)
{
    z_stream   zs;
    gz_header  h;

    memset(&zs, 0, sizeof(zs));
    memset(&h, 0, sizeof(h));
    h.time = GZ_MTIME;
    h.os = 3;
    h.name = (Bytef *) name;

    assert_int_equal(deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8,
                                  Z_DEFAULT_STRATEGY), Z_OK);
    assert_int_equal(deflateSetHeader(&zs, &h), Z_OK);

    zs.next_in = (Bytef *) data;
    zs.avail_in = (uInt) len;
    zs.next_out = out->data;
    zs.avail_out = BUF_MAX;

    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out->len = zs.total_out;
    deflateEnd(&zs);
}


static void
gunzip_to(buf_t *out, const buf_t *in)
{
    z_stream  zs;

    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);

    zs.next_in = (Bytef *) in->data;
    zs.avail_in = (uInt) in->len;
    zs.next_out = out->data;
    zs.avail_out = BUF_MAX;

    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    out->len = zs.total_out;
    inflateEnd(&zs);
}


static void
append(buf_t *b, const void *data, size_t len)
{
    assert_true(len <= BUF_MAX - b->len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}


static void
write_file(const unsigned char *data, size_t len)
{
    FILE  *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}


static void
sync_lines(lines_t *l)
{
    size_t  i;

    for (i = 0; i < PPROF_COMMENT_LINES; i++) {
        l->line[i] = S(l->text[i]);
    }
}


/* Line 4 over lines 1-3 as they stand, whatever they say. */
static void
reseal(lines_t *l, size_t upstream_len)
{
    char    statement[4096];
    size_t  n;

    sync_lines(l);
    n = pprof_seal_statement(statement, sizeof(statement), l->line,
                             upstream_len, header, header_len);
    assert_true(n > 0);
    assert_int_equal(pprof_seal_line(signer, statement, n, l->text[3]), 0);
    sync_lines(l);
}


/* What an honest gateway writes for up[0..len). */
static void
honest_lines(lines_t *l, const unsigned char *up, size_t len)
{
    static const pprof_str_t  roles[] = { { (const unsigned char *) "oncall",
                                            6 } };

    pprof_provenance_t  p;
    unsigned char       md[SHA256_DIGEST_LENGTH];

    memset(&p, 0, sizeof(p));
    p.audit_id = S("0123456789abcdef0123456789abcdef");
    p.identity = S("spiffe://prod.example/ns/sre/alice");
    p.roles = roles;
    p.nroles = 1;
    p.endpoint = S("heap");
    p.params = S("gc=1");
    p.upstream = S("127.0.0.1:6060");
    p.time_us = TIME_US;

    assert_int_equal(pprof_provenance_lines(&p, l->text[0], l->text[1]), 0);
    SHA256(up, len, md);
    pprof_provenance_sha_line(md, l->text[2]);
    reseal(l, len);
}


/* up[0..len) and nlines of l appended as the annotator appends them. */
static void
annotated(buf_t *out, const unsigned char *up, size_t len,
    uint64_t nstrings, const lines_t *l, size_t nlines)
{
    size_t  n;

    out->len = 0;
    append(out, up, len);
    n = pprof_provenance_encode(out->data + out->len, BUF_MAX - out->len,
                                l->line, nlines, nstrings);
    assert_true(n > 0);
    out->len += n;
}


/* The profile in out, gzip'd as the sealed header says, into the file. */
static void
write_gz(const buf_t *profile)
{
    gzip_to(&gz, profile->data, profile->len, GZ_NAME, GZ_LEVEL);
    assert_memory_equal(gz.data, header, header_len);
    write_file(gz.data, gz.len);
}


/* The honest sealed file of upstream: the base every test changes. */
static void
sealed(void)
{
    honest_lines(&lines, upstream, sizeof(upstream));
    annotated(&raw, upstream, sizeof(upstream), UPSTREAM_STRINGS, &lines,
              PPROF_COMMENT_LINES);
    write_gz(&raw);
}


static void
refused_(const char *want, int line)
{
    why[0] = '\0';

    if (pprof_profile_verify(path, pub, why, sizeof(why)) != -1) {
        fail_msg("line %d: verified, want \"%s\"", line, want);
    }

    if (strstr(why, want) == NULL) {
        fail_msg("line %d: want \"%s\", got \"%s\"", line, want, why);
    }
}

#define refused(want)  refused_(want, __LINE__)


static void
test_sealed(void **state)
{
    char  *expect;

    (void) state;

    sealed();

    assert_int_equal(pprof_profile_verify(path, pub, why, sizeof(why)), 0);

    /* On success, why is lines 1-3 for the operator to read. */
    expect = malloc(WHY_MAX);
    assert_non_null(expect);
    snprintf(expect, WHY_MAX, "%s\n%s\n%s", lines.text[0], lines.text[1],
             lines.text[2]);
    assert_string_equal(why, expect);
    free(expect);

    assert_int_equal(pprof_profile_verify(path, signer, why, sizeof(why)), 0);

    assert_int_equal(pprof_profile_verify(path, other, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "seal does not verify"));

    assert_int_equal(pprof_profile_verify(path, NULL, why, sizeof(why)), -1);

    /* A short why is cut, never overrun. */
    memset(why, '#', sizeof(why));
    assert_int_equal(pprof_profile_verify(path, pub, why, 8), 0);
    assert_string_equal(why, "pprof-g");
    assert_int_equal(why[8], '#');
}


/*
 * A flipped byte fails, with one exception: deflate can say the same bytes
 * in more than one way (a match copied from another place that holds the
 * same bytes), and the seal covers what the file says, not how zlib or Go
 * compressed it.  A flip in the deflate data that verifies must leave the
 * profile byte for byte as sealed; the header and trailer have no such
 * slack.
 */
static void
test_every_byte_flipped(void **state)
{
    static const unsigned char  masks[] = { 0xff, 0x01 };

    size_t  i, m;

    (void) state;

    sealed();
    file = gz;

    for (i = 0; i < file.len; i++) {
        for (m = 0; m < sizeof(masks); m++) {
            file.data[i] ^= masks[m];
            write_file(file.data, file.len);

            if (pprof_profile_verify(path, pub, why, sizeof(why)) == 0) {
                if (i < header_len || i >= file.len - 8) {
                    fail_msg("header or trailer byte %zu ^ 0x%02x verifies",
                             i, masks[m]);
                }

                gunzip_to(&back, &file);
                assert_int_equal(back.len, raw.len);
                assert_memory_equal(back.data, raw.data, raw.len);
            }

            /* The MTIME, XFL, OS and name decompress alike: the seal
             * is all that guards them. */
            if (i >= 4 && i < header_len - 1) {
                assert_non_null(strstr(why, "seal does not verify"));
            }

            file.data[i] ^= masks[m];
        }
    }
}


static void
test_gzip_form(void **state)
{
    static const unsigned char  more[] = { 0x32, 0x00 };

    uLongf  zlen;
    size_t  n;

    (void) state;

    sealed();

    /* A second member: zcat and Go would read what it holds. */
    file = gz;
    gzip_to(&raw, more, sizeof(more), NULL, GZ_LEVEL);
    append(&file, raw.data, raw.len);
    write_file(file.data, file.len);
    refused("more than one gzip member");

    gzip_to(&raw, NULL, 0, NULL, GZ_LEVEL);
    file.len = gz.len;
    append(&file, raw.data, raw.len);
    write_file(file.data, file.len);
    refused("more than one gzip member");

    file.len = gz.len;
    append(&file, "\n", 1);
    write_file(file.data, file.len);
    refused("trailing bytes after the gzip member");

    file.len = gz.len;
    append(&file, "\0\0\0\0", 4);
    write_file(file.data, file.len);
    refused("trailing bytes after the gzip member");

    /* Cut anywhere. */
    for (n = 1; n < gz.len; n++) {
        write_file(gz.data, n);
        refused("truncated");
    }

    write_file(gz.data, 0);
    refused("not gzip: the file is empty");

    write_file((const unsigned char *) "hello, not gzip\n", 16);
    refused("not gzip");

    /* zlib's own format is deflate too, but not what Go sends. */
    zlen = BUF_MAX;
    assert_int_equal(compress2(file.data, &zlen, raw.data, raw.len, GZ_LEVEL),
                     Z_OK);
    write_file(file.data, zlen);
    refused("not gzip");

    /* The header is sealed as hex into a bounded statement. */
    memset(file.data, 'n', 300);
    file.data[300] = '\0';
    gzip_to(&raw, upstream, sizeof(upstream), (const char *) file.data,
            GZ_LEVEL);
    write_file(raw.data, raw.len);
    refused("gzip header longer than 256 bytes");
}


static void
test_recompressed(void **state)
{
    (void) state;

    sealed();

    /* What zcat | gzip would make: the same profile, another header. */
    gzip_to(&file, raw.data, raw.len, NULL, GZ_LEVEL);
    write_file(file.data, file.len);
    refused("seal does not verify");

    /* The same header, other deflate data: the seal holds, as it should,
     * since the profile is the one sealed. */
    gzip_to(&file, raw.data, raw.len, GZ_NAME, 1);
    file.data[8] = gz.data[8];
    write_file(file.data, file.len);
    assert_int_equal(pprof_profile_verify(path, pub, why, sizeof(why)), 0);
}


static void
test_paths(void **state)
{
    char  saved[sizeof(path)];

    (void) state;

    memcpy(saved, path, sizeof(path));

    memcpy(path, dir, sizeof(dir));
    refused("read error");

    snprintf(path, sizeof(path), "%s/absent", dir);
    refused("cannot open");

    memcpy(path, saved, sizeof(path));
}


static void
test_comments(void **state)
{
    static const unsigned char  duration[] = { 0x50, 0x01 };
    static const unsigned char  comment9[] = { 0x68, 0x09 };

    unsigned char  swap;
    size_t         n;

    (void) state;

    sealed();
    n = raw.len;

    /* Lines 1-3 without a seal, as a gateway without a key writes them. */
    annotated(&raw, upstream, sizeof(upstream), UPSTREAM_STRINGS, &lines, 3);
    write_gz(&raw);
    refused("no gateway seal");

    raw.len = 0;
    append(&raw, upstream, sizeof(upstream));
    write_gz(&raw);
    refused("no gateway seal");

    /* The comments are indices 6, 7, 8, 9: the last four varints. */
    annotated(&raw, upstream, sizeof(upstream), UPSTREAM_STRINGS, &lines,
              PPROF_COMMENT_LINES);
    assert_int_equal(raw.len, n);
    assert_int_equal(raw.data[n - 7], 6);
    swap = raw.data[n - 7];
    raw.data[n - 7] = raw.data[n - 5];
    raw.data[n - 5] = swap;
    write_gz(&raw);
    refused("gateway comments missing or out of order");

    raw.data[n - 5] = raw.data[n - 7];
    raw.data[n - 7] = swap;
    swap = raw.data[n - 1];
    raw.data[n - 1] = raw.data[n - 3];
    raw.data[n - 3] = swap;
    write_gz(&raw);
    refused("no gateway seal");

    raw.data[n - 3] = raw.data[n - 1];
    raw.data[n - 1] = swap;
    append(&raw, comment9, sizeof(comment9));
    write_gz(&raw);
    refused("gateway comments missing or out of order");

    /* Anything after the comments. */
    raw.len = n;
    append(&raw, duration, sizeof(duration));
    write_gz(&raw);
    refused("gateway comments are not the end of the profile");

    /* The seal's line twice. */
    memcpy(lines.text[0], lines.text[3], sizeof(lines.text[3]));
    sync_lines(&lines);
    annotated(&raw, upstream, sizeof(upstream), UPSTREAM_STRINGS, &lines,
              PPROF_COMMENT_LINES);
    write_gz(&raw);
    refused("gateway comments missing or out of order");
}


static void
test_forged_lines(void **state)
{
    char  *p;

    (void) state;

    /* Another identity, the seal left as it was. */
    sealed();
    p = strstr(lines.text[0], "alice");
    assert_non_null(p);
    memcpy(p, "mally", 5);
    sync_lines(&lines);
    annotated(&raw, upstream, sizeof(upstream), UPSTREAM_STRINGS, &lines,
              PPROF_COMMENT_LINES);
    write_gz(&raw);
    refused("seal does not verify");

    /* Sealed by the right key, but not as the gateway writes line 3. */
    sealed();
    for (p = lines.text[2] + SHA_START; *p != '\0'; p++) {
        *p = (char) toupper((unsigned char) *p);
    }
    reseal(&lines, sizeof(upstream));
    annotated(&raw, upstream, sizeof(upstream), UPSTREAM_STRINGS, &lines,
              PPROF_COMMENT_LINES);
    write_gz(&raw);
    refused("malformed upstream_sha256 line");

    sealed();
    strcat(lines.text[2], "0");
    reseal(&lines, sizeof(upstream));
    annotated(&raw, upstream, sizeof(upstream), UPSTREAM_STRINGS, &lines,
              PPROF_COMMENT_LINES);
    write_gz(&raw);
    refused("malformed upstream_sha256 line");

    /* A hash of something else, sealed: the profile is not that. */
    sealed();
    p = lines.text[2] + SHA_START;
    *p = *p == '0' ? '1' : '0';
    reseal(&lines, sizeof(upstream));
    annotated(&raw, upstream, sizeof(upstream), UPSTREAM_STRINGS, &lines,
              PPROF_COMMENT_LINES);
    write_gz(&raw);
    refused("profile changed: upstream_sha256 does not match");

    /* A control byte in line 1 would reach the operator's terminal. */
    sealed();
    p = strstr(lines.text[0], "alice");
    *p = '\x1b';
    reseal(&lines, sizeof(upstream));
    annotated(&raw, upstream, sizeof(upstream), UPSTREAM_STRINGS, &lines,
              PPROF_COMMENT_LINES);
    write_gz(&raw);
    refused("gateway comment 1 is too long or not printable ASCII");

    /* Seals that are not one: the base64 bent, cut, or padded. */
    sealed();
    lines.text[3][SEAL_START] ^= 0x01;
    sync_lines(&lines);
    annotated(&raw, upstream, sizeof(upstream), UPSTREAM_STRINGS, &lines,
              PPROF_COMMENT_LINES);
    write_gz(&raw);
    refused("seal does not verify");

    sealed();
    lines.text[3][strlen(lines.text[3]) - 4] = '\0';
    sync_lines(&lines);
    annotated(&raw, upstream, sizeof(upstream), UPSTREAM_STRINGS, &lines,
              PPROF_COMMENT_LINES);
    write_gz(&raw);
    refused("seal does not verify");

    sealed();
    strcat(lines.text[3], "AAAA");
    sync_lines(&lines);
    annotated(&raw, upstream, sizeof(upstream), UPSTREAM_STRINGS, &lines,
              PPROF_COMMENT_LINES);
    write_gz(&raw);
    refused("seal does not verify");
}


/*
 * A target's comments that claim to be the gateway's, before the real
 * ones: the seal covers them only as upstream bytes, so the file fails,
 * naming each.  A string no comment points at is not a comment line.
 */
static void
test_planted_lines(void **state)
{
    static const char  fake[] = "pprof-gateway: audit_id=ffff identity=root";
    static const char  shout[] = "\t PPROF-GATEWAY:\x01x";

    unsigned char  up[sizeof(upstream) + 128];
    size_t         n;

    (void) state;

    /* upstream, then "fake" as string 6 and comment 2, "shout" as 7. */
    memcpy(up, upstream, sizeof(upstream));
    n = sizeof(upstream);
    up[n++] = 0x32;
    up[n++] = sizeof(fake) - 1;
    memcpy(up + n, fake, sizeof(fake) - 1);
    n += sizeof(fake) - 1;
    up[n++] = 0x68;
    up[n++] = UPSTREAM_STRINGS;

    honest_lines(&lines, up, n);
    annotated(&raw, up, n, UPSTREAM_STRINGS + 1, &lines, PPROF_COMMENT_LINES);
    write_gz(&raw);
    refused("comment lines claim to be the gateway's but are not under its "
            "seal: comment 2 \"pprof-gateway: audit_id=ffff identity=root\"");

    up[n++] = 0x32;
    up[n++] = sizeof(shout) - 1;
    memcpy(up + n, shout, sizeof(shout) - 1);
    n += sizeof(shout) - 1;
    up[n++] = 0x68;
    up[n++] = UPSTREAM_STRINGS + 1;

    honest_lines(&lines, up, n);
    annotated(&raw, up, n, UPSTREAM_STRINGS + 2, &lines, PPROF_COMMENT_LINES);
    write_gz(&raw);
    refused("comment 3 \"? PPROF-GATEWAY:?x\"");
    refused("comment 2 \"pprof-gateway:");

    /* Without its comments, the string is not a comment line. */
    n = sizeof(upstream);
    up[n++] = 0x32;
    up[n++] = sizeof(fake) - 1;
    memcpy(up + n, fake, sizeof(fake) - 1);
    n += sizeof(fake) - 1;
    honest_lines(&lines, up, n);
    annotated(&raw, up, n, UPSTREAM_STRINGS + 1, &lines, PPROF_COMMENT_LINES);
    write_gz(&raw);
    if (pprof_profile_verify(path, pub, why, sizeof(why)) != 0) {
        fail_msg("%s", why);
    }
}


/*
 * A comment past every string, sealed as if the gateway had: go tool pprof
 * refuses such a profile, and so does the verifier, whatever the seal.
 */
static void
test_comment_outside_strings(void **state)
{
    unsigned char  up[sizeof(upstream) + 8];
    size_t         n;

    (void) state;

    memcpy(up, upstream, sizeof(upstream));
    n = sizeof(upstream);
    up[n++] = 0x68;
    up[n++] = 0x58;             /* comment 2 is 88: past the gateway's too */

    honest_lines(&lines, up, n);
    annotated(&raw, up, n, UPSTREAM_STRINGS, &lines, PPROF_COMMENT_LINES);
    write_gz(&raw);
    refused("not a profile.proto: comment 2 points outside string_table");
}


/* upstream, then s as string 6 and comment 2, sealed as the gateway does. */
static void
sealed_with_comment(const char *s)
{
    unsigned char  up[sizeof(upstream) + 256];
    size_t         n, len;

    len = strlen(s);
    assert_true(len < 200);
    memcpy(up, upstream, sizeof(upstream));
    n = sizeof(upstream);
    up[n++] = 0x32;

    if (len >= 0x80) {
        up[n++] = (unsigned char) (len | 0x80);
    }

    up[n++] = (unsigned char) (len >> (len >= 0x80 ? 7 : 0));
    memcpy(up + n, s, len);
    n += len;
    up[n++] = 0x68;
    up[n++] = UPSTREAM_STRINGS;

    honest_lines(&lines, up, n);
    annotated(&raw, up, n, UPSTREAM_STRINGS + 1, &lines, PPROF_COMMENT_LINES);
    write_gz(&raw);
}


/*
 * The mark anywhere in a comment: go tool pprof prints the comment as it
 * is, so whatever follows a line break reads as a line of its own.  The
 * comment is named from a little before its mark.
 */
static void
test_planted_anywhere(void **state)
{
    static const struct { const char *s, *named; } found[] = {
        { "build 1.2\npprof-gateway: audit_id=0123 identity=root roles=admin",
          "comment 2 \"build 1.2?pprof-gateway: audit_id=0123 identity=root "
          "roles=admin\";" },
        { "v1\rpprof-gateway: identity=root", "\"v1?pprof-gateway: " },
        { "v1\vPPROF-GATEWAY: x", "\"v1?PPROF-GATEWAY: x\"" },
        { "v1\fpProf-gAteway: x", "\"v1?pProf-gAteway: x\"" },
        { "v1\xc2\x85pprof-gateway: x", "\"v1??pprof-gateway: x\"" },
        { "v1\xe2\x80\xa8pprof-gateway: x", "\"v1???pprof-gateway: x\"" },
        { "note: pprof-gateway: x", "\"note: pprof-gateway: x\"" },
        { "ppprof-gateway:", "\"ppprof-gateway:\"" },
        { "pprof-gate\x01way:", "\"pprof-gate?way:\"" },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\npprof-gateway: identity=root "
          "roles=admin audit_id=0123456789abcdef0123456789abcdef",
          "\"...aaaaaaaaaaaaaaaaaaaaaaaaa?pprof-gateway: identity=root "
          "roles=admin audit_id=0123...\";" },
    };
    static const char  *clean[] = {
        "pprof-gateway-seal/1 pprof-gateway",
        "v1\npprof gateway: x",
        "v1\npprof-gateway; x",
    };

    size_t  i;

    (void) state;

    for (i = 0; i < sizeof(found) / sizeof(found[0]); i++) {
        sealed_with_comment(found[i].s);
        refused("comment lines claim to be the gateway's but are not under "
                "its seal:");
        refused(found[i].named);
    }

    for (i = 0; i < sizeof(clean) / sizeof(clean[0]); i++) {
        sealed_with_comment(clean[i]);
        if (pprof_profile_verify(path, pub, why, sizeof(why)) != 0) {
            fail_msg("\"%s\": %s", clean[i], why);
        }
    }
}


static void
test_not_profiles(void **state)
{
    static const unsigned char  garbage[] = { 0xff, 0xff, 0xff, 0xff };

    /* A length past the end, and an 11-byte varint. */
    static const unsigned char  long_len[] = { 0x32, 0xff, 0xff, 0xff, 0x0f,
                                               'a' };
    static const unsigned char  long_varint[] = {
        0x48, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x01
    };

    (void) state;

    raw.len = 0;
    append(&raw, garbage, sizeof(garbage));
    write_gz(&raw);
    refused("not a profile.proto");

    raw.len = 0;
    append(&raw, long_len, sizeof(long_len));
    write_gz(&raw);
    refused("not a profile.proto");

    raw.len = 0;
    append(&raw, long_varint, sizeof(long_varint));
    write_gz(&raw);
    refused("not a profile.proto");

    /* Sealed, and still not a profile. */
    honest_lines(&lines, no_empty_string, sizeof(no_empty_string));
    annotated(&raw, no_empty_string, sizeof(no_empty_string), 1, &lines,
              PPROF_COMMENT_LINES);
    write_gz(&raw);
    refused("string_table[0] is not \"\"");

    /* An empty profile is a profile, but one without a seal. */
    raw.len = 0;
    write_gz(&raw);
    refused("string_table[0] is not \"\"");
}


/* The annotator's output, fed whole, and what the verifier says of it. */
static void
annotate_file(const char *fixture)
{
    pprof_annotator_t    *a;
    const unsigned char  *tail;
    size_t                nheld, pass, tail_len;
    char                  name[256];
    FILE                 *f;

    snprintf(name, sizeof(name), "t/unit/fixtures/%s", fixture);
    f = fopen(name, "rb");
    assert_non_null(f);
    gz.len = fread(gz.data, 1, BUF_MAX, f);
    assert_true(gz.len > 0 && gz.len < BUF_MAX);
    fclose(f);

    a = pprof_annotator_create(PPROF_ANNOTATE_HOLD_MAX);
    assert_non_null(a);

    file.len = 0;
    pprof_annotator_feed(a, gz.data, gz.len, raw.data, &nheld, &pass);
    assert_int_equal(nheld, 0);
    append(&file, gz.data, pass);

    assert_int_equal(pprof_annotator_finish(a, lines.text[0], lines.text[1],
                                            signer, &tail, &tail_len),
                     PPROF_ANNOTATE_OK);
    append(&file, tail, tail_len);
    pprof_annotator_free(a);

    write_file(file.data, file.len);
}


static void
test_go_profiles(void **state)
{
    static const char  *names[] = {
        "goroutine.pb.gz", "heap.pb.gz", "heap-delta.pb.gz",
        "threadcreate.pb.gz"
    };

    size_t  i;

    (void) state;

    honest_lines(&lines, upstream, sizeof(upstream));

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        annotate_file(names[i]);
        if (pprof_profile_verify(path, pub, why, sizeof(why)) != 0) {
            fail_msg("%s annotated: %s", names[i], why);
        }

        /* As Go sent it: a profile, with no seal. */
        write_file(gz.data, gz.len);
        refused("no gateway seal");
    }
}


static int
setup(void **state)
{
    unsigned char  raw_pub[32];
    size_t         len;

    (void) state;

    signer = jwt_keygen_ed25519();
    other = jwt_keygen_ed25519();
    if (signer == NULL || other == NULL || mkdtemp(dir) == NULL) {
        return -1;
    }

    /* What pprof-audit reads from a PEM: the public half alone. */
    len = sizeof(raw_pub);
    if (EVP_PKEY_get_raw_public_key(signer, raw_pub, &len) != 1) {
        return -1;
    }

    pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw_pub, len);
    if (pub == NULL) {
        return -1;
    }

    snprintf(path, sizeof(path), "%s/p.pb.gz", dir);

    /* zlib writes the same header whatever it compresses: FNAME only. */
    gzip_to(&gz, NULL, 0, GZ_NAME, GZ_LEVEL);
    header_len = 10 + sizeof(GZ_NAME);
    if (gz.data[3] != 0x08) {
        return -1;
    }

    memcpy(header, gz.data, header_len);
    return 0;
}


static int
teardown(void **state)
{
    (void) state;

    unlink(path);
    rmdir(dir);
    EVP_PKEY_free(signer);
    EVP_PKEY_free(other);
    EVP_PKEY_free(pub);
    return 0;
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_sealed),
        cmocka_unit_test(test_every_byte_flipped),
        cmocka_unit_test(test_gzip_form),
        cmocka_unit_test(test_recompressed),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_forged_lines),
        cmocka_unit_test(test_planted_lines),
        cmocka_unit_test(test_planted_anywhere),
        cmocka_unit_test(test_comment_outside_strings),
        cmocka_unit_test(test_not_profiles),
        cmocka_unit_test(test_go_profiles),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
