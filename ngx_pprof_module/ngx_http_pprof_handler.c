/*
 * A request's way through a pprof location: gather what nginx knows, hand
 * it to the core's pipeline, then either answer the denial or rewrite the
 * request into its canonical form for proxy_pass.
 */

#include "ngx_http_pprof_module.h"


static ngx_int_t ngx_http_pprof_proceed(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx,
    ngx_uint_t ahead);
static void ngx_http_pprof_log_decision(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx);
static void ngx_http_pprof_who(void *data, pprof_who_t *who);
static void *ngx_http_pprof_alloc(void *data, size_t size);
static pprof_method_t ngx_http_pprof_method(ngx_http_request_t *r);
static long long ngx_http_pprof_body_length(ngx_http_request_t *r);
static ngx_int_t ngx_http_pprof_forward(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx);
static ngx_int_t ngx_http_pprof_strip_credentials(ngx_http_request_t *r);
static ngx_int_t ngx_http_pprof_guard(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx);
static void ngx_http_pprof_guard_handler(ngx_event_t *ev);
static void ngx_http_pprof_guard_cleanup(void *data);


/* How often the guard looks whether the upstream is done, in ms. */
#define NGX_HTTP_PPROF_GUARD  1000


static ngx_str_t  ngx_http_pprof_text_type = ngx_string("text/plain");
static ngx_str_t  ngx_http_pprof_json_type = ngx_string("application/json");


/*
 * A capture admitted through Redis waits for its answer with NGX_AGAIN, as
 * limit_req's delay does, and nginx runs this phase again once it came.
 */
ngx_int_t
ngx_http_pprof_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    pprof_request_t             req;
    ngx_http_pprof_ctx_t       *ctx;
    ngx_http_pprof_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pprof_module);

    if (!plcf->enable) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_pprof_module);

    if (ctx) {
        if (ctx->wait == NULL) {
            return NGX_DECLINED;
        }

        rc = ngx_http_pprof_shared_finish(r, plcf, ctx);

        return (rc == NGX_AGAIN) ? NGX_AGAIN
                                 : ngx_http_pprof_proceed(r, plcf, ctx, rc);
    }

    ctx = ngx_http_pprof_ctx_create(r, plcf);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* Forwarding points r->uri at the canonical request: keep what was seen. */
    ctx->path = r->uri;

    ngx_http_pprof_facts(r, &req);

    rc = ngx_http_pprof_decide(r, plcf, ctx, &req);

    return (rc == NGX_AGAIN) ? NGX_AGAIN
                             : ngx_http_pprof_proceed(r, plcf, ctx, rc);
}


static ngx_int_t
ngx_http_pprof_proceed(ngx_http_request_t *r, ngx_http_pprof_loc_conf_t *plcf,
    ngx_http_pprof_ctx_t *ctx, ngx_uint_t ahead)
{
    if (!ahead) {
        return ngx_http_pprof_deny(r, plcf, ctx);
    }

    if (ngx_http_pprof_forward(r, plcf, ctx) != NGX_OK
        || ngx_http_pprof_guard(r, ctx) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: no memory to rewrite the "
                      "request for forwarding or to guard it, audit id %s",
                      ctx->audit_id);
        ctx->decision.reason = PPROF_INTERNAL_ERROR;
        return ngx_http_pprof_deny(r, plcf, ctx);
    }

    ctx->forwarded = 1;

    return NGX_DECLINED;
}


/*
 * A worker told to quit (at a reload) exits as soon as no timer is left,
 * whatever its connections are doing.  nginx before 1.23.1 may drop the
 * read timer of an upstream that is still sending: ngx_readv_chain()
 * answers NGX_AGAIN without reading, when FIONREAD found nothing more,
 * and leaves the read event ready, so ngx_event_pipe() deletes the timer
 * while it waits for the rest.  An old worker whose requests were all in
 * that state exited at once, logged "open socket ... left in connection"
 * and cut their responses.  This timer keeps a forwarded request counted
 * until its upstream is done; nginx's own timers govern what follows.
 */
static ngx_int_t
ngx_http_pprof_guard(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ctx->guard.handler = ngx_http_pprof_guard_handler;
    ctx->guard.data = r;
    ctx->guard.log = r->connection->log;

    cln->handler = ngx_http_pprof_guard_cleanup;
    cln->data = &ctx->guard;

    ngx_add_timer(&ctx->guard, NGX_HTTP_PPROF_GUARD);

    return NGX_OK;
}


static void
ngx_http_pprof_guard_handler(ngx_event_t *ev)
{
    ngx_http_request_t *r = ev->data;

    if (r->upstream && r->upstream->peer.connection) {
        ngx_add_timer(ev, NGX_HTTP_PPROF_GUARD);
    }
}


static void
ngx_http_pprof_guard_cleanup(void *data)
{
    ngx_event_t *ev = data;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }
}


ngx_http_pprof_ctx_t *
ngx_http_pprof_ctx_create(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf)
{
    ngx_http_pprof_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_pprof_ctx_t));
    if (ctx == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: no memory for the request's "
                      "state");
        return NULL;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_pprof_module);

    ctx->enforced = plcf->enforce ? 1 : 0;
    ctx->decision.endpoint.cls = PPROF_CLASS_COUNT;
    ctx->annotation = PPROF_ANNOTATE_REASON_COUNT;
    ctx->redacted = -1;

    return ctx;
}


/*
 * Both modes: the pipeline against the zone, or through Redis when
 * pprof_shared_state is set; the decision's log line, stage 10 and the
 * counters.  Returns whether the request goes ahead, or NGX_AGAIN while
 * it waits for Redis.
 */
ngx_int_t
ngx_http_pprof_decide(ngx_http_request_t *r, ngx_http_pprof_loc_conf_t *plcf,
    ngx_http_pprof_ctx_t *ctx, pprof_request_t *req)
{
    ngx_http_pprof_store_t       store;
    ngx_http_pprof_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pprof_module);

    if (pmcf->shared) {
        return ngx_http_pprof_shared_decide(r, plcf, ctx, req);
    }

    if (ngx_http_pprof_decide_start(r, plcf, ctx, &store, req) == NGX_OK) {
        pprof_pipeline_decide(&plcf->pipeline, req, &ngx_http_pprof_zone_ops,
                              &store, &ctx->decision);
    }

    return ngx_http_pprof_decided(r, plcf, ctx, &ngx_http_pprof_zone_ops,
                                  &store);
}


/*
 * The first half: the zone as the store, and the audit id.  NGX_ERROR
 * when there is none: the decision is internal_error already.
 */
ngx_int_t
ngx_http_pprof_decide_start(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx,
    ngx_http_pprof_store_t *store, pprof_request_t *req)
{
    ngx_http_pprof_zone_store(r, ctx, store);

    /* Whose slots and budget, for every store that keeps stages 7-9. */
    if (ngx_http_pprof_target(r, plcf, ctx) != PPROF_OK
        && req->target == PPROF_OK)
    {
        req->target = PPROF_INTERNAL_ERROR;
    }

    req->target_name.data = ctx->target.data;
    req->target_name.len = ctx->target.len;

    if (pprof_audit_id_generate(ctx->audit_id) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: no random bytes for an audit "
                      "id (RAND_bytes failed)");
        ngx_cpystrn((u_char *) ctx->audit_id, (u_char *) "unavailable",
                    sizeof(ctx->audit_id));
        ctx->decision.reason = PPROF_INTERNAL_ERROR;
        return NGX_ERROR;
    }

    req->now = store->now;

    return NGX_OK;
}


/*
 * The second half, once stages 1-9 decided on ops and store: the
 * decision's log line, stage 10 and the counters.
 */
ngx_uint_t
ngx_http_pprof_decided(ngx_http_request_t *r, ngx_http_pprof_loc_conf_t *plcf,
    ngx_http_pprof_ctx_t *ctx, const pprof_store_ops_t *ops, void *store)
{
    ngx_int_t   written;
    ngx_uint_t  ahead;

    ngx_http_pprof_log_decision(r, ctx);

    /* Stage 10: the decision record, before anything is forwarded. */
    written = ngx_http_pprof_audit_decision(r, plcf, ctx);

    ahead = pprof_pipeline_audited(&plcf->pipeline, ops, store,
                                   &ctx->decision, written == NGX_OK,
                                   plcf->audit_required);

    ngx_http_pprof_zone_count(r, ctx, ahead);

    return ahead;
}


/*
 * A denial is the client's doing, an internal error the gateway's: it is
 * denied in a dry run too, and logged at error with what failed.
 */
static void
ngx_http_pprof_log_decision(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx)
{
    const char                 *detail;
    ngx_uint_t                  level;
    pprof_decision_t           *d;
    ngx_http_pprof_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pprof_module);
    d = &ctx->decision;

    if (d->reason == PPROF_OK) {
        return;
    }

    if (d->reason == PPROF_INTERNAL_ERROR && d->error[0]) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: %s", d->error);
    }

    /*
     * The credential's detail explains only an authentication failure;
     * otherwise what the client is told, built from fixed text and the
     * canonical query, never from a credential.
     */
    detail = (d->reason == ctx->auth.reason) ? ctx->auth.detail : NULL;

    if (detail == NULL && d->detail[0]) {
        detail = d->detail;
    }

    level = (d->reason == PPROF_INTERNAL_ERROR) ? NGX_LOG_ERR
                                                : plcf->log_level;

    ngx_log_error(level, r->connection->log, 0,
                  "pprof: %s%s%s%s, audit id %s",
                  pprof_policy_forwards(d->reason, ctx->enforced)
                  ? "dry run, would deny: " : "",
                  pprof_reason_name(d->reason),
                  detail ? ": " : "", detail ? detail : "", ctx->audit_id);
}


/* What nginx knows of the request, for the pipeline. */
void
ngx_http_pprof_facts(ngx_http_request_t *r, pprof_request_t *req)
{
    ngx_http_pprof_loc_conf_t  *plcf;
    ngx_http_core_srv_conf_t   *cscf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pprof_module);
    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);

    ngx_memzero(req, sizeof(pprof_request_t));

    req->target = ngx_http_pprof_proxy_pass_host(r, plcf);
    req->method = ngx_http_pprof_method(r);
    req->uri.data = r->uri.data;
    req->uri.len = r->uri.len;
    req->args.data = r->args.data;
    req->args.len = r->args.len;
    req->body_len = ngx_http_pprof_body_length(r);
    req->tls = r->connection->ssl != NULL;

    /* The address nginx sees, after realip: X-Forwarded-For is not read. */
    ngx_http_pprof_peer(r->connection, &req->client);
    req->proxy = req->client;

    req->server_name.data = cscf->server_name.data;
    req->server_name.len = cscf->server_name.len;

    if (r->headers_in.host) {
        req->host.data = r->headers_in.host->value.data;
        req->host.len = r->headers_in.host->value.len;
    }

    req->authenticate = ngx_http_pprof_who;
    req->alloc = ngx_http_pprof_alloc;
    req->data = r;
}


/* Stage 4, when the pipeline reaches it. */
static void
ngx_http_pprof_who(void *data, pprof_who_t *who)
{
    ngx_http_request_t *r = data;

    const char                 *name;
    ngx_http_pprof_ctx_t       *ctx;
    ngx_http_pprof_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pprof_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_pprof_module);

    who->reason = ngx_http_pprof_authenticate(r, plcf, ctx);

    who->identity.data = ctx->auth.identity;
    who->identity.len = ctx->auth.identity_len;

    name = pprof_auth_method_name(ctx->auth.method);
    who->source.data = (const unsigned char *) name;
    who->source.len = ngx_strlen(name);

    who->roles = ctx->auth.roles;
    who->nroles = ctx->auth.nroles;
    who->told = ctx->auth.told;
}


static void *
ngx_http_pprof_alloc(void *data, size_t size)
{
    ngx_http_request_t *r = data;

    return ngx_palloc(r->pool, size);
}


static pprof_method_t
ngx_http_pprof_method(ngx_http_request_t *r)
{
    switch (r->method) {
    case NGX_HTTP_GET:
        return PPROF_METHOD_GET;
    case NGX_HTTP_HEAD:
        return PPROF_METHOD_HEAD;
    case NGX_HTTP_POST:
        return PPROF_METHOD_POST;
    default:
        return PPROF_METHOD_OTHER;
    }
}


/* 0 without a body, -1 when its length is not known up front. */
static long long
ngx_http_pprof_body_length(ngx_http_request_t *r)
{
    if (r->headers_in.chunked) {
        return -1;
    }

#if (NGX_HTTP_V2)
    if (r->stream && !r->stream->in_closed
        && r->headers_in.content_length_n < 0)
    {
        return -1;
    }
#endif

    return r->headers_in.content_length_n > 0
           ? r->headers_in.content_length_n : 0;
}


/*
 * proxy_pass without a URI sends r->unparsed_uri while it is valid: clearing
 * valid_unparsed_uri makes it build the request line from r->uri and r->args,
 * which now hold only what the core printed.  r->unparsed_uri is $request_uri
 * too, for "proxy_pass http://host$request_uri" and any header a
 * proxy_set_header fills from it: it becomes the canonical request as well,
 * and a value read earlier in the request is forgotten.
 */
static ngx_int_t
ngx_http_pprof_forward(ngx_http_request_t *r, ngx_http_pprof_loc_conf_t *plcf,
    ngx_http_pprof_ctx_t *ctx)
{
    u_char                      *p;
    pprof_decision_t            *d;
    ngx_http_pprof_main_conf_t  *pmcf;

    d = &ctx->decision;

    if (d->canonical) {
        p = ngx_pnalloc(r->pool, plcf->prefix.len + d->endpoint.name.len
                                 + 1 + d->params.canonical_len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        r->unparsed_uri.data = p;

        r->uri.data = p;
        p = ngx_cpymem(p, plcf->prefix.data, plcf->prefix.len);
        p = ngx_cpymem(p, d->endpoint.name.data, d->endpoint.name.len);
        r->uri.len = p - r->uri.data;

        d->endpoint.name.data = r->uri.data + plcf->prefix.len;

        if (d->params.canonical_len) {
            *p++ = '?';
        }

        r->args.data = p;
        r->args.len = d->params.canonical_len;
        p = ngx_cpymem(p, d->params.canonical, d->params.canonical_len);

        r->unparsed_uri.len = p - r->unparsed_uri.data;

        r->valid_unparsed_uri = 0;
        r->quoted_uri = 0;
        r->plus_in_uri = 0;

        pmcf = ngx_http_get_module_main_conf(r, ngx_http_pprof_module);

        r->variables[pmcf->request_uri].valid = 0;
        r->variables[pmcf->request_uri].not_found = 0;
    }

    return ngx_http_pprof_strip_credentials(r);
}


static ngx_int_t
ngx_http_pprof_strip_credentials(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_t        kept;
    pprof_str_t       name;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *copy;

    if (ngx_list_init(&kept, r->pool, 20, sizeof(ngx_table_elt_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        name.data = h[i].lowcase_key;
        name.len = h[i].key.len;

        if (pprof_proxy_is_credential_header(name)) {
            continue;
        }

        copy = ngx_list_push(&kept);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        *copy = h[i];
    }

    /* Every upstream module builds its request from this list. */
    r->headers_in.headers = kept;
    r->headers_in.authorization = NULL;
#if (nginx_version >= 1023000)
    r->headers_in.cookie = NULL;
#else
    r->headers_in.cookies.nelts = 0;
#endif

    return NGX_OK;
}


ngx_int_t
ngx_http_pprof_deny(ngx_http_request_t *r, ngx_http_pprof_loc_conf_t *plcf,
    ngx_http_pprof_ctx_t *ctx)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_pprof_denial(r, plcf, ctx, &out) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    /* Answered here: no later phase handler may turn this into an allow. */
    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));
    return NGX_DONE;
}


/*
 * The denial of ctx->decision.reason: its status and headers set in
 * r->headers_out, its body in out.  Shared by the access phase and the
 * filter that answers for a busy target, so that both look the same.
 * NGX_ERROR, logged, when it cannot be built.
 */
ngx_int_t
ngx_http_pprof_denial(ngx_http_request_t *r, ngx_http_pprof_loc_conf_t *plcf,
    ngx_http_pprof_ctx_t *ctx, ngx_chain_t *out)
{
    int           json, status;
    size_t        len;
    ngx_buf_t    *b;
    ngx_str_t     value;
    pprof_str_t   accept;
    char          body[PPROF_DENIAL_MAX];

    json = 0;
#if (NGX_HTTP_HEADERS)
    if (r->headers_in.accept) {
        accept.data = r->headers_in.accept->value.data;
        accept.len = r->headers_in.accept->value.len;
        json = pprof_denial_wants_json(accept);
    }
#endif

    len = pprof_denial_render_detail(body, sizeof(body), ctx->decision.reason,
                                     ctx->audit_id, json,
                                     ctx->decision.detail);
    if (len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: the %s denial's body does not "
                      "fit in %uz bytes, audit id %s",
                      pprof_reason_name(ctx->decision.reason), sizeof(body),
                      ctx->audit_id);
        return NGX_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        goto failed;
    }

    b->last = ngx_cpymem(b->last, body, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out->buf = b;
    out->next = NULL;

    status = pprof_reason_status(ctx->decision.reason);

    r->headers_out.status = status;
    r->headers_out.content_type = json ? ngx_http_pprof_json_type
                                       : ngx_http_pprof_text_type;
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = len;

    /* go tool pprof shows the body of an error only with this header. */
    ngx_str_set(&value, "1");
    if (ngx_http_pprof_add_header(r, "X-Go-Pprof", &value, NULL) != NGX_OK) {
        goto failed;
    }

    if (pprof_reason_retries(ctx->decision.reason)) {
        value.data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (value.data == NULL) {
            goto failed;
        }

        value.len = ngx_sprintf(value.data, "%uL",
                                ctx->decision.retry_after)
                    - value.data;

        if (ngx_http_pprof_add_header(r, "Retry-After", &value, NULL)
            != NGX_OK)
        {
            goto failed;
        }
    }

    if (status == NGX_HTTP_UNAUTHORIZED && plcf->challenge) {
        value.data = ngx_pnalloc(r->pool, PPROF_CHALLENGE_MAX);
        if (value.data == NULL) {
            goto failed;
        }

        value.len = pprof_denial_challenge((char *) value.data,
                                           PPROF_CHALLENGE_MAX,
                                           plcf->challenge,
                                           ctx->decision.reason,
                                           ctx->auth.token_error);
        if (value.len == 0) {
            goto failed;
        }

        if (ngx_http_pprof_add_header(r, "WWW-Authenticate", &value,
                                      &r->headers_out.www_authenticate)
            != NGX_OK)
        {
            goto failed;
        }
    }

    if (ctx->decision.reason == PPROF_METHOD_NOT_ALLOWED) {
        value.data = (u_char *) pprof_endpoint_allow(&ctx->decision.endpoint);
        value.len = ngx_strlen(value.data);

        if (ngx_http_pprof_add_header(r, "Allow", &value, NULL) != NGX_OK) {
            goto failed;
        }
    }

    if (ctx->decision.location_len
        && ctx->decision.reason == PPROF_TLS_REQUIRED)
    {
        r->headers_out.status = NGX_HTTP_PERMANENT_REDIRECT;

        value.data = (u_char *) ctx->decision.location;
        value.len = ctx->decision.location_len;

        if (ngx_http_pprof_add_header(r, "Location", &value,
                                      &r->headers_out.location)
            != NGX_OK)
        {
            goto failed;
        }
    }

    /*
     * nginx's auth_request passes on only 401 and 403: the real status and
     * reason go in headers, for the front's auth_request_set.
     */
    if (plcf->authz == PPROF_AUTHZ_ORIGINAL) {
        value.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (value.data == NULL) {
            goto failed;
        }

        value.len = ngx_sprintf(value.data, "%i", status) - value.data;

        if (ngx_http_pprof_add_header(r, "X-Pprof-Status", &value, NULL)
            != NGX_OK)
        {
            goto failed;
        }

        value.data = (u_char *) pprof_reason_name(ctx->decision.reason);
        value.len = ngx_strlen(value.data);

        if (ngx_http_pprof_add_header(r, "X-Pprof-Reason", &value, NULL)
            != NGX_OK)
        {
            goto failed;
        }

        r->headers_out.status = pprof_authz_status(plcf->authz,
                                                   ctx->decision.reason);
    }

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "pprof: internal_error: no memory for the "
                  "%s denial, audit id %s",
                  pprof_reason_name(ctx->decision.reason), ctx->audit_id);
    return NGX_ERROR;
}


ngx_int_t
ngx_http_pprof_add_header(ngx_http_request_t *r, const char *key,
    ngx_str_t *value, ngx_table_elt_t **slot)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    if (slot) {
        *slot = h;
    }

    return NGX_OK;
}
