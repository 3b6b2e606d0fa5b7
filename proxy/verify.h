/*
 * verify: the pprof-audit command's logic.  It reads back what the
 * gateway wrote (audit logs, sealed profiles) and checks it; the nginx
 * module neither includes this header nor links these files.
 *
 * Portable C11, OpenSSL, jansson, zlib and protobuf-c, no nginx header.
 */

#ifndef PPROF_PROXY_VERIFY_H
#define PPROF_PROXY_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "proxy.h"


/*
 * pprof-audit verify: reads a log, or its rotated segments oldest first
 * (pprof.log.2 pprof.log.1 pprof.log) as one chain, and checks every
 * line's JSON, seq order, prev chain and, with a public key, every
 * checkpoint signature; with a key, a log without a checkpoint fails.  0
 * when all holds, why then summing up what was checked (from which seq,
 * and which seqs no checkpoint signs); -1 otherwise, with the first bad
 * seq (0 if no seq is to blame), its segment (or NULL) and why.
 */
typedef struct {
    uint64_t     from;           /* seq of the first record; 0: none */
    uint64_t     to;             /* seq of the last record */
    uint64_t     records;
    uint64_t     checkpoints;
    uint64_t     signed_to;      /* seq of the last checkpoint; 0: none */
    uint64_t     bad_seq;
    const char  *bad_path;
    char         why[512];
} pprof_audit_report_t;

int pprof_audit_verify_segments(const char *const *paths, size_t n,
    EVP_PKEY *pubkey, pprof_audit_report_t *report);

/* The same for one file, the report in why: 0, or -1 with *bad_seq. */
int pprof_audit_verify(const char *path, EVP_PKEY *pubkey,
    uint64_t *bad_seq, char *why, size_t whylen);

/*
 * 1 when b64 is the canonical base64 of a valid Ed25519 signature of msg
 * (pprof_sign()).
 */
int pprof_sign_verify(EVP_PKEY *pubkey, const void *msg, size_t len,
    const char *b64, size_t b64len);


/*
 * pprof-audit verify-profile: decodes the whole profile (protobuf-c, under
 * 1 GiB uncompressed), rebuilds the comments' bytes and the statement, and
 * checks the seal with pubkey (required).  0 when the file is exactly
 * what the gateway sealed, with why set to comment lines 1-3, one per
 * line, for the operator; -1 with why set otherwise (the file cannot be
 * read, is not one gzip member, is not a profile, carries no seal, or was
 * changed).  why is cut to whylen; 3 * PPROF_COMMENT_LINE_MAX always fits.
 */
int pprof_profile_verify(const char *path, EVP_PKEY *pubkey,
    char *why, size_t whylen);

#endif /* PPROF_PROXY_VERIFY_H */
