/*
 * pprof-audit verify LOG [--pubkey PEM]
 *
 * Checks an audit log of ngx_pprof_module (SPEC §8): every line's JSON,
 * the seq order, the prev chain and, with the public key of
 * pprof_audit_signing_key, every checkpoint signature.
 *
 * Exit status: 0 when everything holds, 1 when it does not (the first bad
 * seq is named on stderr) or the log cannot be read, 2 on a usage error or
 * a key that cannot be used.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "proxy/proxy.h"


#define USAGE  "usage: pprof-audit verify LOG [--pubkey PEM]\n"


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
           "Verifies the hash chain of an audit log and, with --pubkey, the\n"
           "Ed25519 signature of every checkpoint.  PEM is the public key\n"
           "of pprof_audit_signing_key:\n"
           "    openssl pkey -in signing.key -pubout -out audit.pub\n"
           "\n"
           "Exits 0 when the log holds, 1 naming the first bad seq when it\n"
           "does not or cannot be read, 2 on a usage error or a key that\n"
           "cannot be used.\n");
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


int
main(int argc, char **argv)
{
    const char  *log = NULL, *pem = NULL;
    EVP_PKEY    *key = NULL;
    uint64_t     bad_seq, records, checkpoints;
    char         why[256];
    int          i, rc;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0
                      || strcmp(argv[1], "--help") == 0))
    {
        help();
        return 0;
    }

    if (argc < 3 || strcmp(argv[1], "verify") != 0) {
        return usage();
    }

    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--pubkey") == 0) {
            if (pem != NULL || i + 1 == argc) {
                return usage();
            }
            pem = argv[++i];

        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "pprof-audit: unknown option %s\n", argv[i]);
            return usage();

        } else if (log == NULL) {
            log = argv[i];

        } else {
            return usage();
        }
    }

    if (log == NULL) {
        return usage();
    }

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
