/*
 * Audit record encoding (proxy/audit.c) with hostile fields: what a
 * client controls (method, path, parameters, identity, claim values) and
 * what it does not, at any length and with any bytes.
 *
 * Input: a flags byte (stage, decision, enforced, whether time is taken
 * whole), a role count, time, seq, status, bytes, duration, records and
 * redacted as 8 bytes each, 32 bytes of prev, then each string field as a
 * length byte, a repeat byte and the bytes (fz_repeated: a few input
 * bytes make a field of kilobytes).
 *
 * Asserts that a decision or response record with a seq and time a
 * record can hold is always written, whatever its strings (every request
 * leaves a record), and that any record written is one line: no raw
 * newline or NUL, at most PPROF_AUDIT_LINE_MAX - 1 bytes, exactly as long
 * as said, written only when the buffer holds it and its NUL; that the
 * line parses with jansson as pprof_audit_verify() parses it, as an
 * object whose v, seq, stage and prev are what was given and whose
 * printable-ASCII strings read back byte for byte, or, in a record that
 * says "truncated":true, as their start followed by an ellipsis; and that
 * the same record as the first line of a log (and a signed checkpoint
 * after it) passes pprof_audit_verify().
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "proxy/proxy.h"
#include "proxy/verify.h"
#include "fuzz.h"


#define FIELD_MAX   16384
#define ROLES_MAX   8
#define TS_US_MAX   253402300800000000ULL        /* year 10000 */

enum {
    F_AUDIT_ID = 0, F_CLIENT, F_TLS, F_IDENTITY, F_AUTH, F_METHOD,
    F_ENDPOINT, F_CLASS, F_PARAMS, F_REASON, F_SHA256, F_UPSTREAM,
    F_ANNOTATION, F_SIG, F_PATH, F_COUNT
};

static EVP_PKEY       *key;
static unsigned char   fields[F_COUNT + ROLES_MAX][FIELD_MAX];

static const char      zeros[PPROF_AUDIT_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";



static int
printable(pprof_str_t s)
{
    size_t  i;

    for (i = 0; i < s.len; i++) {
        if (s.data[i] < 0x20 || s.data[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


/*
 * A printable string field reads back as it went in (null if empty), or,
 * cut, as its start and U+2026 in a record that says so; a value that is
 * already the start of a longer one (cut) may keep all of itself.
 */
static void
check_string(json_t *obj, const char *name, pprof_str_t s, int nullable,
    int cut_before)
{
    static const char   ellipsis[] = "\xe2\x80\xa6";
    json_t             *v = json_object_get(obj, name);
    const char         *got;
    size_t              len, cut;

    if (nullable && s.len == 0) {
        FZ_CHECK(json_is_null(v));
        return;
    }

    FZ_CHECK(json_is_string(v));

    if (!printable(s)) {
        return;
    }

    got = json_string_value(v);
    len = json_string_length(v);

    if (len == s.len && (len == 0 || memcmp(got, s.data, len) == 0)) {
        return;
    }

    FZ_CHECK(json_is_true(json_object_get(obj, "truncated")));
    FZ_CHECK(len >= sizeof(ellipsis) - 1);

    cut = len - (sizeof(ellipsis) - 1);
    FZ_CHECK((cut < s.len || (cut_before && cut == s.len))
             && memcmp(got, s.data, cut) == 0
             && memcmp(got + cut, ellipsis, sizeof(ellipsis) - 1) == 0);
}


static void
check_line(const char *line, size_t len, const pprof_audit_record_t *rec,
    uint64_t seq, const char *prev)
{
    static const char *const  stages[] = {
        "decision", "response", "checkpoint"
    };

    json_error_t  error;
    json_t       *obj, *v;
    size_t        i;

    FZ_CHECK(len <= PPROF_AUDIT_LINE_MAX - 1);
    FZ_CHECK(strlen(line) == len);
    FZ_CHECK(memchr(line, '\n', len) == NULL);
    FZ_CHECK(memchr(line, '\r', len) == NULL);

    obj = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                     &error);
    if (obj == NULL) {
        i = error.position > 40 ? (size_t) error.position - 40 : 0;
        fz_failf(__FILE__, __LINE__, "the line is not JSON (%s at byte %d):"
                 " ...%.80s...", error.text, error.position, line + i);
    }

    FZ_CHECK(json_is_object(obj));
    FZ_CHECK(json_integer_value(json_object_get(obj, "v")) == 1);

    v = json_object_get(obj, "truncated");
    FZ_CHECK(v == NULL || json_is_true(v));

    v = json_object_get(obj, "seq");
    FZ_CHECK(json_is_integer(v) && (uint64_t) json_integer_value(v) == seq);

    v = json_object_get(obj, "prev");
    FZ_CHECK(json_is_string(v) && strcmp(json_string_value(v), prev) == 0);

    v = json_object_get(obj, "stage");
    FZ_CHECK(json_is_string(v)
             && strcmp(json_string_value(v), stages[rec->stage]) == 0);

    check_string(obj, "audit_id", rec->audit_id, 0, 0);

    if (rec->stage != PPROF_AUDIT_CHECKPOINT) {
        check_string(obj, "client", rec->client, 0, 0);
        check_string(obj, "identity", rec->identity, 1, rec->identity_cut);
        check_string(obj, "method", rec->method, 0, 0);
        check_string(obj, "path", rec->path, 0, 0);
        check_string(obj, "endpoint", rec->endpoint, 0, 0);
        check_string(obj, "params", rec->params, 0, 0);

        v = json_object_get(obj, "roles");
        FZ_CHECK(json_is_array(v) && json_array_size(v) == rec->nroles);
        for (i = 0; i < rec->nroles; i++) {
            FZ_CHECK(json_is_string(json_array_get(v, i)));
        }
    }

    json_decref(obj);
}


/* The record as a log of its own: itself first, then a checkpoint. */
static void
check_log(const pprof_audit_record_t *rec)
{
    static char  log[2 * PPROF_AUDIT_LINE_MAX];
    char         prev[PPROF_AUDIT_HASH_HEX], why[256];
    size_t       n, m;
    uint64_t     bad;

    n = pprof_audit_encode(log, PPROF_AUDIT_LINE_MAX, rec, 1, zeros, "");
    if (n == 0) {
        return;
    }
    log[n++] = '\n';

    pprof_audit_hash(log, n - 1, prev);
    m = pprof_audit_checkpoint(log + n, PPROF_AUDIT_LINE_MAX, rec, 2, prev,
                               key);
    FZ_CHECK(m > 0);
    log[n + m] = '\n';

    if (pprof_audit_verify(fz_scratch_write(log, n + m + 1), key, &bad, why,
                           sizeof(why))
        != 0)
    {
        fz_failf(__FILE__, __LINE__, "pprof_audit_verify: seq %llu: %s",
                 (unsigned long long) bad, why);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char           line[PPROF_AUDIT_LINE_MAX + 1];
    static char           small[PPROF_AUDIT_LINE_MAX + 1];
    fz_t                  in = { data, size };
    pprof_audit_record_t  rec;
    pprof_str_t           s[F_COUNT], roles[ROLES_MAX];
    char                  prev[PPROF_AUDIT_HASH_HEX + 1], sig[FIELD_MAX + 1];
    uint64_t              seq;
    size_t                i, len;
    uint8_t               flags;

    key = fz_ed25519();

    memset(&rec, 0, sizeof(rec));

    flags = fz_u8(&in);
    rec.stage = (pprof_audit_stage_t) (flags & 3);
    rec.allow = (flags >> 2) & 1;
    rec.enforced = (flags >> 3) & 1;
    rec.identity_cut = (flags >> 5) & 1;
    rec.nroles = fz_u8(&in) % (ROLES_MAX + 1);

    rec.time_us = fz_u64(&in);
    if (!(flags & 0x10)) {
        rec.time_us %= TS_US_MAX;
    }

    seq = fz_u64(&in);
    rec.status = (unsigned) fz_u64(&in);
    rec.bytes = fz_u64(&in);
    rec.duration_ms = fz_u64(&in);
    rec.records = fz_u64(&in);
    rec.redacted = (int64_t) fz_u64(&in);

    for (i = 0; i < PPROF_AUDIT_HASH_HEX / 2; i++) {
        snprintf(prev + 2 * i, 3, "%02x", fz_u8(&in));
    }

    for (i = 0; i < F_COUNT; i++) {
        s[i] = fz_repeated(&in, fields[i], FIELD_MAX);
    }

    for (i = 0; i < rec.nroles; i++) {
        roles[i] = fz_repeated(&in, fields[F_COUNT + i], FIELD_MAX);
    }

    rec.audit_id = s[F_AUDIT_ID];
    rec.client = s[F_CLIENT];
    rec.tls = s[F_TLS];
    rec.identity = s[F_IDENTITY];
    rec.auth = s[F_AUTH];
    rec.roles = roles;
    rec.method = s[F_METHOD];
    rec.path = s[F_PATH];
    rec.endpoint = s[F_ENDPOINT];
    rec.cls = s[F_CLASS];
    rec.params = s[F_PARAMS];
    rec.reason = s[F_REASON];
    rec.sha256 = s[F_SHA256];
    rec.upstream = s[F_UPSTREAM];
    rec.annotation = s[F_ANNOTATION];

    /* The signature is a C string: up to its first NUL. */
    if (s[F_SIG].len > 0) {
        memcpy(sig, s[F_SIG].data, s[F_SIG].len);
    }
    sig[s[F_SIG].len] = '\0';

    len = pprof_audit_encode(line, sizeof(line), &rec, seq, prev, sig);

    if (rec.stage > PPROF_AUDIT_CHECKPOINT) {
        FZ_CHECK(len == 0);
        return 0;
    }

    if (rec.stage != PPROF_AUDIT_CHECKPOINT && seq <= PPROF_AUDIT_NUM_MAX
        && !(flags & 0x10))
    {
        FZ_CHECK(len > 0);
    }

    if (len == 0) {
        return 0;
    }

    check_line(line, len, &rec, seq, prev);

    /* Written only where the line and its NUL fit. */
    FZ_CHECK(pprof_audit_encode(small, len, &rec, seq, prev, sig) == 0);
    FZ_CHECK(pprof_audit_encode(small, len + 1, &rec, seq, prev, sig) == len
             && memcmp(small, line, len + 1) == 0);

    if (rec.stage != PPROF_AUDIT_CHECKPOINT) {
        check_log(&rec);
    }

    return 0;
}
