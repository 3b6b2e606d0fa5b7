/*
 * The Redis keys and the script's reply of a shared admission
 * (policy/shared.c).
 *
 * Input: the key prefix as a field; two values A and B, each a repeated
 * field (see fz_repeated); the endpoint as a field; then eight 64-bit
 * integers, a reply; then a byte whose bits 0 and 1 make A's and B's
 * target a location's own.  A and B each serve as the target, the
 * identity and the owner of one admission.  Asserts that with a prefix of
 * up to 64 bytes the command always fits; that every key is printable
 * ASCII with exactly one brace pair, the target's, closed before the
 * first ':' that follows; that the two admissions' keys are equal exactly
 * when A and B are and both or neither are a location's own, their owners
 * exactly when A and B are; and that a reply accepted is one the script could
 * give: retries only with denials, a lease only with a granted slot, and
 * one whenever every stage granted.
 */

#include <string.h>

#include "fuzz.h"


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    return 0;
}


static int
arg_equal(const pprof_shared_cmd_t *a, const pprof_shared_cmd_t *b, int i)
{
    return a->argvlen[i] == b->argvlen[i]
           && memcmp(a->argv[i], b->argv[i], a->argvlen[i]) == 0;
}


/* <escaped prefix>{<tag>}:<rest>, all printable, one brace pair. */
static void
check_key(const char *key, size_t len, size_t *tag_at, size_t *tag_len)
{
    size_t  i, open, close;

    open = len;
    close = len;

    for (i = 0; i < len; i++) {
        FZ_CHECK(key[i] > 0x20 && key[i] < 0x7f);

        if (key[i] == '{') {
            FZ_CHECK(open == len);
            open = i;

        } else if (key[i] == '}') {
            FZ_CHECK(open != len && close == len);
            close = i;
        }
    }

    FZ_CHECK(open < close && close < len - 1 && key[close + 1] == ':');

    *tag_at = open + 1;
    *tag_len = close - open - 1;
}


static int
admit(pprof_str_t prefix, pprof_str_t value, int own, pprof_str_t endpoint,
    pprof_shared_cmd_t *cmd)
{
    pprof_decision_t       d;
    pprof_shared_key_t     key;
    pprof_pipeline_conf_t  conf;

    memset(&conf, 0, sizeof(conf));
    conf.enforce = 1;
    conf.concurrency = 1;
    conf.rates[PPROF_CLASS_CAPTURE] = pprof_rate_default(PPROF_CLASS_CAPTURE);
    conf.budget.limit = 300000;
    conf.budget.window = 3600000;

    memset(&d, 0, offsetof(pprof_decision_t, location));
    d.endpoint.name = endpoint;
    d.endpoint.cls = PPROF_CLASS_CAPTURE;
    d.identity = value;
    d.params.seconds_us = 30000000;

    key.prefix = prefix;
    key.target = value;
    key.token = value;
    key.own = own;
    key.windows = NULL;
    key.nwindows = 0;

    return pprof_shared_admit_cmd(&conf, &d, &key,
                                  "0123456789abcdef0123456789abcdef01234567",
                                  cmd);
}


static void
check_answer(fz_t *in)
{
    size_t                 i;
    long long              v[PPROF_SHARED_REPLY_LEN];
    const char            *err = NULL;
    pprof_shared_answer_t  a;

    for (i = 0; i < PPROF_SHARED_REPLY_LEN; i++) {
        v[i] = (long long) fz_u64(in);
    }

    /* Small values too, so that valid replies are not a needle. */
    if (v[0] == 0) {
        v[0] = PPROF_SHARED_MAGIC;
    }

    if (pprof_shared_answer(v, PPROF_SHARED_REPLY_LEN, &a, &err) != 0) {
        FZ_CHECK(err != NULL);
        return;
    }

    FZ_CHECK(v[0] == PPROF_SHARED_MAGIC);
    FZ_CHECK((a.rate == PPROF_OK) == (a.rate_retry == 0));
    FZ_CHECK((a.slot == PPROF_OK) == (a.slot_retry == 0));
    FZ_CHECK((a.budget == PPROF_OK) == (a.budget_retry == 0));
    FZ_CHECK(a.rate == PPROF_OK || a.rate == PPROF_RATE_LIMITED);
    FZ_CHECK(a.slot == PPROF_OK || a.slot == PPROF_CAPTURE_BUSY);
    FZ_CHECK(a.budget == PPROF_OK || a.budget == PPROF_BUDGET_EXHAUSTED);
    FZ_CHECK(a.rate_retry <= PPROF_SHARED_RETRY_MAX);
    FZ_CHECK(a.slot_retry <= PPROF_SHARED_RETRY_MAX);
    FZ_CHECK(a.budget_retry <= PPROF_SHARED_RETRY_MAX);
    FZ_CHECK(a.leased == 0 || a.leased == 1);
    FZ_CHECK(!a.leased || a.slot == PPROF_OK);
    FZ_CHECK(a.leased || a.rate != PPROF_OK || a.slot != PPROF_OK
             || a.budget != PPROF_OK);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                 i, same, same_key, rc;
    uint8_t             own;
    fz_t                in = { data, size };
    size_t              at[2], len[2], k;
    pprof_str_t         prefix, a, b, endpoint;
    pprof_shared_cmd_t  ca, cb;
    static uint8_t      abuf[4096], bbuf[4096];

    prefix = fz_field(&in);
    a = fz_repeated(&in, abuf, sizeof(abuf));
    b = fz_repeated(&in, bbuf, sizeof(bbuf));
    endpoint = fz_field(&in);

    if (endpoint.len == 0) {
        endpoint.data = (const unsigned char *) "profile";
        endpoint.len = 7;
    }

    check_answer(&in);
    own = fz_u8(&in);

    rc = admit(prefix, a, own & 1, endpoint, &ca);
    FZ_CHECK(rc == 0 || rc == -1);
    FZ_CHECK(rc == 0 || a.len == 0 || prefix.len > 64);

    if (rc == 0 && admit(prefix, b, (own >> 1) & 1, endpoint, &cb) == 0) {
        same = a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
        same_key = same && (own & 1) == ((own >> 1) & 1);

        for (i = 3; i <= 6; i++) {
            for (k = 0; k < 2; k++) {
                const pprof_shared_cmd_t  *c = k ? &cb : &ca;

                check_key(c->argv[i], c->argvlen[i], &at[k], &len[k]);
            }

            /* The tag is the target, and only it. */
            FZ_CHECK((len[0] == len[1]
                      && memcmp(ca.argv[i] + at[0], cb.argv[i] + at[1],
                                len[0]) == 0)
                     == same_key);

            /* The budget's key is the target's; the others tell A too. */
            FZ_CHECK(arg_equal(&ca, &cb, i) == same_key);
        }

        FZ_CHECK(arg_equal(&ca, &cb, 9) == same);           /* the owner */
    }

    return 0;
}
