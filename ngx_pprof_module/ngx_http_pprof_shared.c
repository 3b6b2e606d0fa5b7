/*
 * A capture admitted through Redis (pprof_shared_state).  Stages 1-6 and
 * the gateway's own slot are decided here at once; then the request waits,
 * without holding up its worker, for the script's answer or the timeout,
 * and the answer is replayed through the pipeline as a store's would be.
 *
 * An exchange with Redis may outlive its request (the request timed out,
 * or ended some other way): it is the link's until its reply or its loss,
 * and whatever lease the script may have taken for it is given back then.
 */

#include "ngx_http_pprof_module.h"

#include <time.h>


/*
 * Beside pprof_shared_kind_t's, why a wait ended without an answer: the
 * request itself ended.  Not an error of Redis, so not counted as one.
 */
#define NGX_HTTP_PPROF_SHARED_ENDED  PPROF_SHARED_KINDS


/*
 * One command of a capture's: its admission, then possibly its release.
 * Its key's parts are copied, for it may outlive the request.
 */
typedef struct {
    ngx_http_pprof_redis_call_t   call;         /* first: the link's */
    ngx_http_pprof_shared_t      *sh;
    ngx_http_pprof_wait_t        *wait;         /* NULL: nobody waits */
    unsigned                      admit:1;      /* 0: a release */
    unsigned                      evaled:1;     /* sent again as EVAL */
    unsigned                      own:1;        /* the location's target */
    uint64_t                      capture_ms;
    uint64_t                      settle_ms;    /* a release's: 0, now */
    pprof_str_t                   endpoint;
    pprof_str_t                   target;
    pprof_str_t                   token;
    u_char                        data[1];
} ngx_http_pprof_exchange_t;


struct ngx_http_pprof_wait_s {
    ngx_http_request_t           *r;
    ngx_http_pprof_exchange_t    *x;            /* in flight, or NULL */
    ngx_http_pprof_exchange_t    *lease;        /* the script took one */
    ngx_event_t                   wake;         /* timeout, or the answer */
    ngx_int_t                     kind;         /* -1: answered, or
                                                   pprof_shared_kind_t, or
                                                   ..._SHARED_ENDED */
    int64_t                       start;        /* us; -1: never sent */
    pprof_request_t               req;
    ngx_http_pprof_store_t        store;
    pprof_shared_store_t          ss;
    pprof_shared_answer_t         answer;
};


static ngx_int_t ngx_http_pprof_shared_ask(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx,
    ngx_http_pprof_wait_t *w);
static ngx_http_pprof_exchange_t *ngx_http_pprof_shared_exchange(
    ngx_http_request_t *r, ngx_http_pprof_loc_conf_t *plcf,
    ngx_http_pprof_ctx_t *ctx);
static void ngx_http_pprof_shared_key(ngx_http_pprof_exchange_t *x,
    ngx_http_request_t *r, pprof_shared_key_t *key);
static void ngx_http_pprof_shared_answered(ngx_http_pprof_redis_call_t *call,
    ngx_int_t rc, ngx_uint_t kind, const long long *v, size_t n);
static ngx_int_t ngx_http_pprof_shared_again(ngx_http_pprof_exchange_t *x);
static void ngx_http_pprof_shared_give_back(ngx_http_pprof_exchange_t *x);
static void ngx_http_pprof_shared_released(ngx_http_pprof_redis_call_t *call,
    ngx_int_t rc, ngx_uint_t kind, const long long *v, size_t n);
static void ngx_http_pprof_shared_wake(ngx_event_t *ev);
static void ngx_http_pprof_shared_cleanup(void *data);
static void ngx_http_pprof_shared_why(ngx_http_pprof_shared_t *sh,
    ngx_int_t kind, char *buf, size_t cap);
static const char *ngx_http_pprof_shared_sha1(void);
static int64_t ngx_http_pprof_shared_usec(void);


/*
 * Returns whether the request goes ahead, or NGX_AGAIN while it waits for
 * Redis: ngx_http_pprof_shared_finish then decides.
 */
ngx_int_t
ngx_http_pprof_shared_decide(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx,
    pprof_request_t *req)
{
    pprof_shared_store_t     ss;
    ngx_http_pprof_wait_t   *w;
    ngx_http_pprof_store_t   store;

    if (ngx_http_pprof_decide_start(r, plcf, ctx, &store, req) != NGX_OK
        || !pprof_pipeline_check(&plcf->pipeline, req, &ctx->decision))
    {
        return ngx_http_pprof_decided(r, plcf, ctx, &ngx_http_pprof_zone_ops,
                                      &store);
    }

    ngx_memzero(&ss, sizeof(pprof_shared_store_t));
    ss.local = &ngx_http_pprof_zone_ops;
    ss.local_store = &store;

    /* Other classes, and a capture this gateway's own slot refuses. */
    if (!pprof_pipeline_reserve(&plcf->pipeline, req, &ss, &ctx->decision)) {
        return ngx_http_pprof_decided(r, plcf, ctx, &pprof_shared_store_ops,
                                      &ss);
    }

    /* Only a capture that asks Redis waits. */
    w = ngx_pcalloc(r->pool, sizeof(ngx_http_pprof_wait_t));

    if (w == NULL) {
        snprintf(ctx->decision.error, sizeof(ctx->decision.error),
                 "no memory to ask Redis");

        /* The slot reserved goes back as the replay of a refusal gives it. */
        pprof_pipeline_unshared(&plcf->pipeline, req, &ss, 0,
                                &ctx->decision);
        ctx->decision.reason = PPROF_INTERNAL_ERROR;
        ctx->decision.detail[0] = '\0';

        return ngx_http_pprof_decided(r, plcf, ctx, &pprof_shared_store_ops,
                                      &ss);
    }

    w->r = r;
    w->req = *req;
    w->kind = -1;
    w->start = -1;
    w->store = store;
    w->ss = ss;
    w->ss.local_store = &w->store;

    ctx->wait = w;

    return ngx_http_pprof_shared_ask(r, plcf, ctx, w);
}


/*
 * The admission goes out on the worker's link and the request waits, at
 * most the timeout, as limit_req's delay waits: its handler returns
 * NGX_AGAIN and the phases run again when it wakes.
 */
static ngx_int_t
ngx_http_pprof_shared_ask(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx,
    ngx_http_pprof_wait_t *w)
{
    const char                  *sha1;
    pprof_shared_key_t           key;
    ngx_pool_cleanup_t          *cln;
    ngx_http_pprof_exchange_t   *x;
    ngx_http_pprof_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pprof_module);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    x = ngx_http_pprof_shared_exchange(r, plcf, ctx);
    sha1 = ngx_http_pprof_shared_sha1();

    if (cln == NULL || x == NULL || sha1 == NULL) {
        snprintf(ctx->decision.error, sizeof(ctx->decision.error),
                 "no memory or no SHA-1 to ask Redis");
        goto failed;
    }

    ngx_http_pprof_shared_key(x, r, &key);

    if (pprof_shared_admit_cmd(&plcf->pipeline, &ctx->decision, &key, sha1,
                               &x->call.cmd)
        != 0)
    {
        snprintf(ctx->decision.error, sizeof(ctx->decision.error),
                 "the admission does not fit a Redis command");
        goto failed;
    }

    cln->handler = ngx_http_pprof_shared_cleanup;
    cln->data = w;

    x->wait = w;
    w->x = x;
    w->start = ngx_http_pprof_shared_usec();

    if (ngx_http_pprof_redis_send(pmcf->shared, &x->call, 0) != NGX_OK) {
        /* Backing off after a failure: no link to wait for. */
        ngx_free(x);
        w->x = NULL;
        w->start = -1;
        w->kind = PPROF_SHARED_CONNECT;

        return ngx_http_pprof_shared_finish(r, plcf, ctx);
    }

    w->wake.handler = ngx_http_pprof_shared_wake;
    w->wake.data = w;
    w->wake.log = r->connection->log;

    ngx_add_timer(&w->wake, ngx_http_pprof_redis_timeout(pmcf->shared));

    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_AGAIN;

failed:

    if (x) {
        ngx_free(x);
    }

    ctx->wait = NULL;

    /* The slot reserved goes back as the replay of a refusal gives it. */
    pprof_pipeline_unshared(&plcf->pipeline, &w->req, &w->ss, 0,
                            &ctx->decision);
    ctx->decision.reason = PPROF_INTERNAL_ERROR;
    ctx->decision.detail[0] = '\0';

    return ngx_http_pprof_decided(r, plcf, ctx, &pprof_shared_store_ops,
                                  &w->ss);
}


/*
 * Copies of what a release needs, the owner token among them.  The target
 * is named by now: decide_start set it, and stages 1-6 refused an empty
 * value.  Whether it is the location's own keeps the two kinds' keys apart.
 */
static ngx_http_pprof_exchange_t *
ngx_http_pprof_shared_exchange(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx)
{
    u_char                      *p;
    ngx_str_t                    gateway;
    ngx_http_pprof_exchange_t   *x;
    ngx_http_pprof_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pprof_module);

    gateway = pmcf->gateway_id;

    x = ngx_alloc(sizeof(ngx_http_pprof_exchange_t)
                  + ctx->decision.endpoint.name.len + ctx->target.len
                  + gateway.len + 1 + PPROF_AUDIT_ID_LEN,
                  r->connection->log);
    if (x == NULL) {
        return NULL;
    }

    ngx_memzero(x, offsetof(ngx_http_pprof_exchange_t, data));

    x->sh = pmcf->shared;
    x->admit = 1;
    x->own = (plcf->target == NULL);
    x->call.done = ngx_http_pprof_shared_answered;
    x->call.data = x;
    x->capture_ms = ctx->decision.params.seconds_us / 1000;

    p = x->data;

    x->endpoint.data = p;
    x->endpoint.len = ctx->decision.endpoint.name.len;
    p = ngx_cpymem(p, ctx->decision.endpoint.name.data, x->endpoint.len);

    x->target.data = p;
    x->target.len = ctx->target.len;
    p = ngx_cpymem(p, ctx->target.data, ctx->target.len);

    x->token.data = p;
    p = ngx_cpymem(p, gateway.data, gateway.len);
    *p++ = '/';
    p = ngx_cpymem(p, ctx->audit_id, ngx_strlen(ctx->audit_id));
    x->token.len = p - x->token.data;

    return x;
}


/* An admission's key (r set) names every budget window length too. */
static void
ngx_http_pprof_shared_key(ngx_http_pprof_exchange_t *x, ngx_http_request_t *r,
    pprof_shared_key_t *key)
{
    ngx_http_pprof_main_conf_t  *pmcf;

    key->prefix = ngx_http_pprof_redis_prefix(x->sh);
    key->target = x->target;
    key->token = x->token;
    key->own = x->own;
    key->windows = NULL;
    key->nwindows = 0;

    if (r) {
        pmcf = ngx_http_get_module_main_conf(r, ngx_http_pprof_module);
        key->windows = pmcf->budget_windows.elts;
        key->nwindows = pmcf->budget_windows.nelts;
    }
}


/*
 * The link's word on an admission.  Whoever waits is told; a lease the
 * script may have taken for nobody is given back.
 */
static void
ngx_http_pprof_shared_answered(ngx_http_pprof_redis_call_t *call,
    ngx_int_t rc, ngx_uint_t kind, const long long *v, size_t n)
{
    ngx_http_pprof_exchange_t *x = call->data;

    const char               *err;
    pprof_shared_answer_t     answer;
    ngx_http_pprof_wait_t    *w;
    pprof_shared_outcome_t    outcome;

    w = x->wait;
    ngx_memzero(&answer, sizeof(pprof_shared_answer_t));

    switch (rc) {

    case NGX_OK:
        outcome = PPROF_SHARED_ANSWERED;
        break;

    case NGX_DECLINED:
        /* Redis lost the script (a restart, SCRIPT FLUSH): its text, once. */
        if (w && !x->evaled && ngx_http_pprof_shared_again(x) == NGX_OK) {
            return;
        }

        outcome = PPROF_SHARED_NOSCRIPT;
        kind = PPROF_SHARED_PROTOCOL;
        break;

    case NGX_ABORT:
        outcome = PPROF_SHARED_UNSENT;
        break;

    default:
        outcome = PPROF_SHARED_FAILED;
    }

    if (outcome == PPROF_SHARED_ANSWERED
        && pprof_shared_answer(v, n, &answer, &err) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "pprof_shared_state: not the script's answer (%s): is "
                      "another program writing keys with this prefix?", err);
        outcome = PPROF_SHARED_FAILED;
        kind = PPROF_SHARED_PROTOCOL;
    }

    if (w) {
        w->x = NULL;
        w->kind = (outcome == PPROF_SHARED_ANSWERED) ? -1 : (ngx_int_t) kind;

        if (outcome == PPROF_SHARED_ANSWERED) {
            w->answer = answer;
        }
    }

    /*
     * A lease the script may hold is the waiting request's, if the script
     * answered it; otherwise (nobody waits, or the script failed or was not
     * heard) it is given back at once.
     */
    if (!pprof_shared_may_hold(outcome, &answer)) {
        ngx_free(x);

    } else if (outcome == PPROF_SHARED_ANSWERED && w) {
        w->lease = x;
        x->wait = NULL;

    } else {
        ngx_http_pprof_shared_give_back(x);
    }

    if (w == NULL) {
        return;
    }

    if (w->wake.timer_set) {
        ngx_del_timer(&w->wake);
    }

    /* Not from within hiredis: the request goes on from nginx's loop. */
    ngx_post_event(&w->wake, &ngx_posted_events);
}


/* EVAL with the script's text, which Redis then caches for EVALSHA. */
static ngx_int_t
ngx_http_pprof_shared_again(ngx_http_pprof_exchange_t *x)
{
    pprof_shared_key_t          key;
    ngx_http_pprof_ctx_t       *ctx;
    ngx_http_pprof_loc_conf_t  *plcf;

    x->evaled = 1;

    ngx_http_pprof_shared_key(x, x->admit ? x->wait->r : NULL, &key);

    if (x->admit) {
        plcf = ngx_http_get_module_loc_conf(x->wait->r, ngx_http_pprof_module);
        ctx = ngx_http_get_module_ctx(x->wait->r, ngx_http_pprof_module);

        if (pprof_shared_admit_cmd(&plcf->pipeline, &ctx->decision, &key,
                                   NULL, &x->call.cmd)
            != 0)
        {
            return NGX_ERROR;
        }

    } else if (pprof_shared_release_cmd(x->endpoint, x->capture_ms,
                                        x->settle_ms, &key, NULL, &x->call.cmd)
               != 0)
    {
        return NGX_ERROR;
    }

    return ngx_http_pprof_redis_send(x->sh, &x->call, !x->admit);
}


/*
 * The lease's release, by its owner's token, fire and forget, freeing it
 * now or, with x->settle_ms, once the target has settled.  Without a link
 * it waits for the next, while an admission could still take the lease;
 * the script's tombstone then keeps a late admission from it.
 */
static void
ngx_http_pprof_shared_give_back(ngx_http_pprof_exchange_t *x)
{
    const char          *sha1;
    pprof_shared_key_t   key;

    sha1 = ngx_http_pprof_shared_sha1();

    x->admit = 0;
    x->evaled = 0;
    x->wait = NULL;
    x->call.done = ngx_http_pprof_shared_released;
    x->call.expires = ngx_current_msec + x->capture_ms + PPROF_LEASE_MARGIN;

    ngx_http_pprof_shared_key(x, NULL, &key);

    if (sha1 == NULL
        || pprof_shared_release_cmd(x->endpoint, x->capture_ms, x->settle_ms,
                                    &key, sha1, &x->call.cmd)
           != 0
        || ngx_http_pprof_redis_send(x->sh, &x->call, 1) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "pprof_shared_state: a capture's lease could not be "
                      "given back; it ends by itself within %uLs",
                      (x->capture_ms + PPROF_LEASE_MARGIN) / 1000);
        ngx_free(x);
    }
}


/* A release that was lost with its link goes out on the next one. */
static void
ngx_http_pprof_shared_released(ngx_http_pprof_redis_call_t *call,
    ngx_int_t rc, ngx_uint_t kind, const long long *v, size_t n)
{
    ngx_http_pprof_exchange_t *x = call->data;

    if (rc == NGX_DECLINED && !x->evaled
        && ngx_http_pprof_shared_again(x) == NGX_OK)
    {
        return;
    }

    if ((rc == NGX_ABORT
         || (rc == NGX_ERROR
             && (kind == PPROF_SHARED_CONNECT || kind == PPROF_SHARED_TIMEOUT)))
        && (ngx_msec_int_t) (x->call.expires - ngx_current_msec) > 0
        && ngx_http_pprof_redis_send(x->sh, &x->call, 1) == NGX_OK)
    {
        return;
    }

    ngx_free(x);
}


/*
 * From the zone, when the gateway's slot of this capture is given back;
 * settle: the capture's response did not complete, and the fleet's lease
 * settles as the gateway's slot does.  Every other release (an answer
 * for nobody, a capture that did not go ahead) frees the lease at once.
 */
void
ngx_http_pprof_shared_release(void *lease, ngx_uint_t settle)
{
    ngx_http_pprof_exchange_t *x = lease;

    x->settle_ms = settle ? PPROF_CAPTURE_SETTLE : 0;

    ngx_http_pprof_shared_give_back(x);
}


/*
 * The answer came, or the time is up.  A silent Redis must not wedge the
 * requests after this one: its link is dropped, to be connected again.
 */
static void
ngx_http_pprof_shared_wake(ngx_event_t *ev)
{
    ngx_http_pprof_wait_t *w = ev->data;

    ngx_connection_t            *c;
    ngx_http_request_t          *r;
    ngx_http_pprof_ctx_t        *ctx;
    ngx_http_pprof_main_conf_t  *pmcf;

    r = w->r;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    if (ev->timedout && w->x) {
        ev->timedout = 0;

        ctx = ngx_http_get_module_ctx(r, ngx_http_pprof_module);
        pmcf = ngx_http_get_module_main_conf(r, ngx_http_pprof_module);

        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "pprof_shared_state: Redis did not answer within "
                      "%Mms, audit id %s",
                      ngx_http_pprof_redis_timeout(pmcf->shared),
                      ctx->audit_id);

        /* The reply, if it ever comes, is nobody's: its lease goes back. */
        w->x->wait = NULL;
        w->x = NULL;
        w->kind = PPROF_SHARED_TIMEOUT;

        ngx_http_pprof_redis_drop(pmcf->shared, PPROF_SHARED_TIMEOUT);
    }

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


/*
 * Back in the phase: stages 7-9 on Redis's answer, or, without one, closed
 * or open as pprof_shared_failure says.  Returns whether the request goes
 * ahead, or NGX_AGAIN if it is still waiting.
 */
ngx_int_t
ngx_http_pprof_shared_finish(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx)
{
    char                         why[64];
    ngx_uint_t                   open, ahead;
    ngx_http_pprof_wait_t       *w;
    ngx_http_pprof_main_conf_t  *pmcf;

    w = ctx->wait;

    if (w->x) {
        return NGX_AGAIN;
    }

    ctx->wait = NULL;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pprof_module);

    ngx_http_pprof_zone_shared_count(r, w->kind,
                                     w->start < 0 ? -1
                                     : ngx_http_pprof_shared_usec() - w->start);

    if (w->kind < 0) {
        /* The fleet's lease ends with the gateway's slot, or now. */
        if (w->lease && !ctx->authz) {
            if (ngx_http_pprof_zone_share(ctx->hold, w->lease) != NGX_OK) {
                ngx_http_pprof_shared_give_back(w->lease);
            }

            w->lease = NULL;
        }
        w->ss.answer = &w->answer;
        ctx->shared = NGX_HTTP_PPROF_SHARED_OK;

        pprof_pipeline_admit(&plcf->pipeline, &w->req, &pprof_shared_store_ops,
                             &w->ss, &ctx->decision);

    } else {
        ctx->shared = NGX_HTTP_PPROF_SHARED_UNAVAILABLE;

        /* A request that ended goes nowhere: no local decision for it. */
        open = pmcf->shared_failure
               && w->kind != NGX_HTTP_PPROF_SHARED_ENDED;

        pprof_pipeline_unshared(&plcf->pipeline, &w->req, &w->ss, open,
                                &ctx->decision);

        ngx_http_pprof_shared_why(pmcf->shared, w->kind, why, sizeof(why));

        /* The client and the decision's log line are told why. */
        if (ctx->decision.reason == PPROF_SHARED_STATE_UNAVAILABLE) {
            ngx_cpystrn((u_char *) ctx->decision.detail, (u_char *) why,
                        sizeof(ctx->decision.detail));
        }

        if (open) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "pprof: shared state unavailable (%s), decided on "
                          "this gateway's own state (pprof_shared_failure "
                          "open), audit id %s", why, ctx->audit_id);
        }
    }

    ahead = ngx_http_pprof_decided(r, plcf, ctx, &pprof_shared_store_ops,
                                   &w->ss);

    /* A capture that will not run gives the fleet's lease back now. */
    if (!ahead) {
        ngx_http_pprof_zone_release(ctx);
    }

    /*
     * Answering a proxy's check, no response ends the capture: the fleet's
     * lease runs to its expiry, as the gateway's own slot does.
     */
    if (w->lease) {
        if (ahead) {
            ngx_free(w->lease);

        } else {
            ngx_http_pprof_shared_give_back(w->lease);
        }

        w->lease = NULL;
    }

    return ahead;
}


/*
 * The request ends while it waits for Redis (worker_shutdown_timeout
 * after a reload): it is decided now, as refused, so that it too leaves a
 * decision record.  An answer still to come is nobody's, and gives its
 * lease back when it comes; one that came and was not replayed yet gives
 * it back now.
 */
void
ngx_http_pprof_shared_ended(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx)
{
    ngx_http_pprof_wait_t  *w;

    w = ctx->wait;

    if (w->x) {
        w->x->wait = NULL;
        w->x = NULL;
        w->start = -1;
    }

    /* An answer that came but was not yet replayed is nobody's too. */
    if (w->lease) {
        ngx_http_pprof_shared_give_back(w->lease);
        w->lease = NULL;
    }

    w->kind = NGX_HTTP_PPROF_SHARED_ENDED;

    if (ngx_http_pprof_shared_finish(r, plcf, ctx) == 1) {
        ngx_http_pprof_zone_release(ctx);
    }
}


/* The request is gone, whatever ended it: nothing may wake it now. */
static void
ngx_http_pprof_shared_cleanup(void *data)
{
    ngx_http_pprof_wait_t *w = data;

    if (w->x) {
        w->x->wait = NULL;
        w->x = NULL;
    }

    if (w->lease) {
        ngx_http_pprof_shared_give_back(w->lease);
        w->lease = NULL;
    }

    if (w->wake.timer_set) {
        ngx_del_timer(&w->wake);
    }

    if (w->wake.posted) {
        ngx_delete_posted_event(&w->wake);
    }
}


/* Why Redis decided nothing, in words; never a password. */
static void
ngx_http_pprof_shared_why(ngx_http_pprof_shared_t *sh, ngx_int_t kind,
    char *buf, size_t cap)
{
    u_char      *last;
    ngx_msec_t   wait;

    switch (kind) {

    case PPROF_SHARED_TIMEOUT:
        last = ngx_snprintf((u_char *) buf, cap - 1,
                            "Redis did not answer within %Mms",
                            ngx_http_pprof_redis_timeout(sh));
        break;

    case PPROF_SHARED_AUTH:
        last = ngx_cpymem(buf, "Redis refused the password",
                          sizeof("Redis refused the password") - 1);
        break;

    case NGX_HTTP_PPROF_SHARED_ENDED:
        last = ngx_cpymem(buf, "the request ended before Redis answered",
                          sizeof("the request ended before Redis answered")
                          - 1);
        break;

    case PPROF_SHARED_PROTOCOL:
        last = ngx_cpymem(buf, "Redis's answer was not the script's",
                          sizeof("Redis's answer was not the script's") - 1);
        break;

    default:
        wait = ngx_http_pprof_redis_backoff(sh);
        last = wait ? ngx_snprintf((u_char *) buf, cap - 1,
                                   "Redis is unreachable (retrying in %Mms)",
                                   wait)
                    : ngx_cpymem(buf, "Redis is unreachable",
                                 sizeof("Redis is unreachable") - 1);
    }

    *last = '\0';
}


static const char *
ngx_http_pprof_shared_sha1(void)
{
    static char  sha1[PPROF_SHARED_SHA1_HEX + 1];

    if (sha1[0] == '\0' && pprof_shared_script_sha1(sha1) != 0) {
        sha1[0] = '\0';
        return NULL;
    }

    return sha1;
}


/* nginx's clock counts milliseconds; the histogram's first bucket is one. */
static int64_t
ngx_http_pprof_shared_usec(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
