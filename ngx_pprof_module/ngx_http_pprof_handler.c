/*
 * The request's path through SPEC §3: gather what nginx knows, ask the core
 * stage by stage, then either answer the denial or rewrite the request into
 * its canonical form for proxy_pass.
 */

#include "ngx_http_pprof_module.h"


static pprof_reason_t ngx_http_pprof_decide(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx);
static pprof_method_t ngx_http_pprof_method(ngx_http_request_t *r);
static pprof_reason_t ngx_http_pprof_address(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf);
static pprof_reason_t ngx_http_pprof_authorize(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx);
static long long ngx_http_pprof_body_length(ngx_http_request_t *r);
static ngx_int_t ngx_http_pprof_forward(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx);
static ngx_int_t ngx_http_pprof_strip_credentials(ngx_http_request_t *r);
static ngx_int_t ngx_http_pprof_deny(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx);
static ngx_int_t ngx_http_pprof_add_header(ngx_http_request_t *r,
    const char *key, ngx_str_t *value, ngx_table_elt_t **slot);
static pprof_reason_t ngx_http_pprof_redirect(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx);


static ngx_str_t  ngx_http_pprof_text_type = ngx_string("text/plain");
static ngx_str_t  ngx_http_pprof_json_type = ngx_string("application/json");


ngx_int_t
ngx_http_pprof_handler(ngx_http_request_t *r)
{
    const char                 *detail;
    ngx_uint_t                  level;
    ngx_http_pprof_ctx_t       *ctx;
    ngx_http_pprof_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pprof_module);

    if (!plcf->enable || ngx_http_get_module_ctx(r, ngx_http_pprof_module)) {
        return NGX_DECLINED;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_pprof_ctx_t));
    if (ctx == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: no memory for the request's "
                      "state");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_pprof_module);

    ctx->enforced = plcf->enforce ? 1 : 0;
    ctx->endpoint.cls = PPROF_CLASS_COUNT;
    ctx->annotation = PPROF_ANNOTATE_REASON_COUNT;
    ctx->redacted = -1;

    /* Forwarding points r->uri at the canonical request: keep what was seen. */
    ctx->path = r->uri;

    if (pprof_audit_id_generate(ctx->audit_id) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: no random bytes for an audit "
                      "id (RAND_bytes failed)");
        ngx_cpystrn((u_char *) ctx->audit_id, (u_char *) "unavailable",
                    sizeof(ctx->audit_id));
        ctx->reason = PPROF_INTERNAL_ERROR;

    } else {
        ctx->reason = ngx_http_pprof_decide(r, plcf, ctx);
    }

    if (ctx->reason != PPROF_OK) {
        /* The credential's detail explains only an authentication failure. */
        detail = (ctx->reason == ctx->auth.reason) ? ctx->auth.detail : NULL;

        /*
         * A denial is the client's doing, an internal error the gateway's:
         * it is denied in a dry run too, and the line before says what
         * failed, unless the credential's detail does.
         */
        level = (ctx->reason == PPROF_INTERNAL_ERROR) ? NGX_LOG_ERR
                                                       : NGX_LOG_INFO;

        ngx_log_error(level, r->connection->log, 0,
                      "pprof: %s%s%s%s, audit id %s",
                      pprof_policy_forwards(ctx->reason, plcf->enforce)
                      ? "dry run, would deny: " : "",
                      pprof_reason_name(ctx->reason),
                      detail ? ": " : "", detail ? detail : "",
                      ctx->audit_id);
    }

    /* Stage 10: the decision record, before anything is forwarded. */
    ctx->reason = pprof_policy_audited(ctx->reason, plcf->enforce,
                      ngx_http_pprof_audit_decision(r, plcf, ctx) == NGX_OK,
                      plcf->audit_required);

    ngx_http_pprof_zone_count(r, ctx);

    if (!pprof_policy_forwards(ctx->reason, plcf->enforce)) {
        return ngx_http_pprof_deny(r, plcf, ctx);
    }

    if (ngx_http_pprof_forward(r, plcf, ctx) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: no memory to rewrite the "
                      "request for forwarding, audit id %s", ctx->audit_id);
        ctx->reason = PPROF_INTERNAL_ERROR;
        return ngx_http_pprof_deny(r, plcf, ctx);
    }

    ctx->forwarded = 1;

    return NGX_DECLINED;
}


static pprof_reason_t
ngx_http_pprof_decide(ngx_http_request_t *r, ngx_http_pprof_loc_conf_t *plcf,
    ngx_http_pprof_ctx_t *ctx)
{
    pprof_str_t        prefix, uri, args;
    pprof_method_t     method;
    pprof_reason_t     rc, first;
    pprof_transport_t  transport;

    method = ngx_http_pprof_method(r);

    prefix.data = plcf->prefix.data;
    prefix.len = plcf->prefix.len;
    uri.data = r->uri.data;
    uri.len = r->uri.len;
    args.data = r->args.data;
    args.len = r->args.len;

    /* Without an endpoint nothing further can be judged, even in a dry run. */
    rc = pprof_policy_classify(prefix, uri, method, args, &ctx->endpoint);
    if (rc != PPROF_OK) {
        return rc;
    }

    first = PPROF_OK;

    rc = ngx_http_pprof_proxy_pass_host(r, plcf);
    if (pprof_policy_stop(&first, rc, plcf->enforce)) {
        return first;
    }

    transport = pprof_policy_transport(plcf->tls, r->connection->ssl != NULL,
                                       method);
    if (transport == PPROF_TRANSPORT_REDIRECT
        && ngx_http_pprof_redirect(r, plcf, ctx) != PPROF_OK)
    {
        return PPROF_INTERNAL_ERROR;
    }

    rc = transport == PPROF_TRANSPORT_PASS ? PPROF_OK : PPROF_TLS_REQUIRED;
    if (pprof_policy_stop(&first, rc, plcf->enforce)) {
        return first;
    }

    rc = ngx_http_pprof_address(r, plcf);
    if (pprof_policy_stop(&first, rc, plcf->enforce)) {
        return first;
    }

    rc = ngx_http_pprof_authenticate(r, plcf, ctx);
    if (pprof_policy_stop(&first, rc, plcf->enforce)) {
        return first;
    }

    rc = ngx_http_pprof_authorize(r, plcf, ctx);
    if (pprof_policy_stop(&first, rc, plcf->enforce)) {
        return first;
    }

    rc = pprof_policy_params(&ctx->endpoint, args, method,
                             ngx_http_pprof_body_length(r),
                             (unsigned) plcf->max_seconds, &ctx->params);
    if (rc == PPROF_OK) {
        ctx->canonical = 1;

    } else if (rc == PPROF_INTERNAL_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: parameters could not be "
                      "checked with pprof_max_seconds %i", plcf->max_seconds);
    }

    if (pprof_policy_stop(&first, rc, plcf->enforce)) {
        return first;
    }

    /* Rate, concurrency and budget need an identity and a capture length. */
    if (ctx->canonical && ctx->auth.reason == PPROF_OK) {
        rc = ngx_http_pprof_zone_take(r, plcf, ctx);
        (void) pprof_policy_stop(&first, rc, plcf->enforce);
    }

    return first;
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


/* The address nginx sees, after realip: X-Forwarded-For is not read here. */
static pprof_reason_t
ngx_http_pprof_address(ngx_http_request_t *r, ngx_http_pprof_loc_conf_t *plcf)
{
    struct sockaddr      *sa;
    pprof_addr_family_t   family;
    const unsigned char  *addr;

    if (plcf->allow == NULL) {
        return PPROF_OK;
    }

    sa = r->connection->sockaddr;

    switch (sa->sa_family) {

    case AF_INET:
        family = PPROF_ADDR_INET;
        addr = (u_char *) &((struct sockaddr_in *) sa)->sin_addr;
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        family = PPROF_ADDR_INET6;
        addr = ((struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
        break;
#endif

    default:
        family = PPROF_ADDR_ANY;
        addr = NULL;
        break;
    }

    return pprof_cidr_match(plcf->allow->elts, plcf->allow->nelts, family,
                            addr)
           ? PPROF_OK : PPROF_ADDRESS_DENIED;
}


static pprof_reason_t
ngx_http_pprof_authorize(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx)
{
    size_t       i, cap;
    const char  *name;
    pprof_str_t  identity, source;
    char         err[PPROF_BIND_ERROR_MAX];

    if (ctx->auth.reason != PPROF_OK) {
        return PPROF_FORBIDDEN;
    }

    identity.data = ctx->auth.identity;
    identity.len = ctx->auth.identity_len;

    name = pprof_auth_method_name(ctx->auth.method);
    source.data = (const unsigned char *) name;
    source.len = ngx_strlen(name);

    /* Roles from a JWT claim or the key file add to the bound ones. */
    cap = plcf->max_held + ctx->auth.nroles;

    if (cap) {
        ctx->held = ngx_palloc(r->pool, cap * sizeof(pprof_str_t));
        if (ctx->held == NULL) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "pprof: internal_error: no memory for %uz roles",
                          cap);
            return PPROF_INTERNAL_ERROR;
        }
    }

    for (i = 0; i < ctx->auth.nroles; i++) {
        if (pprof_roles_add(ctx->auth.roles[i], ctx->held, &ctx->nheld, cap)
            != 0)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "pprof: internal_error: the credential's roles "
                          "do not fit in %uz", cap);
            return PPROF_INTERNAL_ERROR;
        }
    }

    if (plcf->max_held
        && pprof_policy_bind_roles(plcf->binds->elts, plcf->binds->nelts,
                                   identity, source, ctx->held,
                                   &ctx->nheld, cap, err, sizeof(err))
           != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: %s", err);
        return PPROF_INTERNAL_ERROR;
    }

    return pprof_policy_authorize(plcf->roles ? plcf->roles->elts : NULL,
                                  plcf->roles ? plcf->roles->nelts : 0,
                                  ctx->held, ctx->nheld, &ctx->endpoint);
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
    ngx_http_pprof_main_conf_t  *pmcf;

    if (ctx->canonical) {
        p = ngx_pnalloc(r->pool, plcf->prefix.len + ctx->endpoint.name.len
                                 + 1 + ctx->params.canonical_len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        r->unparsed_uri.data = p;

        r->uri.data = p;
        p = ngx_cpymem(p, plcf->prefix.data, plcf->prefix.len);
        p = ngx_cpymem(p, ctx->endpoint.name.data, ctx->endpoint.name.len);
        r->uri.len = p - r->uri.data;

        ctx->endpoint.name.data = r->uri.data + plcf->prefix.len;

        if (ctx->params.canonical_len) {
            *p++ = '?';
        }

        r->args.data = p;
        r->args.len = ctx->params.canonical_len;
        p = ngx_cpymem(p, ctx->params.canonical, ctx->params.canonical_len);

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


static ngx_int_t
ngx_http_pprof_deny(ngx_http_request_t *r, ngx_http_pprof_loc_conf_t *plcf,
    ngx_http_pprof_ctx_t *ctx)
{
    int           json;
    size_t        len;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_str_t     value;
    ngx_chain_t   out;
    pprof_str_t   accept;
    char          body[PPROF_DENIAL_MAX];

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    json = 0;
#if (NGX_HTTP_HEADERS)
    if (r->headers_in.accept) {
        accept.data = r->headers_in.accept->value.data;
        accept.len = r->headers_in.accept->value.len;
        json = pprof_denial_wants_json(accept);
    }
#endif

    len = pprof_denial_render(body, sizeof(body), ctx->reason, ctx->audit_id,
                              json);
    if (len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: the %s denial's body does not "
                      "fit in %uz bytes, audit id %s",
                      pprof_reason_name(ctx->reason), sizeof(body),
                      ctx->audit_id);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = pprof_reason_status(ctx->reason);
    r->headers_out.content_type = json ? ngx_http_pprof_json_type
                                       : ngx_http_pprof_text_type;
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = len;

    /* go tool pprof shows the body of an error only with this header. */
    ngx_str_set(&value, "1");
    if (ngx_http_pprof_add_header(r, "X-Go-Pprof", &value, NULL) != NGX_OK) {
        goto failed;
    }

    if (r->headers_out.status == NGX_HTTP_TOO_MANY_REQUESTS) {
        value.data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (value.data == NULL) {
            goto failed;
        }

        value.len = ngx_sprintf(value.data, "%uL",
                                ctx->retry_after ? ctx->retry_after : 1)
                    - value.data;

        if (ngx_http_pprof_add_header(r, "Retry-After", &value, NULL)
            != NGX_OK)
        {
            goto failed;
        }
    }

    if (r->headers_out.status == NGX_HTTP_UNAUTHORIZED && plcf->challenge) {
        value.data = (u_char *) plcf->challenge;
        value.len = ngx_strlen(plcf->challenge);

        if (ngx_http_pprof_add_header(r, "WWW-Authenticate", &value,
                                      &r->headers_out.www_authenticate)
            != NGX_OK)
        {
            goto failed;
        }
    }

    if (ctx->reason == PPROF_METHOD_NOT_ALLOWED) {
        value.data = (u_char *) pprof_endpoint_allow(&ctx->endpoint);
        value.len = ngx_strlen(value.data);

        if (ngx_http_pprof_add_header(r, "Allow", &value, NULL) != NGX_OK) {
            goto failed;
        }
    }

    if (ctx->location.len && ctx->reason == PPROF_TLS_REQUIRED) {
        r->headers_out.status = NGX_HTTP_PERMANENT_REDIRECT;

        if (ngx_http_pprof_add_header(r, "Location", &ctx->location,
                                      &r->headers_out.location)
            != NGX_OK)
        {
            goto failed;
        }
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return NGX_DONE;
    }

    b->last = ngx_cpymem(b->last, body, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    /* Answered here: no later phase handler may turn this into an allow. */
    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));
    return NGX_DONE;

failed:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "pprof: internal_error: no memory for the headers of the "
                  "%s denial, audit id %s", pprof_reason_name(ctx->reason),
                  ctx->audit_id);
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static ngx_int_t
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


/*
 * The 308's Location, from the server's name or the Host header and the
 * canonical request; the core leaves it empty when it cannot vouch for one,
 * and the request is then a plain 403.
 */
static pprof_reason_t
ngx_http_pprof_redirect(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx)
{
    size_t                     len;
    pprof_str_t                name, host, prefix, args;
    ngx_http_core_srv_conf_t  *cscf;
    char                       location[PPROF_LOCATION_MAX];

    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);

    name.data = cscf->server_name.data;
    name.len = cscf->server_name.len;
    host.data = r->headers_in.host ? r->headers_in.host->value.data : NULL;
    host.len = r->headers_in.host ? r->headers_in.host->value.len : 0;
    prefix.data = plcf->prefix.data;
    prefix.len = plcf->prefix.len;
    args.data = r->args.data;
    args.len = r->args.len;

    len = pprof_redirect_location(name, host, prefix, &ctx->endpoint, args,
                                  ngx_http_pprof_body_length(r),
                                  (unsigned) plcf->max_seconds,
                                  location, sizeof(location));

    if (len == 0) {
        return PPROF_OK;
    }

    ctx->location.data = ngx_pnalloc(r->pool, len);
    if (ctx->location.data == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: no memory for the redirect's "
                      "Location");
        return PPROF_INTERNAL_ERROR;
    }

    ctx->location.len = len;
    ngx_memcpy(ctx->location.data, location, len);

    return PPROF_OK;
}
