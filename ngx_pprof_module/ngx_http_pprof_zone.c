/*
 * The pprof_zone: state of stages 7-9 and the metrics, shared by all
 * workers and kept across reloads.  Modelled on limit_req's zone: nodes in
 * a slab-allocated rbtree, an LRU queue for expiry and eviction, and the
 * old zone reused when the configuration is reloaded.
 *
 * Three kinds of node: a rate state per location, class and identity; the
 * capture slots per target and endpoint; a budget window per target and
 * window length.  Rate nodes, slot nodes without a live lease and windows
 * that hold no capture may be evicted when the slab is full; a slot that
 * holds a lease and a window still counting a capture never are, so a
 * flood of identities or targets cannot reset a budget or free a running
 * capture.  Only when nothing else is left to evict does a request fail
 * for want of room, and that is logged.
 *
 * A target's keys say whether pprof_target named it or it is a location's
 * own, then its length, so that no bytes in a name (a variable's value may
 * hold any, a client's header among them) can reach a location's own state
 * or make two targets' keys one.  Their kinds are letters that slots and
 * budgets keyed by location never used.
 */

#include "ngx_http_pprof_module.h"


#define NGX_HTTP_PPROF_NODE_RATE    'r'
#define NGX_HTTP_PPROF_NODE_SLOTS   't'
#define NGX_HTTP_PPROF_NODE_BUDGET  'w'


typedef struct {
    u_char                      color;
    u_char                      kind;
    u_short                     len;          /* of the key */
    ngx_queue_t                 queue;        /* LRU */
    ngx_uint_t                  payload;      /* bytes of state */
    u_char                      data[1];      /* aligned state, then key */
} ngx_http_pprof_node_t;


typedef struct {
    pprof_rate_t                rate;         /* to tell when it is idle */
    pprof_rate_state_t          state;
} ngx_http_pprof_rate_node_t;


typedef struct {
    uint64_t                    window;       /* ms, to tell when it is idle */
    pprof_budget_state_t        state;
} ngx_http_pprof_budget_node_t;


/*
 * What a capture holds, given back once the target's response is complete
 * or, failing that, when the request's pool goes (lease 0: given back).
 */
struct ngx_http_pprof_hold_s {
    ngx_http_pprof_zone_ctx_t  *zone;
    ngx_str_t                   key;
    uint32_t                    hash;
    uint64_t                    lease;
    void                       *shared;       /* the fleet's lease in Redis,
                                                 given back with this one */
};


static ngx_int_t ngx_http_pprof_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_uint_t ngx_http_pprof_zone_taken(ngx_conf_t *cf,
    ngx_http_pprof_main_conf_t *pmcf);
static ngx_shm_zone_t *ngx_http_pprof_add_zone(ngx_conf_t *cf, size_t size);
static void ngx_http_pprof_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_pprof_node_t *ngx_http_pprof_lookup(
    ngx_http_pprof_zone_ctx_t *zone, ngx_str_t *key, uint32_t hash);
static ngx_http_pprof_node_t *ngx_http_pprof_node(ngx_http_request_t *r,
    ngx_http_pprof_zone_ctx_t *zone, ngx_str_t *key, u_char kind,
    size_t payload, uint64_t now);
static ngx_rbtree_node_t *ngx_http_pprof_alloc(ngx_http_request_t *r,
    ngx_http_pprof_zone_ctx_t *zone, size_t size, u_char kind, uint64_t now);
static void ngx_http_pprof_expire(ngx_http_pprof_zone_ctx_t *zone,
    uint64_t now);
static ngx_int_t ngx_http_pprof_evictable(ngx_http_pprof_zone_ctx_t *zone,
    ngx_http_pprof_node_t *pn, uint64_t now, ngx_uint_t force);
static void ngx_http_pprof_delete(ngx_http_pprof_zone_ctx_t *zone,
    ngx_http_pprof_node_t *pn);
static void *ngx_http_pprof_payload(ngx_http_pprof_node_t *pn);
static u_char *ngx_http_pprof_node_key(ngx_http_pprof_node_t *pn);
static ngx_int_t ngx_http_pprof_key(ngx_http_request_t *r, ngx_str_t *key,
    u_char kind, ngx_str_t *zone_key, ngx_str_t *a, ngx_str_t *b);
static ngx_int_t ngx_http_pprof_target_key(ngx_http_pprof_store_t *store,
    ngx_str_t *key, u_char kind, u_char *part, size_t len);
static ngx_http_pprof_budget_node_t *ngx_http_pprof_window(
    ngx_http_pprof_store_t *store, uint64_t window, uint64_t now,
    ngx_uint_t create);
static void ngx_http_pprof_release(void *data);
static void ngx_http_pprof_give_back(ngx_http_pprof_hold_t *hold,
    ngx_uint_t settle);
static void ngx_http_pprof_slots_free(ngx_http_pprof_hold_t *hold,
    uint64_t lease, ngx_uint_t settle);
static void ngx_http_pprof_zone_lock(void *data);
static void ngx_http_pprof_zone_unlock(void *data);
static pprof_reason_t ngx_http_pprof_zone_rate(void *data, pprof_class_t cls,
    pprof_str_t identity, const pprof_rate_t *rate, uint64_t now,
    uint64_t *retry_after);
static pprof_reason_t ngx_http_pprof_zone_acquire(void *data,
    pprof_str_t endpoint, size_t concurrency, uint64_t now,
    uint64_t duration, uint64_t *lease, uint64_t *retry_after);
static void ngx_http_pprof_zone_give_back(void *data, pprof_str_t endpoint,
    uint64_t lease);
static pprof_reason_t ngx_http_pprof_zone_budget(void *data,
    const pprof_budget_t *budget, uint64_t now, uint64_t amount,
    uint64_t *retry_after);
static uint64_t ngx_http_pprof_now(void);


static ngx_str_t  ngx_http_pprof_zone_name = ngx_string("pprof");


char *
ngx_http_pprof_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_main_conf_t *pmcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (pmcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* The habit of limit_req_zone's NAME:SIZE. */
    if (ngx_strlchr(value[1].data, value[1].data + value[1].len, ':')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_zone \"%V\" takes only a size, as in "
                           "\"pprof_zone 10m;\": the zone's name is always "
                           "\"pprof\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_zone \"%V\" is not a size, as in "
                           "\"pprof_zone 10m;\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_zone \"%V\" is smaller than the %uzk "
                           "(8 pages) a zone needs", &value[1],
                           8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    pmcf->shm_zone = ngx_http_pprof_add_zone(cf, size);

    return pmcf->shm_zone ? NGX_CONF_OK : NGX_CONF_ERROR;
}


/* A location with pprof on gets a 10m zone without asking for one. */
ngx_int_t
ngx_http_pprof_zone_default(ngx_conf_t *cf)
{
    ngx_http_pprof_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_pprof_module);

    if (pmcf->used && pmcf->shm_zone == NULL) {
        if (ngx_http_pprof_zone_taken(cf, pmcf)) {
            return NGX_ERROR;
        }

        pmcf->shm_zone = ngx_http_pprof_add_zone(cf, 10 * 1024 * 1024);
        if (pmcf->shm_zone == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Added after the last line is read, the default zone would be refused by
 * nginx at that line: name the location that needs it instead, or where
 * no location has pprof on, the audit log whose chain head it keeps.
 */
static ngx_uint_t
ngx_http_pprof_zone_taken(ngx_conf_t *cf, ngx_http_pprof_main_conf_t *pmcf)
{
    ngx_uint_t                   i;
    ngx_shm_zone_t              *zone;
    ngx_list_part_t             *part;
    ngx_http_pprof_where_t      *at;
    ngx_http_pprof_audit_log_t  *log;

    part = &cf->cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].tag != &ngx_http_pprof_module
            && zone[i].shm.name.len == ngx_http_pprof_zone_name.len
            && ngx_strncmp(zone[i].shm.name.data,
                           ngx_http_pprof_zone_name.data,
                           ngx_http_pprof_zone_name.len)
               == 0)
        {
            log = pmcf->audit_logs.elts;
            at = pmcf->used_at.file ? &pmcf->used_at : &log[0].at;

            ngx_http_pprof_conf_log(NGX_LOG_EMERG, cf, at,
                                    "the shared memory zone \"pprof\" that "
                                    "%s needs is already declared for a "
                                    "different use: the module's zone is "
                                    "always named \"pprof\", so rename the "
                                    "other zone",
                                    pmcf->used_at.file ? "this location"
                                                       : "pprof_audit_log");
            return 1;
        }
    }
}


static ngx_shm_zone_t *
ngx_http_pprof_add_zone(ngx_conf_t *cf, size_t size)
{
    ngx_shm_zone_t             *shm_zone;
    ngx_http_pprof_zone_ctx_t  *ctx;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_pprof_zone_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_pprof_zone_name, size,
                                     &ngx_http_pprof_module);
    if (shm_zone == NULL) {
        return NULL;
    }

    ctx->audit_logs = &((ngx_http_pprof_main_conf_t *)
                        ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_pprof_module))
                      ->audit_logs;

    shm_zone->init = ngx_http_pprof_init_zone;
    shm_zone->data = ctx;

    return shm_zone;
}


static ngx_int_t
ngx_http_pprof_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_pprof_zone_ctx_t  *octx = data;

    size_t                      len;
    ngx_http_pprof_zone_ctx_t  *ctx;

    ctx = shm_zone->data;

    /*
     * A reload keeps the old state: running captures keep their slots and
     * audit chains their heads.
     */
    if (octx) {
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;
        return ngx_http_pprof_audit_heads(ctx, shm_zone->shm.log);
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return ngx_http_pprof_audit_heads(ctx, shm_zone->shm.log);
    }

    ctx->sh = ngx_slab_calloc(ctx->shpool, sizeof(ngx_http_pprof_shctx_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_http_pprof_rbtree_insert_value);
    ngx_queue_init(&ctx->sh->lru);

    len = sizeof(" in pprof_zone") - 1;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len + 1);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in pprof_zone%Z");

    /* A full zone is handled by eviction, not worth a [crit] each time. */
    ctx->shpool->log_nomem = 0;

    return ngx_http_pprof_audit_heads(ctx, shm_zone->shm.log);
}


static void
ngx_http_pprof_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t      **p;
    ngx_http_pprof_node_t   *pn, *pnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            pn = (ngx_http_pprof_node_t *) &node->color;
            pnt = (ngx_http_pprof_node_t *) &temp->color;

            p = (ngx_memn2cmp(ngx_http_pprof_node_key(pn),
                              ngx_http_pprof_node_key(pnt), pn->len, pnt->len)
                 < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* The zone as the pipeline's store for one request. */
void
ngx_http_pprof_zone_store(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx,
    ngx_http_pprof_store_t *store)
{
    ngx_http_pprof_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pprof_module);

    store->r = r;
    store->plcf = ngx_http_get_module_loc_conf(r, ngx_http_pprof_module);
    store->ctx = ctx;
    store->zone = pmcf->shm_zone->data;
    store->hold = NULL;
    store->now = ngx_http_pprof_now();

    /* A proxy's check has no response to end a capture: its slot expires. */
    store->leases = ctx->authz;
}


static void
ngx_http_pprof_zone_lock(void *data)
{
    ngx_http_pprof_store_t *store = data;

    ngx_shmtx_lock(&store->zone->shpool->mutex);

    ngx_http_pprof_expire(store->zone, store->now);
}


static void
ngx_http_pprof_zone_unlock(void *data)
{
    ngx_http_pprof_store_t *store = data;

    ngx_shmtx_unlock(&store->zone->shpool->mutex);
}


/* Stage 7: per identity, class and location. */
static pprof_reason_t
ngx_http_pprof_zone_rate(void *data, pprof_class_t cls, pprof_str_t identity,
    const pprof_rate_t *rate, uint64_t now, uint64_t *retry_after)
{
    ngx_http_pprof_store_t *store = data;

    ngx_str_t                    key, name, who;
    ngx_http_pprof_node_t       *pn;
    ngx_http_pprof_rate_node_t  *rn;

    name.data = (u_char *) pprof_class_name(cls);
    name.len = ngx_strlen(name.data);
    who.data = (u_char *) identity.data;
    who.len = identity.len;

    if (ngx_http_pprof_key(store->r, &key, NGX_HTTP_PPROF_NODE_RATE,
                           &store->plcf->zone_key, &name, &who)
        != NGX_OK)
    {
        return PPROF_INTERNAL_ERROR;
    }

    pn = ngx_http_pprof_node(store->r, store->zone, &key,
                             NGX_HTTP_PPROF_NODE_RATE,
                             sizeof(ngx_http_pprof_rate_node_t), now);
    if (pn == NULL) {
        return PPROF_INTERNAL_ERROR;
    }

    rn = ngx_http_pprof_payload(pn);
    rn->rate = *rate;

    return pprof_rate_take(&rn->state, rate, now, retry_after);
}


/*
 * Stage 8: a slot of the endpoint's capture_concurrency.  Proxying, the
 * request holds it until the target's response is complete, or its pool
 * goes; answering a proxy's check, nothing reports the end, and the slot
 * is a lease that expires.
 */
static pprof_reason_t
ngx_http_pprof_zone_acquire(void *data, pprof_str_t endpoint,
    size_t concurrency, uint64_t now, uint64_t duration, uint64_t *lease,
    uint64_t *retry_after)
{
    ngx_http_pprof_store_t *store = data;

    size_t                  nslots;
    pprof_reason_t          rc;
    pprof_lease_t          *slots;
    ngx_pool_cleanup_t     *cln;
    ngx_http_pprof_hold_t  *hold;
    ngx_http_pprof_node_t  *pn;

    cln = ngx_pool_cleanup_add(store->r->pool, sizeof(ngx_http_pprof_hold_t));
    if (cln == NULL) {
        ngx_log_error(NGX_LOG_ERR, store->r->connection->log, 0,
                      "pprof_zone: no memory to hold a capture slot");
        return PPROF_INTERNAL_ERROR;
    }

    hold = cln->data;
    ngx_memzero(hold, sizeof(ngx_http_pprof_hold_t));
    hold->zone = store->zone;

    if (ngx_http_pprof_target_key(store, &hold->key,
                                  NGX_HTTP_PPROF_NODE_SLOTS,
                                  (u_char *) endpoint.data, endpoint.len)
        != NGX_OK)
    {
        return PPROF_INTERNAL_ERROR;
    }

    hold->hash = ngx_crc32_short(hold->key.data, hold->key.len);
    cln->handler = ngx_http_pprof_release;

    pn = ngx_http_pprof_node(store->r, store->zone, &hold->key,
                             NGX_HTTP_PPROF_NODE_SLOTS,
                             concurrency * sizeof(pprof_lease_t), now);
    if (pn == NULL) {
        return PPROF_INTERNAL_ERROR;
    }

    /*
     * A node made before a reload changed the concurrency keeps its size:
     * never look past it (and, when smaller, be stricter).
     */
    nslots = ngx_min(concurrency, pn->payload / sizeof(pprof_lease_t));
    slots = ngx_http_pprof_payload(pn);
    store->zone->sh->in_flight -= pprof_slots_expire(slots, nslots, now);

    *lease = (uint64_t) ngx_pid << 32 | (uint64_t) store->r->connection->number;
    *lease ^= ngx_random();
    *lease |= 1;

    rc = store->leases
         ? pprof_slots_lease(slots, nslots, now, duration, *lease,
                             retry_after)
         : pprof_slots_acquire(slots, nslots, now, duration, *lease,
                               retry_after);
    if (rc != PPROF_OK) {
        return rc;
    }

    store->zone->sh->in_flight++;
    store->hold = hold;

    if (!store->leases) {
        hold->lease = *lease;
        store->ctx->hold = hold;
    }

    return PPROF_OK;
}


/* A slot taken for a capture that will not run; the lock is held. */
static void
ngx_http_pprof_zone_give_back(void *data, pprof_str_t endpoint,
    uint64_t lease)
{
    ngx_http_pprof_store_t *store = data;

    (void) endpoint;

    ngx_http_pprof_slots_free(store->hold, lease, 0);
}


/*
 * Stage 9: the target's capture time in the location's window, judged by
 * the location's limit.  Locations of one target may count over windows of
 * different lengths: a capture granted through one is counted in the
 * target's window of every length the configuration has, so each location
 * sees every capture of its target within its own window.  Every window's
 * node is found first, so that a full zone fails the capture before
 * anything is charged.
 */
static pprof_reason_t
ngx_http_pprof_zone_budget(void *data, const pprof_budget_t *budget,
    uint64_t now, uint64_t amount, uint64_t *retry_after)
{
    ngx_http_pprof_store_t *store = data;

    uint64_t                       *window;
    ngx_uint_t                      i, create;
    pprof_reason_t                  rc;
    ngx_http_pprof_budget_node_t   *bn;
    ngx_http_pprof_main_conf_t     *pmcf;

    pmcf = ngx_http_get_module_main_conf(store->r, ngx_http_pprof_module);
    window = pmcf->budget_windows.elts;

    /*
     * Made where missing, then found again: making one may have evicted
     * another, still empty, that an earlier step made.
     */
    for (create = 2; create--; /* void */) {
        for (i = 0; i < pmcf->budget_windows.nelts; i++) {
            if (ngx_http_pprof_window(store, window[i], now, create) == NULL) {
                return PPROF_INTERNAL_ERROR;
            }
        }
    }

    bn = ngx_http_pprof_window(store, budget->window, now, 0);
    if (bn == NULL) {
        return PPROF_INTERNAL_ERROR;
    }

    rc = pprof_budget_take(&bn->state, budget, now, amount, retry_after);
    if (rc != PPROF_OK) {
        return rc;
    }

    /* Charged, the windows found hold a capture: none is evicted now. */
    for (i = 0; i < pmcf->budget_windows.nelts; i++) {
        if (window[i] == budget->window) {
            continue;
        }

        bn = ngx_http_pprof_window(store, window[i], now, 0);
        if (bn == NULL) {
            return PPROF_INTERNAL_ERROR;
        }

        pprof_budget_charge(&bn->state, window[i], now, amount);
    }

    return PPROF_OK;
}


/* The window's node; with create, made when missing. */
static ngx_http_pprof_budget_node_t *
ngx_http_pprof_window(ngx_http_pprof_store_t *store, uint64_t window,
    uint64_t now, ngx_uint_t create)
{
    ngx_str_t                      key;
    ngx_http_pprof_node_t         *pn;
    ngx_http_pprof_budget_node_t  *bn;

    if (ngx_http_pprof_target_key(store, &key, NGX_HTTP_PPROF_NODE_BUDGET,
                                  (u_char *) &window, sizeof(uint64_t))
        != NGX_OK)
    {
        return NULL;
    }

    pn = create ? ngx_http_pprof_node(store->r, store->zone, &key,
                                      NGX_HTTP_PPROF_NODE_BUDGET,
                                      sizeof(ngx_http_pprof_budget_node_t),
                                      now)
                : ngx_http_pprof_lookup(store->zone, &key,
                                        ngx_crc32_short(key.data, key.len));
    if (pn == NULL) {
        return NULL;
    }

    bn = ngx_http_pprof_payload(pn);
    bn->window = window;

    return bn;
}


/*
 * The target is done with the capture (its response is complete, or the
 * capture never reached it): the slot is free for the next.
 */
void
ngx_http_pprof_zone_release(ngx_http_pprof_ctx_t *ctx)
{
    if (ctx->hold) {
        ngx_http_pprof_give_back(ctx->hold, 0);
    }
}


/*
 * The request ended otherwise, its upstream connection closed: the target
 * may still be profiling until it notices, so the slot settles first.
 */
static void
ngx_http_pprof_release(void *data)
{
    ngx_http_pprof_give_back(data, 1);
}


static void
ngx_http_pprof_give_back(ngx_http_pprof_hold_t *hold, ngx_uint_t settle)
{
    void  *shared;

    if (hold->lease) {
        ngx_shmtx_lock(&hold->zone->shpool->mutex);
        ngx_http_pprof_slots_free(hold, hold->lease, settle);
        ngx_shmtx_unlock(&hold->zone->shpool->mutex);
    }

    /* Once, outside the zone's lock: the command only waits to be sent. */
    if (hold->shared) {
        shared = hold->shared;
        hold->shared = NULL;
        ngx_http_pprof_shared_release(shared, settle);
    }
}


/*
 * The fleet's lease of a capture admitted through Redis ends when the
 * gateway's own slot does.  NGX_DECLINED when that slot is no longer held.
 */
ngx_int_t
ngx_http_pprof_zone_share(ngx_http_pprof_hold_t *hold, void *lease)
{
    if (hold == NULL || hold->lease == 0 || hold->shared) {
        return NGX_DECLINED;
    }

    hold->shared = lease;

    return NGX_OK;
}


/* The lock is held.  A settling lease stays in flight until it expires. */
static void
ngx_http_pprof_slots_free(ngx_http_pprof_hold_t *hold, uint64_t lease,
    ngx_uint_t settle)
{
    size_t                  n;
    pprof_lease_t          *slots;
    ngx_http_pprof_node_t  *pn;

    /* Looked up again: an expired lease may have let the node go. */
    pn = ngx_http_pprof_lookup(hold->zone, &hold->key, hold->hash);

    if (pn) {
        slots = ngx_http_pprof_payload(pn);
        n = pn->payload / sizeof(pprof_lease_t);

        if (settle) {
            (void) pprof_slots_settle(slots, n, lease, ngx_http_pprof_now());

        } else if (pprof_slots_release(slots, n, lease)) {
            hold->zone->sh->in_flight--;
        }
    }

    hold->lease = 0;
}


const pprof_store_ops_t  ngx_http_pprof_zone_ops = {
    ngx_http_pprof_zone_lock,
    ngx_http_pprof_zone_unlock,
    ngx_http_pprof_zone_rate,
    ngx_http_pprof_zone_acquire,
    ngx_http_pprof_zone_give_back,
    ngx_http_pprof_zone_budget
};


static ngx_http_pprof_node_t *
ngx_http_pprof_lookup(ngx_http_pprof_zone_ctx_t *zone, ngx_str_t *key,
    uint32_t hash)
{
    ngx_int_t               rc;
    ngx_rbtree_node_t      *node, *sentinel;
    ngx_http_pprof_node_t  *pn;

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        pn = (ngx_http_pprof_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, ngx_http_pprof_node_key(pn), key->len,
                          (size_t) pn->len);

        if (rc == 0) {
            return pn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* The node for key, created when missing; NULL when the zone is full. */
static ngx_http_pprof_node_t *
ngx_http_pprof_node(ngx_http_request_t *r, ngx_http_pprof_zone_ctx_t *zone,
    ngx_str_t *key, u_char kind, size_t payload, uint64_t now)
{
    size_t                  size;
    uint32_t                hash;
    ngx_rbtree_node_t      *node;
    ngx_http_pprof_node_t  *pn;

    hash = ngx_crc32_short(key->data, key->len);

    pn = ngx_http_pprof_lookup(zone, key, hash);

    if (pn) {
        ngx_queue_remove(&pn->queue);
        ngx_queue_insert_head(&zone->sh->lru, &pn->queue);
        return pn;
    }

    payload = ngx_align(payload, sizeof(uint64_t));
    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_pprof_node_t, data) + sizeof(uint64_t)
           + payload + key->len;

    node = ngx_http_pprof_alloc(r, zone, size, kind, now);
    if (node == NULL) {
        return NULL;
    }

    node->key = hash;

    pn = (ngx_http_pprof_node_t *) &node->color;
    pn->kind = kind;
    pn->len = (u_short) key->len;
    pn->payload = payload;

    ngx_memzero(ngx_http_pprof_payload(pn), payload);
    ngx_memcpy(ngx_http_pprof_node_key(pn), key->data, key->len);

    ngx_rbtree_insert(&zone->sh->rbtree, node);
    ngx_queue_insert_head(&zone->sh->lru, &pn->queue);

    return pn;
}


/*
 * A freed node makes room only in its own slab size class, or for any size
 * once its page is empty: under a flood of nodes of one size, evicting one
 * or a few (as limit_req does) leaves a node of another size, such as a
 * longer identity's, no room.  So evict from the LRU tail one node at a
 * time, trying again after each, until the node fits or all that is left
 * is live capture slots and budgets still counting captures.
 */
static ngx_rbtree_node_t *
ngx_http_pprof_alloc(ngx_http_request_t *r, ngx_http_pprof_zone_ctx_t *zone,
    size_t size, u_char kind, uint64_t now)
{
    ngx_uint_t              evicted;
    ngx_queue_t            *q, *prev;
    ngx_rbtree_node_t      *node;
    ngx_http_pprof_node_t  *pn;

    node = ngx_slab_alloc_locked(zone->shpool, size);
    evicted = 0;

    for (q = ngx_queue_last(&zone->sh->lru);
         node == NULL && q != ngx_queue_sentinel(&zone->sh->lru);
         q = prev)
    {
        prev = ngx_queue_prev(q);
        pn = ngx_queue_data(q, ngx_http_pprof_node_t, queue);

        if (ngx_http_pprof_evictable(zone, pn, now, 1)) {
            ngx_http_pprof_delete(zone, pn);
            evicted++;

            node = ngx_slab_alloc_locked(zone->shpool, size);
        }
    }

    if (node == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof_zone is full: no room for %uz bytes of %s "
                      "state after evicting %ui idle nodes; what is left "
                      "is live capture slots and budgets still counting "
                      "captures, which are never evicted: make pprof_zone "
                      "larger", size,
                      kind == NGX_HTTP_PPROF_NODE_RATE ? "rate"
                      : kind == NGX_HTTP_PPROF_NODE_SLOTS ? "capture slot"
                      : "budget", evicted);
    }

    return node;
}


/*
 * Idle state from the LRU tail, two nodes at most per request as limit_req
 * does; the first node still in use stops it.
 */
static void
ngx_http_pprof_expire(ngx_http_pprof_zone_ctx_t *zone, uint64_t now)
{
    ngx_uint_t              n;
    ngx_queue_t            *q;
    ngx_http_pprof_node_t  *pn;

    for (n = 0; n < 2 && !ngx_queue_empty(&zone->sh->lru); n++) {
        q = ngx_queue_last(&zone->sh->lru);
        pn = ngx_queue_data(q, ngx_http_pprof_node_t, queue);

        if (!ngx_http_pprof_evictable(zone, pn, now, 0)) {
            return;
        }

        ngx_http_pprof_delete(zone, pn);
    }
}


static void
ngx_http_pprof_delete(ngx_http_pprof_zone_ctx_t *zone,
    ngx_http_pprof_node_t *pn)
{
    ngx_rbtree_node_t  *node;

    ngx_queue_remove(&pn->queue);

    node = (ngx_rbtree_node_t *)
               ((u_char *) pn - offsetof(ngx_rbtree_node_t, color));

    ngx_rbtree_delete(&zone->sh->rbtree, node);
    ngx_slab_free_locked(zone->shpool, node);
}


static ngx_int_t
ngx_http_pprof_evictable(ngx_http_pprof_zone_ctx_t *zone,
    ngx_http_pprof_node_t *pn, uint64_t now, ngx_uint_t force)
{
    size_t                         n;
    pprof_lease_t                 *slots;
    ngx_http_pprof_rate_node_t    *rn;
    ngx_http_pprof_budget_node_t  *bn;

    if (pn->kind == NGX_HTTP_PPROF_NODE_RATE) {
        rn = ngx_http_pprof_payload(pn);
        return force || pprof_rate_idle(&rn->state, &rn->rate, now);
    }

    /* A budget: once its window holds nothing, forgetting it loses none. */
    if (pn->kind == NGX_HTTP_PPROF_NODE_BUDGET) {
        bn = ngx_http_pprof_payload(pn);
        return pprof_budget_idle(&bn->state, bn->window, now);
    }

    /* Slots: only once no capture holds one. */
    slots = ngx_http_pprof_payload(pn);
    n = pn->payload / sizeof(pprof_lease_t);

    zone->sh->in_flight -= pprof_slots_expire(slots, n, now);

    return pprof_slots_live(slots, n) == 0;
}


/* The payload holds uint64_t fields: it starts 8-aligned in data. */
static void *
ngx_http_pprof_payload(ngx_http_pprof_node_t *pn)
{
    return ngx_align_ptr(pn->data, sizeof(uint64_t));
}


static u_char *
ngx_http_pprof_node_key(ngx_http_pprof_node_t *pn)
{
    return (u_char *) ngx_http_pprof_payload(pn) + pn->payload;
}


/* kind, the location's key, then up to two parts, NUL-separated. */
static ngx_int_t
ngx_http_pprof_key(ngx_http_request_t *r, ngx_str_t *key, u_char kind,
    ngx_str_t *zone_key, ngx_str_t *a, ngx_str_t *b)
{
    u_char  *p;

    key->len = 1 + zone_key->len + (a ? 1 + a->len : 0) + (b ? 1 + b->len : 0);

    if (key->len > 65535) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof_zone: a state key of %uz bytes is longer than "
                      "65535", key->len);
        return NGX_ERROR;
    }

    key->data = ngx_pnalloc(r->pool, key->len);
    if (key->data == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof_zone: no memory for a state key");
        return NGX_ERROR;
    }

    p = key->data;
    *p++ = kind;
    p = ngx_cpymem(p, zone_key->data, zone_key->len);

    if (a) {
        *p++ = '\0';
        p = ngx_cpymem(p, a->data, a->len);
    }

    if (b) {
        *p++ = '\0';
        ngx_memcpy(p, b->data, b->len);
    }

    return NGX_OK;
}


/*
 * kind, '=' for a named target or '@' for a location's own, the target's
 * length in two bytes and the target, then part.
 */
static ngx_int_t
ngx_http_pprof_target_key(ngx_http_pprof_store_t *store, ngx_str_t *key,
    u_char kind, u_char *part, size_t len)
{
    u_char     *p;
    ngx_str_t  *target;

    target = &store->ctx->target;

    /* The pipeline refused longer names; a location's own key is not one. */
    if (target->len > 65535 - 4 - len) {
        ngx_log_error(NGX_LOG_ERR, store->r->connection->log, 0,
                      "pprof_zone: a target of %uz bytes is too long for "
                      "a state key", target->len);
        return NGX_ERROR;
    }

    key->len = 4 + target->len + len;

    key->data = ngx_pnalloc(store->r->pool, key->len);
    if (key->data == NULL) {
        ngx_log_error(NGX_LOG_ERR, store->r->connection->log, 0,
                      "pprof_zone: no memory for a state key");
        return NGX_ERROR;
    }

    p = key->data;
    *p++ = kind;
    *p++ = store->plcf->target ? '=' : '@';
    *p++ = (u_char) (target->len >> 8);
    *p++ = (u_char) (target->len & 0xff);
    p = ngx_cpymem(p, target->data, target->len);
    ngx_memcpy(p, part, len);

    return NGX_OK;
}


void
ngx_http_pprof_zone_count(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx,
    ngx_uint_t ahead)
{
    ngx_http_pprof_zone_ctx_t   *zone;
    ngx_http_pprof_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pprof_module);
    zone = pmcf->shm_zone->data;

    if ((unsigned) ctx->decision.reason >= PPROF_REASON_COUNT
        || (unsigned) ctx->decision.endpoint.cls > PPROF_CLASS_COUNT)
    {
        return;
    }

    (void) ngx_atomic_fetch_add(
              &zone->sh->requests[ctx->decision.endpoint.cls]
                                 [ctx->decision.reason == PPROF_OK ? 0 : 1]
                                 [ctx->decision.reason], 1);

    if (ahead && ctx->decision.endpoint.cls == PPROF_CLASS_CAPTURE) {
        (void) ngx_atomic_fetch_add(&zone->sh->capture_ms,
                                    ctx->decision.capture_ms);
    }
}


/*
 * An admission through Redis: its kind of failure (-1: answered), and how
 * long it waited in microseconds (-1: it was never sent).
 */
void
ngx_http_pprof_zone_shared_count(ngx_http_request_t *r, ngx_int_t kind,
    int64_t latency_us)
{
    ngx_http_pprof_zone_ctx_t   *zone;
    ngx_http_pprof_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pprof_module);
    zone = pmcf->shm_zone->data;

    if (kind >= 0 && kind < PPROF_SHARED_KINDS) {
        (void) ngx_atomic_fetch_add(&zone->sh->shared_errors[kind], 1);
    }

    if (latency_us >= 0) {
        (void) ngx_atomic_fetch_add(
                  &zone->sh->shared_latency[
                                 pprof_metrics_bucket((uint64_t) latency_us)],
                  1);
        (void) ngx_atomic_fetch_add(&zone->sh->shared_latency_us,
                                    (ngx_atomic_int_t) latency_us);
    }
}


ngx_int_t
ngx_http_pprof_zone_metrics(ngx_http_request_t *r, pprof_metrics_t *m)
{
    size_t                       c, d, k;
    ngx_http_pprof_zone_ctx_t   *zone;
    ngx_http_pprof_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pprof_module);

    ngx_memzero(m, sizeof(pprof_metrics_t));

    if (pmcf->shm_zone == NULL) {
        return NGX_OK;
    }

    zone = pmcf->shm_zone->data;

    for (c = 0; c <= PPROF_CLASS_COUNT; c++) {
        for (d = 0; d < 2; d++) {
            for (k = 0; k < PPROF_REASON_COUNT; k++) {
                m->requests[c][d][k] = zone->sh->requests[c][d][k];
            }
        }
    }

    m->capture_ms_total = zone->sh->capture_ms;
    m->audit_records_total = zone->sh->audit_records;
    m->audit_write_errors_total = zone->sh->audit_errors;

    m->shared = (pmcf->shared != NULL);

    for (k = 0; k < PPROF_SHARED_KINDS; k++) {
        m->shared_errors[k] = zone->sh->shared_errors[k];
    }

    for (k = 0; k < PPROF_SHARED_BUCKETS; k++) {
        m->shared_latency[k] = zone->sh->shared_latency[k];
    }

    m->shared_latency_us = zone->sh->shared_latency_us;

    ngx_shmtx_lock(&zone->shpool->mutex);

    m->captures_in_flight = zone->sh->in_flight;
    m->zone_used_bytes = (zone->shpool->end - zone->shpool->start)
                         - zone->shpool->pfree * ngx_pagesize;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


static uint64_t
ngx_http_pprof_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/* pprof_rate CLASS RATE [burst=N] | CLASS off | off */
char *
ngx_http_pprof_rate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_loc_conf_t *plcf = conf;

    ngx_str_t      *value;
    ngx_uint_t      c;
    const char     *err;
    pprof_str_t     word, rate, burst;
    pprof_class_t   cls;

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        if (plcf->rates_set) {
            return "is duplicate";
        }

        for (c = 0; c < PPROF_CLASS_COUNT; c++) {
            plcf->rates[c].rate = 0;
        }

        plcf->rates_set = (1u << PPROF_CLASS_COUNT) - 1;
        return NGX_CONF_OK;
    }

    word.data = value[1].data;
    word.len = value[1].len;

    if (cf->args->nelts < 3 || pprof_permission_parse(word, &cls) != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_rate: \"%V\" is not a class (index cmdline "
                           "symbol snapshot capture) or \"off\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (plcf->rates_set & (1u << cls)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_rate: class \"%V\" is set twice here",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    plcf->rates_set |= 1u << cls;

    if (cf->args->nelts == 3 && ngx_strcmp(value[2].data, "off") == 0) {
        plcf->rates[cls].rate = 0;
        return NGX_CONF_OK;
    }

    rate.data = value[2].data;
    rate.len = value[2].len;
    burst.data = cf->args->nelts == 4 ? value[3].data : NULL;
    burst.len = cf->args->nelts == 4 ? value[3].len : 0;

    if (pprof_rate_parse(rate, burst, &plcf->rates[cls], &err) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "pprof_rate: %s", err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* pprof_capture_budget TIME per WINDOW | off */
char *
ngx_http_pprof_budget(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_loc_conf_t *plcf = conf;

    ngx_int_t   limit, window;
    ngx_str_t  *value;

    if (plcf->budget_set != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;
    plcf->budget_set = 1;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        plcf->budget.limit = 0;
        return NGX_CONF_OK;
    }

    if (cf->args->nelts != 4 || ngx_strcmp(value[2].data, "per") != 0) {
        return "takes \"TIME per WINDOW\" or \"off\"";
    }

    limit = ngx_parse_time(&value[1], 0);
    window = ngx_parse_time(&value[3], 0);

    if (limit == NGX_ERROR || window == NGX_ERROR || limit < 1000
        || window < 1000)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_capture_budget: \"%V per %V\" needs two "
                           "times of at least 1s", &value[1], &value[3]);
        return NGX_CONF_ERROR;
    }

    plcf->budget.limit = (uint64_t) limit;
    plcf->budget.window = (uint64_t) window;

    return NGX_CONF_OK;
}


/* Every window length a location judges by, each once (stage 9). */
char *
ngx_http_pprof_budget_window(ngx_conf_t *cf, ngx_http_pprof_loc_conf_t *conf)
{
    uint64_t                    *window;
    ngx_uint_t                   i;
    ngx_http_pprof_main_conf_t  *pmcf;

    if (conf->budget.limit == 0) {
        return NGX_CONF_OK;
    }

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_pprof_module);
    window = pmcf->budget_windows.elts;

    for (i = 0; i < pmcf->budget_windows.nelts; i++) {
        if (window[i] == conf->budget.window) {
            return NGX_CONF_OK;
        }
    }

    /* A capture is charged to every length: their number is bounded. */
    if (pmcf->budget_windows.nelts > PPROF_SHARED_WINDOWS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_capture_budget: more than %d window "
                           "lengths in one configuration; every capture "
                           "is charged to each, so use at most %d",
                           PPROF_SHARED_WINDOWS_MAX + 1,
                           PPROF_SHARED_WINDOWS_MAX + 1);
        return NGX_CONF_ERROR;
    }

    window = ngx_array_push(&pmcf->budget_windows);
    if (window == NULL) {
        return NGX_CONF_ERROR;
    }

    *window = conf->budget.window;

    return NGX_CONF_OK;
}


/*
 * Whose slots and budget the request counts in: pprof_target's value, or
 * the location itself.  The pipeline judges the value.
 */
pprof_reason_t
ngx_http_pprof_target(ngx_http_request_t *r, ngx_http_pprof_loc_conf_t *plcf,
    ngx_http_pprof_ctx_t *ctx)
{
    if (plcf->target == NULL) {
        ctx->target = plcf->zone_key;
        return PPROF_OK;
    }

    if (ngx_http_complex_value(r, plcf->target, &ctx->target) != NGX_OK) {
        ngx_str_null(&ctx->target);
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: pprof_target could not be "
                      "evaluated");
        return PPROF_INTERNAL_ERROR;
    }

    return PPROF_OK;
}
