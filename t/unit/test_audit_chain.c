/*
 * The audit chain as its writer moves it (proxy/audit_chain.c): seq by
 * one, prev the SHA-256 of the line before, a signed checkpoint every so
 * many records and on demand, and a chain that does not move past a line
 * the sink refused or the encoder could not write.  The sink here is
 * memory, and it can be told to refuse a given write.
 */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "unit.h"
#include "proxy/proxy.h"
#include "proxy/verify.h"
#include "t/tools/jwt_sign.h"


/* 2026-11-22T03:45:01.123456Z */
#define TIME_US  1795319101123456ULL

#define ZEROS \
    "0000000000000000000000000000000000000000000000000000000000000000"

#define LINES_MAX  32


typedef struct {
    char      line[LINES_MAX][PPROF_AUDIT_LINE_MAX];
    size_t    n;
    unsigned  writes;           /* calls to write, taken or not */
    unsigned  refuse;           /* refuse this write (1 the first); 0: none */
    unsigned  unencodable;
    uint64_t  unencodable_seq;
} sink_t;


static EVP_PKEY  *ed, *ec;
static char       buf[PPROF_AUDIT_LINE_MAX];


static int
sink_write(void *data, char *line, size_t len)
{
    sink_t  *s = data;

    assert_true(len < PPROF_AUDIT_LINE_MAX);
    assert_int_equal(line[len], '\0');

    if (++s->writes == s->refuse || s->n == LINES_MAX) {
        return -1;
    }

    memcpy(s->line[s->n++], line, len + 1);
    return 0;
}


static void
sink_unencodable(void *data, uint64_t seq)
{
    sink_t  *s = data;

    s->unencodable++;
    s->unencodable_seq = seq;
}


static pprof_audit_writer_t
writer(sink_t *s, EVP_PKEY *key, uint64_t every)
{
    pprof_audit_writer_t  w = { buf, key, every, sink_write,
                                sink_unencodable, s, { NULL, 0 } };

    memset(s, 0, sizeof(*s));
    return w;
}


static pprof_audit_record_t
record(pprof_audit_stage_t stage)
{
    static const pprof_str_t  roles[] = { { (const unsigned char *) "dev",
                                            3 } };
    pprof_audit_record_t      rec;

    memset(&rec, 0, sizeof(rec));
    rec.stage = stage;
    rec.time_us = TIME_US;
    rec.audit_id = S("0123456789abcdef0123456789abcdef");
    rec.client = S("192.0.2.7");
    rec.auth = S("cert");
    rec.roles = roles;
    rec.nroles = 1;
    rec.method = S("GET");
    rec.path = S("/debug/pprof/heap");
    rec.endpoint = S("heap");
    rec.cls = S("snapshot");
    rec.allow = 1;
    rec.reason = S("ok");
    rec.enforced = 1;
    rec.redacted = -1;
    return rec;
}


/* The oracle: SHA-256 through OpenSSL, not through the core. */
static void
sha256_hex(const char *line, char hex[PPROF_AUDIT_HASH_HEX + 1])
{
    unsigned char  md[32];
    unsigned int   i, len = 0;

    assert_int_equal(EVP_Digest(line, strlen(line), md, &len, EVP_sha256(),
                                NULL), 1);
    assert_int_equal(len, 32);

    for (i = 0; i < len; i++) {
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
}


static json_t *
parse(const char *line)
{
    json_error_t  error;
    json_t       *json;

    json = json_loads(line, JSON_REJECT_DUPLICATES, &error);
    assert_non_null(json);
    return json;
}


static uint64_t
seq_of(json_t *json)
{
    return (uint64_t) json_integer_value(json_object_get(json, "seq"));
}


static const char *
str_of(json_t *json, const char *key)
{
    const char  *s = json_string_value(json_object_get(json, key));

    assert_non_null(s);
    return s;
}


/*
 * Every line follows the one before: seq counts from first_seq by one, the
 * first prev is first_prev, each next prev hashes the line before; the
 * stages are given as a string ('d'ecision, 'r'esponse, 'c'heckpoint).
 */
static void
assert_chain(const sink_t *s, uint64_t first_seq, const char *first_prev,
    const char *stages)
{
    char     hash[PPROF_AUDIT_HASH_HEX + 1];
    json_t  *json;
    size_t   i;

    assert_int_equal(s->n, strlen(stages));

    snprintf(hash, sizeof(hash), "%s", first_prev);

    for (i = 0; i < s->n; i++) {
        json = parse(s->line[i]);

        assert_int_equal(seq_of(json), first_seq + i);
        assert_string_equal(str_of(json, "prev"), hash);
        assert_int_equal(str_of(json, "stage")[0], stages[i]);

        json_decref(json);
        sha256_hex(s->line[i], hash);
    }
}


static void
assert_head(const pprof_audit_chain_t *c, uint64_t seq, uint64_t since,
    const char *last_line)
{
    char  hash[PPROF_AUDIT_HASH_HEX + 1];

    assert_int_equal(c->seq, seq);
    assert_int_equal(c->since_checkpoint, since);

    if (last_line == NULL) {
        assert_memory_equal(c->prev, ZEROS, PPROF_AUDIT_HASH_HEX);
    } else {
        sha256_hex(last_line, hash);
        assert_memory_equal(c->prev, hash, PPROF_AUDIT_HASH_HEX);
    }
}


static uint64_t
records_of(const char *line)
{
    json_t    *json = parse(line);
    uint64_t   n;

    n = (uint64_t) json_integer_value(json_object_get(json, "records"));
    json_decref(json);
    return n;
}


/* The sink's lines as a log, through pprof-audit's verifier. */
static void
assert_verifies(const sink_t *s, EVP_PKEY *pubkey)
{
    char      path[] = "/tmp/test_audit_chain.XXXXXX", why[512];
    uint64_t  bad;
    size_t    i;
    FILE     *f;
    int       fd;

    fd = mkstemp(path);
    assert_true(fd != -1);
    f = fdopen(fd, "w");
    assert_non_null(f);

    for (i = 0; i < s->n; i++) {
        fprintf(f, "%s\n", s->line[i]);
    }
    fclose(f);

    if (pprof_audit_verify(path, pubkey, &bad, why, sizeof(why)) != 0) {
        unlink(path);
        fail_msg("the chain does not verify: seq %llu: %s",
                 (unsigned long long) bad, why);
    }

    unlink(path);
}


static void
chain_starts_at_zero(void **state)
{
    pprof_audit_chain_t  c;

    (void) state;

    memset(&c, 'x', sizeof(c));
    pprof_audit_chain_init(&c);
    assert_head(&c, 0, 0, NULL);
}


static void
chain_links(void **state)
{
    sink_t                s;
    pprof_audit_chain_t   c;
    pprof_audit_writer_t  w = writer(&s, NULL, 2);
    pprof_audit_record_t  dec = record(PPROF_AUDIT_DECISION);
    pprof_audit_record_t  resp = record(PPROF_AUDIT_RESPONSE);

    (void) state;

    pprof_audit_chain_init(&c);

    assert_int_equal(pprof_audit_chain_append(&c, &w, &dec), 0);
    assert_int_equal(pprof_audit_chain_append(&c, &w, &resp), 0);
    assert_int_equal(pprof_audit_chain_append(&c, &w, &dec), 0);

    /* No key: no checkpoint, whatever "every" says. */
    assert_chain(&s, 1, ZEROS, "drd");
    assert_head(&c, 3, 3, s.line[2]);
    assert_int_equal(pprof_audit_chain_checkpoint(&c, &w, TIME_US), 0);
    assert_int_equal(s.writes, 3);
    assert_verifies(&s, NULL);
}


/*
 * The writer's gateway is on every line, a checkpoint's too (where the
 * signature covers it), whatever the record said; the chain verifies.
 */
static void
chain_stamps_gateway(void **state)
{
    sink_t                s;
    pprof_audit_chain_t   c;
    pprof_audit_writer_t  w = writer(&s, ed, 2);
    pprof_audit_record_t  dec = record(PPROF_AUDIT_DECISION);
    pprof_audit_record_t  resp = record(PPROF_AUDIT_RESPONSE);
    json_t               *json;
    size_t                i;

    (void) state;

    w.gateway = S("gw-b");
    dec.gateway = S("forged");
    pprof_audit_chain_init(&c);

    assert_int_equal(pprof_audit_chain_append(&c, &w, &dec), 0);
    assert_int_equal(pprof_audit_chain_append(&c, &w, &resp), 0);
    assert_int_equal(pprof_audit_chain_checkpoint(&c, &w, TIME_US), 0);
    assert_chain(&s, 1, ZEROS, "drcc");

    for (i = 0; i < s.n; i++) {
        json = parse(s.line[i]);
        assert_string_equal(str_of(json, "gateway"), "gw-b");
        json_decref(json);
    }

    assert_verifies(&s, ed);
}


/* A chain resumed from a head goes on from its seq and hash. */
static void
chain_resumes(void **state)
{
    static const char     prev[] = "5e884898da28047151d0e56f8dc62927"
                                   "73603d0d6aabbdd62a11ef721d1542d8";
    sink_t                s;
    pprof_audit_chain_t   c;
    pprof_audit_writer_t  w = writer(&s, ed, 1000);
    pprof_audit_record_t  dec = record(PPROF_AUDIT_DECISION);

    (void) state;

    pprof_audit_chain_init(&c);
    c.seq = 41;
    memcpy(c.prev, prev, PPROF_AUDIT_HASH_HEX);

    assert_int_equal(pprof_audit_chain_append(&c, &w, &dec), 0);
    assert_chain(&s, 42, prev, "d");
    assert_head(&c, 42, 1, s.line[0]);
}


static void
checkpoint_cadence(void **state)
{
    sink_t                s;
    size_t                i;
    pprof_audit_chain_t   c;
    pprof_audit_writer_t  w = writer(&s, ed, 3);
    pprof_audit_record_t  dec = record(PPROF_AUDIT_DECISION);

    (void) state;

    pprof_audit_chain_init(&c);

    for (i = 0; i < 7; i++) {
        assert_int_equal(pprof_audit_chain_append(&c, &w, &dec), 0);
    }

    assert_chain(&s, 1, ZEROS, "dddcdddcd");
    assert_int_equal(records_of(s.line[3]), 3);
    assert_int_equal(records_of(s.line[7]), 3);
    assert_head(&c, 9, 1, s.line[8]);

    /* On demand (nginx stopping): one more, counting what followed. */
    assert_int_equal(pprof_audit_chain_checkpoint(&c, &w, TIME_US), 0);
    assert_chain(&s, 1, ZEROS, "dddcdddcdc");
    assert_int_equal(records_of(s.line[9]), 1);
    assert_head(&c, 10, 0, s.line[9]);

    assert_verifies(&s, ed);
}


/* every 0: checkpoints only when asked for. */
static void
checkpoint_on_demand_only(void **state)
{
    sink_t                s;
    size_t                i;
    pprof_audit_chain_t   c;
    pprof_audit_writer_t  w = writer(&s, ed, 0);
    pprof_audit_record_t  dec = record(PPROF_AUDIT_DECISION);

    (void) state;

    pprof_audit_chain_init(&c);

    for (i = 0; i < 5; i++) {
        assert_int_equal(pprof_audit_chain_append(&c, &w, &dec), 0);
    }

    assert_int_equal(pprof_audit_chain_checkpoint(&c, &w, TIME_US), 0);
    assert_chain(&s, 1, ZEROS, "dddddc");
    assert_int_equal(records_of(s.line[5]), 5);

    /* A checkpoint right after one says 0 records. */
    assert_int_equal(pprof_audit_chain_checkpoint(&c, &w, TIME_US), 0);
    assert_chain(&s, 1, ZEROS, "dddddcc");
    assert_int_equal(records_of(s.line[6]), 0);
    assert_head(&c, 7, 0, s.line[6]);

    assert_verifies(&s, ed);
}


/* A refused write leaves the chain where it was: the next line takes its
 * seq and links to the line before it. */
static void
refused_write(void **state)
{
    sink_t                s;
    pprof_audit_chain_t   c;
    pprof_audit_writer_t  w = writer(&s, NULL, 0);
    pprof_audit_record_t  dec = record(PPROF_AUDIT_DECISION);

    (void) state;

    s.refuse = 2;
    pprof_audit_chain_init(&c);

    assert_int_equal(pprof_audit_chain_append(&c, &w, &dec), 0);
    assert_int_equal(pprof_audit_chain_append(&c, &w, &dec), -1);
    assert_head(&c, 1, 1, s.line[0]);

    assert_int_equal(pprof_audit_chain_append(&c, &w, &dec), 0);
    assert_chain(&s, 1, ZEROS, "dd");
    assert_head(&c, 2, 2, s.line[1]);
    assert_int_equal(s.unencodable, 0);

    assert_verifies(&s, NULL);
}


/* A refused checkpoint does not fail its record, and comes after the
 * next one, counting both. */
static void
refused_checkpoint(void **state)
{
    sink_t                s;
    pprof_audit_chain_t   c;
    pprof_audit_writer_t  w = writer(&s, ed, 2);
    pprof_audit_record_t  dec = record(PPROF_AUDIT_DECISION);

    (void) state;

    s.refuse = 3;
    pprof_audit_chain_init(&c);

    assert_int_equal(pprof_audit_chain_append(&c, &w, &dec), 0);
    assert_int_equal(pprof_audit_chain_append(&c, &w, &dec), 0);
    assert_int_equal(s.writes, 3);
    assert_head(&c, 2, 2, s.line[1]);

    assert_int_equal(pprof_audit_chain_append(&c, &w, &dec), 0);
    assert_chain(&s, 1, ZEROS, "dddc");
    assert_int_equal(records_of(s.line[3]), 3);
    assert_head(&c, 4, 0, s.line[3]);

    /* Refused on demand: -1, and the chain stays. */
    s.refuse = s.writes + 1;
    assert_int_equal(pprof_audit_chain_checkpoint(&c, &w, TIME_US), -1);
    assert_head(&c, 4, 0, s.line[3]);

    assert_verifies(&s, ed);
}


/*
 * A record that cannot be encoded (a time past 9999, a stage that is not
 * one, a seq past 2^53 - 1) is never written: the caller is told its seq,
 * and the chain stays.  One whose strings are too long is cut and
 * written.
 */
static void
unencodable(void **state)
{
    sink_t                s;
    char                 *path;
    json_t               *json;
    pprof_audit_chain_t   c;
    pprof_audit_writer_t  w = writer(&s, ed, 1);
    pprof_audit_record_t  rec;

    (void) state;

    pprof_audit_chain_init(&c);

    rec = record(PPROF_AUDIT_DECISION);
    rec.time_us = 253402300800ULL * 1000000;
    assert_int_equal(pprof_audit_chain_append(&c, &w, &rec), -1);
    assert_int_equal(s.unencodable, 1);
    assert_int_equal(s.unencodable_seq, 1);

    rec = record(PPROF_AUDIT_CHECKPOINT + 1);
    assert_int_equal(pprof_audit_chain_append(&c, &w, &rec), -1);
    assert_int_equal(s.unencodable, 2);

    assert_int_equal(s.writes, 0);
    assert_head(&c, 0, 0, NULL);

    path = malloc(100000);
    assert_non_null(path);
    memset(path, '/', 100000);

    rec = record(PPROF_AUDIT_RESPONSE);
    rec.path = SN(path, 100000);
    rec.identity = SN(path, 100000);
    assert_int_equal(pprof_audit_chain_append(&c, &w, &rec), 0);
    free(path);

    assert_chain(&s, 1, ZEROS, "rc");
    json = parse(s.line[0]);
    assert_true(json_is_true(json_object_get(json, "truncated")));
    json_decref(json);
    assert_verifies(&s, ed);

    /* The last seq a record may hold, and then none. */
    w = writer(&s, NULL, 0);
    c.seq = PPROF_AUDIT_NUM_MAX - 1;
    rec = record(PPROF_AUDIT_DECISION);
    assert_int_equal(pprof_audit_chain_append(&c, &w, &rec), 0);
    assert_int_equal(pprof_audit_chain_append(&c, &w, &rec), -1);
    assert_int_equal(s.unencodable_seq, PPROF_AUDIT_NUM_MAX + 1);
    assert_int_equal(s.n, 1);
    assert_int_equal(c.seq, PPROF_AUDIT_NUM_MAX);
}


/* A checkpoint that cannot be signed (not an Ed25519 key) is reported as
 * unencodable; its record still stands. */
static void
unsignable_checkpoint(void **state)
{
    sink_t                s;
    pprof_audit_chain_t   c;
    pprof_audit_writer_t  w = writer(&s, ec, 1);
    pprof_audit_record_t  dec = record(PPROF_AUDIT_DECISION);

    (void) state;

    pprof_audit_chain_init(&c);

    assert_int_equal(pprof_audit_chain_append(&c, &w, &dec), 0);
    assert_int_equal(s.unencodable, 1);
    assert_int_equal(s.unencodable_seq, 2);
    assert_chain(&s, 1, ZEROS, "d");
    assert_head(&c, 1, 1, s.line[0]);
}


static int
setup(void **state)
{
    (void) state;

    ed = jwt_keygen_ed25519();
    ec = jwt_keygen_ec("P-256");

    return ed != NULL && ec != NULL ? 0 : -1;
}


static int
teardown(void **state)
{
    (void) state;

    EVP_PKEY_free(ed);
    EVP_PKEY_free(ec);
    return 0;
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(chain_starts_at_zero),
        cmocka_unit_test(chain_links),
        cmocka_unit_test(chain_stamps_gateway),
        cmocka_unit_test(chain_resumes),
        cmocka_unit_test(checkpoint_cadence),
        cmocka_unit_test(checkpoint_on_demand_only),
        cmocka_unit_test(refused_write),
        cmocka_unit_test(refused_checkpoint),
        cmocka_unit_test(unencodable),
        cmocka_unit_test(unsignable_checkpoint),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
