/*
 * pprof-audit verify-profile (proxy/profile_verify.c): a profile file as
 * anyone may hand it over.
 *
 * Input: a mode byte, a why-length byte, a tamper byte and two position
 * bytes, then
 *   mode 0: the file as it is;
 *   mode 1: an uncompressed file, gzip'd by the harness;
 *   mode 2: an upstream profile, which the harness seals as the gateway
 *           does (lines 1-3, the seal over them, the length and the gzip
 *           header, appended after the profile's own strings) with its
 *           Ed25519 key, and gzips.
 * Asserts that no file verifies with a key the harness alone holds unless
 * the harness sealed it (modes 0 and 1); that what the harness sealed
 * verifies exactly when the upstream profile decodes (protobuf-c) with
 * string_table[0] = "", and never once one byte of it is changed; and
 * that the explanation always fits the buffer it is given (ASan sees the
 * buffer's exact size).
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <zlib.h>

#include "proxy/proxy.h"
#include "proxy/verify.h"
#include "proxy/profile.pb-c.h"
#include "fuzz.h"


static const size_t  why_lens[] = {
    0, 1, 2, 17, 64, 300, 3 * PPROF_COMMENT_LINE_MAX
};

static const unsigned char  gz_head[10] = {
    0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff
};

static EVP_PKEY  *key;



/* gz_head, raw deflate, CRC-32 and length: the header known byte for byte. */
static unsigned char *
gzip(const unsigned char *p, size_t len, size_t *outlen)
{
    unsigned char  *out;
    z_stream        z;
    uLong           crc, bound;
    size_t          n;

    memset(&z, 0, sizeof(z));
    FZ_CHECK(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY)
             == Z_OK);

    bound = deflateBound(&z, (uLong) len);
    out = malloc(sizeof(gz_head) + bound + 8);
    FZ_CHECK(out != NULL);

    memcpy(out, gz_head, sizeof(gz_head));
    z.next_in = (unsigned char *) p;
    z.avail_in = (uInt) len;
    z.next_out = out + sizeof(gz_head);
    z.avail_out = (uInt) bound;
    FZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);

    n = sizeof(gz_head) + z.total_out;
    deflateEnd(&z);

    crc = crc32(0, p, (uInt) len);
    out[n++] = (unsigned char) crc;
    out[n++] = (unsigned char) (crc >> 8);
    out[n++] = (unsigned char) (crc >> 16);
    out[n++] = (unsigned char) (crc >> 24);
    out[n++] = (unsigned char) len;
    out[n++] = (unsigned char) (len >> 8);
    out[n++] = (unsigned char) (len >> 16);
    out[n++] = (unsigned char) (len >> 24);

    *outlen = n;
    return out;
}


/* The upstream profile and the gateway's four lines after it. */
static unsigned char *
seal(pprof_str_t upstream, size_t *len, int *valid)
{
    static char               line1[PPROF_COMMENT_LINE_MAX];
    static char               line2[PPROF_COMMENT_LINE_MAX];
    static char               statement[4 * PPROF_COMMENT_LINE_MAX];
    char                      sha_line[PPROF_SHA256_LINE_LEN + 1];
    char                      seal_line[PPROF_SEAL_LINE_LEN + 1];
    unsigned char             md[32], *out;
    pprof_provenance_t        prov;
    pprof_str_t               lines[4];
    Perftools__Profiles__Profile  *p;
    size_t                    n, cap, nstrings, i;

    p = perftools__profiles__profile__unpack(NULL, upstream.len,
                                             upstream.data);
    nstrings = p ? p->n_string_table : 0;
    *valid = p && nstrings > 0 && p->string_table[0][0] == '\0';

    /*
     * What the verifier refuses: a comment past the upstream's strings (it
     * would point at a gateway line, or nowhere, once they are appended),
     * or one that claims to be the gateway's.  The annotator refuses to
     * seal more (the mark in any string), since it cannot tell comments
     * from other strings as they stream past.
     */
    for (i = 0; *valid && i < p->n_comment; i++) {
        *valid = p->comment[i] >= 0 && (size_t) p->comment[i] < nstrings
                 && pprof_gateway_mark(0, (const unsigned char *)
                                       p->string_table[p->comment[i]],
                                       strlen(p->string_table[p->comment[i]]))
                    != PPROF_GATEWAY_MARK_YES;
    }

    perftools__profiles__profile__free_unpacked(p, NULL);

    memset(&prov, 0, sizeof(prov));
    prov.audit_id.data = (const unsigned char *) "00112233445566778899aabb";
    prov.audit_id.len = 24;
    prov.identity.data = (const unsigned char *) "alice";
    prov.identity.len = 5;
    prov.endpoint.data = (const unsigned char *) "profile";
    prov.endpoint.len = 7;
    prov.time_us = 1700000000000000ULL;
    FZ_CHECK(pprof_provenance_lines(&prov, line1, line2) == 0);

    SHA256(upstream.data, upstream.len, md);
    pprof_provenance_sha_line(md, sha_line);

    lines[0] = (pprof_str_t) { (const unsigned char *) line1, strlen(line1) };
    lines[1] = (pprof_str_t) { (const unsigned char *) line2, strlen(line2) };
    lines[2] = (pprof_str_t) { (const unsigned char *) sha_line,
                               strlen(sha_line) };

    n = pprof_seal_statement(statement, sizeof(statement), lines,
                             upstream.len, gz_head, sizeof(gz_head));
    FZ_CHECK(n > 0 && pprof_seal_line(key, statement, n, seal_line) == 0);
    lines[3] = (pprof_str_t) { (const unsigned char *) seal_line,
                               strlen(seal_line) };

    cap = upstream.len + 4 * (PPROF_COMMENT_LINE_MAX + 32);
    out = malloc(cap);
    FZ_CHECK(out != NULL);

    if (upstream.len > 0) {
        memcpy(out, upstream.data, upstream.len);
    }
    n = pprof_provenance_encode(out + upstream.len, cap - upstream.len,
                                lines, 4, nstrings);
    FZ_CHECK(n > 0);

    *len = upstream.len + n;
    return out;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t            in = { data, size };
    pprof_str_t     rest;
    unsigned char  *plain, *file;
    char           *why;
    size_t          whylen, plain_len, file_len, pos;
    uint8_t         mode, tamper;
    int             rc, valid, changed;

    key = fz_ed25519();

    mode = fz_u8(&in) % 3;
    whylen = why_lens[fz_u8(&in) % (sizeof(why_lens) / sizeof(why_lens[0]))];
    tamper = fz_u8(&in);
    pos = fz_u16(&in);
    rest = fz_rest(&in);

    valid = 0;
    changed = 0;
    plain = NULL;

    if (mode == 0) {
        file = malloc(rest.len + 1);
        FZ_CHECK(file != NULL);
        memcpy(file, rest.data, rest.len);
        file_len = rest.len;

    } else {
        if (mode == 1) {
            plain = malloc(rest.len + 1);
            FZ_CHECK(plain != NULL);
            memcpy(plain, rest.data, rest.len);
            plain_len = rest.len;

        } else {
            plain = seal(rest, &plain_len, &valid);

            if (tamper & 1) {
                plain[pos % plain_len] ^= (unsigned char) (1 + (tamper >> 1));
                changed = 1;
            }
        }

        file = gzip(plain, plain_len, &file_len);
    }

    why = malloc(whylen > 0 ? whylen : 1);
    FZ_CHECK(why != NULL);

    rc = pprof_profile_verify(fz_scratch_write(file, file_len), key, why,
                              whylen);

    FZ_CHECK(rc == 0 || rc == -1);
    FZ_CHECK(whylen == 0 || memchr(why, '\0', whylen) != NULL);

    if (mode == 2 && valid && !changed) {
        if (rc != 0) {
            fz_failf(__FILE__, __LINE__, "a profile sealed as the gateway "
                     "seals it does not verify: %.*s", (int) whylen,
                     whylen ? why : "");
        }

    } else {
        FZ_CHECK(rc == -1);
    }

    free(why);
    free(file);
    free(plain);
    return 0;
}
