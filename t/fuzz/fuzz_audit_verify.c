/*
 * pprof-audit verify (proxy/audit_verify.c) and the chain head a writer
 * resumes from (pprof_audit_head), on logs anyone with write access could
 * have left.
 *
 * Input: a mode byte, then
 *   mode 0: the log as it is;
 *   mode 1: a description of records, which the harness writes as a log
 *           the way the gateway does (chained, a checkpoint signed with
 *           its Ed25519 key wherever the description says and at the
 *           end), then changes one byte of when the tamper bytes say so.
 *           A record is a flags byte and four fields (length byte, bytes):
 *           identity, method, endpoint, params; numbers are small.
 * Asserts that a log the harness did not sign never passes with checkpoints
 * verified under its key (mode 0); that a log the gateway's encoder wrote
 * verifies, and no longer does once any one byte of it is changed (the
 * log ends with a checkpoint, so even its last line is covered); and that
 * whenever a log verifies, pprof_audit_head() reads the same head: the
 * last seq and the hash of the last line.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "proxy/proxy.h"
#include "proxy/verify.h"
#include "fuzz.h"


#define RECORDS_MAX  32
#define LOG_MAX      (RECORDS_MAX * 2 * PPROF_AUDIT_LINE_MAX)

static EVP_PKEY  *key;

static const char  zeros[PPROF_AUDIT_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";



/* 0 when the log verifies (why then says what was checked). */
static int
verify(const char *path, EVP_PKEY *pubkey, char *why, size_t whylen)
{
    uint64_t  bad = 12345;
    int       rc;

    why[0] = '\0';
    rc = pprof_audit_verify(path, pubkey, &bad, why, whylen);

    FZ_CHECK(rc == 0 || rc == -1);
    FZ_CHECK(why[0] != '\0' && memchr(why, '\0', whylen) != NULL);
    FZ_CHECK(rc == -1 || bad == 0);

    return rc;
}


/* The head of a log that verified: its last line, as a writer needs it. */
static void
check_head(const char *path, const unsigned char *log, size_t len)
{
    char      prev[PPROF_AUDIT_HASH_HEX], want[PPROF_AUDIT_HASH_HEX];
    char      err[256];
    size_t    start, lines, i;
    uint64_t  seq;

    FZ_CHECK(pprof_audit_head(path, &seq, prev, err, sizeof(err)) == 0);

    if (len == 0) {
        FZ_CHECK(seq == 0 && memcmp(prev, zeros, sizeof(prev)) == 0);
        return;
    }

    for (lines = 0, i = 0; i < len; i++) {
        lines += log[i] == '\n';
    }

    for (start = len - 1; start > 0 && log[start - 1] != '\n'; start--) {
        /* back to the last line's start */
    }

    pprof_audit_hash((const char *) log + start, len - 1 - start, want);

    FZ_CHECK(seq == lines);
    FZ_CHECK(memcmp(prev, want, sizeof(prev)) == 0);
}


static void
as_given(pprof_str_t log)
{
    const char  *path;
    char         why[256];
    unsigned     long long records, checkpoints;

    path = fz_scratch_write(log.data, log.len);

    if (verify(path, NULL, why, sizeof(why)) == 0) {
        check_head(path, log.data, log.len);
    }

    if (verify(path, key, why, sizeof(why)) == 0) {
        FZ_CHECK(sscanf(why, "%llu records, %llu checkpoints verified",
                        &records, &checkpoints) == 2);
        FZ_CHECK(checkpoints == 0);
    }
}


/* Appends one line after the log's head; 0 when the record is too long
 * to be written (the gateway then writes nothing either). */
static size_t
append(char *log, size_t len, pprof_audit_record_t *rec, int checkpoint,
    uint64_t *seq, char prev[PPROF_AUDIT_HASH_HEX])
{
    size_t  n;

    rec->time_us = 1700000000000000ULL + *seq * 1000003;
    rec->audit_id.data = (const unsigned char *) "0123456789abcdef";
    rec->audit_id.len = 16;
    rec->records = *seq;

    n = checkpoint ? pprof_audit_checkpoint(log + len, PPROF_AUDIT_LINE_MAX,
                                            rec, *seq + 1, prev, key)
                   : pprof_audit_encode(log + len, PPROF_AUDIT_LINE_MAX, rec,
                                        *seq + 1, prev, NULL);
    if (n == 0) {
        return 0;
    }

    pprof_audit_hash(log + len, n, prev);
    log[len + n] = '\n';
    (*seq)++;
    return n + 1;
}


/* The fields a test leaves empty, as strings: the verifier is tested
 * here, not how the encoder takes a NULL (fuzz_audit.c does). */
static void
fill_empty(pprof_audit_record_t *rec)
{
    pprof_str_t  *s[] = { &rec->tls, &rec->cls, &rec->sha256,
                          &rec->upstream, &rec->annotation };
    size_t        i;

    for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        s[i]->data = (const unsigned char *) "";
    }
}


static void
written(fz_t *in)
{
    static char           log[LOG_MAX];
    pprof_audit_record_t  rec;
    pprof_str_t           role = { (const unsigned char *) "oncall", 6 };
    const char           *path;
    char                  prev[PPROF_AUDIT_HASH_HEX], why[256];
    size_t                len, n, i, pos;
    uint64_t              seq;
    uint8_t               flags, tamper;

    tamper = fz_u8(in);
    pos = fz_u16(in);

    memcpy(prev, zeros, sizeof(prev));
    len = 0;
    seq = 0;

    for (i = 0; i < RECORDS_MAX && in->n > 0; i++) {
        memset(&rec, 0, sizeof(rec));
        flags = fz_u8(in);
        rec.stage = flags & 1 ? PPROF_AUDIT_RESPONSE : PPROF_AUDIT_DECISION;
        rec.client.data = (const unsigned char *) "192.0.2.7";
        rec.client.len = 9;
        rec.identity = fz_field(in);
        rec.auth.data = (const unsigned char *) "jwt";
        rec.auth.len = 3;
        rec.roles = &role;
        rec.nroles = (flags >> 1) & 1;
        rec.method = fz_field(in);
        rec.endpoint = fz_field(in);
        rec.params = fz_field(in);
        rec.allow = (flags >> 2) & 1;
        rec.reason.data = (const unsigned char *) "ok";
        rec.reason.len = 2;
        rec.enforced = 1;
        rec.status = 200;
        rec.bytes = (uint64_t) flags << 20;
        rec.duration_ms = flags;
        rec.redacted = flags & 8 ? -1 : flags;
        fill_empty(&rec);

        len += append(log, len, &rec, flags & 0x80, &seq, prev);
    }

    /* The writer signs one at shutdown: the last line is covered too. */
    memset(&rec, 0, sizeof(rec));
    fill_empty(&rec);
    n = append(log, len, &rec, 1, &seq, prev);
    FZ_CHECK(n > 0);
    len += n;

    path = fz_scratch_write(log, len);

    if (verify(path, key, why, sizeof(why)) != 0) {
        fz_failf(__FILE__, __LINE__, "a log as the gateway writes it does "
                 "not verify: %s", why);
    }

    check_head(path, (unsigned char *) log, len);

    if (tamper & 1) {
        log[pos % len] ^= (char) (1 + (tamper >> 1));
        path = fz_scratch_write(log, len);

        FZ_CHECK(verify(path, key, why, sizeof(why)) != 0);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t  in = { data, size };

    key = fz_ed25519();

    if (fz_u8(&in) & 1) {
        written(&in);
    } else {
        as_given(fz_rest(&in));
    }

    return 0;
}
