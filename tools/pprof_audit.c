/*
 * pprof-audit verify LOG... [--pubkey PEM]
 * pprof-audit verify-profile FILE --pubkey PEM
 *
 * verify checks an audit log of ngx_pprof_module (SPEC §8), or its rotated
 * segments oldest first as one chain: every line's JSON, the seq order,
 * the prev chain and, with the public key of pprof_audit_signing_key,
 * every checkpoint signature.  verify-profile
 * checks the seal of a profile the gateway annotated (SPEC §9); the key is
 * required there, since a profile nobody can check is not a pass.
 *
 * Exit status: 0 when everything holds, 1 when it does not (the first bad
 * seq or what is wrong with the profile is named on stderr) or the file
 * cannot be read, 2 on a usage error or a key that cannot be used.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "proxy/verify.h"


#define USAGE  "usage: pprof-audit verify LOG... [--pubkey PEM]\n" \
               "       pprof-audit verify-profile FILE --pubkey PEM\n"


static int
usage(void)
{
    fprintf(stderr, USAGE "(pprof-audit --help tells more)\n");
    return 2;
}


static void
help(void)
{
    printf(USAGE
           "\n"
           "verify checks the hash chain of an audit log and, with --pubkey,\n"
           "the Ed25519 signature of every checkpoint; a log with none fails.\n"
           "Rotated segments are given oldest first, as one chain (gzip'd\n"
           "ones too):\n"
           "    pprof-audit verify audit.jsonl.2.gz audit.jsonl.1 audit.jsonl\n"
           "A log that begins mid-chain is verified from its first record,\n"
           "and the report says from which seq.\n"
           "\n"
           "verify-profile checks that a gzip'd profile the gateway annotated\n"
           "is exactly what it sealed: one gzip member, a profile.proto\n"
           "ending with the gateway's comments, the upstream's SHA-256, and\n"
           "the seal over the comments and the gzip header.  Re-compressing\n"
           "the file (zcat | gzip) breaks the seal.\n"
           "\n"
           "PEM is the public key of pprof_audit_signing_key:\n"
           "    openssl pkey -in signing.key -pubout -out audit.pub\n"
           "\n"
           "Exits 0 when the file holds, 1 saying what is wrong when it does\n"
           "not or cannot be read, 2 on a usage error or a key that cannot\n"
           "be used.\n");
}


static EVP_PKEY *
read_pubkey(const char *path)
{
    EVP_PKEY  *key;
    FILE      *f;

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "pprof-audit: %s: %s\n", path, strerror(errno));
        return NULL;
    }

    /* No passphrase callback: a public key has none, and none prompts. */
    key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);

    if (key == NULL) {
        fprintf(stderr, "pprof-audit: %s: not a PEM public key "
                "(\"-----BEGIN PUBLIC KEY-----\")\n", path);
        return NULL;
    }

    if (!EVP_PKEY_is_a(key, "ED25519")) {
        fprintf(stderr, "pprof-audit: %s: not an Ed25519 key\n", path);
        EVP_PKEY_free(key);
        return NULL;
    }

    return key;
}


/* Files and --pubkey PEM in any order; 0, or -1 on a usage error. */
static int
parse_args(int argc, char **argv, const char **files, size_t *nfiles,
    const char **pem)
{
    int  i;

    *nfiles = 0;
    *pem = NULL;

    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--pubkey") == 0) {
            if (*pem != NULL || i + 1 == argc) {
                return -1;
            }
            *pem = argv[++i];

        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "pprof-audit: unknown option %s\n", argv[i]);
            return -1;

        } else {
            files[(*nfiles)++] = argv[i];
        }
    }

    return *nfiles == 0 ? -1 : 0;
}


static int
verify_log(const char *const *logs, size_t n, const char *pem)
{
    pprof_audit_report_t  report;
    EVP_PKEY             *key = NULL;
    int                   rc;

    if (pem != NULL) {
        key = read_pubkey(pem);
        if (key == NULL) {
            return 2;
        }
    }

    rc = pprof_audit_verify_segments(logs, n, key, &report);
    EVP_PKEY_free(key);

    if (rc != 0) {
        fprintf(stderr, "%s: ", report.bad_path != NULL ? report.bad_path
                                                        : "pprof-audit");
        if (report.bad_seq) {
            fprintf(stderr, "seq %" PRIu64 ": ", report.bad_seq);
        }
        fprintf(stderr, "%s\n", report.why);
        return 1;
    }

    printf("ok: %s\n", report.why);
    return 0;
}


static int
verify_profile(const char *file, const char *pem)
{
    /* On success, lines 1-3 of the profile's comments. */
    static char  why[3 * PPROF_COMMENT_LINE_MAX];

    EVP_PKEY  *key;
    int        rc;

    if (pem == NULL) {
        fprintf(stderr, "pprof-audit: verify-profile needs --pubkey\n");
        return usage();
    }

    key = read_pubkey(pem);
    if (key == NULL) {
        return 2;
    }

    rc = pprof_profile_verify(file, key, why, sizeof(why));
    EVP_PKEY_free(key);

    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", file, why);
        return 1;
    }

    printf("%s: sealed by the gateway, unchanged\n%s\n", file, why);
    return 0;
}


int
main(int argc, char **argv)
{
    const char  **files, *pem;
    size_t        n;
    int           rc;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0
                      || strcmp(argv[1], "--help") == 0))
    {
        help();
        return 0;
    }

    /* Never more files than arguments. */
    files = malloc((size_t) argc * sizeof(char *));
    if (files == NULL) {
        fprintf(stderr, "pprof-audit: out of memory\n");
        return 2;
    }

    if (argc < 3 || parse_args(argc, argv, files, &n, &pem) != 0) {
        rc = usage();

    } else if (strcmp(argv[1], "verify") == 0) {
        rc = verify_log(files, n, pem);

    } else if (strcmp(argv[1], "verify-profile") == 0 && n == 1) {
        rc = verify_profile(files[0], pem);

    } else {
        rc = usage();
    }

    free(files);
    return rc;
}
