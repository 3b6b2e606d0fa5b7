/*
 * Filters: every response the module touched, allowed or denied, carries
 * the audit id (the upstream cannot supply its own); the body of a
 * forwarded one is annotated or redacted as proxy/ decides, and what
 * reaches the client is hashed for its audit record.  A capture's answer
 * that may be the target's "busy" is held first (ngx_http_pprof_busy.c).
 */

#include "ngx_http_pprof_module.h"


static ngx_int_t ngx_http_pprof_header_filter(ngx_http_request_t *r);
static void ngx_http_pprof_body_action(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx);
static ngx_int_t ngx_http_pprof_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_uint_t ngx_http_pprof_target_done(ngx_http_request_t *r);


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
    ngx_int_t              rc;
    ngx_http_pprof_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_pprof_module);
    if (ctx == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if (ctx->forwarded && r == r->main) {
        rc = ngx_http_pprof_busy_header(r, ctx);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return ngx_http_pprof_header_send(r, ctx);
}


/* The header as it goes out: what the body becomes, and the audit id. */
ngx_int_t
ngx_http_pprof_header_send(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

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
    ngx_chain_t           *cl;
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
            if (ngx_http_pprof_target_done(r)) {
                ngx_http_pprof_zone_release(ctx);
            }

            break;
        }
    }

    if (ctx->busy_held) {
        return ngx_http_pprof_busy_body(r, ctx, in);
    }

    return ngx_http_pprof_body_out(r, ctx, in);
}


/*
 * Whether the last buffer tells that the target is done: it ends the
 * target's own response, or nginx's error page for a capture that no try
 * sent to the target.  nginx's 502 or 504 for one that the target got (it
 * hung up without an answer, or did not answer in time) tells nothing of
 * the capture, which may still run there: the slot settles instead, when
 * the request ends.
 */
static ngx_uint_t
ngx_http_pprof_target_done(ngx_http_request_t *r)
{
    ngx_uint_t                  i;
    ngx_http_upstream_t        *u;
    ngx_http_upstream_state_t  *state;

    u = r->upstream;

    if (u == NULL || u->header_sent) {
        return 1;
    }

    if (u->request_sent) {
        return 0;
    }

    /* An earlier try (proxy_next_upstream) may have sent it. */
    if (r->upstream_states) {
        state = r->upstream_states->elts;

        for (i = 0; i < r->upstream_states->nelts; i++) {
            if (state[i].bytes_sent) {
                return 0;
            }
        }
    }

    return 1;
}


/* A forwarded body, as ctx->body_action says. */
ngx_int_t
ngx_http_pprof_body_out(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx,
    ngx_chain_t *in)
{
    ngx_chain_t  *out;

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


/*
 * Copies b's bytes to the end of into, and marks b as sent so that the
 * upstream can reuse it; nginx may have spilled it to a temporary file.
 * NGX_ERROR when into (NULL: none) has no room for them or the file
 * cannot be read.
 */
ngx_int_t
ngx_http_pprof_buf_take(ngx_buf_t *into, ngx_buf_t *b)
{
    off_t    size, offset;
    ssize_t  n;

    size = ngx_buf_size(b);

    if (size > 0) {
        if (into == NULL || size > into->end - into->last) {
            return NGX_ERROR;
        }

        if (ngx_buf_in_memory(b)) {
            into->last = ngx_cpymem(into->last, b->pos, size);

        } else {
            for (offset = b->file_pos; offset < b->file_last; offset += n) {
                n = ngx_read_file(b->file, into->last,
                                  (size_t) (b->file_last - offset), offset);
                if (n <= 0) {
                    return NGX_ERROR;
                }

                into->last += n;
            }
        }
    }

    b->pos = b->last;
    b->file_pos = b->file_last;

    return NGX_OK;
}
