/*
 * Filters: every response the module touched, allowed or denied, carries
 * the audit id (the upstream cannot supply its own); the body of a
 * forwarded one is annotated or redacted as proxy/ decides, and what
 * reaches the client is hashed for its audit record.
 */

#include "ngx_http_pprof_module.h"


static ngx_int_t ngx_http_pprof_header_filter(ngx_http_request_t *r);
static void ngx_http_pprof_body_action(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx);
static ngx_int_t ngx_http_pprof_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;

static ngx_str_t  ngx_http_pprof_audit_header = ngx_string("X-Pprof-Audit-Id");


ngx_int_t
ngx_http_pprof_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_pprof_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_pprof_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_pprof_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t             i;
    ngx_list_part_t       *part;
    ngx_table_elt_t       *h;
    ngx_http_pprof_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_pprof_module);
    if (ctx == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if (ctx->forwarded && r == r->main) {
        ngx_http_pprof_body_action(r, ctx);
    }

    part = &r->headers_out.headers.part;
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

        /* A hash of 0 makes the header filter skip the entry. */
        if (h[i].key.len == ngx_http_pprof_audit_header.len
            && ngx_strncasecmp(h[i].key.data, ngx_http_pprof_audit_header.data,
                               h[i].key.len) == 0)
        {
            h[i].hash = 0;
        }
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key = ngx_http_pprof_audit_header;
    h->value.data = (u_char *) ctx->audit_id;
    h->value.len = ngx_strlen(ctx->audit_id);

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return ngx_http_next_header_filter(r);
}


/*
 * A body that will change length loses Content-Length (nginx then sends
 * it chunked, or closes the connection after it for HTTP/1.0), the ranges
 * that would address the upstream's bytes, and the validators of the
 * upstream's bytes; the other headers, the Content-Disposition that names
 * the file among them, stay.
 */
static void
ngx_http_pprof_body_action(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx)
{
    pprof_params_t              unknown, *params;
    ngx_http_pprof_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pprof_module);

    /* A dry run may forward a query it could not read: nothing is known. */
    if (ctx->decision.canonical) {
        params = &ctx->decision.params;

    } else {
        ngx_memzero(&unknown, sizeof(pprof_params_t));
        unknown.debug = -1;
        unknown.gc = -1;
        params = &unknown;
    }

    /* header_only is set for HEAD only later, by the header filter. */
    ctx->body_action = pprof_proxy_body_action(&ctx->decision.endpoint, params,
                           plcf->annotate, plcf->redact,
                           r->header_only || r->method == NGX_HTTP_HEAD,
                           r->headers_out.status,
                           r->headers_out.content_encoding != NULL,
                           &ctx->annotation);

    if (ctx->body_action != PPROF_BODY_AS_IS) {
        ngx_http_clear_content_length(r);
        ngx_http_clear_accept_ranges(r);
        ngx_http_clear_last_modified(r);
        ngx_http_clear_etag(r);
    }
}


static ngx_int_t
ngx_http_pprof_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t           *out, *cl;
    ngx_http_pprof_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_pprof_module);

    if (ctx == NULL || !ctx->forwarded || r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    /*
     * The last buffer is sent once the upstream is finalized, before the
     * client has read what nginx holds of the response (with
     * proxy_buffering, all of it): the target is done, and so is the
     * capture's claim on it.  This filter is loaded after nginx's own, so
     * it runs first and sees the buffer at once.
     */
    for (cl = in; cl; cl = cl->next) {
        if (cl->buf->last_buf) {
            ngx_http_pprof_zone_release(ctx);
            break;
        }
    }

    switch (ctx->body_action) {

    case PPROF_BODY_ANNOTATE:
        return ngx_http_pprof_annotate_body(r, ctx, in);

    case PPROF_BODY_REDACT:
        out = NULL;

        if (ngx_http_pprof_redact_body(r, ctx, in, &out) != NGX_OK) {
            return NGX_ERROR;
        }

        /* Still gathering argv: nothing to send yet. */
        if (out == NULL && in != NULL) {
            return NGX_OK;
        }

        return ngx_http_pprof_body_send(r, ctx, out);

    default:
        return ngx_http_pprof_body_send(r, ctx, in);
    }
}


/* The audit's response record hashes exactly what the client is sent. */
ngx_int_t
ngx_http_pprof_body_send(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx,
    ngx_chain_t *out)
{
    if (ctx->body_sha && ngx_http_pprof_audit_body(r, ctx, out) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_next_body_filter(r, out);
}
