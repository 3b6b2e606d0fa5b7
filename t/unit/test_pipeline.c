/*
 * The decision pipeline against an in-memory store: every stage failing
 * alone, two failing at once, the dry run, and the slot given back when a
 * later stage refuses.
 */

#include <stdio.h>
#include <stdlib.h>

#include "unit.h"


#define NOW  1000000

/* An in-memory store: one rate state, one endpoint's slots, one budget. */
typedef struct {
    pprof_rate_state_t    rate;
    pprof_lease_t         slots[4];
    pprof_budget_state_t  budget;
    int                   locked;
    int                   max_locked;
    unsigned              calls;          /* bit per operation called */
    pprof_reason_t        fail;           /* INTERNAL_ERROR: the store fails */
    uint64_t              next_lease;
} store_t;

enum { CALL_RATE = 1, CALL_ACQUIRE = 2, CALL_RELEASE = 4, CALL_BUDGET = 8 };


static void
store_lock(void *data)
{
    store_t *s = data;

    assert_int_equal(s->locked, 0);
    s->locked = 1;
    s->max_locked = 1;
}


static void
store_unlock(void *data)
{
    store_t *s = data;

    assert_int_equal(s->locked, 1);
    s->locked = 0;
}


static pprof_reason_t
store_rate(void *data, pprof_class_t cls, pprof_str_t identity,
    const pprof_rate_t *rate, uint64_t now, uint64_t *retry_after)
{
    store_t *s = data;

    (void) cls;
    (void) identity;

    assert_int_equal(s->locked, 1);
    s->calls |= CALL_RATE;

    return s->fail ? s->fail : pprof_rate_take(&s->rate, rate, now,
                                               retry_after);
}


static pprof_reason_t
store_acquire(void *data, pprof_str_t endpoint, size_t concurrency,
    uint64_t now, uint64_t duration, uint64_t *lease, uint64_t *retry_after)
{
    store_t *s = data;

    pprof_reason_t  rc;

    assert_int_equal(s->locked, 1);
    assert_true(endpoint.len > 0);
    s->calls |= CALL_ACQUIRE;

    if (s->fail) {
        return s->fail;
    }

    *lease = ++s->next_lease;

    (void) pprof_slots_expire(s->slots, concurrency, now);

    rc = pprof_slots_acquire(s->slots, concurrency, now, duration, *lease,
                             retry_after);

    return rc;
}


static void
store_release(void *data, pprof_str_t endpoint, uint64_t lease)
{
    store_t *s = data;

    (void) endpoint;

    assert_int_equal(s->locked, 1);
    s->calls |= CALL_RELEASE;

    assert_int_equal(pprof_slots_release(s->slots, 4, lease), 1);
}


static pprof_reason_t
store_budget(void *data, const pprof_budget_t *budget, uint64_t now,
    uint64_t amount, uint64_t *retry_after)
{
    store_t *s = data;

    assert_int_equal(s->locked, 1);
    s->calls |= CALL_BUDGET;

    return pprof_budget_take(&s->budget, budget, now, amount, retry_after);
}


static const pprof_store_ops_t  store_ops = {
    store_lock, store_unlock, store_rate, store_acquire, store_release,
    store_budget
};


/* What the caller's authenticate hook returns, and how often it ran. */
typedef struct {
    pprof_who_t   who;
    int           called;
    int           fail_alloc;
    store_t       store;
} fixture_t;

static const pprof_str_t  credential_roles[] = {
    { (const unsigned char *) "reader", 6 },
};


static void
authenticate(void *data, pprof_who_t *who)
{
    fixture_t *f = data;

    f->called++;
    *who = f->who;
}


static void *
alloc(void *data, size_t size)
{
    fixture_t *f = data;

    static unsigned char  arena[4096];

    assert_true(size <= sizeof(arena));

    return f->fail_alloc ? NULL : arena;
}


static pprof_cidr_t  loopback, other_net;

static pprof_str_t   operator_roles[] = {
    { (const unsigned char *) "operator", 8 },
};

static pprof_str_t   profile_name = { (const unsigned char *) "profile", 7 };

static pprof_role_t  roles[2];
static pprof_bind_t  bind;

static const unsigned char  addr_local[4] = { 127, 0, 0, 1 };
static const unsigned char  addr_far[4] = { 192, 0, 2, 1 };


static void
setup_conf(pprof_pipeline_conf_t *conf)
{
    const char  *err;

    assert_int_equal(pprof_cidr_parse(S("127.0.0.0/8"), &loopback, &err), 0);
    assert_int_equal(pprof_cidr_parse(S("10.0.0.0/8"), &other_net, &err), 0);

    /* reader: cmdline and snapshots; operator: captures too. */
    roles[0].name = S("reader");
    roles[0].classes = 1u << PPROF_CLASS_CMDLINE | 1u << PPROF_CLASS_SNAPSHOT;
    roles[1].name = S("operator");
    roles[1].classes = 1u << PPROF_CLASS_CAPTURE;
    roles[1].endpoints = &profile_name;
    roles[1].nendpoints = 1;

    memset(&bind, 0, sizeof(bind));
    bind.pattern = S("alice");
    bind.roles = operator_roles;
    bind.nroles = 1;

    memset(conf, 0, sizeof(pprof_pipeline_conf_t));
    conf->enforce = 1;
    conf->prefix = S("/debug/pprof/");
    conf->tls = PPROF_TLS_MODE_REQUIRED;
    conf->allow = &loopback;
    conf->nallow = 1;
    conf->trusted = &loopback;
    conf->ntrusted = 1;
    conf->binds = &bind;
    conf->nbinds = 1;
    conf->max_held = 1;
    conf->roles = roles;
    conf->nroles = 2;
    conf->max_seconds = 60;
    conf->rates[PPROF_CLASS_CAPTURE].rate = 1000;          /* 1r/s */
    conf->rates[PPROF_CLASS_CAPTURE].burst = 0;
    conf->concurrency = 1;
    conf->budget.limit = 100000;                           /* 100 s */
    conf->budget.window = 3600000;
}


static void
setup_request(pprof_request_t *req, fixture_t *f, const char *uri,
    const char *args)
{
    memset(req, 0, sizeof(pprof_request_t));
    req->method = PPROF_METHOD_GET;
    req->uri = S(uri);
    req->args = S(args);
    req->tls = 1;
    req->client.family = PPROF_ADDR_INET;
    memcpy(req->client.addr, addr_local, 4);
    req->proxy = req->client;
    req->now = NOW;
    req->authenticate = authenticate;
    req->alloc = alloc;
    req->data = f;

    memset(f, 0, sizeof(fixture_t));
    f->who.reason = PPROF_OK;
    f->who.identity = S("alice");
    f->who.source = S("cert");
    f->who.roles = credential_roles;
    f->who.nroles = 1;
}


static size_t
live(const store_t *s)
{
    return pprof_slots_live(s->slots, 4);
}


static void
allows(void **state)
{
    fixture_t              f;
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_pipeline_conf_t  conf;

    (void) state;

    setup_conf(&conf);
    setup_request(&req, &f, "/debug/pprof/profile", "seconds=5");

    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);

    assert_int_equal(d.reason, PPROF_OK);
    assert_int_equal(d.endpoint.cls, PPROF_CLASS_CAPTURE);
    assert_true(d.canonical);
    assert_true(d.authenticated);
    assert_string_equal(d.params.canonical, "seconds=5");
    assert_int_equal(d.nheld, 2);                 /* reader, then operator */
    assert_int_equal(d.capture_ms, 5000);
    assert_int_not_equal(d.lease, 0);
    assert_int_equal(live(&f.store), 1);
    assert_int_equal(f.store.calls, CALL_RATE | CALL_ACQUIRE | CALL_BUDGET);
    assert_int_equal(f.store.locked, 0);

    /* The record is written: the slot stays with the capture. */
    assert_true(pprof_pipeline_audited(&conf, &store_ops, &f.store, &d, 1, 1));
    assert_int_equal(live(&f.store), 1);

    /* A snapshot touches no slot, and cmdline has no rate here. */
    setup_request(&req, &f, "/debug/pprof/cmdline", "");
    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
    assert_int_equal(d.reason, PPROF_OK);
    assert_int_equal(d.lease, 0);
    assert_int_equal(f.store.calls, 0);
    assert_int_equal(f.store.max_locked, 1);
}


/* Each stage failing alone, enforcing: it decides, and nothing after runs. */
typedef enum {
    SPOIL_NONE = 0,
    SPOIL_PROXY,
    SPOIL_READ,
    SPOIL_METHOD,
    SPOIL_TARGET,
    SPOIL_TLS,
    SPOIL_ADDRESS,
    SPOIL_ANONYMOUS,
    SPOIL_CREDENTIAL,
    SPOIL_ROLE,
    SPOIL_ALLOC,
    SPOIL_NO_TARGET,
    SPOIL_PARAMS,
    SPOIL_RATE,
    SPOIL_SLOT,
    SPOIL_BUDGET,
    SPOIL_STORE
} spoil_t;

typedef struct {
    const char      *name;
    const char      *uri;
    pprof_reason_t   want;
    int              authenticated;        /* did authenticate run */
    int              stage;                /* where it fails, in order */
    spoil_t          spoil;
} stage_case_t;

#define CAPTURE  "/debug/pprof/profile"

static const stage_case_t  stage_cases[] = {
    { "untrusted proxy", CAPTURE, PPROF_UNTRUSTED_PROXY, 0, 0, SPOIL_PROXY },
    { "unreadable", CAPTURE, PPROF_BAD_PARAMETER, 0, 1, SPOIL_READ },
    { "endpoint", "/debug/pprof/a/b", PPROF_UNKNOWN_ENDPOINT, 0, 1,
      SPOIL_NONE },
    { "method", CAPTURE, PPROF_METHOD_NOT_ALLOWED, 0, 1, SPOIL_METHOD },
    { "target", CAPTURE, PPROF_INTERNAL_ERROR, 0, 2, SPOIL_TARGET },
    { "tls", CAPTURE, PPROF_TLS_REQUIRED, 0, 3, SPOIL_TLS },
    { "address", CAPTURE, PPROF_ADDRESS_DENIED, 0, 4, SPOIL_ADDRESS },
    { "no credential", CAPTURE, PPROF_UNAUTHENTICATED, 1, 5,
      SPOIL_ANONYMOUS },
    { "bad credential", CAPTURE, PPROF_INVALID_CREDENTIAL, 1, 5,
      SPOIL_CREDENTIAL },
    { "role", CAPTURE, PPROF_FORBIDDEN, 1, 6, SPOIL_ROLE },
    { "no memory for roles", CAPTURE, PPROF_INTERNAL_ERROR, 1, 6,
      SPOIL_ALLOC },
    { "empty target", CAPTURE, PPROF_FORBIDDEN, 1, 6, SPOIL_NO_TARGET },
    { "params", CAPTURE, PPROF_BAD_PARAMETER, 1, 7, SPOIL_PARAMS },
    { "rate", CAPTURE, PPROF_RATE_LIMITED, 1, 8, SPOIL_RATE },
    { "slot", CAPTURE, PPROF_CAPTURE_BUSY, 1, 9, SPOIL_SLOT },
    { "budget", CAPTURE, PPROF_BUDGET_EXHAUSTED, 1, 10, SPOIL_BUDGET },
    { "store", CAPTURE, PPROF_INTERNAL_ERROR, 1, 8, SPOIL_STORE },
};


/* Makes one stage fail; the case's URI asks for a 5 s capture. */
static void
spoil(spoil_t what, pprof_pipeline_conf_t *conf, pprof_request_t *req,
    fixture_t *f)
{
    uint64_t  retry;

    switch (what) {

    case SPOIL_PROXY:
        conf->authz = 1;
        memcpy(req->proxy.addr, addr_far, 4);
        break;

    case SPOIL_READ:
        req->read = PPROF_BAD_PARAMETER;
        break;

    case SPOIL_METHOD:
        req->method = PPROF_METHOD_OTHER;
        break;

    case SPOIL_TARGET:
        req->target = PPROF_INTERNAL_ERROR;
        break;

    case SPOIL_TLS:
        req->tls = 0;
        break;

    case SPOIL_ADDRESS:
        memcpy(req->client.addr, addr_far, 4);
        break;

    case SPOIL_ANONYMOUS:
        f->who.reason = PPROF_UNAUTHENTICATED;
        break;

    case SPOIL_CREDENTIAL:
        f->who.reason = PPROF_INVALID_CREDENTIAL;
        break;

    case SPOIL_ROLE:
        f->who.identity = S("bob");
        break;

    case SPOIL_ALLOC:
        f->fail_alloc = 1;
        break;

    case SPOIL_NO_TARGET:
        conf->named_target = 1;
        req->target_name = S("");
        break;

    case SPOIL_PARAMS:
        req->args = S("seconds=1.5");
        break;

    case SPOIL_RATE:
        f->store.rate.last = NOW;
        f->store.rate.excess = 0;
        break;

    case SPOIL_SLOT:
        /* 10 s, started 2 s ago. */
        assert_int_equal(pprof_slots_acquire(f->store.slots, 1, NOW - 2000,
                                             10000, 99, &retry),
                         PPROF_OK);
        break;

    case SPOIL_BUDGET:
        conf->budget.limit = 4000;
        break;

    case SPOIL_STORE:
        f->store.fail = PPROF_INTERNAL_ERROR;
        break;

    case SPOIL_NONE:
        break;
    }
}


static void
run_case(const stage_case_t *c, int enforce, pprof_decision_t *d,
    fixture_t *f)
{
    pprof_request_t        req;
    pprof_pipeline_conf_t  conf;

    setup_conf(&conf);
    conf.enforce = enforce;
    setup_request(&req, f, c->uri, "seconds=5");
    spoil(c->spoil, &conf, &req, f);

    pprof_pipeline_decide(&conf, &req, &store_ops, &f->store, d);

    assert_int_equal(f->store.locked, 0);
}


static void
each_stage_alone(void **state)
{
    size_t            i;
    fixture_t         f;
    pprof_decision_t  d;

    (void) state;

    for (i = 0; i < sizeof(stage_cases) / sizeof(stage_cases[0]); i++) {
        print_message("enforced: %s\n", stage_cases[i].name);

        run_case(&stage_cases[i], 1, &d, &f);

        assert_int_equal(d.reason, stage_cases[i].want);
        assert_int_equal(f.called, stage_cases[i].authenticated);

        /* A refused capture holds no slot but one it did not take. */
        assert_int_equal(d.lease, 0);
        assert_int_equal(live(&f.store),
                         stage_cases[i].want == PPROF_CAPTURE_BUSY);

        if (pprof_reason_status(d.reason) == 429) {
            assert_true(d.retry_after >= 1);
        } else {
            assert_int_equal(d.retry_after, 0);
        }

        if (stage_cases[i].want == PPROF_INTERNAL_ERROR
            && stage_cases[i].spoil != SPOIL_TARGET
            && stage_cases[i].spoil != SPOIL_STORE)
        {
            assert_true(d.error[0] != '\0');
        }
    }
}


/*
 * The dry run: each failure is the decision, yet the request goes ahead
 * and every later stage still ran, except after an internal error or a
 * request that could not be classified.
 */
static void
each_stage_dry_run(void **state)
{
    size_t            i;
    fixture_t         f;
    pprof_reason_t    want;
    pprof_decision_t  d;

    (void) state;

    for (i = 0; i < sizeof(stage_cases) / sizeof(stage_cases[0]); i++) {
        print_message("dry run: %s\n", stage_cases[i].name);

        run_case(&stage_cases[i], 0, &d, &f);
        want = stage_cases[i].want;

        assert_int_equal(d.reason, want);

        if (want == PPROF_INTERNAL_ERROR) {
            assert_false(pprof_policy_forwards(d.reason, 0));
            assert_int_equal(d.lease, 0);
            continue;
        }

        assert_true(pprof_policy_forwards(d.reason, 0));

        if (want == PPROF_UNKNOWN_ENDPOINT || want == PPROF_BAD_PARAMETER
            || want == PPROF_METHOD_NOT_ALLOWED)
        {
            /* Nothing later can be judged without an endpoint or params. */
            continue;
        }

        assert_int_equal(f.called, 1);

        if (want == PPROF_CAPTURE_BUSY) {
            assert_int_equal(d.lease, 0);
            assert_int_equal(f.store.calls & CALL_BUDGET, CALL_BUDGET);

        } else if (want != PPROF_FORBIDDEN && want != PPROF_UNAUTHENTICATED
                   && want != PPROF_INVALID_CREDENTIAL
                   && want != PPROF_UNTRUSTED_PROXY)
        {
            /* The capture runs in a dry run: its slot is held. */
            assert_int_not_equal(d.lease, 0);
            assert_int_equal(live(&f.store), 1);
        }
    }
}


/* Two stages failing: the first decides, enforcing or not. */
static void
pairs(void **state)
{
    fixture_t              f;
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_pipeline_conf_t  conf;
    int                    enforce;

    (void) state;

    for (enforce = 0; enforce <= 1; enforce++) {
        setup_conf(&conf);
        conf.enforce = enforce;
        setup_request(&req, &f, "/debug/pprof/profile", "seconds=5");
        req.tls = 0;
        memcpy(req.client.addr, addr_far, 4);

        pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
        assert_int_equal(d.reason, PPROF_TLS_REQUIRED);
        assert_int_equal(f.called, !enforce);

        /* The rate refuses, then the budget would too: the rate decides. */
        setup_conf(&conf);
        conf.enforce = enforce;
        conf.budget.limit = 1000;
        setup_request(&req, &f, "/debug/pprof/profile", "seconds=5");
        f.store.rate.last = NOW;

        pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
        assert_int_equal(d.reason, PPROF_RATE_LIMITED);
        assert_int_equal(d.retry_after, 1);
        assert_int_equal(f.store.calls & CALL_BUDGET,
                         enforce ? 0 : CALL_BUDGET);

        /* Forbidden and a bad parameter: forbidden. */
        setup_conf(&conf);
        conf.enforce = enforce;
        setup_request(&req, &f, "/debug/pprof/profile", "seconds=abc");
        f.who.identity = S("bob");

        pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
        assert_int_equal(d.reason, PPROF_FORBIDDEN);
        assert_false(d.canonical);
    }
}


/*
 * Every two stages failing at once, enforced and dry: the earlier stage
 * decides.  Failures of one stage (two credentials, the store and the
 * rate) are not ordered among themselves and are left out.
 */
static void
all_pairs(void **state)
{
    size_t                 i, j, n;
    int                    enforce;
    fixture_t              f;
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_pipeline_conf_t  conf;
    const stage_case_t    *a, *b;

    (void) state;

    n = sizeof(stage_cases) / sizeof(stage_cases[0]);

    for (i = 0; i < n; i++) {
        for (j = 0; j < n; j++) {
            a = &stage_cases[i];
            b = &stage_cases[j];

            if (a->stage >= b->stage || a->spoil == SPOIL_NONE
                || b->spoil == SPOIL_NONE)
            {
                continue;
            }

            for (enforce = 0; enforce <= 1; enforce++) {
                setup_conf(&conf);
                conf.enforce = enforce;
                setup_request(&req, &f, a->uri, "seconds=5");
                spoil(a->spoil, &conf, &req, &f);
                spoil(b->spoil, &conf, &req, &f);

                pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);

                if (d.reason != a->want) {
                    print_message("%s then %s, enforce %d: %s\n", a->name,
                                  b->name, enforce,
                                  pprof_reason_name(d.reason));
                }

                assert_int_equal(d.reason, a->want);
                assert_int_equal(f.store.locked, 0);
            }
        }
    }
}


/* In two halves, as a store that answers later runs it: the same result. */
static void
halves(void **state)
{
    size_t            i;
    fixture_t         f;
    pprof_request_t   req;
    pprof_decision_t  whole, half;
    pprof_pipeline_conf_t  conf;

    (void) state;

    for (i = 0; i < sizeof(stage_cases) / sizeof(stage_cases[0]); i++) {
        run_case(&stage_cases[i], 1, &whole, &f);

        setup_conf(&conf);
        setup_request(&req, &f, stage_cases[i].uri, "seconds=5");
        spoil(stage_cases[i].spoil, &conf, &req, &f);

        if (pprof_pipeline_check(&conf, &req, &half)) {
            assert_int_equal(half.reason, PPROF_OK);
            assert_int_equal(f.store.calls, 0);
            assert_memory_equal(half.identity.data, "alice", 5);

            pprof_pipeline_admit(&conf, &req, &store_ops, &f.store, &half);

        } else {
            assert_int_equal(f.store.calls, 0);
        }

        assert_int_equal(half.reason, whole.reason);
        assert_int_equal(half.retry_after, whole.retry_after);
        assert_int_equal(f.store.locked, 0);
    }
}


/*
 * pprof_target's value, judged at stage 5: present and at most 255 bytes,
 * whatever the bytes; a location without one is its own target.  A dry
 * run forwards, but counts nothing for a target that names no process.
 */
static void
named_target(void **state)
{
    int                    enforce;
    fixture_t              f;
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_pipeline_conf_t  conf;
    static unsigned char   name[PPROF_TARGET_MAX + 1];

    (void) state;

    memset(name, '{', sizeof(name));

    setup_conf(&conf);
    setup_request(&req, &f, "/debug/pprof/profile", "seconds=5");
    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
    assert_int_equal(d.reason, PPROF_OK);

    conf.named_target = 1;
    setup_request(&req, &f, "/debug/pprof/profile", "seconds=5");
    req.target_name.data = name;
    req.target_name.len = PPROF_TARGET_MAX;
    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
    assert_int_equal(d.reason, PPROF_OK);
    assert_int_not_equal(d.lease, 0);

    for (enforce = 0; enforce <= 1; enforce++) {
        conf.enforce = enforce;

        setup_request(&req, &f, "/debug/pprof/profile", "seconds=5");
        req.target_name.data = name;
        req.target_name.len = PPROF_TARGET_MAX + 1;
        pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
        assert_int_equal(d.reason, PPROF_FORBIDDEN);
        assert_string_equal(d.detail, "this location's pprof_target is "
                            "longer than 255 bytes");
        assert_int_equal(f.store.calls, 0);
        assert_int_equal(d.lease, 0);
        assert_int_equal(pprof_policy_forwards(d.reason, enforce), !enforce);

        /* A cmdline request is refused too: every request of it. */
        setup_request(&req, &f, "/debug/pprof/cmdline", "");
        pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
        assert_int_equal(d.reason, PPROF_FORBIDDEN);
        assert_string_equal(d.detail,
                            "this location's pprof_target is empty");

        /* An earlier failure keeps its own words. */
        setup_request(&req, &f, "/debug/pprof/profile", "seconds=5");
        f.who.identity = S("bob");
        pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
        assert_int_equal(d.reason, PPROF_FORBIDDEN);
        assert_string_equal(d.detail, "");
    }
}


/* A slot is taken, then the budget refuses: the slot is free again. */
static void
slot_given_back(void **state)
{
    fixture_t              f;
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_pipeline_conf_t  conf;

    (void) state;

    setup_conf(&conf);
    conf.budget.limit = 4000;
    setup_request(&req, &f, "/debug/pprof/profile", "seconds=5");

    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);

    assert_int_equal(d.reason, PPROF_BUDGET_EXHAUSTED);
    assert_int_equal(f.store.calls,
                     CALL_RATE | CALL_ACQUIRE | CALL_BUDGET | CALL_RELEASE);
    assert_int_equal(d.lease, 0);
    assert_int_equal(live(&f.store), 0);
    assert_true(d.retry_after >= 1);

    /* Granted, then the record could not be written: given back too. */
    setup_conf(&conf);
    setup_request(&req, &f, "/debug/pprof/profile", "seconds=5");

    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
    assert_int_equal(d.reason, PPROF_OK);
    assert_int_equal(live(&f.store), 1);

    assert_false(pprof_pipeline_audited(&conf, &store_ops, &f.store, &d, 0,
                                        1));
    assert_int_equal(d.reason, PPROF_AUDIT_UNAVAILABLE);
    assert_int_equal(d.lease, 0);
    assert_int_equal(live(&f.store), 0);

    /* Not required: it goes ahead with its slot. */
    setup_request(&req, &f, "/debug/pprof/profile", "seconds=5");
    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
    assert_true(pprof_pipeline_audited(&conf, &store_ops, &f.store, &d, 0,
                                       0));
    assert_int_equal(live(&f.store), 1);

    /* A dry run is still refused without its record when required. */
    setup_conf(&conf);
    conf.enforce = 0;
    setup_request(&req, &f, "/debug/pprof/profile", "seconds=5");
    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
    assert_false(pprof_pipeline_audited(&conf, &store_ops, &f.store, &d, 0,
                                        1));
    assert_int_equal(live(&f.store), 0);
}


/* A 5 s capture that one stage refuses, decided whole. */
static void
decide_spoiled(spoil_t what, fixture_t *f, pprof_decision_t *d)
{
    pprof_request_t        req;
    pprof_pipeline_conf_t  conf;

    setup_conf(&conf);
    setup_request(&req, f, "/debug/pprof/profile", "seconds=5");
    spoil(what, &conf, &req, f);
    pprof_pipeline_decide(&conf, &req, &store_ops, &f->store, d);
}


/* The busy slot's Retry-After is when the running capture's lease ends. */
static void
retry_after(void **state)
{
    fixture_t         f;
    pprof_decision_t  d;

    (void) state;

    decide_spoiled(SPOIL_SLOT, &f, &d);
    assert_int_equal(d.reason, PPROF_CAPTURE_BUSY);
    assert_int_equal(d.retry_after, 8);
}


/*
 * What the client is told beyond its reason: the number of Retry-After, a
 * parameter and its limit, why a token failed.  Only the deciding reason
 * speaks, and a reason that stage 10 replaces takes its words with it.
 */
static void
details(void **state)
{
    char                   want[64];
    fixture_t              f;
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_pipeline_conf_t  conf;

    (void) state;

    /* Each 429 says the seconds of its own Retry-After. */
    decide_spoiled(SPOIL_SLOT, &f, &d);
    assert_int_equal(d.reason, PPROF_CAPTURE_BUSY);
    assert_string_equal(d.detail, "retry after 8 seconds");

    decide_spoiled(SPOIL_RATE, &f, &d);
    assert_int_equal(d.reason, PPROF_RATE_LIMITED);
    assert_string_equal(d.detail, "retry after 1 second");
    assert_int_equal(d.retry_after, 1);

    decide_spoiled(SPOIL_BUDGET, &f, &d);
    assert_int_equal(d.reason, PPROF_BUDGET_EXHAUSTED);
    snprintf(want, sizeof(want), "retry after %llu second%s",
             (unsigned long long) d.retry_after,
             d.retry_after == 1 ? "" : "s");
    assert_string_equal(d.detail, want);

    /* The parameter and the location's own maximum. */
    setup_conf(&conf);
    conf.max_seconds = 45;
    setup_request(&req, &f, "/debug/pprof/profile", "seconds=SECRETMARK");
    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
    assert_int_equal(d.reason, PPROF_BAD_PARAMETER);
    assert_string_equal(d.detail, "seconds must be 1..45");

    /* The credential's fixed sentence. */
    setup_conf(&conf);
    setup_request(&req, &f, "/debug/pprof/profile", "seconds=5");
    f.who.reason = PPROF_INVALID_CREDENTIAL;
    f.who.told = "the token has expired";
    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
    assert_int_equal(d.reason, PPROF_INVALID_CREDENTIAL);
    assert_string_equal(d.detail, "the token has expired");

    /* A dry run judges on; later stages do not speak for the first. */
    setup_conf(&conf);
    conf.enforce = 0;
    setup_request(&req, &f, "/debug/pprof/profile", "seconds=99");
    spoil(SPOIL_ROLE, &conf, &req, &f);
    spoil(SPOIL_SLOT, &conf, &req, &f);
    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
    assert_int_equal(d.reason, PPROF_FORBIDDEN);
    assert_string_equal(d.detail, "");

    /* Its would-be denial, no longer forwarded without a record. */
    setup_conf(&conf);
    conf.enforce = 0;
    setup_request(&req, &f, "/debug/pprof/profile", "seconds=99");
    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
    assert_int_equal(d.reason, PPROF_BAD_PARAMETER);
    assert_string_equal(d.detail, "seconds must be 1..60");
    assert_false(pprof_pipeline_audited(&conf, &store_ops, &f.store, &d, 0,
                                        1));
    assert_int_equal(d.reason, PPROF_AUDIT_UNAVAILABLE);
    assert_string_equal(d.detail, "");

    /* Allowed: nothing to tell. */
    setup_conf(&conf);
    setup_request(&req, &f, "/debug/pprof/profile", "seconds=5");
    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
    assert_int_equal(d.reason, PPROF_OK);
    assert_string_equal(d.detail, "");
}


/* pprof_tls redirect: a 308 in proxy mode, a plain 403 behind a proxy. */
static void
redirect(void **state)
{
    fixture_t              f;
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_pipeline_conf_t  conf;

    (void) state;

    setup_conf(&conf);
    conf.tls = PPROF_TLS_MODE_REDIRECT;
    setup_request(&req, &f, "/debug/pprof/heap", "gc=1&debug=1");
    req.tls = 0;
    req.server_name = S("pprof.example.com");

    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
    assert_int_equal(d.reason, PPROF_TLS_REQUIRED);
    assert_int_equal(d.location_len,
                     strlen("https://pprof.example.com/debug/pprof/heap"
                            "?debug=1&gc=1"));
    assert_memory_equal(d.location, "https://pprof.example.com/debug/pprof/"
                        "heap?debug=1&gc=1", d.location_len);

    conf.authz = 1;
    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
    assert_int_equal(d.reason, PPROF_TLS_REQUIRED);
    assert_int_equal(d.location_len, 0);
}


/* In authz mode the client's address is what pprof_allow judges. */
static void
authz_addresses(void **state)
{
    fixture_t              f;
    pprof_request_t        req;
    pprof_decision_t       d;
    pprof_pipeline_conf_t  conf;

    (void) state;

    setup_conf(&conf);
    conf.authz = 1;
    setup_request(&req, &f, "/debug/pprof/heap", "");
    memcpy(req.client.addr, addr_far, 4);

    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
    assert_int_equal(d.reason, PPROF_ADDRESS_DENIED);

    /* Outside pprof_allow but behind a trusted proxy: the proxy decides. */
    memcpy(req.client.addr, addr_local, 4);
    memcpy(req.proxy.addr, addr_far, 4);
    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
    assert_int_equal(d.reason, PPROF_UNTRUSTED_PROXY);
    assert_int_equal(f.called, 0);
    assert_int_equal(d.endpoint.cls, PPROF_CLASS_COUNT);

    /* In proxy mode the trusted set is no access rule. */
    conf.authz = 0;
    pprof_pipeline_decide(&conf, &req, &store_ops, &f.store, &d);
    assert_int_equal(d.reason, PPROF_OK);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(allows),
        cmocka_unit_test(each_stage_alone),
        cmocka_unit_test(each_stage_dry_run),
        cmocka_unit_test(pairs),
        cmocka_unit_test(all_pairs),
        cmocka_unit_test(halves),
        cmocka_unit_test(named_target),
        cmocka_unit_test(slot_given_back),
        cmocka_unit_test(retry_after),
        cmocka_unit_test(details),
        cmocka_unit_test(redirect),
        cmocka_unit_test(authz_addresses),
    };

    return cmocka_run_group_tests_name("pipeline", tests, NULL, NULL);
}
