/*
 * The decision pipeline: one pass through the stages in their order, the
 * first failure deciding.  The nginx handler and the authorization service
 * both run this, against whichever store keeps the state of stages 7-9.
 */

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"


static pprof_reason_t pipeline_address(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req);
static pprof_reason_t pipeline_transport(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, pprof_decision_t *d);
static pprof_reason_t pipeline_authorize(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, const pprof_who_t *who, pprof_decision_t *d);
static pprof_reason_t pipeline_target(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, pprof_decision_t *d);
static pprof_reason_t pipeline_admit(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, const pprof_store_ops_t *ops, void *store,
    pprof_decision_t *d);
static void pipeline_detail(pprof_decision_t *d, pprof_reason_t rc,
    const char *detail);
static void pipeline_denied(pprof_decision_t *d, pprof_reason_t rc,
    uint64_t retry_after);
static void pipeline_give_back(const pprof_store_ops_t *ops, void *store,
    pprof_decision_t *d);


void
pprof_pipeline_decide(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, const pprof_store_ops_t *ops, void *store,
    pprof_decision_t *d)
{
    if (pprof_pipeline_check(conf, req, d)) {
        pprof_pipeline_admit(conf, req, ops, store, d);
    }
}


int
pprof_pipeline_check(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, pprof_decision_t *d)
{
    int             enforce;
    pprof_who_t     who;
    pprof_reason_t  rc, target;

    /* The text buffers at its end are written only with their length. */
    memset(d, 0, offsetof(pprof_decision_t, location));
    d->error[0] = '\0';
    d->detail[0] = '\0';
    d->endpoint.cls = PPROF_CLASS_COUNT;

    enforce = conf->enforce;

    /*
     * A check from a peer that is not a trusted proxy is judged before
     * anything it sent is read: its headers say nothing we may believe.
     */
    if (conf->authz && !pprof_pipeline_trusted(conf, &req->proxy)) {
        if (pprof_policy_stop(&d->reason, PPROF_UNTRUSTED_PROXY, enforce)) {
            return 0;
        }
    }

    /* Without an endpoint nothing further can be judged, even in a dry run. */
    rc = req->read;
    if (rc == PPROF_OK) {
        rc = pprof_policy_classify(conf->prefix, req->uri, req->method,
                                   req->args, &d->endpoint);
    }

    if (rc != PPROF_OK) {
        if (req->read != PPROF_OK && req->read_detail) {
            snprintf(d->detail, sizeof(d->detail), "%s", req->read_detail);
        }

        (void) pprof_policy_stop(&d->reason, rc, enforce);
        d->endpoint.cls = PPROF_CLASS_COUNT;
        return 0;
    }

    if (pprof_policy_stop(&d->reason, req->target, enforce)) {
        return 0;
    }

    if (pprof_policy_stop(&d->reason, pipeline_transport(conf, req, d),
                          enforce))
    {
        return 0;
    }

    if (pprof_policy_stop(&d->reason, pipeline_address(conf, req), enforce)) {
        return 0;
    }

    memset(&who, 0, sizeof(pprof_who_t));
    who.reason = PPROF_INTERNAL_ERROR;
    req->authenticate(req->data, &who);

    d->authenticated = (who.reason == PPROF_OK);
    d->identity = who.identity;

    pipeline_detail(d, who.reason, who.told);

    if (pprof_policy_stop(&d->reason, who.reason, enforce)) {
        return 0;
    }

    if (pprof_policy_stop(&d->reason, pipeline_authorize(conf, req, &who, d),
                          enforce))
    {
        return 0;
    }

    target = pipeline_target(conf, req, d);

    if (pprof_policy_stop(&d->reason, target, enforce)) {
        return 0;
    }

    /* Behind a proxy the query reaches the target as sent: canonical only. */
    if (conf->authz) {
        rc = pprof_authz_params(&d->endpoint, req->args, req->method,
                                req->body_len, conf->max_seconds, &d->params,
                                d->detail, sizeof(d->detail));

    } else {
        rc = pprof_policy_params(&d->endpoint, req->args, req->method,
                                 req->body_len, conf->max_seconds,
                                 &d->params);

        pipeline_detail(d, rc, d->params.detail);
    }

    if (rc == PPROF_OK) {
        d->canonical = 1;

    } else if (rc == PPROF_INTERNAL_ERROR) {
        snprintf(d->error, sizeof(d->error), "parameters could not be "
                 "checked with pprof_max_seconds %u", conf->max_seconds);
    }

    if (pprof_policy_stop(&d->reason, rc, enforce)) {
        return 0;
    }

    /*
     * Rate, concurrency and budget need an identity, a capture length and
     * whose state to count it in.
     */
    return d->canonical && d->authenticated && target == PPROF_OK;
}


void
pprof_pipeline_admit(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, const pprof_store_ops_t *ops, void *store,
    pprof_decision_t *d)
{
    (void) pprof_policy_stop(&d->reason,
                             pipeline_admit(conf, req, ops, store, d),
                             conf->enforce);
}


int
pprof_pipeline_trusted(const pprof_pipeline_conf_t *conf,
    const pprof_addr_t *proxy)
{
    return pprof_cidr_match(conf->trusted, conf->ntrusted, proxy->family,
                            proxy->addr);
}


/* Stage 2; behind a proxy, a redirect could only be the proxy's to send. */
static pprof_reason_t
pipeline_transport(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, pprof_decision_t *d)
{
    pprof_tls_mode_t   mode;
    pprof_transport_t  transport;

    mode = conf->tls;
    if (conf->authz && mode == PPROF_TLS_MODE_REDIRECT) {
        mode = PPROF_TLS_MODE_REQUIRED;
    }

    transport = pprof_policy_transport(mode, req->tls, req->method);

    if (transport == PPROF_TRANSPORT_PASS) {
        return PPROF_OK;
    }

    if (transport == PPROF_TRANSPORT_REDIRECT) {
        d->location_len = pprof_redirect_location(req->server_name,
                              req->host, conf->prefix, &d->endpoint,
                              req->args, req->body_len, conf->max_seconds,
                              d->location, sizeof(d->location));
    }

    return PPROF_TLS_REQUIRED;
}


static pprof_reason_t
pipeline_address(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req)
{
    if (conf->allow == NULL) {
        return PPROF_OK;
    }

    return pprof_cidr_match(conf->allow, conf->nallow, req->client.family,
                            req->client.addr)
           ? PPROF_OK : PPROF_ADDRESS_DENIED;
}


/* Stage 5: the credential's own roles, then what the binds grant. */
static pprof_reason_t
pipeline_authorize(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, const pprof_who_t *who, pprof_decision_t *d)
{
    size_t  i, cap;

    if (who->reason != PPROF_OK) {
        return PPROF_FORBIDDEN;
    }

    cap = conf->max_held + who->nroles;

    if (cap) {
        d->held = req->alloc(req->data, cap * sizeof(pprof_str_t));
        if (d->held == NULL) {
            snprintf(d->error, sizeof(d->error), "no memory for %zu roles",
                     cap);
            return PPROF_INTERNAL_ERROR;
        }
    }

    for (i = 0; i < who->nroles; i++) {
        if (pprof_roles_add(who->roles[i], d->held, &d->nheld, cap) != 0) {
            snprintf(d->error, sizeof(d->error), "the credential's roles do "
                     "not fit in %zu", cap);
            return PPROF_INTERNAL_ERROR;
        }
    }

    if (conf->max_held
        && pprof_policy_bind_roles(conf->binds, conf->nbinds, who->identity,
                                   who->source, d->held, &d->nheld, cap,
                                   d->error, sizeof(d->error))
           != 0)
    {
        return PPROF_INTERNAL_ERROR;
    }

    return pprof_policy_authorize(conf->roles, conf->nroles, d->held,
                                  d->nheld, &d->endpoint);
}


/*
 * Stage 5 again: a location whose pprof_target names no process has no
 * slots or budget to count a request in, and serves none.  A location
 * without one is its own target, which needs no judging.
 */
static pprof_reason_t
pipeline_target(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, pprof_decision_t *d)
{
    pprof_reason_t  rc;

    if (!conf->named_target) {
        return PPROF_OK;
    }

    rc = pprof_policy_target(req->target_name);

    if (rc != PPROF_OK && d->reason == PPROF_OK) {
        if (req->target_name.len == 0) {
            snprintf(d->detail, sizeof(d->detail),
                     "this location's pprof_target is empty");

        } else {
            snprintf(d->detail, sizeof(d->detail), "this location's "
                     "pprof_target is longer than %d bytes",
                     PPROF_TARGET_MAX);
        }
    }

    return rc;
}


/*
 * Stages 7-9 in one hold of the store's lock.  A dry run goes on, like the
 * stages before, so that what it counts is what enforcing would count.
 */
static pprof_reason_t
pipeline_admit(const pprof_pipeline_conf_t *conf, const pprof_request_t *req,
    const pprof_store_ops_t *ops, void *store, pprof_decision_t *d)
{
    uint64_t             retry;
    pprof_reason_t       rc, first;
    const pprof_rate_t  *rate;

    first = PPROF_OK;
    rate = &conf->rates[d->endpoint.cls];
    d->capture_ms = d->params.seconds_us / 1000;

    ops->lock(store);

    if (rate->rate) {
        retry = 0;
        rc = ops->rate(store, d->endpoint.cls, d->identity, rate, req->now,
                       &retry);
        if (first == PPROF_OK) {
            pipeline_denied(d, rc, retry);
        }

        if (pprof_policy_stop(&first, rc, conf->enforce)) {
            goto done;
        }
    }

    if (d->endpoint.cls != PPROF_CLASS_CAPTURE) {
        goto done;
    }

    retry = 0;
    rc = ops->acquire(store, d->endpoint.name, conf->concurrency, req->now,
                      d->capture_ms, &d->lease, &retry);
    if (rc != PPROF_OK) {
        d->lease = 0;
    }

    if (first == PPROF_OK) {
        pipeline_denied(d, rc, retry);
    }

    if (pprof_policy_stop(&first, rc, conf->enforce)) {
        goto done;
    }

    if (conf->budget.limit) {
        retry = 0;
        rc = ops->budget(store, &conf->budget, req->now, d->capture_ms,
                         &retry);
        if (first == PPROF_OK) {
            pipeline_denied(d, rc, retry);
        }

        (void) pprof_policy_stop(&first, rc, conf->enforce);
    }

done:

    /* A capture that will not run gives its slot back at once. */
    if (!pprof_policy_forwards(first, conf->enforce)) {
        pipeline_give_back(ops, store, d);
    }

    ops->unlock(store);

    return first;
}


/*
 * The client's detail explains the reason that decides, the first failure;
 * a dry run goes on judging, and a later stage's words are not the
 * answer's.
 */
static void
pipeline_detail(pprof_decision_t *d, pprof_reason_t rc, const char *detail)
{
    if (d->reason == PPROF_OK && rc != PPROF_OK && detail && detail[0]) {
        snprintf(d->detail, sizeof(d->detail), "%s", detail);
    }
}


/*
 * The first 429 names when to come back: never sooner than a second.  Its
 * body says it too, as the same number: go tool pprof prints the body and
 * not Retry-After.  So does the 503 of a fleet's state that did not answer.
 */
static void
pipeline_denied(pprof_decision_t *d, pprof_reason_t rc, uint64_t retry_after)
{
    if (!pprof_reason_retries(rc)) {
        return;
    }

    d->retry_after = retry_after ? retry_after : 1;

    if (d->reason == PPROF_OK) {
        snprintf(d->detail, sizeof(d->detail), "retry after %llu second%s",
                 (unsigned long long) d->retry_after,
                 d->retry_after == 1 ? "" : "s");
    }
}


/* The caller holds the store's lock. */
static void
pipeline_give_back(const pprof_store_ops_t *ops, void *store,
    pprof_decision_t *d)
{
    if (d->lease) {
        ops->release(store, d->endpoint.name, d->lease);
        d->lease = 0;
    }
}


int
pprof_pipeline_audited(const pprof_pipeline_conf_t *conf,
    const pprof_store_ops_t *ops, void *store, pprof_decision_t *d,
    int written, int required)
{
    pprof_reason_t  reason;

    reason = pprof_policy_audited(d->reason, conf->enforce, written,
                                  required);

    /* A detail explained the reason that no longer stands. */
    if (reason != d->reason) {
        d->reason = reason;
        d->detail[0] = '\0';
    }

    if (pprof_policy_forwards(d->reason, conf->enforce)) {
        return 1;
    }

    if (d->lease) {
        ops->lock(store);
        pipeline_give_back(ops, store, d);
        ops->unlock(store);
    }

    return 0;
}
