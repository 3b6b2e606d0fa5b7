/*
 * The shared admission's core without Redis: the commands' arguments and
 * keys (escaping, hashing, bounds), the reply's validation against
 * hostile arrays, and the decisions the pipeline makes from a reply, from
 * the gateway's own slot, and when Redis did not answer.
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "unit.h"


#define NOW  5000000

/* The gateway's own store: one rate state, one endpoint's slots, a budget. */
typedef struct {
    pprof_rate_state_t    rate;
    pprof_lease_t         slots[4];
    pprof_budget_state_t  budget;
    int                   locked;
    unsigned              calls;
    pprof_reason_t        fail;
    uint64_t              next_lease;
} local_t;

enum { CALL_RATE = 1, CALL_ACQUIRE = 2, CALL_RELEASE = 4, CALL_BUDGET = 8 };


static void
local_lock(void *data)
{
    local_t *l = data;

    assert_int_equal(l->locked, 0);
    l->locked = 1;
}


static void
local_unlock(void *data)
{
    local_t *l = data;

    assert_int_equal(l->locked, 1);
    l->locked = 0;
}


static pprof_reason_t
local_rate(void *data, pprof_class_t cls, pprof_str_t identity,
    const pprof_rate_t *rate, uint64_t now, uint64_t *retry_after)
{
    local_t *l = data;

    (void) cls;
    (void) identity;

    assert_int_equal(l->locked, 1);
    l->calls |= CALL_RATE;

    return pprof_rate_take(&l->rate, rate, now, retry_after);
}


static pprof_reason_t
local_acquire(void *data, pprof_str_t endpoint, size_t concurrency,
    uint64_t now, uint64_t duration, uint64_t *lease, uint64_t *retry_after)
{
    local_t *l = data;

    assert_int_equal(l->locked, 1);
    assert_true(endpoint.len > 0);
    l->calls |= CALL_ACQUIRE;

    if (l->fail) {
        return l->fail;
    }

    *lease = ++l->next_lease;

    return pprof_slots_acquire(l->slots, concurrency, now, duration, *lease,
                               retry_after);
}


static void
local_release(void *data, pprof_str_t endpoint, uint64_t lease)
{
    local_t *l = data;

    assert_int_equal(l->locked, 1);
    assert_true(endpoint.len > 0);
    l->calls |= CALL_RELEASE;

    assert_int_equal(pprof_slots_release(l->slots, 4, lease), 1);
}


static pprof_reason_t
local_budget(void *data, const pprof_budget_t *budget, uint64_t now,
    uint64_t amount, uint64_t *retry_after)
{
    local_t *l = data;

    assert_int_equal(l->locked, 1);
    l->calls |= CALL_BUDGET;

    return pprof_budget_take(&l->budget, budget, now, amount, retry_after);
}


static const pprof_store_ops_t  local_ops = {
    local_lock, local_unlock, local_rate, local_acquire, local_release,
    local_budget
};


static size_t
live(const local_t *l)
{
    return pprof_slots_live(l->slots, 4);
}


/* A request that passes stages 1-6: alice, an operator, over TLS. */
static pprof_role_t  roles[1];


static void
authenticate(void *data, pprof_who_t *who)
{
    (void) data;

    who->reason = PPROF_OK;
    who->identity = S("alice");
    who->source = S("cert");
}


static void *
alloc(void *data, size_t size)
{
    static unsigned char  arena[256];

    (void) data;
    assert_true(size <= sizeof(arena));

    return arena;
}


static void
setup(pprof_pipeline_conf_t *conf, pprof_request_t *req, const char *uri,
    const char *args)
{
    static pprof_bind_t  bind;
    static pprof_str_t   operator = { (const unsigned char *) "operator", 8 };

    roles[0].name = S("operator");
    roles[0].classes = 1u << PPROF_CLASS_CAPTURE | 1u << PPROF_CLASS_SNAPSHOT;

    memset(&bind, 0, sizeof(bind));
    bind.pattern = S("alice");
    bind.roles = &operator;
    bind.nroles = 1;

    memset(conf, 0, sizeof(pprof_pipeline_conf_t));
    conf->enforce = 1;
    conf->prefix = S("/debug/pprof/");
    conf->tls = PPROF_TLS_MODE_REQUIRED;
    conf->binds = &bind;
    conf->nbinds = 1;
    conf->max_held = 1;
    conf->roles = roles;
    conf->nroles = 1;
    conf->max_seconds = 60;
    conf->rates[PPROF_CLASS_CAPTURE].rate = 1000;
    conf->rates[PPROF_CLASS_CAPTURE].burst = 0;
    conf->rates[PPROF_CLASS_SNAPSHOT].rate = 1000;
    conf->concurrency = 1;
    conf->budget.limit = 100000;
    conf->budget.window = 3600000;

    memset(req, 0, sizeof(pprof_request_t));
    req->method = PPROF_METHOD_GET;
    req->uri = S(uri);
    req->args = S(args);
    req->tls = 1;
    req->now = NOW;
    req->authenticate = authenticate;
    req->alloc = alloc;
}


static void
setup_store(pprof_shared_store_t *ss, local_t *l)
{
    memset(l, 0, sizeof(local_t));
    memset(ss, 0, sizeof(pprof_shared_store_t));
    ss->local = &local_ops;
    ss->local_store = l;
}


static const pprof_shared_key_t  key = {
    { (const unsigned char *) "pprof:", 6 },
    { (const unsigned char *) "svc-a", 5 },
    { (const unsigned char *) "gw1-0123", 8 },
    0, NULL, 0
};

#define SHA1  "0123456789abcdef0123456789abcdef01234567"


static void
assert_arg(const pprof_shared_cmd_t *cmd, int i, const char *want)
{
    assert_true(i < cmd->argc);
    assert_int_equal(cmd->argvlen[i], strlen(want));
    assert_memory_equal(cmd->argv[i], want, strlen(want));
}


/* A capture of profile?seconds=30 by alice, after stages 1-6. */
static void
capture(pprof_pipeline_conf_t *conf, pprof_request_t *req,
    pprof_decision_t *d)
{
    setup(conf, req, "/debug/pprof/profile", "seconds=30");
    assert_int_equal(pprof_pipeline_check(conf, req, d), 1);
}


static void
script_sha1(void **state)
{
    char    sha1[PPROF_SHARED_SHA1_HEX + 1];
    size_t  i;

    (void) state;

    memset(sha1, 'x', sizeof(sha1));
    assert_int_equal(pprof_shared_script_sha1(sha1), 0);
    assert_int_equal(strlen(sha1), PPROF_SHARED_SHA1_HEX);

    for (i = 0; i < PPROF_SHARED_SHA1_HEX; i++) {
        assert_true((sha1[i] >= '0' && sha1[i] <= '9')
                    || (sha1[i] >= 'a' && sha1[i] <= 'f'));
    }

    /* The magic the answer checks is the one in the script's text. */
    assert_non_null(strstr(pprof_shared_script, "local MAGIC = 1347441201\n"));
}


static void
admit_argv(void **state)
{
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_shared_cmd_t     cmd;
    pprof_pipeline_conf_t  conf;

    (void) state;

    capture(&conf, &req, &d);

    assert_int_equal(pprof_shared_admit_cmd(&conf, &d, &key, SHA1, &cmd), 0);
    assert_int_equal(cmd.argc, 19);
    assert_arg(&cmd, 0, "EVALSHA");
    assert_arg(&cmd, 1, SHA1);
    assert_arg(&cmd, 2, "4");
    assert_arg(&cmd, 3, "pprof:{svc-a}:rate:capture:alice");
    assert_arg(&cmd, 4, "pprof:{svc-a}:slots:profile");
    assert_arg(&cmd, 5, "pprof:{svc-a}:tomb:gw1-0123");
    assert_arg(&cmd, 6, "pprof:{svc-a}:budget:3600000");
    assert_arg(&cmd, 7, "admit");
    assert_arg(&cmd, 8, "1");
    assert_arg(&cmd, 9, "gw1-0123");
    assert_arg(&cmd, 10, "1000");
    assert_arg(&cmd, 11, "0");
    assert_arg(&cmd, 12, "1");
    assert_arg(&cmd, 13, "30000");
    assert_arg(&cmd, 14, "0");
    assert_arg(&cmd, 15, "100000");
    assert_arg(&cmd, 16, "3600000");
    assert_arg(&cmd, 17, "60");
    assert_arg(&cmd, 18, "15000");

    /* Other window lengths: a key and a length each, the own one once. */
    {
        pprof_shared_key_t     k = key;
        static const uint64_t  windows[] = { 86400000, 3600000, 600000 };

        k.windows = windows;
        k.nwindows = 3;
        assert_int_equal(pprof_shared_admit_cmd(&conf, &d, &k, SHA1, &cmd),
                         0);
        assert_int_equal(cmd.argc, 23);
        assert_arg(&cmd, 2, "6");
        assert_arg(&cmd, 6, "pprof:{svc-a}:budget:3600000");
        assert_arg(&cmd, 7, "pprof:{svc-a}:budget:86400000");
        assert_arg(&cmd, 8, "pprof:{svc-a}:budget:600000");
        assert_arg(&cmd, 20, "15000");
        assert_arg(&cmd, 21, "86400000");
        assert_arg(&cmd, 22, "600000");

        /* A location without a budget charges none. */
        conf.budget.limit = 0;
        assert_int_equal(pprof_shared_admit_cmd(&conf, &d, &k, SHA1, &cmd),
                         0);
        assert_int_equal(cmd.argc, 19);
        conf.budget.limit = 100000;
    }

    /* A dry run, answering a proxy's check: the lease is held to expiry. */
    conf.enforce = 0;
    conf.authz = 1;
    assert_int_equal(pprof_shared_admit_cmd(&conf, &d, &key, SHA1, &cmd), 0);
    assert_arg(&cmd, 8, "0");
    assert_arg(&cmd, 14, "1");

    /* Without the SHA-1, EVAL with the text itself (after NOSCRIPT). */
    assert_int_equal(pprof_shared_admit_cmd(&conf, &d, &key, NULL, &cmd), 0);
    assert_int_equal(cmd.argc, 19);
    assert_arg(&cmd, 0, "EVAL");
    assert_ptr_equal(cmd.argv[1], pprof_shared_script);
    assert_int_equal(cmd.argvlen[1], strlen(pprof_shared_script));
    assert_arg(&cmd, 3, "pprof:{svc-a}:rate:capture:alice");
}


static void
release_argv(void **state)
{
    pprof_shared_cmd_t  cmd;

    (void) state;

    assert_int_equal(pprof_shared_release_cmd(S("trace"), 5000, 0, &key,
                                              SHA1, &cmd), 0);
    assert_int_equal(cmd.argc, 9);
    assert_arg(&cmd, 0, "EVALSHA");
    assert_arg(&cmd, 1, SHA1);
    assert_arg(&cmd, 2, "2");
    assert_arg(&cmd, 3, "pprof:{svc-a}:slots:trace");
    assert_arg(&cmd, 4, "pprof:{svc-a}:tomb:gw1-0123");
    assert_arg(&cmd, 5, "release");
    assert_arg(&cmd, 6, "gw1-0123");
    assert_arg(&cmd, 7, "20000");              /* the lease's length */
    assert_arg(&cmd, 8, "0");                  /* freed now */

    /* A capture given up: the lease settles for the target. */
    assert_int_equal(pprof_shared_release_cmd(S("trace"), 5000,
                                              PPROF_CAPTURE_SETTLE, &key,
                                              SHA1, &cmd), 0);
    assert_int_equal(cmd.argc, 9);
    assert_arg(&cmd, 5, "release");
    assert_arg(&cmd, 6, "gw1-0123");
    assert_arg(&cmd, 7, "20000");
    assert_arg(&cmd, 8, "1000");

    assert_int_equal(pprof_shared_release_cmd(S("trace"), 5000,
                                              PPROF_CAPTURE_SETTLE, &key,
                                              NULL, &cmd), 0);
    assert_int_equal(cmd.argc, 9);
    assert_arg(&cmd, 0, "EVAL");
    assert_ptr_equal(cmd.argv[1], pprof_shared_script);
    assert_arg(&cmd, 8, "1000");
}


/* The slots key of k's and endpoint, as a NUL-terminated string. */
static void
slots_key_of(const pprof_shared_key_t *k, char *out, size_t cap)
{
    pprof_shared_cmd_t  cmd;

    assert_int_equal(pprof_shared_release_cmd(S("profile"), 1000, 0, k, SHA1,
                                              &cmd), 0);
    assert_true(cmd.argvlen[3] < cap);
    memcpy(out, cmd.argv[3], cmd.argvlen[3]);
    out[cmd.argvlen[3]] = '\0';
}


static void
slots_key(pprof_str_t target, pprof_str_t token, char *out, size_t cap)
{
    pprof_shared_key_t  k = key;

    k.target = target;
    k.token = token;

    slots_key_of(&k, out, cap);
}


static void
key_escaping(void **state)
{
    char         a[512], b[512];
    const char  *p;

    (void) state;

    slots_key(S("a:b"), S("t"), a, sizeof(a));
    assert_string_equal(a, "pprof:{a%3Ab}:slots:profile");

    slots_key(S("a%3Ab"), S("t"), b, sizeof(b));
    assert_string_equal(b, "pprof:{a%253Ab}:slots:profile");

    /* A target cannot close the hash tag early or open another. */
    slots_key(S("x}:slots:y{"), S("t"), a, sizeof(a));
    assert_string_equal(a, "pprof:{x%7D%3Aslots%3Ay%7B}:slots:profile");

    slots_key(SN("n\0l \x7f\xff", 6), S("t"), a, sizeof(a));
    assert_string_equal(a, "pprof:{n%00l%20%7F%FF}:slots:profile");

    /* A prefix keeps its ':' but not braces that would move the tag. */
    {
        pprof_shared_cmd_t  cmd;
        pprof_shared_key_t  k = key;

        k.prefix = S("t{en}:");
        assert_int_equal(pprof_shared_release_cmd(S("profile"), 1000, 0, &k,
                                                  SHA1, &cmd), 0);
        assert_arg(&cmd, 3, "t%7Ben%7D:{svc-a}:slots:profile");
    }

    /* The owner, in a key and as the lease's field, escaped alike. */
    {
        pprof_shared_cmd_t  cmd;
        pprof_shared_key_t  k = key;

        k.token = S("gw:1");
        assert_int_equal(pprof_shared_release_cmd(S("profile"), 1000, 0, &k,
                                                  SHA1, &cmd), 0);
        assert_arg(&cmd, 4, "pprof:{svc-a}:tomb:gw%3A1");
        assert_arg(&cmd, 6, "gw%3A1");
    }

    /* Exactly one tag in every key. */
    slots_key(S("{{}}"), S("t"), a, sizeof(a));
    p = strchr(a, '{');
    assert_non_null(p);
    assert_null(strchr(p + 1, '{'));
    assert_ptr_equal(strchr(a, '}'), strrchr(a, '}'));
}


static void
key_hashing(void **state)
{
    char           a[512], b[512], c[512];
    unsigned char  big[PPROF_TARGET_MAX];

    (void) state;

    /* 128 escaped bytes stay as they are; one more is hashed. */
    memset(big, 'x', sizeof(big));
    slots_key(SN((char *) big, 128), S("t"), a, sizeof(a));
    assert_int_equal(strlen(a), strlen("pprof:{}:slots:profile") + 128);

    slots_key(SN((char *) big, 129), S("t"), a, sizeof(a));
    assert_int_equal(strlen(a), strlen("pprof:{%#}:slots:profile") + 64);
    assert_memory_equal(a, "pprof:{%#", 9);

    slots_key(SN((char *) big, 130), S("t"), b, sizeof(b));
    assert_string_not_equal(a, b);

    /* A target that reads like a hash is escaped, so it is not one. */
    memcpy(c, a + 7, 66);
    slots_key(SN(c, 66), S("t"), b, sizeof(b));
    assert_string_not_equal(a, b);
    assert_memory_equal(b, "pprof:{%25#", 11);

    /* 43 bytes that escape to 129 are hashed too. */
    memset(big, 0xff, sizeof(big));
    slots_key(SN((char *) big, 43), S("t"), a, sizeof(a));
    assert_memory_equal(a, "pprof:{%#", 9);
}


/*
 * A location without pprof_target is its own target, named by its server
 * and location; no pprof_target value, whatever a variable or a client
 * put in it, may name that location's state, nor the other way round.
 */
static void
key_own(void **state)
{
    char                   a[512], b[512];
    unsigned char          big[PPROF_TARGET_MAX];
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_shared_cmd_t     cmd;
    pprof_shared_key_t     own = key, named = key;
    pprof_pipeline_conf_t  conf;

    (void) state;

    own.own = 1;

    own.target = S("srv /debug/pprof/");
    named.target = S("srv /debug/pprof/");
    slots_key_of(&own, a, sizeof(a));
    slots_key_of(&named, b, sizeof(b));
    assert_string_equal(a, "pprof:{@srv%20/debug/pprof/}:slots:profile");
    assert_string_equal(b, "pprof:{srv%20/debug/pprof/}:slots:profile");

    /* A value that copies the marker has it escaped. */
    named.target = S("@srv /debug/pprof/");
    slots_key_of(&named, b, sizeof(b));
    assert_string_equal(b, "pprof:{%40srv%20/debug/pprof/}:slots:profile");
    assert_string_not_equal(a, b);

    /* Only in first place: elsewhere '@' is a plain byte, as before. */
    named.target = S("a@b");
    slots_key_of(&named, b, sizeof(b));
    assert_string_equal(b, "pprof:{a@b}:slots:profile");

    own.target = S("@x");
    slots_key_of(&own, a, sizeof(a));
    assert_string_equal(a, "pprof:{@@x}:slots:profile");
    named.target = S("@@x");
    slots_key_of(&named, b, sizeof(b));
    assert_string_equal(b, "pprof:{%40@x}:slots:profile");

    /* Hashed names keep the marker outside the hash. */
    memset(big, 'x', sizeof(big));
    own.target = SN((char *) big, 129);
    named.target = SN((char *) big, 129);
    slots_key_of(&own, a, sizeof(a));
    slots_key_of(&named, b, sizeof(b));
    assert_memory_equal(a, "pprof:{@%#", 10);
    assert_memory_equal(b, "pprof:{%#", 9);
    assert_string_equal(a + 8, b + 7);

    /* 126 bytes after an escaped '@' are 129: hashed, not the location. */
    big[0] = '@';
    named.target = SN((char *) big, 127);
    own.target = SN((char *) big + 1, 126);
    slots_key_of(&named, b, sizeof(b));
    slots_key_of(&own, a, sizeof(a));
    assert_memory_equal(b, "pprof:{%#", 9);
    assert_memory_equal(a, "pprof:{@xxx", 11);

    /* Every key of an admission, and of its release, carries the marker. */
    capture(&conf, &req, &d);
    own.target = S("svc-a");
    assert_int_equal(pprof_shared_admit_cmd(&conf, &d, &own, SHA1, &cmd), 0);
    assert_arg(&cmd, 3, "pprof:{@svc-a}:rate:capture:alice");
    assert_arg(&cmd, 4, "pprof:{@svc-a}:slots:profile");
    assert_arg(&cmd, 5, "pprof:{@svc-a}:tomb:gw1-0123");
    assert_arg(&cmd, 6, "pprof:{@svc-a}:budget:3600000");

    assert_int_equal(pprof_shared_release_cmd(S("trace"), 5000, 0, &own, SHA1,
                                              &cmd), 0);
    assert_arg(&cmd, 3, "pprof:{@svc-a}:slots:trace");
    assert_arg(&cmd, 4, "pprof:{@svc-a}:tomb:gw1-0123");

    /* An empty name is still nothing to ask, own or not. */
    own.target = S("");
    assert_int_equal(pprof_shared_admit_cmd(&conf, &d, &own, SHA1, &cmd), -1);
    assert_int_equal(pprof_shared_release_cmd(S("trace"), 5000, 0, &own, SHA1,
                                              &cmd), -1);
}


/* The longest of every part fits; a prefix beyond reason does not. */
static void
cmd_bounds(void **state)
{
    int                    rc;
    char                  *huge;
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_shared_cmd_t     cmd;
    pprof_shared_key_t     k;
    pprof_pipeline_conf_t  conf;
    unsigned char          target[PPROF_TARGET_MAX];
    unsigned char          name[PPROF_ENDPOINT_NAME_MAX];
    size_t                 i;

    (void) state;

    huge = malloc(100000);
    assert_non_null(huge);
    memset(huge, 0x01, 100000);
    memset(target, '}', sizeof(target));
    memset(name, ':', sizeof(name));

    capture(&conf, &req, &d);
    d.identity = SN(huge, 100000);
    d.endpoint.name = SN((char *) name, sizeof(name));

    memset(&k, 0, sizeof(k));
    k.prefix = SN(huge, 64);
    k.target = SN((char *) target, sizeof(target));
    k.token = SN(huge, 1000);

    assert_int_equal(pprof_shared_admit_cmd(&conf, &d, &k, SHA1, &cmd), 0);

    for (i = 0; i < (size_t) cmd.argc; i++) {
        assert_true(cmd.argvlen[i] < 400);
    }

    assert_int_equal(pprof_shared_release_cmd(d.endpoint.name, 1000, 0, &k,
                                              SHA1, &cmd), 0);

    /* Everything in the buffer, or -1. */
    memset(huge, 'p', 2100);
    k.prefix = SN(huge, 1100);
    assert_int_equal(pprof_shared_admit_cmd(&conf, &d, &k, SHA1, &cmd), -1);
    assert_int_equal(pprof_shared_release_cmd(d.endpoint.name, 1000, 0, &k,
                                              SHA1, &cmd), 0);
    k.prefix = SN(huge, 2100);
    assert_int_equal(pprof_shared_release_cmd(d.endpoint.name, 1000, 0, &k,
                                              SHA1, &cmd), -1);

    /* More window lengths than a command takes. */
    {
        uint64_t  windows[PPROF_SHARED_WINDOWS_MAX + 2];

        k.prefix = S("p:");
        for (i = 0; i < PPROF_SHARED_WINDOWS_MAX + 2; i++) {
            windows[i] = 1000 * (i + 1);
        }

        windows[0] = conf.budget.window;
        k.windows = windows;
        k.nwindows = PPROF_SHARED_WINDOWS_MAX + 1;
        assert_int_equal(pprof_shared_admit_cmd(&conf, &d, &k, SHA1, &cmd),
                         0);
        k.nwindows = PPROF_SHARED_WINDOWS_MAX + 2;
        assert_int_equal(pprof_shared_admit_cmd(&conf, &d, &k, SHA1, &cmd),
                         -1);
        k.nwindows = 0;
    }

    /* Numbers that Lua's doubles could not hold exactly. */
    k.prefix = S("p:");
    conf.budget.window = (uint64_t) 1 << 53;
    assert_int_equal(pprof_shared_admit_cmd(&conf, &d, &k, SHA1, &cmd), -1);
    conf.budget.window = ((uint64_t) 1 << 53) - 1;
    assert_int_equal(pprof_shared_admit_cmd(&conf, &d, &k, SHA1, &cmd), 0);
    assert_int_equal(pprof_shared_release_cmd(d.endpoint.name,
                                              UINT64_MAX - 1, 0, &k, SHA1,
                                              &cmd), -1);
    assert_int_equal(pprof_shared_release_cmd(d.endpoint.name, 1000,
                                              ((uint64_t) 1 << 53) - 1, &k,
                                              SHA1, &cmd), 0);
    assert_arg(&cmd, 8, "9007199254740991");
    assert_int_equal(pprof_shared_release_cmd(d.endpoint.name, 1000,
                                              (uint64_t) 1 << 53, &k, SHA1,
                                              &cmd), -1);
    assert_int_equal(pprof_shared_release_cmd(d.endpoint.name, 1000,
                                              UINT64_MAX, &k, SHA1, &cmd), -1);

    /* No target, or no slot to have: nothing to ask. */
    k.target = S("");
    assert_int_equal(pprof_shared_admit_cmd(&conf, &d, &k, SHA1, &cmd), -1);
    assert_int_equal(pprof_shared_release_cmd(d.endpoint.name, 1000, 0, &k,
                                              SHA1, &cmd), -1);
    k.target = S("t");
    conf.concurrency = 0;
    rc = pprof_shared_admit_cmd(&conf, &d, &k, SHA1, &cmd);
    assert_int_equal(rc, -1);

    free(huge);
}


static void
answer_valid(void **state)
{
    const char             *err;
    pprof_shared_answer_t   a;

    static const long long  granted[] = { 1347441201, 0, 0, 0, 0, 0, 0, 1 };
    static const long long  rate[] = { 1347441201, 1, 7, 0, 0, 0, 0, 0 };
    static const long long  dry[] = { 1347441201, 1, 7, 1, 30, 1, 900, 0 };
    static const long long  budget[] = { 1347441201, 1, 7, 0, 0, 1, 9, 1 };

    (void) state;

    assert_int_equal(pprof_shared_answer(granted, 8, &a, &err), 0);
    assert_int_equal(a.rate, PPROF_OK);
    assert_int_equal(a.slot, PPROF_OK);
    assert_int_equal(a.budget, PPROF_OK);
    assert_int_equal(a.leased, 1);

    assert_int_equal(pprof_shared_answer(rate, 8, &a, &err), 0);
    assert_int_equal(a.rate, PPROF_RATE_LIMITED);
    assert_int_equal(a.rate_retry, 7);
    assert_int_equal(a.slot, PPROF_OK);
    assert_int_equal(a.leased, 0);

    assert_int_equal(pprof_shared_answer(dry, 8, &a, &err), 0);
    assert_int_equal(a.slot, PPROF_CAPTURE_BUSY);
    assert_int_equal(a.slot_retry, 30);
    assert_int_equal(a.budget, PPROF_BUDGET_EXHAUSTED);
    assert_int_equal(a.budget_retry, 900);

    /* A dry run's capture runs: rate and budget denied, the lease held. */
    assert_int_equal(pprof_shared_answer(budget, 8, &a, &err), 0);
    assert_int_equal(a.leased, 1);
}


static void
answer_hostile(void **state)
{
    size_t                  i;
    const char             *err;
    pprof_shared_answer_t   a;

    static const struct {
        long long  v[9];
        size_t     n;
    } bad[] = {
        { { 0 }, 0 },
        { { 1347441201, 0, 0, 0, 0, 0, 0 }, 7 },
        { { 1347441201, 0, 0, 0, 0, 0, 0, 1, 0 }, 9 },
        { { 1347441200, 0, 0, 0, 0, 0, 0, 1 }, 8 },           /* magic */
        { { 0, 0, 0, 0, 0, 0, 0, 1 }, 8 },
        { { 1347441201, 2, 1, 0, 0, 0, 0, 0 }, 8 },           /* verdicts */
        { { 1347441201, -1, 1, 0, 0, 0, 0, 0 }, 8 },
        { { 1347441201, 0, 0, LLONG_MIN, 1, 0, 0, 0 }, 8 },
        { { 1347441201, 0, 0, 0, 0, LLONG_MAX, 1, 0 }, 8 },
        { { 1347441201, 1, 0, 0, 0, 0, 0, 0 }, 8 },           /* retries */
        { { 1347441201, 1, -5, 0, 0, 0, 0, 0 }, 8 },
        { { 1347441201, 0, 0, 1, 4294967296LL, 0, 0, 0 }, 8 },
        { { 1347441201, 0, 0, 1, LLONG_MIN, 0, 0, 0 }, 8 },
        { { 1347441201, 0, 3, 0, 0, 0, 0, 1 }, 8 },
        { { 1347441201, 0, 0, 0, 0, 0, -1, 1 }, 8 },
        { { 1347441201, 0, 0, 0, 0, 0, 0, 2 }, 8 },           /* lease */
        { { 1347441201, 0, 0, 0, 0, 0, 0, -1 }, 8 },
        { { 1347441201, 0, 0, 1, 5, 0, 0, 1 }, 8 },           /* busy, held */
        { { 1347441201, 0, 0, 0, 0, 0, 0, 0 }, 8 },           /* granted,
                                                                 none held */
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        if (pprof_shared_answer(bad[i].v, bad[i].n, &a, &err) != -1) {
            fail_msg("hostile reply %zu was accepted", i);
        }

        assert_non_null(err);
    }

    /* The largest retry there is. */
    {
        static const long long  max[] = {
            1347441201, 0, 0, 1, 4294967295LL, 0, 0, 0
        };

        assert_int_equal(pprof_shared_answer(max, 8, &a, &err), 0);
        assert_int_equal(a.slot_retry, 4294967295ULL);
    }
}


/*
 * Only what Redis certainly did not run holds no lease: every failure
 * after the command went out (an error reply such as a refused password,
 * a lost or late reply, garbage) may follow a script that ran.
 */
static void
may_hold(void **state)
{
    pprof_shared_answer_t  a;

    (void) state;

    memset(&a, 0, sizeof(a));

    assert_int_equal(pprof_shared_may_hold(PPROF_SHARED_UNSENT, NULL), 0);
    assert_int_equal(pprof_shared_may_hold(PPROF_SHARED_NOSCRIPT, NULL), 0);
    assert_int_equal(pprof_shared_may_hold(PPROF_SHARED_FAILED, NULL), 1);
    assert_int_equal(pprof_shared_may_hold(PPROF_SHARED_FAILED, &a), 1);

    a.slot = PPROF_CAPTURE_BUSY;
    assert_int_equal(pprof_shared_may_hold(PPROF_SHARED_ANSWERED, &a), 0);

    a.slot = PPROF_OK;
    a.leased = 1;
    assert_int_equal(pprof_shared_may_hold(PPROF_SHARED_ANSWERED, &a), 1);
    assert_int_equal(pprof_shared_may_hold(PPROF_SHARED_ANSWERED, NULL), 0);
    assert_int_equal(pprof_shared_may_hold((pprof_shared_outcome_t) 99, &a),
                     1);
}


static pprof_shared_answer_t
answer(const long long v[8])
{
    const char             *err;
    pprof_shared_answer_t   a;

    assert_int_equal(pprof_shared_answer(v, 8, &a, &err), 0);

    return a;
}


/* Redis grants: the request holds the gateway's own slot. */
static void
replay_granted(void **state)
{
    local_t                l;
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_shared_store_t   ss;
    pprof_shared_answer_t  a;
    pprof_pipeline_conf_t  conf;

    static const long long  ok[] = { 1347441201, 0, 0, 0, 0, 0, 0, 1 };

    (void) state;

    capture(&conf, &req, &d);
    setup_store(&ss, &l);

    assert_int_equal(pprof_pipeline_reserve(&conf, &req, &ss, &d), 1);
    assert_int_equal(live(&l), 1);
    assert_int_equal(l.calls, CALL_ACQUIRE);
    assert_int_equal(l.locked, 0);

    a = answer(ok);
    ss.answer = &a;
    pprof_pipeline_admit(&conf, &req, &pprof_shared_store_ops, &ss, &d);

    assert_int_equal(d.reason, PPROF_OK);
    assert_int_equal(d.lease, 1);
    assert_int_equal(d.capture_ms, 30000);
    assert_int_equal(live(&l), 1);
    assert_int_equal(l.locked, 0);
    assert_int_equal(l.calls, CALL_ACQUIRE);     /* no local rate, budget */

    /* The record could not be written: the slot goes back. */
    assert_false(pprof_pipeline_audited(&conf, &pprof_shared_store_ops, &ss,
                                        &d, 0, 1));
    assert_int_equal(d.reason, PPROF_AUDIT_UNAVAILABLE);
    assert_int_equal(live(&l), 0);
    assert_int_equal(l.locked, 0);
}


/* Each of Redis's denials decides, and gives the gateway's slot back. */
static void
replay_denied(void **state)
{
    size_t                 i;
    local_t                l;
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_shared_store_t   ss;
    pprof_shared_answer_t  a;
    pprof_pipeline_conf_t  conf;

    static const struct {
        long long       v[8];
        pprof_reason_t  want;
        uint64_t        retry;
        const char     *detail;
    } cases[] = {
        { { 1347441201, 1, 7, 0, 0, 0, 0, 0 }, PPROF_RATE_LIMITED, 7,
          "retry after 7 seconds" },
        { { 1347441201, 0, 0, 1, 1, 0, 0, 0 }, PPROF_CAPTURE_BUSY, 1,
          "retry after 1 second" },
        { { 1347441201, 0, 0, 0, 0, 1, 600, 0 }, PPROF_BUDGET_EXHAUSTED, 600,
          "retry after 600 seconds" },
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        capture(&conf, &req, &d);
        setup_store(&ss, &l);

        assert_int_equal(pprof_pipeline_reserve(&conf, &req, &ss, &d), 1);

        a = answer(cases[i].v);
        ss.answer = &a;
        pprof_pipeline_admit(&conf, &req, &pprof_shared_store_ops, &ss, &d);

        assert_int_equal(d.reason, cases[i].want);
        assert_int_equal(pprof_reason_status(d.reason), 429);
        assert_int_equal(d.retry_after, cases[i].retry);
        assert_string_equal(d.detail, cases[i].detail);
        assert_int_equal(d.lease, 0);
        assert_int_equal(live(&l), 0);
        assert_int_equal(ss.lease, 0);
        assert_int_equal(l.locked, 0);
        assert_true(l.calls & CALL_RELEASE);
        assert_false(l.calls & (CALL_RATE | CALL_BUDGET));
    }
}


/* The gateway's own slot is busy: enforcing, Redis is not asked. */
static void
reserve_busy(void **state)
{
    local_t                l;
    uint64_t               retry;
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_shared_store_t   ss;
    pprof_shared_answer_t  a;
    pprof_pipeline_conf_t  conf;

    static const long long  ok[] = { 1347441201, 0, 0, 0, 0, 0, 0, 1 };

    (void) state;

    capture(&conf, &req, &d);
    setup_store(&ss, &l);

    /* A capture of 30 s began 10 s ago on this gateway. */
    assert_int_equal(pprof_slots_acquire(l.slots, 1, NOW - 10000, 30000, 99,
                                         &retry), PPROF_OK);

    assert_int_equal(pprof_pipeline_reserve(&conf, &req, &ss, &d), 0);
    assert_int_equal(d.reason, PPROF_CAPTURE_BUSY);
    assert_int_equal(d.retry_after, 20);
    assert_string_equal(d.detail, "retry after 20 seconds");
    assert_int_equal(d.lease, 0);
    assert_int_equal(live(&l), 1);
    assert_int_equal(l.calls, CALL_ACQUIRE);
    assert_int_equal(l.locked, 0);

    /* A dry run asks Redis anyway, and would refuse what enforcing does. */
    capture(&conf, &req, &d);
    conf.enforce = 0;
    l.calls = 0;
    ss.answer = NULL;

    assert_int_equal(pprof_pipeline_reserve(&conf, &req, &ss, &d), 1);
    a = answer(ok);
    ss.answer = &a;
    pprof_pipeline_admit(&conf, &req, &pprof_shared_store_ops, &ss, &d);

    assert_int_equal(d.reason, PPROF_CAPTURE_BUSY);
    assert_int_equal(d.retry_after, 20);
    assert_true(pprof_policy_forwards(d.reason, conf.enforce));
    assert_int_equal(d.lease, 0);
    assert_int_equal(live(&l), 1);
    assert_int_equal(l.locked, 0);

    /* The local store failing is an internal error, dry run or not. */
    capture(&conf, &req, &d);
    conf.enforce = 0;
    l.fail = PPROF_INTERNAL_ERROR;

    assert_int_equal(pprof_pipeline_reserve(&conf, &req, &ss, &d), 0);
    assert_int_equal(d.reason, PPROF_INTERNAL_ERROR);
    assert_false(pprof_policy_forwards(d.reason, conf.enforce));
    assert_int_equal(l.locked, 0);
}


/* The dry run: Redis judged every stage; the capture runs with its slot. */
static void
replay_dry_run(void **state)
{
    local_t                l;
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_shared_store_t   ss;
    pprof_shared_answer_t  a;
    pprof_pipeline_conf_t  conf;

    static const long long  rate_budget[] = {
        1347441201, 1, 3, 0, 0, 1, 50, 1
    };
    static const long long  busy[] = { 1347441201, 0, 0, 1, 12, 1, 50, 0 };

    (void) state;

    capture(&conf, &req, &d);
    conf.enforce = 0;
    setup_store(&ss, &l);

    assert_int_equal(pprof_pipeline_reserve(&conf, &req, &ss, &d), 1);
    a = answer(rate_budget);
    ss.answer = &a;
    pprof_pipeline_admit(&conf, &req, &pprof_shared_store_ops, &ss, &d);

    /* The first failure decides, and its words are the answer's. */
    assert_int_equal(d.reason, PPROF_RATE_LIMITED);
    assert_int_equal(d.retry_after, 3);
    assert_string_equal(d.detail, "retry after 3 seconds");
    assert_true(pprof_policy_forwards(d.reason, conf.enforce));
    assert_int_equal(d.lease, 1);
    assert_int_equal(live(&l), 1);

    /* Busy in the fleet, free here: the gateway's slot goes back. */
    capture(&conf, &req, &d);
    conf.enforce = 0;
    setup_store(&ss, &l);

    assert_int_equal(pprof_pipeline_reserve(&conf, &req, &ss, &d), 1);
    a = answer(busy);
    ss.answer = &a;
    pprof_pipeline_admit(&conf, &req, &pprof_shared_store_ops, &ss, &d);

    assert_int_equal(d.reason, PPROF_CAPTURE_BUSY);
    assert_int_equal(d.retry_after, 12);
    assert_int_equal(d.lease, 0);
    assert_int_equal(live(&l), 0);
    assert_int_equal(l.locked, 0);

    /* An earlier stage's failure stays the reason and keeps its words. */
    setup(&conf, &req, "/debug/pprof/profile", "seconds=30");
    conf.enforce = 0;
    req.tls = 0;
    assert_int_equal(pprof_pipeline_check(&conf, &req, &d), 1);
    assert_int_equal(d.reason, PPROF_TLS_REQUIRED);
    setup_store(&ss, &l);

    assert_int_equal(pprof_pipeline_reserve(&conf, &req, &ss, &d), 1);
    a = answer(busy);
    ss.answer = &a;
    pprof_pipeline_admit(&conf, &req, &pprof_shared_store_ops, &ss, &d);

    assert_int_equal(d.reason, PPROF_TLS_REQUIRED);
    assert_string_equal(d.detail, "");
    assert_int_equal(d.retry_after, 12);
}


/* Redis did not answer, pprof_shared_failure closed. */
static void
unshared_closed(void **state)
{
    int                    rate;
    local_t                l;
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_shared_store_t   ss;
    pprof_pipeline_conf_t  conf;

    (void) state;

    /* With a rate and without: the first stage asked refuses. */
    for (rate = 0; rate < 2; rate++) {
        capture(&conf, &req, &d);
        conf.rates[PPROF_CLASS_CAPTURE].rate = rate ? 1000 : 0;
        setup_store(&ss, &l);

        assert_int_equal(pprof_pipeline_reserve(&conf, &req, &ss, &d), 1);
        pprof_pipeline_unshared(&conf, &req, &ss, 0, &d);

        assert_int_equal(d.reason, PPROF_SHARED_STATE_UNAVAILABLE);
        assert_int_equal(pprof_reason_status(d.reason), 503);
        assert_int_equal(d.retry_after, 1);
        assert_string_equal(d.detail, "retry after 1 second");
        assert_int_equal(d.lease, 0);
        assert_int_equal(live(&l), 0);
        assert_int_equal(l.locked, 0);
        assert_false(l.calls & (CALL_RATE | CALL_BUDGET));
    }

    /* A dry run forwards, as with any other denial, without the slot. */
    capture(&conf, &req, &d);
    conf.enforce = 0;
    setup_store(&ss, &l);

    assert_int_equal(pprof_pipeline_reserve(&conf, &req, &ss, &d), 1);
    pprof_pipeline_unshared(&conf, &req, &ss, 0, &d);

    assert_int_equal(d.reason, PPROF_SHARED_STATE_UNAVAILABLE);
    assert_true(pprof_policy_forwards(d.reason, conf.enforce));
    assert_int_equal(live(&l), 0);
    assert_int_equal(l.locked, 0);
}


/* Redis did not answer, pprof_shared_failure open: local state decides. */
static void
unshared_open(void **state)
{
    local_t                l;
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_shared_store_t   ss;
    pprof_pipeline_conf_t  conf;

    (void) state;

    capture(&conf, &req, &d);
    setup_store(&ss, &l);

    assert_int_equal(pprof_pipeline_reserve(&conf, &req, &ss, &d), 1);
    pprof_pipeline_unshared(&conf, &req, &ss, 1, &d);

    assert_int_equal(d.reason, PPROF_OK);
    assert_int_equal(d.lease, 1);
    assert_int_equal(live(&l), 1);
    assert_int_equal(l.calls, CALL_RATE | CALL_ACQUIRE | CALL_BUDGET);
    assert_int_equal(l.locked, 0);
    assert_int_equal(l.rate.last, NOW);

    /* The local rate (1r/s, no burst) now refuses; the slot goes back. */
    assert_int_equal(pprof_slots_release(l.slots, 4, 1), 1);
    capture(&conf, &req, &d);

    assert_int_equal(pprof_pipeline_reserve(&conf, &req, &ss, &d), 1);
    pprof_pipeline_unshared(&conf, &req, &ss, 1, &d);

    assert_int_equal(d.reason, PPROF_RATE_LIMITED);
    assert_int_equal(d.retry_after, 1);
    assert_int_equal(d.lease, 0);
    assert_int_equal(live(&l), 0);
    assert_int_equal(l.locked, 0);

    /* And the local budget: 30 s more than the 40 s left of it. */
    capture(&conf, &req, &d);
    req.now = NOW + 5000;
    conf.budget.limit = 40000;
    setup_store(&ss, &l);
    l.next_lease = 10;

    assert_int_equal(pprof_pipeline_reserve(&conf, &req, &ss, &d), 1);
    pprof_pipeline_unshared(&conf, &req, &ss, 1, &d);
    assert_int_equal(d.reason, PPROF_OK);
    assert_int_equal(pprof_slots_release(l.slots, 4, d.lease), 1);

    capture(&conf, &req, &d);
    req.now = NOW + 10000;
    conf.budget.limit = 40000;

    assert_int_equal(pprof_pipeline_reserve(&conf, &req, &ss, &d), 1);
    pprof_pipeline_unshared(&conf, &req, &ss, 1, &d);
    assert_int_equal(d.reason, PPROF_BUDGET_EXHAUSTED);
    assert_int_equal(live(&l), 0);
}


/* Only captures are shared: anything else is decided on local state. */
static void
reserve_not_capture(void **state)
{
    local_t                l;
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_shared_store_t   ss;
    pprof_pipeline_conf_t  conf;

    (void) state;

    setup(&conf, &req, "/debug/pprof/heap", "");
    assert_int_equal(pprof_pipeline_check(&conf, &req, &d), 1);
    assert_int_equal(d.endpoint.cls, PPROF_CLASS_SNAPSHOT);
    setup_store(&ss, &l);

    assert_int_equal(pprof_pipeline_reserve(&conf, &req, &ss, &d), 0);
    assert_int_equal(d.reason, PPROF_OK);
    assert_int_equal(l.calls, CALL_RATE);

    assert_int_equal(pprof_pipeline_reserve(&conf, &req, &ss, &d), 0);
    assert_int_equal(d.reason, PPROF_RATE_LIMITED);
    assert_int_equal(d.lease, 0);
    assert_int_equal(l.locked, 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(script_sha1),
        cmocka_unit_test(admit_argv),
        cmocka_unit_test(release_argv),
        cmocka_unit_test(key_escaping),
        cmocka_unit_test(key_hashing),
        cmocka_unit_test(key_own),
        cmocka_unit_test(cmd_bounds),
        cmocka_unit_test(answer_valid),
        cmocka_unit_test(answer_hostile),
        cmocka_unit_test(may_hold),
        cmocka_unit_test(replay_granted),
        cmocka_unit_test(replay_denied),
        cmocka_unit_test(reserve_busy),
        cmocka_unit_test(replay_dry_run),
        cmocka_unit_test(unshared_closed),
        cmocka_unit_test(unshared_open),
        cmocka_unit_test(reserve_not_capture),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
