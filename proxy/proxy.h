/*
 * proxy: what the gateway says and sends on the exchange.  Audit ids, the
 * headers that stay behind, and the denial bodies that clients and pprof
 * tools read.  This is the header the nginx module uses; what only the
 * pprof-audit command needs is in proxy/verify.h.
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

/*
 * Whether "proxy_pass url" (as written, with nginx's $name and ${name}) in
 * the location called location sends the target only the canonical request
 * <prefix><endpoint>[?<params>] that the module sets as the request's URI,
 * arguments and $request_uri.  0: it does, provided that where the scheme
 * and host part has variables (*host, else empty) its value passes
 * pprof_proxy_pass_host_ok() on every request.  -1: it cannot be made to;
 * *why says why.
 */
int pprof_proxy_pass_check(pprof_str_t url, pprof_str_t location,
    pprof_str_t prefix, pprof_str_t *host, const char **why);

/* Per request: whether that part's value is a scheme and host only. */
int pprof_proxy_pass_host_ok(pprof_str_t value);

/*
 * Whether "proxy_pass url" (as written) sends the target a path under
 * prefix whatever the request: its URI part, without variables, is the
 * prefix (its last '/' optional) or begins with it.  Where roles are
 * defined, nginx -t warns about such a location without "pprof on".
 */
int pprof_proxy_pass_names_prefix(pprof_str_t url, pprof_str_t prefix);


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
 * The same with a one-line detail after the reason's message, "<message>;
 * <detail>", in both forms (JSON-escaped there).  Bytes outside printable
 * ASCII become '?', and a detail longer than PPROF_DENIAL_DETAIL_MAX is
 * cut.  A NULL or empty detail renders exactly as pprof_denial_render.
 */
#define PPROF_DENIAL_DETAIL_MAX  128

size_t pprof_denial_render_detail(char *buf, size_t cap,
    pprof_reason_t reason, const char *audit_id, int json,
    const char *detail);

#define PPROF_CHALLENGE_MAX  256

/*
 * The WWW-Authenticate value of a 401: challenge (pprof_auth_challenge's)
 * alone, or, when reason is invalid_credential and token_error (auth's
 * fixed text for a refused Bearer token) is set, with RFC 6750's
 * error="invalid_token" and token_error as its error_description.  The
 * length written (< cap), 0 if cap is short.
 */
size_t pprof_denial_challenge(char *buf, size_t cap, const char *challenge,
    pprof_reason_t reason, const char *token_error);

/*
 * Metrics of SPEC §11 in the Prometheus text format (version 0.0.4).
 * requests is indexed by class (PPROF_CLASS_COUNT: no endpoint), decision
 * (0 allow, 1 deny) and reason; series that are zero are left out.
 */
/* Why an admission through Redis (pprof_shared_state) got no answer. */
typedef enum {
    PPROF_SHARED_TIMEOUT = 0,
    PPROF_SHARED_CONNECT,
    PPROF_SHARED_PROTOCOL,
    PPROF_SHARED_AUTH,
    PPROF_SHARED_KINDS
} pprof_shared_kind_t;

/* The latency histogram's buckets: .001 .005 .01 .05 .1 .25 .5 1, +Inf. */
#define PPROF_SHARED_BUCKETS  9

typedef struct {
    uint64_t  requests[PPROF_CLASS_COUNT + 1][2][PPROF_REASON_COUNT];
    uint64_t  captures_in_flight;
    uint64_t  capture_ms_total;
    uint64_t  audit_records_total;
    uint64_t  audit_write_errors_total;
    uint64_t  zone_used_bytes;

    /* Only with shared set: the admissions asked of Redis. */
    int       shared;
    uint64_t  shared_errors[PPROF_SHARED_KINDS];
    uint64_t  shared_latency[PPROF_SHARED_BUCKETS];  /* per bucket, not
                                                       cumulative */
    uint64_t  shared_latency_us;                     /* their sum */
} pprof_metrics_t;

/* The bucket an admission of us microseconds is counted in. */
size_t pprof_metrics_bucket(uint64_t us);

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

/* RFC 3339 UTC with microseconds, NUL-terminated; -1 past year 9999. */
#define PPROF_RFC3339_LEN      sizeof("2026-11-22T03:45:01.123456Z")

int pprof_rfc3339(char ts[PPROF_RFC3339_LEN], uint64_t time_us);
#define PPROF_AUDIT_LINE_MAX   8192

/* 2^53 - 1: the largest integer a record holds, exact in every reader. */
#define PPROF_AUDIT_NUM_MAX    9007199254740991ULL

typedef struct {
    pprof_audit_stage_t  stage;
    uint64_t             time_us;       /* Unix time in microseconds */
    pprof_str_t          audit_id;
    pprof_str_t          client;        /* address as text */
    pprof_str_t          tls;           /* protocol, empty: null */
    pprof_str_t          identity;      /* empty: null */
    int                  identity_cut;  /* identity is the start of one */
    pprof_str_t          auth;          /* cert jwt apikey variable ... none */
    const pprof_str_t   *roles;
    size_t               nroles;
    pprof_str_t          method;
    pprof_str_t          path;          /* $uri: decoded, no query */
    pprof_str_t          endpoint;      /* empty with no endpoint */
    pprof_str_t          cls;           /* empty: null */
    pprof_str_t          params;        /* canonical */
    int                  allow;
    pprof_str_t          reason;
    int                  enforced;
    pprof_str_t          proxy;         /* authz: the proxy's address;
                                           empty: a proxied request */
    pprof_str_t          shared;        /* "ok" or "unavailable" when Redis
                                           was asked; empty: left out */
    pprof_str_t          gateway;       /* who wrote it; empty: left out.
                                           The chain's writer sets it */
    /* response records */
    unsigned             status;
    uint64_t             bytes;
    pprof_str_t          sha256;        /* hex of the body sent */
    uint64_t             duration_ms;
    pprof_str_t          upstream;      /* empty: null */
    pprof_str_t          annotation;    /* SPEC §9's outcome; empty: null */
    int64_t              redacted;      /* SPEC §10's count; -1: null */
    unsigned             upstream_status;  /* the target's status when the
                                           gateway answered in its place
                                           (capture_busy); 0: left out */
    pprof_str_t          upstream_said;    /* the target's body then */
    /* checkpoint records */
    uint64_t             records;       /* records since the last one */
} pprof_audit_record_t;

/*
 * A pprof_gateway_id: NULL, or why it cannot be one (empty, too long, a
 * control byte, not UTF-8).  One that passes is never cut in a record.
 */
#define PPROF_AUDIT_GATEWAY_MAX  255

const char *pprof_audit_gateway_check(pprof_str_t name);

/*
 * The record as one line (no newline): v, seq, ts, audit_id, stage, ...
 * and prev last.  A checkpoint carries "signature" set to sig (NUL-
 * terminated base64; "" while signing).  Strings are JSON-escaped and cut
 * to their caps, numbers held to PPROF_AUDIT_NUM_MAX, and a record where
 * either happened says "truncated":true: with cap >= PPROF_AUDIT_LINE_MAX
 * every record is written, whatever its strings.  Returns the length, 0
 * if cap is short, seq is beyond PPROF_AUDIT_NUM_MAX or the stage, prev
 * or time cannot be written.
 */
size_t pprof_audit_encode(char *buf, size_t cap,
    const pprof_audit_record_t *rec, uint64_t seq,
    const char prev[PPROF_AUDIT_HASH_HEX], const char *sig);

/* Hex SHA-256 of one line without its newline. */
void pprof_audit_hash(const char *line, size_t len,
    char hex[PPROF_AUDIT_HASH_HEX]);

/* Starts ctx on SHA-256 (a response body's digest): 0, or -1. */
int pprof_audit_sha256_init(EVP_MD_CTX *ctx);

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
 * One log's chain as its writers hold it: what the next line links to.
 * The caller keeps it where every writer of the log sees it and calls
 * the functions below under one lock, so that lines never interleave.
 */
typedef struct {
    uint64_t     seq;                /* of the last line; 0: none yet */
    uint64_t     since_checkpoint;   /* records since the last checkpoint */
    char         prev[PPROF_AUDIT_HASH_HEX];    /* hash of the last line */
} pprof_audit_chain_t;

/* A chain with no line yet: seq 0, prev all '0'. */
void pprof_audit_chain_init(pprof_audit_chain_t *c);

/*
 * Where a chain's lines go, and which gateway writes them (every line's
 * "gateway", left out when empty).  write is given a line without its
 * newline (it may use line[len], the NUL) and returns 0 once the whole
 * line is out, -1 otherwise; unencodable is told the seq of a line that
 * could not be encoded.  Both report and count their failures themselves.
 */
typedef struct {
    char        *line;               /* PPROF_AUDIT_LINE_MAX bytes */
    EVP_PKEY    *key;                /* signs checkpoints; NULL: none */
    uint64_t     every;              /* records between checkpoints;
                                        0: only when asked for */
    int        (*write)(void *data, char *line, size_t len);
    void       (*unencodable)(void *data, uint64_t seq);
    void        *data;
    pprof_str_t  gateway;            /* every line's "gateway" */
} pprof_audit_writer_t;

/*
 * Appends rec as the next line and, once every records have followed the
 * last checkpoint, a signed checkpoint.  The chain moves only past a line
 * the sink took whole, so a failed write never breaks it.  0 when rec is
 * out, -1 if not; a checkpoint that fails is tried again after the next
 * record, and does not change what rec's outcome was.
 */
int pprof_audit_chain_append(pprof_audit_chain_t *c,
    const pprof_audit_writer_t *w, const pprof_audit_record_t *rec);

/* A signed checkpoint now, as when nginx stops: 0 (also with no key), or
 * -1 when it is not out. */
int pprof_audit_chain_checkpoint(pprof_audit_chain_t *c,
    const pprof_audit_writer_t *w, uint64_t time_us);

/*
 * Ed25519 with its signature as padded base64 (88 characters), shared by
 * audit checkpoints and profile seals.  Only an Ed25519 key is taken, so
 * that a signature means the same thing wherever it is checked.
 */
#define PPROF_SIG_B64_LEN  88

int pprof_sign(EVP_PKEY *key, const void *msg, size_t len,
    char b64[PPROF_SIG_B64_LEN + 1]);


/*
 * Provenance (SPEC §9): the comment lines appended to a profile, the
 * statement a seal signs, and the protobuf bytes that carry the lines.
 * Shared by the annotator and by pprof-audit verify-profile, so that what
 * one writes the other rebuilds byte for byte.
 */
#define PPROF_COMMENT_PREFIX     "pprof-gateway: "
#define PPROF_COMMENT_LINES      4          /* the last is the seal */
#define PPROF_COMMENT_LINE_MAX   16384
#define PPROF_GZIP_HEADER_MAX    256        /* sealed as hex */

/* The largest uncompressed profile verify-profile reads, and so the
 * largest the annotator seals. */
#define PPROF_PROFILE_MAX        ((uint64_t) 1 << 30)

/*
 * Whether a string claims to be one of the gateway's lines: it holds
 * "pprof-gateway:" anywhere, in any case, control bytes within it
 * ignored.  Fed the string in pieces, in order, from state 0; the state
 * is PPROF_GATEWAY_MARK_YES once it does, and stays so.
 */
#define PPROF_GATEWAY_MARK_YES   ((int) sizeof("pprof-gateway:") - 1)

int pprof_gateway_mark(int state, const unsigned char *p, size_t len);

typedef struct {
    pprof_str_t          audit_id;
    pprof_str_t          identity;      /* empty: "-" */
    const pprof_str_t   *roles;
    size_t               nroles;
    pprof_str_t          endpoint;
    pprof_str_t          params;        /* canonical; empty: "-" */
    pprof_str_t          upstream;      /* empty: "-" */
    uint64_t             time_us;       /* the fetch, Unix microseconds */
} pprof_provenance_t;

/*
 * Lines 1 and 2 ("pprof-gateway: audit_id=... identity=... roles=..." and
 * "pprof-gateway: endpoint=... params=... upstream=... at=...").  Bytes of
 * the identity other than printable ASCII, and space and '%', are written
 * as %XX so that a line always reads back as the fields it was made of.
 * Each line is written NUL-terminated into its buffer; 0, or -1 if a
 * line does not fit.
 */
int pprof_provenance_lines(const pprof_provenance_t *p,
    char line1[PPROF_COMMENT_LINE_MAX], char line2[PPROF_COMMENT_LINE_MAX]);

/* Line 3: "pprof-gateway: upstream_sha256=<64 hex>". */
#define PPROF_SHA256_LINE_LEN  (sizeof(PPROF_COMMENT_PREFIX) - 1 \
                                + sizeof("upstream_sha256=") - 1 + 64)

void pprof_provenance_sha_line(const unsigned char sha256[32],
    char line[PPROF_SHA256_LINE_LEN + 1]);

/*
 * The statement a seal signs:
 *     "pprof-gateway-seal/1\n" line1 "\n" line2 "\n" line3 "\n"
 *     "upstream_bytes=<decimal>\n" "gzip_header=<lowercase hex>\n"
 * so that the seal covers the comments, the upstream's uncompressed
 * profile (through its SHA-256 and length) and the gzip header, the only
 * bytes of the file a decompressor would otherwise ignore.  Returns the
 * length written, 0 if cap is short.
 */
size_t pprof_seal_statement(char *buf, size_t cap, const pprof_str_t lines[3],
    uint64_t upstream_bytes, const unsigned char *gzip_header,
    size_t header_len);

/* Line 4: "pprof-gateway: seal=<base64>".  0, or -1 if signing fails. */
#define PPROF_SEAL_LINE_LEN  (sizeof(PPROF_COMMENT_PREFIX) - 1 \
                              + sizeof("seal=") - 1 + PPROF_SIG_B64_LEN)

int pprof_seal_line(EVP_PKEY *key, const char *statement, size_t len,
    char line[PPROF_SEAL_LINE_LEN + 1]);

/*
 * The bytes appended to a profile.proto whose string_table has nstrings
 * entries: each line as a string_table entry (field 6), then one comment
 * (field 13, unpacked varint) per line with its new index.  Returns the
 * length, 0 if cap is short.
 */
size_t pprof_provenance_encode(unsigned char *buf, size_t cap,
    const pprof_str_t *lines, size_t nlines, uint64_t nstrings);


/*
 * The streaming annotator (SPEC §9).  It reads a gzip'd profile.proto as
 * it passes, and gives back which bytes may go on to the client as they
 * are; it holds back only the bytes of the last deflate block, which it
 * reopens at the end to append the comments, without recompressing what
 * the upstream sent.  A body it cannot annotate passes unchanged, and
 * pprof_annotator_result() says why.
 */
typedef enum {
    PPROF_ANNOTATE_OK = 0,
    PPROF_ANNOTATE_NOT_GZIP,          /* no gzip header, or a bad one */
    PPROF_ANNOTATE_GZIP_HEADER,       /* longer than PPROF_GZIP_HEADER_MAX */
    PPROF_ANNOTATE_BAD_DEFLATE,       /* the compressed data is corrupt */
    PPROF_ANNOTATE_BAD_TRAILER,       /* CRC-32 or length do not match */
    PPROF_ANNOTATE_TRAILING_DATA,     /* bytes after the gzip member */
    PPROF_ANNOTATE_TRUNCATED,         /* the body ended inside the member */
    PPROF_ANNOTATE_NOT_PROFILE,       /* not the profile.proto wire format */
    PPROF_ANNOTATE_BLOCK_TOO_LARGE,   /* the last block exceeds the hold */
    PPROF_ANNOTATE_NO_MEMORY,
    PPROF_ANNOTATE_SEAL_FAILED,
    PPROF_ANNOTATE_COMMENT_TOO_LONG,  /* the lines could not be written */
    PPROF_ANNOTATE_STATUS,            /* the upstream did not answer 200 */
    PPROF_ANNOTATE_ENCODED,           /* the upstream set Content-Encoding */
    PPROF_ANNOTATE_PLANTED,           /* a string claims to be the gateway's */
    PPROF_ANNOTATE_TOO_LARGE,         /* over PPROF_PROFILE_MAX inflated */
    PPROF_ANNOTATE_REASON_COUNT
} pprof_annotate_reason_t;

const char *pprof_annotate_reason_name(pprof_annotate_reason_t reason);

/*
 * What the gateway does to the body of a forwarded response: annotate a
 * profile.proto, redact a cmdline, or pass it as it is.  *why says, for a
 * profile endpoint with annotation on, why a body is not annotated
 * (PPROF_ANNOTATE_OK when it is to be); PPROF_ANNOTATE_REASON_COUNT when
 * annotation does not apply at all.
 */
typedef enum {
    PPROF_BODY_AS_IS = 0,
    PPROF_BODY_ANNOTATE,
    PPROF_BODY_REDACT
} pprof_body_action_t;

pprof_body_action_t pprof_proxy_body_action(const pprof_endpoint_t *ep,
    const pprof_params_t *params, int annotate, int redact, int head,
    unsigned status, int encoded, pprof_annotate_reason_t *why);

/*
 * A target that already runs a CPU profile or a trace (started by a
 * client that did not come through this gateway, or by the program
 * itself) answers a new one with Go's 500 and one fixed line.  The
 * gateway answers that as its own 429 capture_busy; every other response
 * passes unchanged.  Only a body of at most PPROF_BUSY_BODY_MAX bytes
 * with a Content-Length is ever held to be told.
 */
#define PPROF_BUSY_BODY_MAX  512

/*
 * At the upstream's header: whether the body of a response to a capture
 * at ep may be Go's busy answer, and so must be held before anything is
 * sent (PPROF_BUSY_HOLD).  A HEAD's answer has no body to tell it by: its
 * header, the same as Go's busy answer to a GET, is taken as it
 * (PPROF_BUSY_NOW), since Go answers these endpoints with no other 500
 * that carries X-Go-Pprof.  go_pprof is the X-Go-Pprof header's value
 * (len 0: absent); content_length -1 when unknown (chunked).
 */
typedef enum {
    PPROF_BUSY_PASS = 0,
    PPROF_BUSY_HOLD,
    PPROF_BUSY_NOW
} pprof_busy_t;

pprof_busy_t pprof_busy_candidate(const pprof_endpoint_t *ep, unsigned status,
    pprof_str_t go_pprof, long long content_length, int head);

/*
 * With the whole body: whether it is exactly Go's "already in use" answer
 * for ep's kind of capture, the message and at most its newline.
 */
int pprof_busy_answer(const pprof_endpoint_t *ep, unsigned status,
    pprof_str_t go_pprof, pprof_str_t body);

/*
 * Turns d, an admitted capture the target refused so, into the gateway's
 * capture_busy.  When the other capture ends is not known here: Retry-After
 * is the capture's own length (d->capture_ms, rounded up, at least 1), and
 * the detail says it as every 429's does, after "the target refused it".
 */
void pprof_busy_deny(pprof_decision_t *d);

typedef struct pprof_annotator_s  pprof_annotator_t;

/*
 * The audit's "annotation" for a response: NULL where annotation does not
 * apply (decided is PPROF_ANNOTATE_REASON_COUNT); otherwise "sealed" or
 * "annotated", or the reason the body passed unchanged.  A body that was
 * to be annotated (decided OK) but that the annotator never finished
 * (a NULL a: no byte came), or that the client did not receive whole, is
 * "truncated".
 */
const char *pprof_annotation_outcome(pprof_annotate_reason_t decided,
    const pprof_annotator_t *a, int client_gone, int sealed);

/* The default most bytes held back: a final deflate block larger than
 * this passes unannotated. */
#define PPROF_ANNOTATE_HOLD_MAX  (1024 * 1024)

/* NULL when memory runs out.  Memory: zlib's inflate state, a 256 KiB
 * window of output, and the bytes held back. */
pprof_annotator_t *pprof_annotator_create(size_t hold_max);
void pprof_annotator_free(pprof_annotator_t *a);

/* How many bytes are held back now: the capacity feed's held_out needs. */
size_t pprof_annotator_held(const pprof_annotator_t *a);

/*
 * Takes the next len bytes of the body.  What goes on to the client, in
 * order: *nheld bytes copied into held_out (bytes of earlier calls that
 * are now released, at most pprof_annotator_held() before the call), then
 * the first *pass bytes of in as they are.  The rest of in is held back.
 * Never fails: a body that cannot be annotated is released as it comes.
 */
void pprof_annotator_feed(pprof_annotator_t *a, const unsigned char *in,
    size_t len, unsigned char *held_out, size_t *nheld, size_t *pass);

/*
 * At the end of the body: *tail (owned by the annotator, *tail_len bytes)
 * replaces every byte still held back.  The annotated form carries lines
 * 1-2, line 3 and, with key, the seal; otherwise (or with line1 NULL:
 * lines that could not be written) the held bytes come back unchanged.
 * Returns the result.
 */
pprof_annotate_reason_t pprof_annotator_finish(pprof_annotator_t *a,
    const char *line1, const char *line2, EVP_PKEY *key,
    const unsigned char **tail, size_t *tail_len);

/* PPROF_ANNOTATE_OK once annotated, or why the body passes unchanged
 * (PPROF_ANNOTATE_TRUNCATED before finish). */
pprof_annotate_reason_t pprof_annotator_result(const pprof_annotator_t *a);

/* The upstream's uncompressed profile: its length and SHA-256, valid
 * after a successful finish. */
uint64_t pprof_annotator_upstream_bytes(const pprof_annotator_t *a);


/*
 * cmdline redaction (SPEC §10).  Patterns are compiled and JIT-ed once, at
 * configuration time; redacting runs on the whole NUL-separated argv.
 * After argv[0], a flag ("-name" or "--name", any number of dashes) whose
 * name holds a sensitive word has its value hidden: after its "=", or
 * else the whole next argument; so has a sensitive key nested in a value
 * or a URL's query.  A URL's password is hidden anywhere.  Every match of
 * a custom pattern is hidden, argv[0] and NUL bytes included.
 */
typedef struct pprof_redactor_s  pprof_redactor_t;

#define PPROF_CMDLINE_MAX  (4 * 1024 * 1024)     /* larger: not sent */

/*
 * The sensitive words, plus one custom PCRE2 pattern per element of
 * patterns, matched on bytes ((*UTF) is refused).  NULL with err set when
 * a pattern does not compile, could match the empty string, or memory
 * runs out.  A redactor keeps scratch space: one caller at a time.
 */
pprof_redactor_t *pprof_redactor_create(const pprof_str_t *patterns,
    size_t npatterns, char *err, size_t errlen);
void pprof_redactor_free(pprof_redactor_t *r);

/*
 * "***" may be longer than what it replaces (a custom pattern must match
 * at least one byte, so each byte grows to at most three).
 */
#define PPROF_REDACT_BOUND(len)  (3 * (size_t) (len) + 3)

/*
 * Redacts argv (len bytes, NUL-separated) into out (capacity cap, enough
 * with PPROF_REDACT_BOUND(len)); sets *out_len and *count (how many "***"
 * were written: hidden ranges that overlap or touch count once).  0, or
 * -1 on a regex engine error, no memory or a short cap: the caller must
 * not send the body.  It needs len + 1 bytes of scratch.
 */
int pprof_redact(const pprof_redactor_t *r, const unsigned char *argv,
    size_t len, unsigned char *out, size_t cap, size_t *out_len,
    size_t *count);

#endif /* PPROF_PROXY_H */
