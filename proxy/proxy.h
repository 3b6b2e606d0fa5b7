/*
 * proxy: what the gateway says and sends on the exchange.  Audit ids, the
 * headers that stay behind, and the denial bodies that clients and pprof
 * tools read.
 *
 * Portable C11 and OpenSSL, no nginx header.
 */

#ifndef PPROF_PROXY_H
#define PPROF_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "policy/policy.h"


/* 128 bits from the CSPRNG, as lowercase hex. */
#define PPROF_AUDIT_ID_LEN  32

/* 0, or -1 when the CSPRNG fails: the caller must deny. */
int pprof_audit_id_generate(char id[PPROF_AUDIT_ID_LEN + 1]);


/* Request headers that carry credentials: never forwarded (lowercase name). */
int pprof_proxy_is_credential_header(pprof_str_t lowcase_name);


#define PPROF_DENIAL_MAX    512

/* Whether an Accept header asks for application/json. */
int pprof_denial_wants_json(pprof_str_t accept);

/*
 * The body of a denial, text ("pprof-gateway: <reason>: <message> (audit
 * id <id>)\n") or JSON.  It names the reason and the audit id and nothing
 * the client sent.  Returns the length written (< cap), 0 if cap is short.
 */
size_t pprof_denial_render(char *buf, size_t cap, pprof_reason_t reason,
    const char *audit_id, int json);

/*
 * Metrics of SPEC §11 in the Prometheus text format (version 0.0.4).
 * requests is indexed by class (PPROF_CLASS_COUNT: no endpoint), decision
 * (0 allow, 1 deny) and reason; series that are zero are left out.
 */
typedef struct {
    uint64_t  requests[PPROF_CLASS_COUNT + 1][2][PPROF_REASON_COUNT];
    uint64_t  captures_in_flight;
    uint64_t  capture_ms_total;
    uint64_t  audit_records_total;
    uint64_t  audit_write_errors_total;
    uint64_t  zone_used_bytes;
} pprof_metrics_t;

#define PPROF_METRICS_MAX  32768

/* The length written (< cap), 0 if cap is short. */
size_t pprof_metrics_render(char *buf, size_t cap, const pprof_metrics_t *m);

/*
 * Audit records (SPEC §8): one JSON object per line, hash-chained, with
 * signed checkpoints.  The encoder never sees a credential: it is given
 * only the decided facts.
 */
typedef enum {
    PPROF_AUDIT_DECISION = 0,
    PPROF_AUDIT_RESPONSE,
    PPROF_AUDIT_CHECKPOINT
} pprof_audit_stage_t;

#define PPROF_AUDIT_HASH_HEX   64          /* hex SHA-256, no NUL */
#define PPROF_AUDIT_LINE_MAX   8192

typedef struct {
    pprof_audit_stage_t  stage;
    uint64_t             time_us;       /* Unix time in microseconds */
    pprof_str_t          audit_id;
    pprof_str_t          client;        /* address as text */
    pprof_str_t          tls;           /* protocol, empty: null */
    pprof_str_t          identity;      /* empty: null */
    pprof_str_t          auth;          /* cert jwt apikey variable ... none */
    const pprof_str_t   *roles;
    size_t               nroles;
    pprof_str_t          method;
    pprof_str_t          endpoint;      /* empty with no endpoint */
    pprof_str_t          cls;           /* empty: null */
    pprof_str_t          params;        /* canonical */
    int                  allow;
    pprof_str_t          reason;
    int                  enforced;
    /* response records */
    unsigned             status;
    uint64_t             bytes;
    pprof_str_t          sha256;        /* hex of the body sent */
    uint64_t             duration_ms;
    pprof_str_t          upstream;      /* empty: null */
    /* checkpoint records */
    uint64_t             records;       /* records since the last one */
} pprof_audit_record_t;

/*
 * The record as one line (no newline): v, seq, ts, audit_id, stage, ...
 * and prev last.  A checkpoint carries "signature" set to sig (NUL-
 * terminated base64; "" while signing).  Strings are JSON-escaped.
 * Returns the length, 0 if cap is short.
 */
size_t pprof_audit_encode(char *buf, size_t cap,
    const pprof_audit_record_t *rec, uint64_t seq,
    const char prev[PPROF_AUDIT_HASH_HEX], const char *sig);

/* Hex SHA-256 of one line without its newline. */
void pprof_audit_hash(const char *line, size_t len,
    char hex[PPROF_AUDIT_HASH_HEX]);

/*
 * A checkpoint line signed with an Ed25519 key: encodes with signature "",
 * signs that line, encodes again with the base64 signature.  Length, or 0.
 */
size_t pprof_audit_checkpoint(char *buf, size_t cap,
    const pprof_audit_record_t *rec, uint64_t seq,
    const char prev[PPROF_AUDIT_HASH_HEX], EVP_PKEY *key);

/*
 * The chain head of an existing log: seq and hash of its last complete
 * line.  0 with *seq = 0 and prev all '0' for an empty or missing file,
 * -1 (err set) when the last line is not a record of ours.
 */
int pprof_audit_head(const char *path, uint64_t *seq,
    char prev[PPROF_AUDIT_HASH_HEX], char *err, size_t errlen);

/*
 * pprof-audit verify: reads the log, checks every line's JSON, seq order,
 * prev chain and, with a public key, every checkpoint signature.  0 when
 * all hold; -1 with *bad_seq (0 if unknown) and why set otherwise.
 */
int pprof_audit_verify(const char *path, EVP_PKEY *pubkey,
    uint64_t *bad_seq, char *why, size_t whylen);

#endif /* PPROF_PROXY_H */
