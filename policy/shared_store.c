/*
 * A shared capture's stages 7-9 as the pipeline sees them: a store whose
 * rate, slot and budget verdicts are Redis's answer (or, when Redis could
 * not answer, the local store's or a refusal), replayed through
 * pprof_pipeline_admit so that the first-failure, dry-run and Retry-After
 * rules are the pipeline's own.
 *
 * The gateway's own slot is taken before Redis is asked, so one gateway
 * never sends Redis two admissions of one endpoint at once beyond its
 * concurrency.  That slot is the lease the pipeline hands to the request;
 * when the replay ends without handing it out, it is given back.
 */

#include "policy.h"


/* Nothing asked: the verdicts of a decision the local slot made. */
static const pprof_shared_answer_t  shared_unasked;

/* pprof_shared_failure closed: every stage refuses, to retry in a second. */
static const pprof_shared_answer_t  shared_closed = {
    PPROF_SHARED_STATE_UNAVAILABLE, PPROF_SHARED_STATE_UNAVAILABLE,
    PPROF_SHARED_STATE_UNAVAILABLE, 1, 1, 1, 0
};


static void
shared_lock(void *data)
{
    pprof_shared_store_t *ss = data;

    ss->local->lock(ss->local_store);
}


/* A local slot that the replay did not hand out goes back. */
static void
shared_unlock(void *data)
{
    pprof_shared_store_t *ss = data;

    if (ss->lease) {
        ss->local->release(ss->local_store, ss->endpoint, ss->lease);
        ss->lease = 0;
    }

    ss->local->unlock(ss->local_store);
}


static pprof_reason_t
shared_rate(void *data, pprof_class_t cls, pprof_str_t identity,
    const pprof_rate_t *rate, uint64_t now, uint64_t *retry_after)
{
    pprof_shared_store_t *ss = data;

    if (ss->answer == NULL) {
        return ss->local->rate(ss->local_store, cls, identity, rate, now,
                               retry_after);
    }

    *retry_after = ss->answer->rate_retry;
    return ss->answer->rate;
}


/*
 * Redis's verdict, for the fleet, then the gateway's own slot; the lease
 * is the local one, which the request gives back when it ends.
 */
static pprof_reason_t
shared_acquire(void *data, pprof_str_t endpoint, size_t concurrency,
    uint64_t now, uint64_t duration, uint64_t *lease, uint64_t *retry_after)
{
    pprof_shared_store_t *ss = data;

    (void) endpoint;
    (void) concurrency;
    (void) now;
    (void) duration;

    if (ss->answer && ss->answer->slot != PPROF_OK) {
        *retry_after = ss->answer->slot_retry;
        return ss->answer->slot;
    }

    if (ss->reserved != PPROF_OK) {
        *retry_after = ss->reserved_retry;
        return ss->reserved;
    }

    *lease = ss->lease;
    ss->lease = 0;

    return PPROF_OK;
}


static void
shared_release(void *data, pprof_str_t endpoint, uint64_t lease)
{
    pprof_shared_store_t *ss = data;

    ss->local->release(ss->local_store, endpoint, lease);
}


static pprof_reason_t
shared_budget(void *data, const pprof_budget_t *budget, uint64_t now,
    uint64_t amount, uint64_t *retry_after)
{
    pprof_shared_store_t *ss = data;

    if (ss->answer == NULL) {
        return ss->local->budget(ss->local_store, budget, now, amount,
                                 retry_after);
    }

    *retry_after = ss->answer->budget_retry;
    return ss->answer->budget;
}


const pprof_store_ops_t  pprof_shared_store_ops = {
    shared_lock,
    shared_unlock,
    shared_rate,
    shared_acquire,
    shared_release,
    shared_budget
};


int
pprof_pipeline_reserve(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, pprof_shared_store_t *ss,
    pprof_decision_t *d)
{
    uint64_t        lease, retry;
    pprof_reason_t  rc, first;

    ss->endpoint = d->endpoint.name;
    ss->answer = NULL;
    ss->lease = 0;
    ss->reserved = PPROF_OK;
    ss->reserved_retry = 0;

    /* Only captures are shared: the rest is decided here, locally. */
    if (d->endpoint.cls != PPROF_CLASS_CAPTURE) {
        pprof_pipeline_admit(conf, req, ss->local, ss->local_store, d);
        return 0;
    }

    lease = 0;
    retry = 0;

    ss->local->lock(ss->local_store);
    rc = ss->local->acquire(ss->local_store, d->endpoint.name,
                            conf->concurrency, req->now,
                            d->params.seconds_us / 1000, &lease, &retry);
    ss->local->unlock(ss->local_store);

    if (rc == PPROF_OK) {
        ss->lease = lease;
        return 1;
    }

    ss->reserved = rc;
    ss->reserved_retry = retry;

    /* A dry run asks Redis all the same, to count what enforcing would. */
    first = PPROF_OK;
    if (!pprof_policy_stop(&first, rc, conf->enforce)) {
        return 1;
    }

    ss->answer = &shared_unasked;
    pprof_pipeline_admit(conf, req, &pprof_shared_store_ops, ss, d);

    return 0;
}


void
pprof_pipeline_unshared(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, pprof_shared_store_t *ss, int open,
    pprof_decision_t *d)
{
    ss->answer = open ? NULL : &shared_closed;

    pprof_pipeline_admit(conf, req, &pprof_shared_store_ops, ss, d);
}
