/*
 * pprof-audit verify LOG [--pubkey PEM]
 * pprof-audit verify-profile FILE --pubkey PEM
 *
 * verify checks an audit log of ngx_pprof_module (SPEC §8): every line's
 * JSON, the seq order, the prev chain and, with the public key of
 * pprof_audit_signing_key, every checkpoint signature.  verify-profile
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
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "proxy/proxy.h"


#define USAGE  "usage: pprof-audit verify LOG [--pubkey PEM]\n" \
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
           "the Ed25519 signature of every checkpoint.\n"
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


/* FILE and --pubkey PEM in any order; 0, or -1 on a usage error. */
static int
parse_args(int argc, char **argv, const char **file, const char **pem)
{
    int  i;

    *file = NULL;
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

        } else if (*file == NULL) {
            *file = argv[i];

        } else {
            return -1;
        }
    }

    return *file == NULL ? -1 : 0;
}


static int
verify_log(const char *log, const char *pem)
{
    EVP_PKEY  *key = NULL;
    uint64_t   bad_seq, records, checkpoints;
    char       why[256];
    int        rc;

    if (pem != NULL) {
        key = read_pubkey(pem);
        if (key == NULL) {
            return 2;
        }
    }

    rc = pprof_audit_verify(log, key, &bad_seq, why, sizeof(why));
    EVP_PKEY_free(key);

    if (rc != 0) {
        if (bad_seq) {
            fprintf(stderr, "%s: seq %" PRIu64 ": %s\n", log, bad_seq, why);
        } else {
            fprintf(stderr, "%s: %s\n", log, why);
        }
        return 1;
    }

    /* why is "N records, M checkpoints ..." on success. */
    if (sscanf(why, "%" SCNu64 " records, %" SCNu64, &records, &checkpoints)
        != 2)
    {
        printf("ok: %s\n", why);
        return 0;
    }

    printf("ok: %" PRIu64 " records, %" PRIu64 " checkpoints %s\n", records,
           checkpoints,
           pem != NULL ? "verified" : "not verified: no --pubkey");
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
    const char  *file, *pem;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0
                      || strcmp(argv[1], "--help") == 0))
    {
        help();
        return 0;
    }

    if (argc < 3 || parse_args(argc, argv, &file, &pem) != 0) {
        return usage();
    }

    if (strcmp(argv[1], "verify") == 0) {
        return verify_log(file, pem);
    }

    if (strcmp(argv[1], "verify-profile") == 0) {
        return verify_profile(file, pem);
    }

    return usage();
}
