/*
 * pprof_authz: the location answers another proxy's authorization check
 * (Envoy's ext_authz, Traefik and Caddy's forward auth, nginx's
 * auth_request) for a pprof request, with the same pipeline, zone and
 * audit trail as proxying.  The proxy forwards the request itself: the
 * answer is 200 with who asked, or the denial.
 */

#include "ngx_http_pprof_module.h"


/* The headers a check is read from, each with every value it came with. */
typedef enum {
    NGX_HTTP_PPROF_FORWARDED_METHOD = 0,
    NGX_HTTP_PPROF_FORWARDED_URI,
    NGX_HTTP_PPROF_ORIGINAL_METHOD,
    NGX_HTTP_PPROF_ORIGINAL_URL,
    NGX_HTTP_PPROF_ORIGINAL_URI,
    NGX_HTTP_PPROF_FORWARDED_FOR,
    NGX_HTTP_PPROF_FORWARDED_PROTO,
    NGX_HTTP_PPROF_CHECK_HEADERS
} ngx_http_pprof_check_header_e;


static ngx_int_t ngx_http_pprof_authz_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_pprof_check_read(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx,
    pprof_request_t *req);
static ngx_int_t ngx_http_pprof_authz_answer(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx,
    ngx_uint_t ahead);
static ngx_int_t ngx_http_pprof_allow(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx);


static ngx_str_t  ngx_http_pprof_check_names[] = {
    ngx_string("x-forwarded-method"),
    ngx_string("x-forwarded-uri"),
    ngx_string("x-original-method"),
    ngx_string("x-original-url"),
    ngx_string("x-original-uri"),
    ngx_string("x-forwarded-for"),
    ngx_string("x-forwarded-proto"),
};


char *
ngx_http_pprof_authz(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_loc_conf_t *plcf = conf;

    char                      *rv;
    ngx_http_core_loc_conf_t  *clcf;

    rv = ngx_conf_set_enum_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    ngx_http_pprof_where(cf, &plcf->authz_at);

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* A proxy_pass after this one is caught when the location merges. */
    if (clcf->handler) {
        return "cannot share a location with a content handler such as "
               "proxy_pass: the proxy that asks forwards the request";
    }

    clcf->handler = ngx_http_pprof_authz_handler;

    return NGX_CONF_OK;
}


/*
 * What nginx -t refuses in an authorization location: it answers checks
 * and never forwards, and it must know which peers may ask.
 */
char *
ngx_http_pprof_authz_merge(ngx_conf_t *cf, ngx_http_pprof_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    if (conf->authz == NGX_CONF_UNSET_UINT) {
        return NGX_CONF_OK;
    }

    if (conf->enable) {
        ngx_http_pprof_conf_log(NGX_LOG_EMERG, cf, &conf->authz_at,
                                "\"pprof on\" and \"pprof_authz\" cannot "
                                "share a location: one proxies pprof, the "
                                "other answers another proxy's checks");
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != ngx_http_pprof_authz_handler) {
        ngx_http_pprof_conf_log(NGX_LOG_EMERG, cf, &conf->authz_at,
                                "\"pprof_authz\" cannot share a location "
                                "with a content handler such as proxy_pass: "
                                "the proxy that asks forwards the request");
        return NGX_CONF_ERROR;
    }

    if (conf->trusted_proxies == NULL) {
        ngx_http_pprof_conf_log(NGX_LOG_EMERG, cf, &conf->authz_at,
                                "\"pprof_authz\" needs "
                                "\"pprof_trusted_proxies\": the addresses of "
                                "the proxies that may ask");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* Checked where it is written, at any level. */
char *
ngx_http_pprof_authz_prefix(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_loc_conf_t *plcf = conf;

    char  *rv;

    rv = ngx_conf_set_str_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (plcf->authz_prefix.len
        && (plcf->authz_prefix.data[0] != '/'
            || plcf->authz_prefix.data[plcf->authz_prefix.len - 1] == '/'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_authz_prefix \"%V\" must start with '/' "
                           "and not end with one, as Envoy's path_prefix",
                           &plcf->authz_prefix);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * A capture admitted through Redis waits for its answer: the handler
 * keeps the request with NGX_DONE, as reading a body does, and nginx runs
 * the content phase, and this handler, again once the answer came.
 */
static ngx_int_t
ngx_http_pprof_authz_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    pprof_request_t             req;
    ngx_http_pprof_ctx_t       *ctx;
    ngx_http_pprof_loc_conf_t  *plcf;

    /*
     * auth_request, SSI or mirror in this nginx: the subrequest carries the
     * client's own headers and address, which no proxy vouched for.  The
     * configuration is wrong, and the client must not pass.
     */
    if (r != r->main) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: pprof_authz answers another "
                      "proxy's check, not a subrequest of this nginx "
                      "(auth_request, SSI, mirror), whose headers are the "
                      "client's own: use \"pprof on\" where the request is "
                      "proxied");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pprof_module);

    ctx = ngx_http_get_module_ctx(r, ngx_http_pprof_module);

    if (ctx) {
        /* Decided already: nothing is answered twice. */
        if (ctx->wait == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_pprof_shared_finish(r, plcf, ctx);

        if (rc == NGX_AGAIN) {
            r->main->count++;
            return NGX_DONE;
        }

        return ngx_http_pprof_authz_answer(r, plcf, ctx, rc);
    }

    ctx = ngx_http_pprof_ctx_create(r, plcf);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->authz = 1;

    ngx_http_pprof_facts(r, &req);

    if (ngx_http_pprof_check_read(r, plcf, ctx, &req) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: no memory to read the check "
                      "request");
        req.read = PPROF_INTERNAL_ERROR;
    }

    /* Stage 8's slot is a lease (ctx->authz): no response ends it. */
    rc = ngx_http_pprof_decide(r, plcf, ctx, &req);

    if (rc == NGX_AGAIN) {
        r->main->count++;
        return NGX_DONE;
    }

    return ngx_http_pprof_authz_answer(r, plcf, ctx, rc);
}


static ngx_int_t
ngx_http_pprof_authz_answer(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx,
    ngx_uint_t ahead)
{
    ngx_int_t  rc;

    if (!ahead) {
        /*
         * The denial finalizes the request itself, as a phase handler
         * must, and the content phase finalizes it once more on NGX_DONE:
         * the reference taken here is the one that second call gives up.
         */
        r->main->count++;

        rc = ngx_http_pprof_deny(r, plcf, ctx);

        if (rc != NGX_DONE) {
            r->main->count--;
        }

        return rc;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_pprof_allow(r, ctx);
}


/*
 * The original request, as the mode's headers tell it; the client's
 * address from X-Forwarded-For and TLS from X-Forwarded-Proto.  What
 * cannot be read is the pipeline's read failure: stage 1.
 */
static ngx_int_t
ngx_http_pprof_check_read(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx,
    pprof_request_t *req)
{
    u_char                 *p;
    size_t                  len;
    const char             *detail;
    pprof_str_t             prefix;
    pprof_reason_t          rc;
    pprof_values_t          values[NGX_HTTP_PPROF_CHECK_HEADERS];
    pprof_authz_check_t     check;
    pprof_authz_request_t  *orig;

    ctx->client = r->connection->addr_text;
    ctx->proxy = r->connection->addr_text;
    ctx->path = r->uri;

    /*
     * Nothing an untrusted peer says is read, not even for its record:
     * the pipeline denies it before the stage that would read it.
     */
    if (!pprof_pipeline_trusted(&plcf->pipeline, &req->proxy)) {
        req->read = PPROF_UNTRUSTED_PROXY;
        return NGX_OK;
    }

    orig = ngx_palloc(r->pool, sizeof(pprof_authz_request_t));
    if (orig == NULL
        || ngx_http_pprof_header_values(r, ngx_http_pprof_check_names,
                                        NGX_HTTP_PPROF_CHECK_HEADERS, values)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memzero(&check, sizeof(pprof_authz_check_t));

    check.method.data = r->method_name.data;
    check.method.len = r->method_name.len;
    check.target.data = r->unparsed_uri.data;
    check.target.len = r->unparsed_uri.len;
    check.forwarded_method = values[NGX_HTTP_PPROF_FORWARDED_METHOD];
    check.forwarded_uri = values[NGX_HTTP_PPROF_FORWARDED_URI];
    check.original_method = values[NGX_HTTP_PPROF_ORIGINAL_METHOD];
    check.original_url = values[NGX_HTTP_PPROF_ORIGINAL_URL];
    check.original_uri = values[NGX_HTTP_PPROF_ORIGINAL_URI];
    check.body = r->headers_in.content_length_n > 0 || r->headers_in.chunked;

    prefix.data = plcf->authz_prefix.data;
    prefix.len = plcf->authz_prefix.len;

    req->read = pprof_authz_request(plcf->authz, prefix, &check, orig,
                                    &req->read_detail);

    if (req->read == PPROF_OK) {
        req->method = orig->method;
        req->uri.data = orig->path;
        req->uri.len = orig->path_len;
        req->args = orig->query;

        ctx->path.data = orig->path;
        ctx->path.len = orig->path_len;
        ctx->method.data = (u_char *) orig->method_name.data;
        ctx->method.len = orig->method_name.len;
    }

    req->body_len = 0;

    /* Read even when the request was not: its record names the client. */
    rc = pprof_authz_client(values[NGX_HTTP_PPROF_FORWARDED_FOR],
                            &req->proxy, plcf->pipeline.trusted,
                            plcf->pipeline.ntrusted, &req->client, &detail);

    if (req->read == PPROF_OK) {
        req->read = rc;
        req->read_detail = detail;
    }

    req->tls = pprof_authz_https(values[NGX_HTTP_PPROF_FORWARDED_PROTO]);

    p = ngx_pnalloc(r->pool, PPROF_ADDR_TEXT_MAX);
    if (p == NULL) {
        return NGX_ERROR;
    }

    /* The audit names both: the client asked for, and the proxy asking. */
    len = pprof_addr_text(&req->client, (char *) p, PPROF_ADDR_TEXT_MAX);
    if (len) {
        ctx->client.data = p;
        ctx->client.len = len;
    }

    ctx->https = req->tls;

    return NGX_OK;
}


/* 200 with who asked, for the proxy to pass upstream. */
static ngx_int_t
ngx_http_pprof_allow(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx)
{
    size_t             i, len;
    ngx_str_t          value;
    pprof_str_t        identity;
    pprof_decision_t  *d;

    d = &ctx->decision;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    if (ctx->auth.identity_len) {
        len = 3 * ctx->auth.identity_len + 1;

        value.data = ngx_pnalloc(r->pool, len);
        if (value.data == NULL) {
            goto failed;
        }

        identity.data = ctx->auth.identity;
        identity.len = ctx->auth.identity_len;

        if (pprof_authz_identity_header(identity, (char *) value.data, len,
                                        &value.len)
            != 0
            || ngx_http_pprof_add_header(r, "X-Pprof-Identity", &value, NULL)
               != NGX_OK)
        {
            goto failed;
        }
    }

    if (d->nheld) {
        len = 1;
        for (i = 0; i < d->nheld; i++) {
            len += d->held[i].len + 1;
        }

        value.data = ngx_pnalloc(r->pool, len);
        if (value.data == NULL) {
            goto failed;
        }

        if (pprof_authz_roles_header(d->held, d->nheld, (char *) value.data,
                                     len, &value.len)
            != 0
            || ngx_http_pprof_add_header(r, "X-Pprof-Roles", &value, NULL)
               != NGX_OK)
        {
            goto failed;
        }
    }

    return ngx_http_send_header(r);

failed:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "pprof: internal_error: the allow answer's headers could "
                  "not be written, audit id %s", ctx->audit_id);
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}
