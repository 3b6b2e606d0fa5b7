/*
 * The audit trail (SPEC §8): records byte for byte, escaping whatever the
 * bytes, the hash chain and signed checkpoints, the head a writer resumes
 * from, and verification of logs tampered with in every way we know, each
 * of which must name the seq that was touched.
 *
 * Logs are written by the test into a temporary directory through
 * pprof_audit_encode() and pprof_audit_checkpoint(), then edited as text.
 */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <zlib.h>

#include "unit.h"
#include "unit_strings.h"
#include "proxy/proxy.h"
#include "proxy/verify.h"
#include "t/tools/jwt_sign.h"


/* 2026-11-22T03:45:01.123456Z */
#define TIME_US  1795319101123456ULL

#define ZEROS \
    "0000000000000000000000000000000000000000000000000000000000000000"

#define SHA_EMPTY \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#define LOG_MAX  32


/* Keys, made once: the signer, another key, its public halves, an EC key. */
static EVP_PKEY  *ed1, *ed2, *pub1, *pub2, *ec;

static char       tmpdir[] = "/tmp/test_audit.XXXXXX";

/* Files a test made, removed after it. */
static char      *files[64];
static size_t     nfiles;


static int
cleanup(void **state)
{
    (void) state;

    while (nfiles) {
        unlink(files[--nfiles]);
    }

    unit_free_strings();
    return 0;
}


static char *
path_of(const char *name)
{
    char  *path = fmt("%s/%s", tmpdir, name);

    assert_true(nfiles < sizeof(files) / sizeof(files[0]));
    files[nfiles++] = path;
    return path;
}


static void
write_raw(const char *path, const char *data, size_t len)
{
    FILE  *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}


/* Records. */

static pprof_str_t  roles2[2];


static void
decision(pprof_audit_record_t *rec)
{
    memset(rec, 0, sizeof(*rec));

    roles2[0] = S("operator");
    roles2[1] = S("viewer");

    rec->stage = PPROF_AUDIT_DECISION;
    rec->time_us = TIME_US;
    rec->audit_id = S("0123456789abcdef0123456789abcdef");
    rec->client = S("192.0.2.7");
    rec->tls = S("TLSv1.3");
    rec->identity = S("alice");
    rec->auth = S("cert");
    rec->roles = roles2;
    rec->nroles = 2;
    rec->method = S("GET");
    rec->path = S("/debug/pprof/profile");
    rec->endpoint = S("profile");
    rec->cls = S("capture");
    rec->params = S("seconds=30");
    rec->allow = 1;
    rec->reason = S("ok");
    rec->enforced = 1;
}


static void
response(pprof_audit_record_t *rec)
{
    decision(rec);

    rec->stage = PPROF_AUDIT_RESPONSE;
    rec->time_us = TIME_US + 30012000;
    rec->status = 200;
    rec->bytes = 12345;
    rec->sha256 = S(SHA_EMPTY);
    rec->duration_ms = 30012;
    rec->upstream = S("127.0.0.1:6060");
    rec->annotation = S("sealed");
    rec->redacted = -1;
}


static void
checkpoint(pprof_audit_record_t *rec, uint64_t records)
{
    memset(rec, 0, sizeof(*rec));

    rec->stage = PPROF_AUDIT_CHECKPOINT;
    rec->time_us = TIME_US + 60000000;
    rec->audit_id = S("");
    rec->records = records;
}


static char *
encode(const pprof_audit_record_t *rec, uint64_t seq, const char *prev,
    const char *sig)
{
    char    buf[PPROF_AUDIT_LINE_MAX];
    size_t  len;

    len = pprof_audit_encode(buf, sizeof(buf), rec, seq, prev, sig);
    assert_true(len > 0);
    assert_int_equal(strlen(buf), len);
    return fmt("%s", buf);
}


#define DECISION_LINE(seq, identity, prev)                                    \
    "{\"v\":1,\"seq\":" seq ",\"ts\":\"2026-11-22T03:45:01.123456Z\","        \
    "\"audit_id\":\"0123456789abcdef0123456789abcdef\","                      \
    "\"stage\":\"decision\",\"client\":\"192.0.2.7\",\"tls\":\"TLSv1.3\","    \
    "\"identity\":" identity ",\"auth\":\"cert\","                            \
    "\"roles\":[\"operator\",\"viewer\"],\"method\":\"GET\","                 \
    "\"path\":\"/debug/pprof/profile\","                                     \
    "\"endpoint\":\"profile\",\"class\":\"capture\","                         \
    "\"params\":\"seconds=30\",\"decision\":\"allow\",\"reason\":\"ok\","     \
    "\"enforced\":true,\"prev\":\"" prev "\"}"


static void
encode_decision(void **state)
{
    pprof_audit_record_t  rec;

    (void) state;

    decision(&rec);
    assert_string_equal(encode(&rec, 1, ZEROS, NULL),
                        DECISION_LINE("1", "\"alice\"", ZEROS));

    /* A denial with hostile strings, nothing optional, no roles. */
    rec.tls = S("");
    rec.identity = S("");
    rec.cls = S("");
    rec.roles = NULL;
    rec.nroles = 0;
    rec.method = S("PUT");
    rec.path = S("");
    rec.endpoint = S("");
    rec.client = S("198.51.100.1");
    rec.params = SN("a\"b\\c\n\0d\x7f" "\xff", 10);
    rec.allow = 0;
    rec.reason = S("unknown_endpoint");
    rec.enforced = 0;
    rec.audit_id = S("x\"y");

    assert_string_equal(encode(&rec, 9007199254740991ULL, SHA_EMPTY, ""),
        "{\"v\":1,\"seq\":9007199254740991,"
        "\"ts\":\"2026-11-22T03:45:01.123456Z\",\"audit_id\":\"x\\\"y\","
        "\"stage\":\"decision\",\"client\":\"198.51.100.1\",\"tls\":null,"
        "\"identity\":null,\"auth\":\"cert\",\"roles\":[],"
        "\"method\":\"PUT\",\"path\":\"\",\"endpoint\":\"\",\"class\":null,"
        "\"params\":\"a\\\"b\\\\c\\u000a\\u0000d\\u007f\\u00ff\","
        "\"decision\":\"deny\",\"reason\":\"unknown_endpoint\","
        "\"enforced\":false,\"prev\":\"" SHA_EMPTY "\"}");

    /* One role; strings in roles are escaped as well. */
    decision(&rec);
    roles2[0] = S("ops\\\"x");
    rec.nroles = 1;
    assert_non_null(strstr(encode(&rec, 1, ZEROS, NULL),
                           ",\"roles\":[\"ops\\\\\\\"x\"],"));
}


static void
encode_response(void **state)
{
    pprof_audit_record_t  rec;

    (void) state;

    response(&rec);
    assert_string_equal(encode(&rec, 2, SHA_EMPTY, "ignored"),
        "{\"v\":1,\"seq\":2,\"ts\":\"2026-11-22T03:45:31.135456Z\","
        "\"audit_id\":\"0123456789abcdef0123456789abcdef\","
        "\"stage\":\"response\",\"client\":\"192.0.2.7\","
        "\"tls\":\"TLSv1.3\",\"identity\":\"alice\",\"auth\":\"cert\","
        "\"roles\":[\"operator\",\"viewer\"],\"method\":\"GET\","
        "\"path\":\"/debug/pprof/profile\","
        "\"endpoint\":\"profile\",\"class\":\"capture\","
        "\"params\":\"seconds=30\",\"decision\":\"allow\",\"reason\":\"ok\","
        "\"enforced\":true,\"status\":200,\"bytes\":12345,"
        "\"sha256\":\"" SHA_EMPTY "\",\"duration_ms\":30012,"
        "\"upstream\":\"127.0.0.1:6060\",\"annotation\":\"sealed\","
        "\"redacted\":null,\"prev\":\"" SHA_EMPTY "\"}");

    rec.upstream = S("");
    rec.annotation = S("");
    rec.redacted = 3;
    rec.status = 502;
    rec.bytes = 0;
    rec.duration_ms = 0;
    assert_non_null(strstr(encode(&rec, 2, SHA_EMPTY, NULL),
                           ",\"status\":502,\"bytes\":0,\"sha256\":\""
                           SHA_EMPTY "\",\"duration_ms\":0,"
                           "\"upstream\":null,\"annotation\":null,"
                           "\"redacted\":3,\"prev\":"));

    /* The gateway answered for a busy target: what the target said. */
    rec.status = 429;
    rec.upstream_status = 500;
    rec.upstream_said = S("Could not enable tracing: runtime error: "
                          "tracing is already enabled\n\"\\\x01");
    assert_non_null(strstr(encode(&rec, 2, SHA_EMPTY, NULL),
                           ",\"status\":429,\"bytes\":0,\"sha256\":\""
                           SHA_EMPTY "\",\"duration_ms\":0,"
                           "\"upstream\":null,\"annotation\":null,"
                           "\"redacted\":3,\"upstream_status\":500,"
                           "\"upstream_said\":\"Could not enable tracing: "
                           "runtime error: tracing is already enabled\\u000a\\\"\\\\"
                           "\\u0001\",\"prev\":"));

    /* A decision record never has them. */
    rec.stage = PPROF_AUDIT_DECISION;
    assert_null(strstr(encode(&rec, 2, SHA_EMPTY, NULL), "upstream_s"));
}


static void
encode_checkpoint(void **state)
{
    pprof_audit_record_t  rec;

    (void) state;

    checkpoint(&rec, 6);
    assert_string_equal(encode(&rec, 7, SHA_EMPTY, ""),
        "{\"v\":1,\"seq\":7,\"ts\":\"2026-11-22T03:46:01.123456Z\","
        "\"audit_id\":\"\",\"stage\":\"checkpoint\",\"records\":6,"
        "\"signature\":\"\",\"prev\":\"" SHA_EMPTY "\"}");

    /* No signature is an empty one; the rest of the record is not used. */
    response(&rec);
    rec.stage = PPROF_AUDIT_CHECKPOINT;
    rec.records = 1000;
    rec.time_us = TIME_US;
    assert_string_equal(encode(&rec, 1001, ZEROS, NULL),
        "{\"v\":1,\"seq\":1001,\"ts\":\"2026-11-22T03:45:01.123456Z\","
        "\"audit_id\":\"0123456789abcdef0123456789abcdef\","
        "\"stage\":\"checkpoint\",\"records\":1000,"
        "\"signature\":\"\",\"prev\":\"" ZEROS "\"}");
    assert_string_equal(encode(&rec, 1001, ZEROS, "AB+/=="),
        "{\"v\":1,\"seq\":1001,\"ts\":\"2026-11-22T03:45:01.123456Z\","
        "\"audit_id\":\"0123456789abcdef0123456789abcdef\","
        "\"stage\":\"checkpoint\",\"records\":1000,"
        "\"signature\":\"AB+/==\",\"prev\":\"" ZEROS "\"}");
}


/* The JSON the encoder makes of an identity: the text after its key. */
static const char *
escaped(pprof_str_t identity)
{
    pprof_audit_record_t   rec;
    char                  *line, *from, *to;

    decision(&rec);
    rec.identity = identity;
    line = encode(&rec, 1, ZEROS, NULL);

    from = strstr(line, ",\"identity\":");
    to = strstr(line, ",\"auth\":\"cert\"");
    assert_non_null(from);
    assert_non_null(to);
    from += strlen(",\"identity\":");
    *to = '\0';
    return from;
}


static void
encode_escaping(void **state)
{
    static const struct {
        const char  *in;
        size_t       len;
        const char  *out;
    } cases[] = {
#define C(in, out)  { in, sizeof(in) - 1, out }
        C("plain text", "\"plain text\""),
        C("a\"b\\c/d", "\"a\\\"b\\\\c/d\""),
        C("\\\"", "\"\\\\\\\"\""),
        C("\0\x01\t\n\r\x1b\x1f", "\"\\u0000\\u0001\\u0009\\u000a\\u000d"
                                  "\\u001b\\u001f\""),
        C(" ~\x7f", "\" ~\\u007f\""),

        /* Valid UTF-8 passes: 2, 3 and 4 bytes, the edges of each. */
        C("caf\xc3\xa9", "\"caf\xc3\xa9\""),
        C("\xc2\x80\xdf\xbf", "\"\xc2\x80\xdf\xbf\""),
        C("\xe2\x82\xac \xe0\xa0\x80 \xef\xbf\xbf \xed\x9f\xbf",
          "\"\xe2\x82\xac \xe0\xa0\x80 \xef\xbf\xbf \xed\x9f\xbf\""),
        C("\xf0\x9f\x98\x80 \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf",
          "\"\xf0\x9f\x98\x80 \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf\""),

        /* Anything else is escaped byte by byte. */
        C("\xff", "\"\\u00ff\""),
        C("\x80" "a", "\"\\u0080a\""),
        C("\xc3", "\"\\u00c3\""),
        C("\xc3(", "\"\\u00c3(\""),
        C("\xc3\xa9\xa9", "\"\xc3\xa9\\u00a9\""),
        C("\xc0\xaf", "\"\\u00c0\\u00af\""),
        C("\xc1\xbf", "\"\\u00c1\\u00bf\""),
        C("\xe0\x80\xaf", "\"\\u00e0\\u0080\\u00af\""),
        C("\xe2\x82", "\"\\u00e2\\u0082\""),
        C("\xe2\x82" "x", "\"\\u00e2\\u0082x\""),
        C("\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\""),
        C("\xed\xbf\xbf", "\"\\u00ed\\u00bf\\u00bf\""),
        C("\xf0\x80\x80\x80", "\"\\u00f0\\u0080\\u0080\\u0080\""),
        C("\xf4\x90\x80\x80", "\"\\u00f4\\u0090\\u0080\\u0080\""),
        C("\xf0\x9f\x98", "\"\\u00f0\\u009f\\u0098\""),
        C("\xf5\x80\x80\x80", "\"\\u00f5\\u0080\\u0080\\u0080\""),
        C("\xf8\x88\x80\x80\x80",
          "\"\\u00f8\\u0088\\u0080\\u0080\\u0080\""),
        C("\xfe\xff", "\"\\u00fe\\u00ff\""),
#undef C
    };

    size_t  i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char  *got = escaped(SN(cases[i].in, cases[i].len));

        if (strcmp(got, cases[i].out) != 0) {
            char  shown[256];

            show(shown, sizeof(shown), (const unsigned char *) got,
                 strlen(got));
            fail_msg("case %zu: got %s", i, shown);
        }
    }

    /* null only for empty */
    assert_string_equal(escaped(S("")), "null");
    assert_string_equal(escaped(SN("\0", 1)), "\"\\u0000\"");
}


/* Whatever the bytes, the line is JSON, and UTF-8 comes back as it went. */
static void
encode_always_json(void **state)
{
    static const unsigned char  likely[] = {
        0x00, '"', '\\', 'a', 0x1f, 0x7f, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0,
        0x9f, 0x98, 0x80, 0xed, 0xa0
    };

    pprof_audit_record_t   rec;
    pprof_str_t            roles[3];
    unsigned char          bytes[5][64];
    json_error_t           error;
    json_t                *json;
    char                   buf[PPROF_AUDIT_LINE_MAX];
    uint32_t               seed = 12345;
    size_t                 i, j, k, len[5], n;

    (void) state;

    for (i = 0; i < 20000; i++) {
        for (k = 0; k < 5; k++) {
            seed = seed * 1103515245 + 12345;
            len[k] = (seed >> 16) % sizeof(bytes[k]);
            for (j = 0; j < len[k]; j++) {
                seed = seed * 1103515245 + 12345;
                /* Half the time, bytes likely to make UTF-8. */
                bytes[k][j] = i & 1 ? (unsigned char) (seed >> 16)
                                    : likely[(seed >> 16) % sizeof(likely)];
            }
        }

        decision(&rec);
        rec.identity = SN((const char *) bytes[0], len[0]);
        rec.params = SN((const char *) bytes[1], len[1]);
        roles[0] = SN((const char *) bytes[2], len[2]);
        roles[1] = SN((const char *) bytes[3], len[3]);
        roles[2] = SN((const char *) bytes[4], len[4]);
        rec.roles = roles;
        rec.nroles = 3;

        n = pprof_audit_encode(buf, sizeof(buf), &rec, i + 1, ZEROS, NULL);
        assert_true(n > 0);

        json = json_loadb(buf, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                          &error);
        if (json == NULL) {
            fail_msg("iteration %zu: %s: %.300s", i, error.text, buf);
        }

        /* Bytes that never needed escaping as UTF-8 decode to themselves. */
        if (json_is_string(json_object_get(json, "identity"))
            && json_string_length(json_object_get(json, "identity"))
               == len[0])
        {
            assert_memory_equal(json_string_value(json_object_get(json,
                                                              "identity")),
                                bytes[0], len[0]);
        }

        assert_int_equal(json_array_size(json_object_get(json, "roles")), 3);
        json_decref(json);
    }
}


static void
encode_timestamps(void **state)
{
    static const struct {
        uint64_t     us;
        const char  *ts;
    } cases[] = {
        { 0, "1970-01-01T00:00:00.000000Z" },
        { 999999, "1970-01-01T00:00:00.999999Z" },
        { 1234567890000001ULL, "2009-02-13T23:31:30.000001Z" },
        { 951782400000000ULL, "2000-02-29T00:00:00.000000Z" },
        { 1709164800500000ULL, "2024-02-29T00:00:00.500000Z" },
        { 4107542399000000ULL, "2100-02-28T23:59:59.000000Z" },
        { 4107542400000000ULL, "2100-03-01T00:00:00.000000Z" },
        { TIME_US, "2026-11-22T03:45:01.123456Z" },
        { 253402300799999999ULL, "9999-12-31T23:59:59.999999Z" },
    };

    pprof_audit_record_t  rec;
    char                  buf[512];
    size_t                i;

    (void) state;

    checkpoint(&rec, 0);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rec.time_us = cases[i].us;
        assert_string_equal(encode(&rec, 1, ZEROS, ""),
                            fmt("{\"v\":1,\"seq\":1,\"ts\":\"%s\","
                                "\"audit_id\":\"\",\"stage\":\"checkpoint\","
                                "\"records\":0,\"signature\":\"\","
                                "\"prev\":\"" ZEROS "\"}", cases[i].ts));
    }

    /* Beyond what RFC 3339 can write, nothing is written. */
    rec.time_us = 253402300800000000ULL;
    assert_int_equal(pprof_audit_encode(buf, sizeof(buf), &rec, 1, ZEROS, ""),
                     0);
    rec.time_us = UINT64_MAX;
    assert_int_equal(pprof_audit_encode(buf, sizeof(buf), &rec, 1, ZEROS, ""),
                     0);
}


static void
encode_refusals(void **state)
{
    pprof_audit_record_t  rec;
    char                  buf[PPROF_AUDIT_LINE_MAX + 1024], *filler;
    size_t                len, cap, base;

    (void) state;

    /* Every buffer too short by a byte or more (the NUL included). */
    decision(&rec);
    len = strlen(encode(&rec, 1, ZEROS, NULL));
    for (cap = 0; cap <= len; cap++) {
        memset(buf, '#', sizeof(buf));
        assert_int_equal(pprof_audit_encode(buf, cap, &rec, 1, ZEROS, NULL),
                         0);
        assert_int_equal(buf[cap], '#');
    }
    assert_int_equal(pprof_audit_encode(buf, len + 1, &rec, 1, ZEROS, NULL),
                     len);
    assert_int_equal(buf[len], '\0');

    response(&rec);
    len = strlen(encode(&rec, 1, ZEROS, NULL));
    assert_int_equal(pprof_audit_encode(buf, len, &rec, 1, ZEROS, NULL), 0);
    assert_int_equal(pprof_audit_encode(buf, len + 1, &rec, 1, ZEROS, NULL),
                     len);

    checkpoint(&rec, 3);
    len = strlen(encode(&rec, 1, ZEROS, "sig"));
    assert_int_equal(pprof_audit_encode(buf, len, &rec, 1, ZEROS, "sig"), 0);
    assert_int_equal(pprof_audit_encode(buf, len + 1, &rec, 1, ZEROS, "sig"),
                     len);

    /* prev is hex or nothing is written. */
    decision(&rec);
    assert_int_equal(pprof_audit_encode(buf, sizeof(buf), &rec, 1,
                                        fmt("%.63s\"", ZEROS), NULL), 0);
    assert_int_equal(pprof_audit_encode(buf, sizeof(buf), &rec, 1,
                                        fmt("%.63sA", SHA_EMPTY), NULL), 0);
    assert_int_equal(pprof_audit_encode(buf, sizeof(buf), &rec, 1,
                                        fmt("%.63s5", SHA_EMPTY), NULL),
                     strlen(encode(&rec, 1, ZEROS, NULL)));

    rec.stage = (pprof_audit_stage_t) 7;
    assert_int_equal(pprof_audit_encode(buf, sizeof(buf), &rec, 1, ZEROS,
                                        NULL), 0);

    /* seq beyond what JSON holds exactly: refused, never repeated. */
    decision(&rec);
    assert_int_equal(pprof_audit_encode(buf, sizeof(buf), &rec,
                                        PPROF_AUDIT_NUM_MAX + 1, ZEROS, NULL),
                     0);
    assert_int_equal(pprof_audit_encode(buf, sizeof(buf), &rec, UINT64_MAX,
                                        ZEROS, NULL), 0);

    /*
     * A line with its newline fits PPROF_AUDIT_LINE_MAX, whatever the
     * buffer: pprof_audit_verify() would refuse a longer one.  Only the
     * signature, which is never cut, can make one that long.
     */
    checkpoint(&rec, 1);
    base = strlen(encode(&rec, 1, ZEROS, ""));
    filler = G(calloc(1, PPROF_AUDIT_LINE_MAX + 1));
    memset(filler, 'a', PPROF_AUDIT_LINE_MAX - base);

    assert_int_equal(pprof_audit_encode(buf, sizeof(buf), &rec, 1, ZEROS,
                                        filler), 0);
    filler[PPROF_AUDIT_LINE_MAX - 1 - base] = '\0';
    assert_int_equal(pprof_audit_encode(buf, sizeof(buf), &rec, 1, ZEROS,
                                        filler), PPROF_AUDIT_LINE_MAX - 1);
}


static void
hash_known(void **state)
{
    char  hex[PPROF_AUDIT_HASH_HEX + 1];

    (void) state;

    hex[PPROF_AUDIT_HASH_HEX] = '#';
    pprof_audit_hash("", 0, hex);
    assert_memory_equal(hex, SHA_EMPTY, PPROF_AUDIT_HASH_HEX);
    assert_int_equal(hex[PPROF_AUDIT_HASH_HEX], '#');

    pprof_audit_hash("abcdef", 3, hex);
    assert_memory_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad",
                        PPROF_AUDIT_HASH_HEX);

    /* One context serves every line: nothing of one is left for the next. */
    pprof_audit_hash("", 0, hex);
    assert_memory_equal(hex, SHA_EMPTY, PPROF_AUDIT_HASH_HEX);
}


/* The body's digest: a context started, fed in pieces, and started again. */
static void
hash_body(void **state)
{
    EVP_MD_CTX     *ctx;
    unsigned char   md[EVP_MAX_MD_SIZE];
    unsigned int    n;

    (void) state;

    ctx = EVP_MD_CTX_new();
    assert_non_null(ctx);

    assert_int_equal(pprof_audit_sha256_init(ctx), 0);
    assert_int_equal(EVP_DigestUpdate(ctx, "ab", 2), 1);
    assert_int_equal(EVP_DigestUpdate(ctx, "c", 1), 1);
    assert_int_equal(EVP_DigestFinal_ex(ctx, md, &n), 1);
    assert_int_equal(n, 32);
    assert_memory_equal(md, "\xba\x78\x16\xbf\x8f\x01\xcf\xea\x41\x41"
                            "\x40\xde\x5d\xae\x22\x23\xb0\x03\x61\xa3"
                            "\x96\x17\x7a\x9c\xb4\x10\xff\x61\xf2\x00"
                            "\x15\xad", 32);

    /* Started again halfway through: what was fed before is gone. */
    assert_int_equal(pprof_audit_sha256_init(ctx), 0);
    assert_int_equal(EVP_DigestUpdate(ctx, "xyz", 3), 1);
    assert_int_equal(pprof_audit_sha256_init(ctx), 0);
    assert_int_equal(EVP_DigestFinal_ex(ctx, md, &n), 1);
    assert_memory_equal(md, "\xe3\xb0\xc4\x42\x98\xfc\x1c\x14\x9a\xfb"
                            "\xf4\xc8\x99\x6f\xb9\x24\x27\xae\x41\xe4"
                            "\x64\x9b\x93\x4c\xa4\x95\x99\x1b\x78\x52"
                            "\xb8\x55", 32);

    EVP_MD_CTX_free(ctx);
}


/* Logs. */

typedef struct {
    char    *lines[LOG_MAX];
    size_t   n;
} log_t;


/*
 * A log from a pattern: d decision, r response, c checkpoint signed by
 * key.  Each record chains to the line before it.
 */
static void
build(log_t *log, const char *pattern, EVP_PKEY *key)
{
    pprof_audit_record_t  rec;
    char                  prev[PPROF_AUDIT_HASH_HEX], buf[1024];
    uint64_t              since = 0;
    size_t                len;

    memcpy(prev, ZEROS, PPROF_AUDIT_HASH_HEX);
    log->n = 0;

    for ( ; *pattern; pattern++) {
        assert_true(log->n < LOG_MAX);

        switch (*pattern) {
        case 'd':
            decision(&rec);
            rec.time_us += log->n;
            break;
        case 'r':
            response(&rec);
            rec.time_us += log->n;
            break;
        default:
            checkpoint(&rec, since);
            since = 0;
            len = pprof_audit_checkpoint(buf, sizeof(buf), &rec, log->n + 1,
                                         prev, key);
            assert_true(len > 0);
            goto chain;
        }

        len = pprof_audit_encode(buf, sizeof(buf), &rec, log->n + 1, prev,
                                 NULL);
        assert_true(len > 0);
        since++;

    chain:
        log->lines[log->n++] = fmt("%s", buf);
        pprof_audit_hash(buf, len, prev);
    }
}


static char *
write_log(const char *name, const log_t *log)
{
    char    *path = path_of(name);
    FILE    *f = fopen(path, "wb");
    size_t   i;

    assert_non_null(f);
    for (i = 0; i < log->n; i++) {
        fprintf(f, "%s\n", log->lines[i]);
    }
    assert_int_equal(fclose(f), 0);
    return path;
}


/* Edits line i (from 0) as text: the first from becomes to. */
static void
edit(log_t *log, size_t i, const char *from, const char *to)
{
    char  *line = log->lines[i], *at;

    at = strstr(line, from);
    if (at == NULL) {
        fail_msg("line %zu has no %s: %s", i, from, line);
    }

    log->lines[i] = fmt("%.*s%s%s", (int) (at - line), line, to,
                        at + strlen(from));
}


static void
delete(log_t *log, size_t i)
{
    memmove(&log->lines[i], &log->lines[i + 1],
            (log->n - i - 1) * sizeof(char *));
    log->n--;
}


/* Sets every prev after line i to the hash of the line before it. */
static void
rechain(log_t *log, size_t from)
{
    char    hash[PPROF_AUDIT_HASH_HEX];
    size_t  i, len;

    for (i = from + 1; i < log->n; i++) {
        pprof_audit_hash(log->lines[i - 1], strlen(log->lines[i - 1]), hash);
        len = strlen(log->lines[i]);
        log->lines[i] = fmt("%s", log->lines[i]);
        memcpy(log->lines[i] + len - 2 - PPROF_AUDIT_HASH_HEX, hash,
               PPROF_AUDIT_HASH_HEX);
    }
}


static void
verify_ok_(const char *path, EVP_PKEY *key, const char *want, int line)
{
    uint64_t  bad = 12345;
    char      why[256];

    if (pprof_audit_verify(path, key, &bad, why, sizeof(why)) != 0) {
        fail_msg("line %d: want ok, got seq %llu: %s", line,
                 (unsigned long long) bad, why);
    }
    if (strcmp(why, want) != 0) {
        fail_msg("line %d: want \"%s\", got \"%s\"", line, want, why);
    }
}

#define verify_ok(path, key, want)  verify_ok_(path, key, want, __LINE__)


static void
verify_bad_(const char *path, EVP_PKEY *key, uint64_t seq, const char *want,
    int line)
{
    uint64_t  bad = 12345;
    char      why[256];

    if (pprof_audit_verify(path, key, &bad, why, sizeof(why)) != -1) {
        fail_msg("line %d: want seq %llu: %s, got ok: %s", line,
                 (unsigned long long) seq, want, why);
    }
    if (bad != seq || strcmp(why, want) != 0) {
        fail_msg("line %d: want seq %llu: %s, got seq %llu: %s", line,
                 (unsigned long long) seq, want, (unsigned long long) bad,
                 why);
    }
}

#define verify_bad(path, key, seq, want)                                      \
    verify_bad_(path, key, seq, want, __LINE__)


/* The log most tamperings start from. */
#define PATTERN  "drcddrc"


static void
chain_three(void **state)
{
    pprof_audit_record_t  rec;
    char                  buf[1024], prev[PPROF_AUDIT_HASH_HEX], *path,
                          *text;
    uint64_t              seq;
    size_t                len;
    FILE                 *f;

    (void) state;

    path = path_of("three.log");
    f = fopen(path, "wb");
    assert_non_null(f);

    memcpy(prev, ZEROS, PPROF_AUDIT_HASH_HEX);
    for (seq = 1; seq <= 3; seq++) {
        if (seq == 2) {
            response(&rec);
        } else {
            decision(&rec);
        }
        len = pprof_audit_encode(buf, sizeof(buf), &rec, seq, prev, NULL);
        assert_true(len > 0);
        fprintf(f, "%s\n", buf);
        pprof_audit_hash(buf, len, prev);
    }
    assert_int_equal(fclose(f), 0);

    verify_ok(path, NULL, "3 records, 0 checkpoints not verified: "
                          "no public key");
    verify_bad(path, pub1, 0, "no checkpoint: seq 1 to 3 are not signed");

    /* The second line's prev is the first line's hash, and so on. */
    text = (char *) jwt_read_file(path, &len);
    G(text);
    assert_non_null(strstr(text, "\"prev\":\"" ZEROS "\"}\n{\"v\":1,"
                                 "\"seq\":2,"));
    {
        char  *nl = strchr(text, '\n');

        pprof_audit_hash(text, (size_t) (nl - text), prev);
        assert_non_null(strstr(nl + 1, fmt("\"prev\":\"%.64s\"}\n", prev)));
    }
}


static void
checkpoints_signed(void **state)
{
    pprof_audit_record_t  rec;
    unsigned char         sig[66];
    char                  buf[1024], *unsigned_line, *b64;
    EVP_MD_CTX           *ctx;
    size_t                len;
    log_t                 log;
    char                 *path;

    (void) state;

    build(&log, PATTERN, ed1);
    path = write_log("signed.log", &log);

    verify_ok(path, pub1, "7 records, 2 checkpoints verified");
    verify_ok(path, ed1, "7 records, 2 checkpoints verified");
    verify_ok(path, NULL, "7 records, 2 checkpoints not verified: "
                          "no public key");

    /* Another key, or a key that is not Ed25519. */
    verify_bad(path, pub2, 3, "bad signature");
    verify_bad(path, ec, 0, "the public key is not an Ed25519 key");

    /* Over the line with "signature":"", as OpenSSL alone checks it. */
    assert_string_equal(strstr(log.lines[2], ",\"records\":2,"
                                             "\"signature\":\""),
                        strstr(log.lines[2], ",\"records\""));
    checkpoint(&rec, 2);
    unsigned_line = encode(&rec, 3, log.lines[2] + strlen(log.lines[2]) - 66,
                           "");
    b64 = strstr(log.lines[2], "\"signature\":\"") + 13;
    assert_int_equal(strchr(b64, '"') - b64, 88);
    assert_int_equal(EVP_DecodeBlock(sig, (unsigned char *) b64, 88), 66);

    ctx = EVP_MD_CTX_new();
    assert_non_null(ctx);
    assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub1), 1);
    assert_int_equal(EVP_DigestVerify(ctx, sig, 64,
                                      (unsigned char *) unsigned_line,
                                      strlen(unsigned_line)), 1);
    EVP_MD_CTX_free(ctx);

    /* A checkpoint whatever the stage given; Ed25519 keys only. */
    decision(&rec);
    rec.records = 9;
    len = pprof_audit_checkpoint(buf, sizeof(buf), &rec, 5, ZEROS, ed1);
    assert_true(len > 0);
    assert_non_null(strstr(buf, ",\"stage\":\"checkpoint\",\"records\":9,"));

    assert_int_equal(pprof_audit_checkpoint(buf, sizeof(buf), &rec, 5, ZEROS,
                                            ec), 0);
    assert_int_equal(pprof_audit_checkpoint(buf, sizeof(buf), &rec, 5, ZEROS,
                                            NULL), 0);

    /* Room for the unsigned line is not room for the signed one. */
    checkpoint(&rec, 9);
    len = pprof_audit_encode(buf, sizeof(buf), &rec, 5, ZEROS, "");
    assert_int_equal(pprof_audit_checkpoint(buf, len + 1, &rec, 5, ZEROS,
                                            ed1), 0);
    assert_int_equal(pprof_audit_checkpoint(buf, len + 89, &rec, 5, ZEROS,
                                            ed1), len + 88);
}


static void
tamper_edit(void **state)
{
    log_t   orig, log;
    char   *path;

    (void) state;

    build(&orig, PATTERN, ed1);

    /* A field of a decision: the next line's prev no longer matches. */
    log = orig;
    edit(&log, 1, "\"decision\":\"allow\"", "\"decision\":\"deny\"");
    path = write_log("edit2.log", &log);
    verify_bad(path, NULL, 2, "edited");
    verify_bad(path, pub1, 2, "edited");

    log = orig;
    edit(&log, 0, "\"identity\":\"alice\"", "\"identity\":\"mallory\"");
    path = write_log("edit1.log", &log);
    verify_bad(path, pub1, 1, "edited");

    /* The record before a checkpoint. */
    log = orig;
    edit(&log, 5, "\"status\":200", "\"status\":403");
    path = write_log("edit6.log", &log);
    verify_bad(path, NULL, 6, "edited");
    verify_bad(path, pub1, 6, "edited");

    /* A checkpoint: its signature fails first, or the chain after it. */
    log = orig;
    edit(&log, 2, "\"records\":2", "\"records\":1");
    path = write_log("edit3.log", &log);
    verify_bad(path, pub1, 3, "bad signature");
    verify_bad(path, NULL, 3, "edited");

    /* A prev: this line changed, not the one before. */
    log = orig;
    edit(&log, 3, "\"prev\":\"", "\"prev\":\"0");
    log.lines[3][strlen(log.lines[3]) - 3] = '"';
    log.lines[3][strlen(log.lines[3]) - 2] = '}';
    log.lines[3][strlen(log.lines[3]) - 1] = '\0';
    path = write_log("edit4prev.log", &log);
    verify_bad(path, NULL, 4, "edited");

    /* A seq, the line otherwise in place. */
    log = orig;
    edit(&log, 3, "\"seq\":4", "\"seq\":40");
    path = write_log("edit4seq.log", &log);
    verify_bad(path, NULL, 4, "edited");

    log = orig;
    edit(&log, 3, "\"seq\":4", "\"seq\":3");
    path = write_log("edit4seq3.log", &log);
    verify_bad(path, NULL, 4, "edited");

    /* The first line must start a chain. */
    log = orig;
    edit(&log, 0, "\"prev\":\"0", "\"prev\":\"1");
    path = write_log("edit1prev.log", &log);
    verify_bad(path, NULL, 1, "edited");

    /* Edits rechained after the fact still break the next checkpoint. */
    log = orig;
    edit(&log, 3, "\"identity\":\"alice\"", "\"identity\":\"mallory\"");
    rechain(&log, 3);
    path = write_log("rechained.log", &log);
    verify_bad(path, pub1, 7, "bad signature");

    log = orig;
    edit(&log, 1, "\"bytes\":12345", "\"bytes\":1");
    rechain(&log, 1);
    path = write_log("rechained2.log", &log);
    verify_bad(path, pub1, 3, "bad signature");
    /* Without the key, a full rechain is not seen: checkpoints matter. */
    verify_ok(path, NULL, "7 records, 2 checkpoints not verified: "
                          "no public key");

    /* Nor is an edit of a last line after the last checkpoint: said. */
    build(&log, "dcd", ed1);
    edit(&log, 2, "\"decision\":\"allow\"", "\"decision\":\"deny\"");
    path = write_log("editlast.log", &log);
    verify_ok(path, pub1, "3 records, 1 checkpoints verified; seq 3, after "
                          "the last checkpoint, is unsigned");
}


static void
tamper_delete(void **state)
{
    log_t   orig, log;
    char   *path;

    (void) state;

    build(&orig, PATTERN, ed1);

    log = orig;
    delete(&log, 1);
    path = write_log("del2.log", &log);
    verify_bad(path, NULL, 2, "missing");
    verify_bad(path, pub1, 2, "missing");

    log = orig;
    delete(&log, 0);
    path = write_log("del1.log", &log);
    verify_ok(path, pub1, "6 records from seq 2 (the log given begins "
                          "there: its prev is not checked), 2 checkpoints "
                          "verified");

    /* A checkpoint. */
    log = orig;
    delete(&log, 2);
    path = write_log("del3.log", &log);
    verify_bad(path, pub1, 3, "missing");

    /* Several. */
    log = orig;
    delete(&log, 1);
    delete(&log, 1);
    delete(&log, 1);
    path = write_log("del234.log", &log);
    verify_bad(path, pub1, 2, "missing");

    /* Deleted, and renumbered to hide it: the chain still breaks. */
    log = orig;
    delete(&log, 3);
    edit(&log, 3, "\"seq\":5", "\"seq\":4");
    edit(&log, 4, "\"seq\":6", "\"seq\":5");
    edit(&log, 5, "\"seq\":7", "\"seq\":6");
    path = write_log("del4renum.log", &log);
    verify_bad(path, NULL, 4, "edited");

    /* Everything after the first line: the last checkpoint went too. */
    log = orig;
    log.n = 1;
    path = write_log("del-tail.log", &log);
    verify_bad(path, pub1, 0, "no checkpoint: seq 1 to 1 are not signed");
}


static void
tamper_reorder(void **state)
{
    log_t   orig, log;
    char   *path, *t;

    (void) state;

    build(&orig, PATTERN, ed1);

    log = orig;
    t = log.lines[1];
    log.lines[1] = log.lines[2];
    log.lines[2] = t;
    path = write_log("swap23.log", &log);
    verify_bad(path, NULL, 2, "reordered");
    verify_bad(path, pub1, 2, "reordered");

    log = orig;
    t = log.lines[0];
    log.lines[0] = log.lines[1];
    log.lines[1] = t;
    path = write_log("swap12.log", &log);
    verify_bad(path, pub1, 1, "reordered");

    log = orig;
    t = log.lines[5];
    log.lines[5] = log.lines[6];
    log.lines[6] = t;
    path = write_log("swap67.log", &log);
    verify_bad(path, pub1, 6, "reordered");

    /* The second line moved to the end. */
    log = orig;
    t = log.lines[1];
    delete(&log, 1);
    log.lines[log.n++] = t;
    path = write_log("move2.log", &log);
    verify_bad(path, pub1, 2, "reordered");

    /* Copied: replayed right after itself, or at the end. */
    log = orig;
    memmove(&log.lines[2], &log.lines[1], (log.n - 1) * sizeof(char *));
    log.n++;
    path = write_log("dup2.log", &log);
    verify_bad(path, pub1, 2, "reordered");

    log = orig;
    log.lines[log.n++] = log.lines[0];
    path = write_log("dup1.log", &log);
    verify_bad(path, pub1, 1, "reordered");
}


static void
tamper_truncate(void **state)
{
    log_t   log;
    char   *path, *text;
    size_t  len, i, cut;

    (void) state;

    build(&log, PATTERN, ed1);
    path = write_log("whole.log", &log);
    text = (char *) G((char *) jwt_read_file(path, &len));

    /* The last newline. */
    path = path_of("nonl.log");
    write_raw(path, text, len - 1);
    verify_bad(path, pub1, 7, "truncated");
    verify_bad(path, NULL, 7, "truncated");

    /* Cut mid-line, anywhere in the last line or in the fourth. */
    for (cut = len - 1; text[cut - 1] != '\n'; cut--) {
        write_raw(path, text, cut);
        verify_bad(path, pub1, 7, "truncated");
    }

    for (i = 0, cut = 0; i < 3; i++) {
        cut += strlen(log.lines[i]) + 1;
    }
    write_raw(path, text, cut + 100);
    verify_bad(path, pub1, 4, "truncated");
    write_raw(path, text, cut + 1);
    verify_bad(path, pub1, 4, "truncated");

    /* At a line boundary, nothing tells: only the final checkpoint does. */
    write_raw(path, text, cut);
    verify_ok(path, pub1, "3 records, 1 checkpoints verified");

    /* A torn line that a writer then appended to. */
    path = path_of("glued.log");
    {
        char  *glued = fmt("%.*s%s\n", (int) (cut + 100), text,
                           log.lines[3]);

        write_raw(path, glued, strlen(glued));
    }
    verify_bad(path, pub1, 4, "not JSON");
}


/* The signature of a checkpoint line replaced by b64. */
static void
resign(log_t *log, size_t i, const char *b64)
{
    char  *line = log->lines[i], *sig, *end;

    sig = strstr(line, "\"signature\":\"") + 13;
    end = strchr(sig, '"');
    log->lines[i] = fmt("%.*s%s%s", (int) (sig - line), line, b64, end);
}


static void
tamper_forge(void **state)
{
    unsigned char   raw[64], *sig;
    log_t           orig, log, other;
    char           *path, *b64, *msg;
    size_t          siglen;

    (void) state;

    build(&orig, PATTERN, ed1);

    /* A valid signature of another checkpoint. */
    log = orig;
    b64 = strstr(orig.lines[6], "\"signature\":\"") + 13;
    resign(&log, 2, fmt("%.88s", b64));
    path = write_log("forge-other.log", &log);
    verify_bad(path, pub1, 3, "bad signature");
    verify_bad(path, NULL, 3, "edited");

    /* The same line signed by another key. */
    build(&other, PATTERN, ed2);
    log = orig;
    b64 = strstr(other.lines[2], "\"signature\":\"") + 13;
    resign(&log, 2, fmt("%.88s", b64));
    path = write_log("forge-key.log", &log);
    verify_bad(path, pub1, 3, "bad signature");

    /* The right signature in non-canonical base64: unused bits set. */
    log = orig;
    b64 = fmt("%.88s", strstr(orig.lines[2], "\"signature\":\"") + 13);
    assert_memory_equal(b64 + 86, "==", 2);
    assert_non_null(strchr("AQgw", b64[85]));
    b64[85]++;
    resign(&log, 2, b64);
    path = write_log("forge-b64.log", &log);
    verify_bad(path, pub1, 3, "bad signature");

    /* Random bytes, garbage, nothing, an HMAC-length signature. */
    assert_int_equal(jwt_random(raw, sizeof(raw)), 0);
    log = orig;
    resign(&log, 6, G(jwt_b64std(raw, sizeof(raw))));
    path = write_log("forge-random.log", &log);
    verify_bad(path, pub1, 7, "bad signature");

    log = orig;
    resign(&log, 2, "AAAA");
    path = write_log("forge-short.log", &log);
    verify_bad(path, pub1, 3, "bad signature");

    log = orig;
    resign(&log, 2, "");
    path = write_log("forge-empty.log", &log);
    verify_bad(path, pub1, 3, "bad signature");

    log = orig;
    resign(&log, 2, G(jwt_b64std(raw, 32)));
    path = write_log("forge-32.log", &log);
    verify_bad(path, pub1, 3, "bad signature");

    /* Signed over the whole line, signature included, not over "". */
    log = orig;
    msg = fmt("%s", orig.lines[2]);
    sig = jwt_signature("EdDSA", ed1, NULL, 0, (unsigned char *) msg,
                        strlen(msg), 0, &siglen);
    assert_non_null(sig);
    G((char *) sig);
    resign(&log, 2, G(jwt_b64std(sig, siglen)));
    path = write_log("forge-whole.log", &log);
    verify_bad(path, pub1, 3, "bad signature");

    /* A signature escaped in JSON is not the line that was signed. */
    log = orig;
    b64 = fmt("%.88s", strstr(orig.lines[2], "\"signature\":\"") + 13);
    resign(&log, 2, fmt("\\u%04x%s", (unsigned char) b64[0], b64 + 1));
    path = write_log("forge-escaped.log", &log);
    verify_bad(path, pub1, 3, "bad signature");
}


static void
verify_lines(void **state)
{
    pprof_audit_record_t  rec;
    log_t                 orig, log;
    char                 *path, *line, prev[PPROF_AUDIT_HASH_HEX];
    char                  buf[PPROF_AUDIT_LINE_MAX];
    size_t                base, len;
    uint64_t              bad;
    char                  why[64];

    (void) state;

    build(&orig, "dddd", ed1);

    log = orig;
    log.lines[2] = "garbage";
    path = write_log("garbage.log", &log);
    verify_bad(path, NULL, 3, "not JSON");

    log.lines[2] = "";
    path = write_log("empty-line.log", &log);
    verify_bad(path, NULL, 3, "not JSON");

    log.lines[2] = "[1,2,3]";
    path = write_log("array.log", &log);
    verify_bad(path, NULL, 3, "not JSON");

    log = orig;
    edit(&log, 2, "{\"v\":1,", "{\"v\":1,\"v\":1,");
    path = write_log("duplicate.log", &log);
    verify_bad(path, NULL, 3, "not JSON");

    log = orig;
    edit(&log, 2, "\"}", "\"} x");
    path = write_log("trailing.log", &log);
    verify_bad(path, NULL, 3, "not JSON");

    log = orig;
    edit(&log, 2, "{\"v\":1,", "{\"v\":2,");
    path = write_log("v2.log", &log);
    verify_bad(path, NULL, 3, "not a record");

    log = orig;
    edit(&log, 2, "\"seq\":3", "\"seq\":\"3\"");
    path = write_log("seqstr.log", &log);
    verify_bad(path, NULL, 3, "not a record");

    log = orig;
    edit(&log, 2, "\"stage\":\"decision\"", "\"stage\":\"other\"");
    path = write_log("stage.log", &log);
    verify_bad(path, NULL, 3, "not a record");

    log = orig;
    edit(&log, 2, "\"prev\":\"", "\"prev\":\"X");
    path = write_log("prevlen.log", &log);
    verify_bad(path, NULL, 3, "not a record");

    /* Lines too long, as long as a line may be, and far longer. */
    checkpoint(&rec, 2);
    base = strlen(encode(&rec, 3, ZEROS, ""));
    line = G(malloc(300000));
    memset(line, 'a', 300000);
    line[PPROF_AUDIT_LINE_MAX - 1 - base] = '\0';

    log = orig;
    pprof_audit_hash(log.lines[1], strlen(log.lines[1]), prev);
    len = pprof_audit_encode(buf, sizeof(buf), &rec, 3, prev, line);
    line[PPROF_AUDIT_LINE_MAX - 1 - base] = 'a';
    assert_int_equal(len, PPROF_AUDIT_LINE_MAX - 1);
    log.lines[2] = fmt("%s", buf);
    rechain(&log, 2);
    path = write_log("longest.log", &log);
    verify_ok(path, NULL, "4 records, 1 checkpoints not verified: "
                          "no public key");

    log.lines[2] = fmt("%s ", buf);
    path = write_log("too-long.log", &log);
    verify_bad(path, NULL, 3, "line too long");

    line[299999] = '\0';
    log.lines[2] = line;
    path = write_log("far-too-long.log", &log);
    verify_bad(path, NULL, 3, "line too long");

    /* NUL escaped in a string is fine. */
    decision(&rec);
    rec.identity = SN("a\0b", 3);
    log.lines[0] = encode(&rec, 1, ZEROS, NULL);
    log.n = 1;
    path = write_log("nul.log", &log);
    verify_ok(path, NULL, "1 records, 0 checkpoints not verified: "
                          "no public key");

    /* Raw bytes that are not UTF-8 are not JSON. */
    edit(&log, 0, "a\\u0000b", "a\xff" "b");
    path = write_log("latin1.log", &log);
    verify_bad(path, NULL, 1, "not JSON");

    /*
     * An empty log holds, unless signatures are asked for; a missing one
     * is no verdict on any seq.
     */
    path = path_of("empty.log");
    write_raw(path, "", 0);
    verify_ok(path, NULL, "0 records, 0 checkpoints not verified: "
                          "no public key");
    verify_bad(path, pub1, 0, "no checkpoint: the log is empty");

    bad = 99;
    assert_int_equal(pprof_audit_verify(path_of("missing.log"), NULL, &bad,
                                        why, sizeof(why)), -1);
    assert_int_equal(bad, 0);
    assert_string_equal(why, "cannot open: No such file or directory");

    /* A short why is cut, never overrun. */
    path = write_log("garbage2.log", &log);
    bad = 99;
    memset(why, '#', sizeof(why));
    assert_int_equal(pprof_audit_verify(path, NULL, &bad, why, 4), -1);
    assert_int_equal(bad, 1);
    assert_string_equal(why, "not");
    assert_int_equal(why[4], '#');
}


/* A log over many read buffers, checkpoint every 1000 records. */
static char *
big_log(const char *name, size_t n, size_t edit_seq, char **last)
{
    pprof_audit_record_t  rec;
    char                  buf[1024], prev[PPROF_AUDIT_HASH_HEX], *path;
    size_t                seq, len;
    FILE                 *f;

    path = path_of(name);
    f = fopen(path, "wb");
    assert_non_null(f);

    memcpy(prev, ZEROS, PPROF_AUDIT_HASH_HEX);

    for (seq = 1; seq <= n; seq++) {
        if (seq % 1000 == 0) {
            checkpoint(&rec, 999);
            len = pprof_audit_checkpoint(buf, sizeof(buf), &rec, seq, prev,
                                         ed1);
        } else {
            decision(&rec);
            rec.time_us += seq;
            rec.params = seq % 7 ? S("seconds=30") : S("debug=1&gc=1");
            len = pprof_audit_encode(buf, sizeof(buf), &rec, seq, prev, NULL);
        }
        assert_true(len > 0);

        pprof_audit_hash(buf, len, prev);
        if (seq == edit_seq) {
            strstr(buf, "alice")[0] = 'A';
        }
        fprintf(f, "%s\n", buf);
    }

    assert_int_equal(fclose(f), 0);
    *last = fmt("%s", buf);
    return path;
}


static void
verify_big(void **state)
{
    char      *path, *last, prev[PPROF_AUDIT_HASH_HEX], err[128];
    uint64_t   seq;

    (void) state;

    path = big_log("big.log", 20000, 0, &last);
    verify_ok(path, pub1, "20000 records, 20 checkpoints verified");

    assert_int_equal(pprof_audit_head(path, &seq, prev, err, sizeof(err)), 0);
    assert_int_equal(seq, 20000);
    {
        char  want[PPROF_AUDIT_HASH_HEX];

        pprof_audit_hash(last, strlen(last), want);
        assert_memory_equal(prev, want, PPROF_AUDIT_HASH_HEX);
    }

    path = big_log("big-edited.log", 20000, 15001, &last);
    verify_bad(path, NULL, 15001, "edited");
    verify_bad(path, pub1, 15001, "edited");

    path = big_log("big-edited2.log", 20000, 12999, &last);
    verify_bad(path, pub1, 12999, "edited");
}


static void
head_(const char *path, int want_rc, uint64_t want_seq, const char *want_line,
    int line)
{
    char      prev[PPROF_AUDIT_HASH_HEX], want[PPROF_AUDIT_HASH_HEX],
              err[256];
    uint64_t  seq = 777;
    int       rc;

    err[0] = '\0';
    memset(prev, '#', sizeof(prev));
    rc = pprof_audit_head(path, &seq, prev, err, sizeof(err));

    if (rc != want_rc) {
        fail_msg("line %d: head returned %d (%s), want %d", line, rc, err,
                 want_rc);
    }

    if (rc != 0) {
        if (err[0] == '\0') {
            fail_msg("line %d: head failed without a message", line);
        }
        return;
    }

    if (want_line == NULL) {
        memcpy(want, ZEROS, PPROF_AUDIT_HASH_HEX);
    } else {
        pprof_audit_hash(want_line, strlen(want_line), want);
    }

    if (seq != want_seq || memcmp(prev, want, PPROF_AUDIT_HASH_HEX) != 0) {
        fail_msg("line %d: head seq %llu prev %.64s, want seq %llu %.64s",
                 line, (unsigned long long) seq, prev,
                 (unsigned long long) want_seq, want);
    }
}

#define head(path, rc, seq, line)  head_(path, rc, seq, line, __LINE__)


static void
head_cases(void **state)
{
    pprof_audit_record_t  rec;
    log_t                 log;
    char                 *path, *text, *s, buf[1024], prev[64];
    uint64_t              seq;
    size_t                len;
    FILE                 *f;

    (void) state;

    head(path_of("nothing.log"), 0, 0, NULL);

    path = path_of("empty.log");
    write_raw(path, "", 0);
    head(path, 0, 0, NULL);

    build(&log, PATTERN, ed1);
    path = write_log("normal.log", &log);
    head(path, 0, 7, log.lines[6]);

    /* A torn last line is no record: the head is the line before. */
    text = (char *) G((char *) jwt_read_file(path, &len));
    path = path_of("torn.log");
    write_raw(path, text, len - 1);
    head(path, 0, 6, log.lines[5]);
    write_raw(path, text, len - 50);
    head(path, 0, 6, log.lines[5]);
    write_raw(path, text, len - strlen(log.lines[6]));
    head(path, 0, 6, log.lines[5]);
    s = fmt("%s\n{\"v\":1,\"se", log.lines[0]);
    write_raw(path, s, strlen(s));
    head(path, 0, 1, log.lines[0]);

    /* A torn first record: there is no head yet. */
    write_raw(path, log.lines[0], 30);
    head(path, 0, 0, NULL);

    /* Not ours. */
    s = fmt("%s\nhello\n", log.lines[0]);
    write_raw(path, s, strlen(s));
    head(path, -1, 0, NULL);
    write_raw(path, "{}\n", 3);
    head(path, -1, 0, NULL);
    write_raw(path, "\n", 1);
    head(path, -1, 0, NULL);
    s = fmt("%s\n\n", log.lines[0]);
    write_raw(path, s, strlen(s));
    head(path, -1, 0, NULL);

    /* A last line longer than a line may be, or than the window. */
    s = G(malloc(200001));
    memset(s, 'x', 200000);
    s[199999] = '\n';
    s[200000] = '\0';
    write_raw(path, s, 200000);
    head(path, -1, 0, NULL);
    write_raw(path, s, 199999);
    head(path, -1, 0, NULL);
    write_raw(path, s + 200000 - PPROF_AUDIT_LINE_MAX - 1,
              PPROF_AUDIT_LINE_MAX + 1);
    head(path, -1, 0, NULL);

    /* A directory is not a log. */
    head(tmpdir, -1, 0, NULL);

    /* Big: only the end is read, and a restart continues the chain. */
    path = big_log("big-head.log", 3000, 0, &s);
    head(path, 0, 3000, s);

    assert_int_equal(pprof_audit_head(path, &seq, prev, buf, sizeof(buf)),
                     0);
    f = fopen(path, "ab");
    assert_non_null(f);
    decision(&rec);
    len = pprof_audit_encode(buf, sizeof(buf), &rec, seq + 1, prev, NULL);
    assert_true(len > 0);
    fprintf(f, "%s\n", buf);
    assert_int_equal(fclose(f), 0);
    head(path, 0, 3001, buf);
    verify_ok(path, pub1, "3001 records, 3 checkpoints verified; seq 3001, "
                          "after the last checkpoint, is unsigned");
}


/*
 * Rotation: a log in segments, oldest first, verified as one chain by
 * pprof_audit_verify_segments(); what renaming (nothing lost), copying
 * and truncating (lines lost in between), a start on an empty file and
 * misordered or compressed segments look like.
 */

/* Lines [from, to) of log, as a segment. */
static char *
segment(const char *name, const log_t *log, size_t from, size_t to)
{
    log_t  part;

    part.n = to - from;
    memcpy(part.lines, log->lines + from, part.n * sizeof(char *));
    return write_log(name, &part);
}


static void
segs_ok_(const char *const *paths, size_t n, EVP_PKEY *key, const char *want,
    int line)
{
    pprof_audit_report_t  rep;

    if (pprof_audit_verify_segments(paths, n, key, &rep) != 0) {
        fail_msg("line %d: want ok, got %s: seq %llu: %s", line,
                 rep.bad_path ? rep.bad_path : "-",
                 (unsigned long long) rep.bad_seq, rep.why);
    }
    if (strcmp(rep.why, want) != 0) {
        fail_msg("line %d: want \"%s\", got \"%s\"", line, want, rep.why);
    }
}


static void
segs_bad_(const char *const *paths, size_t n, EVP_PKEY *key, uint64_t seq,
    const char *path, const char *want, int line)
{
    pprof_audit_report_t  rep;

    if (pprof_audit_verify_segments(paths, n, key, &rep) != -1) {
        fail_msg("line %d: want seq %llu: %s, got ok: %s", line,
                 (unsigned long long) seq, want, rep.why);
    }
    if (rep.bad_seq != seq || strcmp(rep.why, want) != 0
        || (path == NULL) != (rep.bad_path == NULL)
        || (path != NULL && strcmp(path, rep.bad_path) != 0))
    {
        fail_msg("line %d: want %s: seq %llu: %s, got %s: seq %llu: %s",
                 line, path ? path : "-", (unsigned long long) seq, want,
                 rep.bad_path ? rep.bad_path : "-",
                 (unsigned long long) rep.bad_seq, rep.why);
    }
}

#define SEGS(...)                                                             \
    (const char *[]) { __VA_ARGS__ },                                         \
    sizeof((const char *[]) { __VA_ARGS__ }) / sizeof(const char *)

#define segs_ok(key, want, ...)                                               \
    segs_ok_(SEGS(__VA_ARGS__), key, want, __LINE__)

#define segs_bad(key, seq, path, want, ...)                                   \
    segs_bad_(SEGS(__VA_ARGS__), key, seq, path, want, __LINE__)


#define NEW_CHAIN_WHY                                                         \
    " (nginx started on an empty log, or the segments are not oldest first)"

/* Nine lines, checkpoints at seq 3 and 7. */
#define ROTATED  "drcddrcdd"


static void
rotate_rename(void **state)
{
    log_t   log;
    char   *s1, *s2, *s3, *empty, *gz;
    gzFile  z;
    size_t  i;

    (void) state;

    build(&log, ROTATED, ed1);

    /* mv and reopen: the chain goes on in the next file, wherever cut. */
    s1 = segment("rot.log.2", &log, 0, 4);
    s2 = segment("rot.log.1", &log, 4, 7);
    s3 = segment("rot.log", &log, 7, 9);
    segs_ok(pub1, "9 records, 2 checkpoints verified; seq 8 to 9, after "
                  "the last checkpoint, are unsigned", s1, s2, s3);
    segs_ok(NULL, "9 records, 2 checkpoints not verified: no public key",
            s1, s2, s3);

    /* Right after a checkpoint, and a live file still empty. */
    s1 = segment("ck.log.1", &log, 0, 3);
    s2 = segment("ck.log", &log, 3, 9);
    empty = segment("empty.log", &log, 0, 0);
    segs_ok(pub1, "9 records, 2 checkpoints verified; seq 8 to 9, after "
                  "the last checkpoint, are unsigned", s1, s2, empty);
    segs_ok(pub1, "9 records, 2 checkpoints verified; seq 8 to 9, after "
                  "the last checkpoint, are unsigned", empty, s1, empty, s2);

    /* The unsigned tail spans segments. */
    s1 = segment("tail.log.1", &log, 0, 4);
    s2 = segment("tail.log", &log, 4, 6);
    segs_ok(pub1, "6 records, 1 checkpoints verified; seq 4 to 6, after "
                  "the last checkpoint, are unsigned", s1, s2);

    /* logrotate's compress: a gzip'd segment is read through. */
    gz = path_of("rot.log.2.gz");
    z = gzopen(gz, "wb");
    assert_non_null(z);
    for (i = 0; i < 4; i++) {
        assert_true(gzprintf(z, "%s\n", log.lines[i]) > 0);
    }
    assert_int_equal(gzclose(z), Z_OK);
    s1 = segment("rot.log.1", &log, 4, 7);
    s2 = segment("rot.log", &log, 7, 9);
    segs_ok(pub1, "9 records, 2 checkpoints verified; seq 8 to 9, after "
                  "the last checkpoint, are unsigned", gz, s1, s2);

    /* A damaged one is a read error of that segment, not a verdict. */
    {
        static const char  damaged[] = "\x1f\x8b\x08\0\0\0\0\0\0\x03" "garbage";

        write_raw(gz, damaged, sizeof(damaged) - 1);
    }
    segs_bad(pub1, 0, gz, "read error: invalid block type", gz, s1, s2);
}


static void
rotate_lone(void **state)
{
    log_t   orig, log;
    char   *path;

    (void) state;

    build(&orig, ROTATED, ed1);

    /* The live file alone: verified from its first record, and said so. */
    path = segment("lone.log", &orig, 4, 9);
    segs_ok(pub1, "5 records from seq 5 (the log given begins there: its "
                  "prev is not checked), 1 checkpoints verified; seq 8 to "
                  "9, after the last checkpoint, are unsigned", path);
    verify_ok(path, pub1, "5 records from seq 5 (the log given begins "
                          "there: its prev is not checked), 1 checkpoints "
                          "verified; seq 8 to 9, after the last checkpoint, "
                          "are unsigned");

    /* With a key, a segment without a checkpoint proves nothing. */
    path = segment("lone-unsigned.log", &orig, 7, 9);
    segs_bad(pub1, 0, NULL, "no checkpoint: seq 8 to 9 are not signed", path);
    segs_ok(NULL, "2 records from seq 8 (the log given begins there: its "
                  "prev is not checked), 0 checkpoints not verified: no "
                  "public key", path);

    /* Only the first record's prev is taken on trust, not its content. */
    log = orig;
    edit(&log, 4, "\"identity\":\"alice\"", "\"identity\":\"mallory\"");
    path = segment("lone-edit5.log", &log, 4, 9);
    segs_bad(pub1, 5, path, "edited", path);

    log = orig;
    edit(&log, 5, "\"status\":200", "\"status\":403");
    path = segment("lone-edit6.log", &log, 4, 9);
    segs_bad(NULL, 6, path, "edited", path);

    /* A zero prev claims a chain's start: seq 5 cannot have it. */
    log = orig;
    log.lines[4] = fmt("%.*s%s\"}", (int) (strlen(orig.lines[4]) - 66),
                       orig.lines[4], ZEROS);
    path = segment("lone-zero.log", &log, 4, 9);
    segs_bad(NULL, 1, path, "edited", path);
}


static void
rotate_copytruncate(void **state)
{
    log_t   log;
    char   *s1, *s2, *text, *torn;

    (void) state;

    build(&log, ROTATED, ed1);

    /* Nothing written between the copy and the truncate: it holds. */
    s1 = segment("ct.log.1", &log, 0, 5);
    s2 = segment("ct.log", &log, 5, 9);
    segs_ok(pub1, "9 records, 2 checkpoints verified; seq 8 to 9, after "
                  "the last checkpoint, are unsigned", s1, s2);

    /* seq 6 written in between: lost, and a later checkpoint is no cover. */
    s1 = segment("gap.log.1", &log, 0, 5);
    s2 = segment("gap.log", &log, 6, 9);
    segs_bad(pub1, 6, s2, fmt("missing: %s ends at seq 5 and %s begins at "
                              "seq 7", s1, s2), s1, s2);
    segs_bad(NULL, 6, s2, fmt("missing: %s ends at seq 5 and %s begins at "
                              "seq 7", s1, s2), s1, s2);

    /* Alone, the live file verifies from seq 7; only the set shows a gap. */
    segs_ok(pub1, "3 records from seq 7 (the log given begins there: its "
                  "prev is not checked), 1 checkpoints verified; seq 8 to "
                  "9, after the last checkpoint, are unsigned", s2);

    /* The copy caught seq 6 half written. */
    torn = path_of("torn.log.1");
    text = fmt("%s\n%s\n%s\n%s\n%s\n%.40s", log.lines[0], log.lines[1],
               log.lines[2], log.lines[3], log.lines[4], log.lines[5]);
    write_raw(torn, text, strlen(text));
    segs_bad(pub1, 6, torn, "truncated", torn, s2);
}


static void
rotate_misordered(void **state)
{
    log_t   log, other;
    char   *s1, *s2, *s3, *fresh;

    (void) state;

    build(&log, ROTATED, ed1);
    s1 = segment("mis.log.2", &log, 0, 4);
    s2 = segment("mis.log.1", &log, 4, 7);
    s3 = segment("mis.log", &log, 7, 9);

    /* Newest first: the oldest then looks like a chain starting over. */
    segs_bad(pub1, 1, s1, fmt("new chain: it starts over at seq 1 after seq "
                              "9 in %s" NEW_CHAIN_WHY, s3), s2, s3, s1);

    /* One segment twice, or one left out and given later. */
    segs_bad(pub1, 5, s2, fmt("reordered: it begins at seq 5, but %s ends "
                              "at seq 7: segments overlap or are not oldest "
                              "first", s2), s1, s2, s2, s3);
    segs_bad(pub1, 5, s3, "reordered", s1, s3, s2);
    segs_bad(pub1, 5, s3, fmt("missing: %s ends at seq 4 and %s begins at "
                              "seq 8", s1, s3), s1, s3);

    /* nginx started on an empty file: a second chain. */
    build(&other, "ddc", ed1);
    fresh = segment("fresh.log", &other, 0, 3);
    segs_bad(pub1, 1, fresh, fmt("new chain: it starts over at seq 1 after "
                                 "seq 9 in %s" NEW_CHAIN_WHY, s3),
             s1, s2, s3, fresh);
}


static void
rotate_boundary_edits(void **state)
{
    log_t   orig, log;
    char   *s1, *s2, *gone;

    (void) state;

    build(&orig, ROTATED, ed1);

    /* The last line of a segment: only the next segment holds its hash. */
    log = orig;
    edit(&log, 3, "\"decision\":\"allow\"", "\"decision\":\"deny\"");
    s1 = segment("be.log.1", &log, 0, 4);
    s2 = segment("be.log", &log, 4, 9);
    segs_bad(NULL, 4, s1, "edited", s1, s2);
    segs_ok(NULL, "4 records, 1 checkpoints not verified: no public key",
            s1);

    /* The prev of the first line of the next. */
    log = orig;
    edit(&log, 4, "\"prev\":\"", "\"prev\":\"0");
    log.lines[4][strlen(log.lines[4]) - 3] = '"';
    log.lines[4][strlen(log.lines[4]) - 2] = '}';
    log.lines[4][strlen(log.lines[4]) - 1] = '\0';
    s1 = segment("bp.log.1", &log, 0, 4);
    s2 = segment("bp.log", &log, 4, 9);
    segs_bad(NULL, 5, s2, "edited", s1, s2);

    /* A segment that cannot be opened: no seq is judged. */
    gone = path_of("gone.log");
    segs_bad(pub1, 0, gone, "cannot open: No such file or directory",
             s1, gone, s2);
    segs_bad_(NULL, 0, pub1, 0, NULL, "no log given", __LINE__);
}


/* Caps and bounds: whatever a client sends, the record is written. */

#define ELLIPSIS  "\xe2\x80\xa6"

/* The line bytes of the JSON string after "key":, quotes included. */
static size_t
width_of(const char *line, const char *key)
{
    const char  *p, *q;

    p = strstr(line, fmt(",\"%s\":\"", key));
    if (p == NULL) {
        fail_msg("no string %s in %s", key, line);
    }

    p += strlen(key) + 4;          /* at the opening quote */
    for (q = p + 1; *q != '"'; q++) {
        if (*q == '\\') {
            q++;
        }
    }

    return (size_t) (q - p) + 1;
}


/* Parses a line as the verifier does; the caller json_decref()s. */
static json_t *
parsed(const char *line)
{
    json_error_t  error;
    json_t       *json;

    json = json_loadb(line, strlen(line),
                      JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &error);
    if (json == NULL) {
        fail_msg("not JSON: %s: %.300s", error.text, line);
    }

    return json;
}


static const char *
member(json_t *json, const char *key)
{
    const char  *s = json_string_value(json_object_get(json, key));

    if (s == NULL) {
        fail_msg("no string %s", key);
    }

    return s;
}


/*
 * A fleet's fields: "gateway" right after the stage in every record,
 * checkpoints included (their signature covers it), and "shared" after
 * "enforced" in the decision and response records when Redis was asked.
 * Either is left out when empty, so that a record of one gateway without
 * Redis reads as before.
 */
static void
encode_fleet_fields(void **state)
{
    pprof_audit_record_t  rec;
    char                 *line;
    json_t               *json;

    (void) state;

    decision(&rec);
    rec.gateway = S("gw-eu-1");
    rec.shared = S("ok");
    assert_string_equal(encode(&rec, 1, ZEROS, NULL),
        "{\"v\":1,\"seq\":1,\"ts\":\"2026-11-22T03:45:01.123456Z\","
        "\"audit_id\":\"0123456789abcdef0123456789abcdef\","
        "\"stage\":\"decision\",\"gateway\":\"gw-eu-1\","
        "\"client\":\"192.0.2.7\",\"tls\":\"TLSv1.3\","
        "\"identity\":\"alice\",\"auth\":\"cert\","
        "\"roles\":[\"operator\",\"viewer\"],\"method\":\"GET\","
        "\"path\":\"/debug/pprof/profile\","
        "\"endpoint\":\"profile\",\"class\":\"capture\","
        "\"params\":\"seconds=30\",\"decision\":\"allow\",\"reason\":\"ok\","
        "\"enforced\":true,\"shared\":\"ok\",\"prev\":\"" ZEROS "\"}");

    /* An open decision without Redis, in an authorization check. */
    rec.shared = S("unavailable");
    rec.proxy = S("127.0.0.1");
    assert_non_null(strstr(encode(&rec, 1, ZEROS, NULL),
                           ",\"enforced\":true,\"shared\":\"unavailable\","
                           "\"mode\":\"authz\",\"proxy\":\"127.0.0.1\","
                           "\"prev\":"));

    /* Not asked: no "shared" at all, not null. */
    rec.shared = S("");
    line = encode(&rec, 1, ZEROS, NULL);
    assert_null(strstr(line, "shared"));
    assert_non_null(strstr(line, ",\"stage\":\"decision\","
                                 "\"gateway\":\"gw-eu-1\",\"client\":"));

    /* The response repeats it, before its own fields. */
    response(&rec);
    rec.gateway = S("gw-eu-1");
    rec.shared = S("unavailable");
    assert_non_null(strstr(encode(&rec, 2, ZEROS, NULL),
                           ",\"stage\":\"response\",\"gateway\":\"gw-eu-1\","
                           "\"client\":"));
    assert_non_null(strstr(encode(&rec, 2, ZEROS, NULL),
                           ",\"enforced\":true,\"shared\":\"unavailable\","
                           "\"status\":200,"));

    /* A checkpoint has the gateway but no request fields. */
    checkpoint(&rec, 6);
    rec.gateway = S("gw-eu-1");
    rec.shared = S("ok");
    assert_string_equal(encode(&rec, 7, ZEROS, ""),
        "{\"v\":1,\"seq\":7,\"ts\":\"2026-11-22T03:46:01.123456Z\","
        "\"audit_id\":\"\",\"stage\":\"checkpoint\",\"gateway\":\"gw-eu-1\","
        "\"records\":6,\"signature\":\"\",\"prev\":\"" ZEROS "\"}");

    /* No gateway: the record of version 1 as it always was. */
    decision(&rec);
    assert_null(strstr(encode(&rec, 1, ZEROS, NULL), "gateway"));

    /* A hostile name is escaped like any string, and comes back whole. */
    rec.gateway = S("gw \"eu\\1\" caf\xc3\xa9 \xff\x01");
    line = encode(&rec, 1, ZEROS, NULL);
    assert_non_null(strstr(line, ",\"gateway\":\"gw \\\"eu\\\\1\\\" "
                                 "caf\xc3\xa9 \\u00ff\\u0001\","));
    json = parsed(line);
    assert_string_equal(member(json, "gateway"),
                        "gw \"eu\\1\" caf\xc3\xa9 \xc3\xbf\x01");
    assert_null(json_object_get(json, "truncated"));
    json_decref(json);
}


/* What pprof_gateway_id takes: never cut, never ambiguous. */
static void
gateway_names(void **state)
{
    static const struct {
        const char  *name;
        size_t       len;
        const char  *why;
    } cases[] = {
#define C(name, why)  { name, sizeof(name) - 1, why }
        C("gw-1", NULL),
        C("pod-7f9c.ns.svc.cluster.local", NULL),
        C("a \"quoted\" \\ name", NULL),
        C("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", NULL),
        C("", "is empty"),
        C("gw\n{\"v\":1}", "holds a control character"),
        C("gw\r", "holds a control character"),
        C("\tgw", "holds a control character"),
        C("gw\0x", "holds a control character"),
        C("gw\x1b[31m", "holds a control character"),
        C("gw\x7f", "holds a control character"),
        C("gw\xff", "is not UTF-8"),
        C("gw\xc3", "is not UTF-8"),
        C("gw\xc0\xaf", "is not UTF-8"),
        C("gw\xed\xa0\x80", "is not UTF-8"),
        C("gw\xc2\x85", "holds a control character"),       /* C1: NEL */
        C("gw\xc2\xa0", NULL),                  /* past C1 */
#undef C
    };

    pprof_audit_record_t  rec;
    pprof_str_t           name;
    const char           *why;
    char                  big[PPROF_AUDIT_GATEWAY_MAX + 1], *line;
    size_t                i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        why = pprof_audit_gateway_check(SN(cases[i].name, cases[i].len));

        if (cases[i].why == NULL ? why != NULL
            : why == NULL || strcmp(why, cases[i].why) != 0)
        {
            fail_msg("case %zu: %s", i, why ? why : "taken");
        }
    }

    memset(big, 'g', sizeof(big));
    assert_null(pprof_audit_gateway_check(SN(big, 255)));
    assert_string_equal(pprof_audit_gateway_check(SN(big, 256)),
                        "is longer than 255 bytes");

    /* The longest name of quotes, the most a taken one can take, is whole. */
    memset(big, '"', 255);
    name = SN(big, 255);
    assert_null(pprof_audit_gateway_check(name));
    decision(&rec);
    rec.gateway = name;
    line = encode(&rec, 1, ZEROS, NULL);
    assert_int_equal(width_of(line, "gateway"), 2 + 2 * 255);
    assert_null(strstr(line, "truncated"));
}


static void
encode_cut_at_caps(void **state)
{
    pprof_audit_record_t   rec;
    pprof_str_t            roles[40];
    json_t                *json, *a;
    char                  *line, *big;
    size_t                 i;

    (void) state;

    big = G(malloc(9000));
    memset(big, 'A', 9000);

    /* At its cap a string is whole; a byte more and it is cut. */
    decision(&rec);
    rec.method = SN(big, 62);
    line = encode(&rec, 1, ZEROS, NULL);
    assert_int_equal(width_of(line, "method"), 64);
    assert_null(strstr(line, "truncated"));

    rec.method = SN(big, 63);
    line = encode(&rec, 1, ZEROS, NULL);
    assert_non_null(strstr(line, fmt(",\"method\":\"%.59s" ELLIPSIS "\",",
                                     big)));
    assert_non_null(strstr(line, ",\"truncated\":true,\"prev\":"));

    /* An 8 KB method, path, endpoint, params, client. */
    decision(&rec);
    rec.method = SN(big, 8192);
    rec.path = SN(big, 8192);
    rec.endpoint = SN(big, 8192);
    rec.params = SN(big, 8192);
    rec.client = SN(big, 8192);
    line = encode(&rec, 1, ZEROS, NULL);
    assert_int_equal(width_of(line, "method"), 64);
    assert_int_equal(width_of(line, "path"), 1024);
    assert_int_equal(width_of(line, "endpoint"), 256);
    assert_int_equal(width_of(line, "params"), 256);
    assert_int_equal(width_of(line, "client"), 128);
    json = parsed(line);
    assert_string_equal(member(json, "path"),
                        fmt("%.1019s" ELLIPSIS, big));
    assert_true(json_is_true(json_object_get(json, "truncated")));
    json_decref(json);

    /* Never half an escape: \" is two bytes, \u0001 six. */
    decision(&rec);
    rec.method = S("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                   "\"\"\x01\x01");
    line = encode(&rec, 1, ZEROS, NULL);
    assert_non_null(strstr(line, ",\"method\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAA" ELLIPSIS "\","));
    rec.method = S("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                   "\x01\x01");
    line = encode(&rec, 1, ZEROS, NULL);
    assert_int_equal(width_of(line, "method"), 2 + 55 + 3);

    /* Never half a character: é is two bytes. */
    rec.method = S("A\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                   "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                   "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                   "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                   "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    line = encode(&rec, 1, ZEROS, NULL);
    json = parsed(line);
    assert_string_equal(member(json, "method"),
                        "A\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9" ELLIPSIS);
    json_decref(json);

    /* An identity cut before the encoder ends in the ellipsis, never in
     * the start of a character. */
    decision(&rec);
    rec.identity = S("alice");
    rec.identity_cut = 1;
    line = encode(&rec, 1, ZEROS, NULL);
    assert_non_null(strstr(line, ",\"identity\":\"alice" ELLIPSIS "\","));
    assert_non_null(strstr(line, ",\"truncated\":true,"));
    rec.identity = S("al\xe2\x82");
    line = encode(&rec, 1, ZEROS, NULL);
    assert_non_null(strstr(line, ",\"identity\":\"al" ELLIPSIS "\","));
    rec.identity = S("al\xe2\x82\xac");
    line = encode(&rec, 1, ZEROS, NULL);
    assert_non_null(strstr(line, ",\"identity\":\"al\xe2\x82\xac" ELLIPSIS
                                 "\","));

    /* A long role is cut; roles beyond the array's cap end in "…". */
    decision(&rec);
    roles[0] = SN(big, 300);
    rec.roles = roles;
    rec.nroles = 1;
    json = parsed(encode(&rec, 1, ZEROS, NULL));
    a = json_object_get(json, "roles");
    assert_string_equal(json_string_value(json_array_get(a, 0)),
                        fmt("%.123s" ELLIPSIS, big));
    json_decref(json);

    for (i = 0; i < 40; i++) {
        roles[i] = S(fmt("role-%02zu-%.50s", i, big));
    }
    rec.nroles = 40;
    line = encode(&rec, 1, ZEROS, NULL);
    json = parsed(line);
    a = json_object_get(json, "roles");
    assert_true(json_array_size(a) > 2 && json_array_size(a) < 40);
    for (i = 0; i + 1 < json_array_size(a); i++) {
        assert_string_equal(json_string_value(json_array_get(a, i)),
                            roles[i].data);
    }
    assert_string_equal(json_string_value(json_array_get(a, i)), ELLIPSIS);
    assert_true(json_is_true(json_object_get(json, "truncated")));
    json_decref(json);
    assert_true(strstr(line, ",\"method\":") - strstr(line, ",\"roles\":")
                <= (ptrdiff_t) (strlen(",\"roles\":") + 2048));

    /* Roles that fit are whole, and there is no "…". */
    rec.nroles = 20;
    json = parsed(encode(&rec, 1, ZEROS, NULL));
    assert_int_equal(json_array_size(json_object_get(json, "roles")), 20);
    assert_null(json_object_get(json, "truncated"));
    json_decref(json);
}


/*
 * The encoder takes plain bytes in runs: a run that ends at a unit
 * written another way (an escape, a UTF-8 character, a byte escaped as
 * invalid), on either side of the cap, must give the line the same as
 * one unit at a time.  Every run length up to past the method's cap of
 * 64 line bytes, before every kind of unit, with plain bytes after, is
 * checked against what each unit is known to take.
 */
static void
encode_plain_runs(void **state)
{
    static const struct {
        const char  *in;
        const char  *out;
    } units[] = {
        { "\"", "\\\"" },
        { "\\", "\\\\" },
        { "\x01", "\\u0001" },
        { "\x7f", "\\u007f" },
        { "\xc3\xa9", "\xc3\xa9" },
        { "\xe2\x82\xac", "\xe2\x82\xac" },
        { "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
        { "\xff", "\\u00ff" },
        { "\xc3", "\\u00c3" },
    };
    static const size_t  tails[] = { 0, 1, 4, 70 };

    pprof_audit_record_t   rec;
    char                   in[256], want[512], *line;
    size_t                 run, u, t, k, ulen, olen, w, inlen;

    (void) state;

    for (run = 0; run <= 66; run++) {
        for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
            for (t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
                ulen = strlen(units[u].in);
                olen = strlen(units[u].out);

                memset(in, 'A', run);
                memcpy(in + run, units[u].in, ulen);
                memset(in + run + ulen, 'B', tails[t]);
                inlen = run + ulen + tails[t];

                /* Whole within 64 with its quotes, else cut to 64 - 5
                 * and the ellipsis: whole units only. */
                w = run + olen + tails[t];

                if (w + 2 <= 64) {
                    memcpy(want, in, run);
                    memcpy(want + run, units[u].out, olen);
                    memset(want + run + olen, 'B', tails[t]);
                    want[w] = '\0';

                } else if (run >= 59) {
                    memset(want, 'A', 59);
                    strcpy(want + 59, ELLIPSIS);

                } else if (run + olen > 59) {
                    memset(want, 'A', run);
                    strcpy(want + run, ELLIPSIS);

                } else {
                    memcpy(want, in, run);
                    memcpy(want + run, units[u].out, olen);
                    k = 59 - run - olen;
                    k = k < tails[t] ? k : tails[t];
                    memset(want + run + olen, 'B', k);
                    strcpy(want + run + olen + k, ELLIPSIS);
                }

                decision(&rec);
                rec.method = SN(in, inlen);
                line = encode(&rec, 1, ZEROS, NULL);

                if (strstr(line, fmt(",\"method\":\"%s\",", want)) == NULL) {
                    fail_msg("run %zu, unit %zu, tail %zu: %s", run, u,
                             tails[t], line);
                }

                unit_free_strings();
            }
        }
    }
}


/*
 * The proof that every record is written: each string far over its cap,
 * in plain bytes that fill the cap exactly and in hostile ones that cut
 * at every offset of an escape or a character; thousands of roles; every
 * number at UINT64_MAX.  The line fits, parses, and verifies.
 */
static void
encode_worst_record(void **state)
{
    static const char  hostile[] = "\"\\\x01\x7f\xff\xc3\xa9\xe2\x82\xac"
                                   "\xf0\x9f\x98\x80\xed\xa0\x80" "a";

    pprof_audit_record_t   rec;
    pprof_str_t           *roles, s;
    json_t                *json, *a;
    char                  *text, buf[PPROF_AUDIT_LINE_MAX], *path;
    size_t                 i, off, len, longest = 0;
    int                    stage;

    (void) state;

    text = G(malloc(20000));
    roles = (pprof_str_t *) G(malloc(5000 * sizeof(pprof_str_t)));
    path = path_of("worst.log");

    for (off = 0; off <= sizeof(hostile) - 1; off++) {
        if (off == 0) {
            memset(text, 'a', 20000);
        } else {
            for (i = 0; i < 20000; i++) {
                text[i] = hostile[(i + off) % (sizeof(hostile) - 1)];
            }
        }

        s = SN(text, 20000);
        for (i = 0; i < 5000; i++) {
            roles[i] = SN(text + i % 7, 300 + i % 5);
        }

        for (stage = 0; stage < 2; stage++) {
            memset(&rec, 0, sizeof(rec));
            rec.stage = stage ? PPROF_AUDIT_RESPONSE : PPROF_AUDIT_DECISION;
            rec.time_us = 253402300799999999ULL;
            rec.audit_id = s;
            rec.client = s;
            rec.tls = s;
            rec.identity = s;
            rec.identity_cut = 1;
            rec.auth = s;
            rec.roles = roles;
            rec.nroles = 5000;
            rec.method = s;
            rec.path = s;
            rec.endpoint = s;
            rec.cls = s;
            rec.params = s;
            rec.reason = s;
            rec.enforced = 1;
            rec.proxy = s;
            rec.shared = s;
            rec.gateway = s;
            rec.status = UINT32_MAX;
            rec.bytes = UINT64_MAX;
            rec.sha256 = s;
            rec.duration_ms = UINT64_MAX;
            rec.upstream = s;
            rec.annotation = s;
            rec.redacted = INT64_MAX;
            rec.upstream_status = UINT32_MAX;
            rec.upstream_said = s;

            /* The longest seq, then the first one for a log of one. */
            len = pprof_audit_encode(buf, sizeof(buf), &rec,
                                     PPROF_AUDIT_NUM_MAX, SHA_EMPTY, NULL);
            if (len == 0 || len > PPROF_AUDIT_LINE_MAX - 1) {
                fail_msg("offset %zu stage %d: %zu", off, stage, len);
            }
            longest = len > longest ? len : longest;

            len = pprof_audit_encode(buf, sizeof(buf), &rec, 1, ZEROS,
                                     NULL);
            assert_true(len > 0);

            json = parsed(buf);
            assert_true(json_is_true(json_object_get(json, "truncated")));
            a = json_object_get(json, "roles");
            assert_string_equal(json_string_value(json_array_get(a,
                                    json_array_size(a) - 1)), ELLIPSIS);
            json_decref(json);

            /* As the first line of a log: what pprof-audit verify reads. */
            write_raw(path, fmt("%s\n", buf), len + 1);
            verify_ok(path, NULL, "1 records, 0 checkpoints not verified: "
                                  "no public key");
        }
    }

    /* Plain bytes fill every cap exactly: as long as a record gets. */
    print_message("longest record: %zu bytes of %d\n", longest,
                  PPROF_AUDIT_LINE_MAX - 1);
}


/*
 * Numbers are JSON integers that jansson (int64) and every double-based
 * reader hold exactly: beyond 2^53 - 1 they are written as 2^53 - 1 and
 * the record says truncated.  A log of such records verifies, and a
 * writer resumes from it.
 */
static void
encode_numbers_bounded(void **state)
{
    pprof_audit_record_t   rec;
    log_t                  log;
    json_t                *json;
    char                   buf[PPROF_AUDIT_LINE_MAX], prev[64], *path;
    uint64_t               seq;
    size_t                 len, i;

    (void) state;

    memcpy(prev, ZEROS, PPROF_AUDIT_HASH_HEX);
    log.n = 0;

    for (i = 0; i < 4; i++) {
        if (i < 3) {
            response(&rec);
            rec.bytes = i == 0 ? UINT64_MAX : 9223372036854775808ULL;
            rec.duration_ms = i == 1 ? UINT64_MAX : PPROF_AUDIT_NUM_MAX;
            rec.redacted = i == 2 ? INT64_MAX : 0;
            len = pprof_audit_encode(buf, sizeof(buf), &rec, i + 1, prev,
                                     NULL);
        } else {
            checkpoint(&rec, UINT64_MAX);
            len = pprof_audit_checkpoint(buf, sizeof(buf), &rec, i + 1, prev,
                                         ed1);
        }
        assert_true(len > 0);

        json = parsed(buf);
        assert_true(json_is_true(json_object_get(json, "truncated")));
        if (i < 3) {
            assert_int_equal(json_integer_value(json_object_get(json,
                                                               "bytes")),
                             PPROF_AUDIT_NUM_MAX);
            assert_int_equal(json_integer_value(json_object_get(json,
                                                           "duration_ms")),
                             PPROF_AUDIT_NUM_MAX);
        } else {
            assert_int_equal(json_integer_value(json_object_get(json,
                                                               "records")),
                             PPROF_AUDIT_NUM_MAX);
        }
        json_decref(json);

        log.lines[log.n++] = fmt("%s", buf);
        pprof_audit_hash(buf, len, prev);
    }

    /* The value at the bound is not cut. */
    response(&rec);
    rec.bytes = PPROF_AUDIT_NUM_MAX;
    rec.duration_ms = PPROF_AUDIT_NUM_MAX;
    rec.redacted = PPROF_AUDIT_NUM_MAX;
    assert_null(strstr(encode(&rec, 1, ZEROS, NULL), "truncated"));

    path = write_log("numbers.log", &log);
    verify_ok(path, pub1, "4 records, 1 checkpoints verified");
    head(path, 0, 4, log.lines[3]);

    /* The last seq a log can hold: the head reads it, the next is refused. */
    response(&rec);
    len = pprof_audit_encode(buf, sizeof(buf), &rec, PPROF_AUDIT_NUM_MAX,
                             ZEROS, NULL);
    assert_true(len > 0);
    path = path_of("last-seq.log");
    write_raw(path, fmt("%s\n", buf), len + 1);
    assert_int_equal(pprof_audit_head(path, &seq, prev, buf, 256), 0);
    assert_int_equal(seq, PPROF_AUDIT_NUM_MAX);
    assert_int_equal(pprof_audit_encode(buf, sizeof(buf), &rec, seq + 1, prev,
                                        NULL), 0);
}


/* Fixtures. */

static EVP_PKEY *
public_of(EVP_PKEY *key)
{
    EVP_PKEY  *pub;
    char      *pem;
    BIO       *bio;

    pem = jwt_pem_public(key);
    if (pem == NULL) {
        return NULL;
    }

    bio = BIO_new_mem_buf(pem, -1);
    pub = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    free(pem);
    return pub;
}


static int
setup(void **state)
{
    (void) state;

    ed1 = jwt_keygen_ed25519();
    ed2 = jwt_keygen_ed25519();
    ec = jwt_keygen_ec("P-256");
    if (ed1 == NULL || ed2 == NULL || ec == NULL) {
        return -1;
    }

    pub1 = public_of(ed1);
    pub2 = public_of(ed2);
    if (pub1 == NULL || pub2 == NULL) {
        return -1;
    }

    return mkdtemp(tmpdir) ? 0 : -1;
}


static int
teardown(void **state)
{
    (void) state;

    EVP_PKEY_free(ed1);
    EVP_PKEY_free(ed2);
    EVP_PKEY_free(pub1);
    EVP_PKEY_free(pub2);
    EVP_PKEY_free(ec);
    rmdir(tmpdir);
    return 0;
}


int
main(void)
{
#define T(f)  cmocka_unit_test_teardown(f, cleanup)
    const struct CMUnitTest  tests[] = {
        T(encode_decision),
        T(encode_response),
        T(encode_checkpoint),
        T(encode_fleet_fields),
        T(gateway_names),
        T(encode_escaping),
        T(encode_always_json),
        T(encode_timestamps),
        T(encode_refusals),
        T(hash_known),
        T(hash_body),
        T(chain_three),
        T(checkpoints_signed),
        T(tamper_edit),
        T(tamper_delete),
        T(tamper_reorder),
        T(tamper_truncate),
        T(tamper_forge),
        T(verify_lines),
        T(verify_big),
        T(head_cases),
        T(encode_cut_at_caps),
        T(encode_plain_runs),
        T(encode_worst_record),
        T(encode_numbers_bounded),

        /* Rotated segments. */
        T(rotate_rename),
        T(rotate_lone),
        T(rotate_copytruncate),
        T(rotate_misordered),
        T(rotate_boundary_edits),
    };
#undef T

    return cmocka_run_group_tests_name("audit", tests, setup, teardown);
}
