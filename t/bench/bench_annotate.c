/*
 * bench_annotate FILE: the streaming annotator's cost on a large gzip'd
 * profile (the Go target's synthetic heap), against the least any reader
 * of the body pays, inflating it.  Both take the file in the 16 KiB pieces
 * nginx buffers bring, so the annotator's per-call work is counted as it
 * will be; the figure that matters is annotate time / inflate time.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "proxy/proxy.h"


#define CHUNK   (16 * 1024)
#define OUTBUF  (64 * 1024)
#define RUNS    5


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static unsigned char *
read_file(const char *path, size_t *len)
{
    FILE           *f;
    unsigned char  *buf;
    long            size;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0
        && fseek(f, 0, SEEK_SET) == 0)
    {
        buf = malloc((size_t) size);
        if (buf != NULL && fread(buf, 1, (size_t) size, f) != (size_t) size) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t) size;
    }

    fclose(f);
    return buf;
}


/*
 * Inflates one whole gzip member, output discarded, or only hashed with
 * sha: the part of the annotator's cost that the seal alone requires.  0
 * when the member ends exactly at the end of buf; *out gets the
 * uncompressed length.
 */
static int
inflate_all(const unsigned char *buf, size_t len, EVP_MD_CTX *sha,
    unsigned long long *out)
{
    static unsigned char  sink[OUTBUF];

    z_stream  z;
    size_t    off, n;
    int       rc;

    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + 15) != Z_OK) {
        return -1;
    }

    rc = Z_OK;
    for (off = 0; off < len && rc != Z_STREAM_END; off += n) {
        n = len - off < CHUNK ? len - off : CHUNK;
        z.next_in = (unsigned char *) buf + off;
        z.avail_in = (uInt) n;

        do {
            z.next_out = sink;
            z.avail_out = OUTBUF;
            rc = inflate(&z, Z_NO_FLUSH);
            if (sha != NULL) {
                EVP_DigestUpdate(sha, sink, OUTBUF - z.avail_out);
            }
        } while (rc == Z_OK && (z.avail_in > 0 || z.avail_out == 0));

        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            break;
        }
    }

    *out = z.total_out;
    inflateEnd(&z);
    return rc == Z_STREAM_END && off == len && z.avail_in == 0 ? 0 : -1;
}


/*
 * Annotates buf as the nginx glue does, the output gathered into *res
 * (when res is not NULL) so that it can be checked apart from the timing.
 */
static pprof_annotate_reason_t
annotate_all(const unsigned char *buf, size_t len, EVP_PKEY *key,
    unsigned char *res, size_t *res_len)
{
    pprof_annotator_t        *a;
    pprof_annotate_reason_t   rc;
    const unsigned char      *tail;
    unsigned char            *held_out;
    size_t                    off, n, held, nheld, pass, tail_len, total;

    a = pprof_annotator_create(PPROF_ANNOTATE_HOLD_MAX);
    if (a == NULL) {
        return PPROF_ANNOTATE_NO_MEMORY;
    }

    total = 0;
    for (off = 0; off < len; off += n) {
        n = len - off < CHUNK ? len - off : CHUNK;

        held = pprof_annotator_held(a);
        held_out = held ? malloc(held) : NULL;
        if (held && held_out == NULL) {
            pprof_annotator_free(a);
            return PPROF_ANNOTATE_NO_MEMORY;
        }

        pprof_annotator_feed(a, buf + off, n, held_out, &nheld, &pass);

        if (res != NULL) {
            if (nheld > 0) {
                memcpy(res + total, held_out, nheld);
            }
            memcpy(res + total + nheld, buf + off, pass);
        }
        total += nheld + pass;
        free(held_out);
    }

    rc = pprof_annotator_finish(a, PPROF_COMMENT_PREFIX
                                "audit_id=bench identity=- roles=viewer",
                                PPROF_COMMENT_PREFIX
                                "endpoint=heap params=- upstream=- at=0",
                                key, &tail, &tail_len);

    if (res != NULL) {
        memcpy(res + total, tail, tail_len);
    }
    total += tail_len;
    *res_len = total;

    pprof_annotator_free(a);
    return rc;
}


int
main(int argc, char **argv)
{
    unsigned char            *buf, *res;
    size_t                    len, res_len;
    unsigned long long        plain, annotated;
    double                    t0, t, best_inflate, best_hash, best_annotate,
                              mb;
    pprof_annotate_reason_t   rc;
    EVP_PKEY                 *key;
    EVP_MD_CTX               *sha;
    int                       run;

    if (argc != 2) {
        fprintf(stderr, "usage: bench_annotate FILE.pb.gz\n");
        return 2;
    }

    buf = read_file(argv[1], &len);
    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    sha = EVP_MD_CTX_new();
    if (buf == NULL || key == NULL || sha == NULL) {
        fprintf(stderr, "bench_annotate: %s\n",
                buf ? "OpenSSL setup failed" : "cannot read the profile");
        return 1;
    }

    /* Once untimed: the annotated body must still be one whole member,
     * longer by the comments. */
    res = malloc(len + 64 * 1024);
    if (res == NULL) {
        return 1;
    }
    rc = annotate_all(buf, len, key, res, &res_len);
    if (rc != PPROF_ANNOTATE_OK) {
        fprintf(stderr, "bench_annotate: not annotated: %s\n",
                pprof_annotate_reason_name(rc));
        return 1;
    }
    if (inflate_all(buf, len, NULL, &plain) != 0
        || inflate_all(res, res_len, NULL, &annotated) != 0
        || annotated <= plain)
    {
        fprintf(stderr, "bench_annotate: the annotated body is broken\n");
        return 1;
    }
    free(res);

    best_inflate = best_hash = best_annotate = 1e9;
    for (run = 0; run < RUNS; run++) {
        t0 = now();
        if (inflate_all(buf, len, NULL, &plain) != 0) {
            fprintf(stderr, "bench_annotate: inflate failed\n");
            return 1;
        }
        t = now() - t0;
        best_inflate = t < best_inflate ? t : best_inflate;

        t0 = now();
        if (EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1
            || inflate_all(buf, len, sha, &plain) != 0)
        {
            fprintf(stderr, "bench_annotate: inflate failed\n");
            return 1;
        }
        t = now() - t0;
        best_hash = t < best_hash ? t : best_hash;

        t0 = now();
        rc = annotate_all(buf, len, key, NULL, &res_len);
        t = now() - t0;
        if (rc != PPROF_ANNOTATE_OK) {
            fprintf(stderr, "bench_annotate: not annotated: %s\n",
                    pprof_annotate_reason_name(rc));
            return 1;
        }
        best_annotate = t < best_annotate ? t : best_annotate;
    }

    mb = len / 1e6;
    printf("annotate: %.1f MB gzip'd profile (%.1f MB inflated), "
           "%d KiB pieces, best of %d\n", mb, plain / 1e6, CHUNK / 1024,
           RUNS);
    printf("  inflate only   %8.1f MB/s  (%.3f s)\n", mb / best_inflate,
           best_inflate);
    printf("  inflate+sha256 %8.1f MB/s  (%.3f s)\n", mb / best_hash,
           best_hash);
    printf("  annotate+seal  %8.1f MB/s  (%.3f s)\n", mb / best_annotate,
           best_annotate);
    printf("  annotate / inflate:       %.2fx (target <= 1.20x)\n",
           best_annotate / best_inflate);
    printf("  inflate+sha256 / inflate: %.2fx (the seal's hash alone)\n",
           best_hash / best_inflate);

    EVP_MD_CTX_free(sha);
    EVP_PKEY_free(key);
    free(buf);
    return 0;
}
