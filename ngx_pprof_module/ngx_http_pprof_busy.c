/*
 * A target that another path reached (a client that bypassed the gateway,
 * another gateway, the program itself) refuses a capture with Go's 500
 * "already in use".  The client of an admitted capture gets the gateway's
 * own 429 capture_busy instead, built as every denial is, and the audit
 * keeps what the target said.  As nginx's image and xslt filters do, the
 * header is held until the body is in: only a 500 with X-Go-Pprof and a
 * Content-Length of at most PPROF_BUSY_BODY_MAX bytes is held, every other
 * response streams as it always did.  proxy/busy.c decides.
 */

#include "ngx_http_pprof_module.h"


static pprof_str_t ngx_http_pprof_busy_go_pprof(ngx_http_request_t *r);
static ngx_int_t ngx_http_pprof_busy_answer(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, pprof_reason_t reason);
static void ngx_http_pprof_busy_clear(ngx_http_request_t *r);


static ngx_str_t  ngx_http_pprof_go_pprof = ngx_string("X-Go-Pprof");


/*
 * NGX_DECLINED: the header goes on as it is; NGX_OK: it is held; else what
 * sending the gateway's capture_busy in its place returned.
 */
ngx_int_t
ngx_http_pprof_busy_header(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx)
{
    pprof_busy_t  busy;

    /* A dry run changes no answer: the target's goes as it came. */
    if (r->header_only || !ctx->enforced) {
        return NGX_DECLINED;
    }

    /* header_only is set for a HEAD only later, by nginx's header filter. */
    busy = pprof_busy_candidate(&ctx->decision.endpoint,
                                r->headers_out.status,
                                ngx_http_pprof_busy_go_pprof(r),
                                r->headers_out.content_length_n,
                                r->method == NGX_HTTP_HEAD);

    if (busy == PPROF_BUSY_PASS) {
        return NGX_DECLINED;
    }

    if (busy == PPROF_BUSY_NOW) {
        ctx->upstream_status = r->headers_out.status;
        return ngx_http_pprof_busy_answer(r, ctx, PPROF_CAPTURE_BUSY);
    }

    ctx->busy_held = 1;

    /* Without it the body is still taken, then answered internal_error. */
    ctx->busy_body = ngx_create_temp_buf(r->pool,
                                         r->headers_out.content_length_n);

    return NGX_OK;
}


static pprof_str_t
ngx_http_pprof_busy_go_pprof(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    pprof_str_t       value;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    value.data = NULL;
    value.len = 0;

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

        if (h[i].hash != 0
            && h[i].key.len == ngx_http_pprof_go_pprof.len
            && ngx_strncasecmp(h[i].key.data, ngx_http_pprof_go_pprof.data,
                               h[i].key.len) == 0)
        {
            value.data = h[i].value.data;
            value.len = h[i].value.len;
            break;
        }
    }

    return value;
}


/*
 * Gathers the held body, never more than the Content-Length it was held
 * for, and at its last buffer answers.  The buffers are marked as sent as
 * they are copied; nothing reaches the client before the end.
 */
ngx_int_t
ngx_http_pprof_busy_body(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx,
    ngx_chain_t *in)
{
    ngx_int_t     rc;
    ngx_uint_t    last;
    ngx_chain_t  *cl, out;
    pprof_str_t   body;

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        if (ngx_http_pprof_buf_take(ctx->busy_body, cl->buf) != NGX_OK) {
            ctx->busy_body = NULL;
            cl->buf->pos = cl->buf->last;
            cl->buf->file_pos = cl->buf->file_last;
        }

        if (cl->buf->last_buf) {
            last = 1;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    ctx->busy_held = 0;

    if (ctx->busy_body == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: the target's %ui to a capture "
                      "could not be held to be read (no memory, a body "
                      "longer than its Content-Length, or a temporary file "
                      "that could not be read), audit id %s",
                      r->headers_out.status, ctx->audit_id);
        return ngx_http_pprof_busy_answer(r, ctx, PPROF_INTERNAL_ERROR);
    }

    body.data = ctx->busy_body->pos;
    body.len = ctx->busy_body->last - ctx->busy_body->pos;

    if (pprof_busy_answer(&ctx->decision.endpoint, r->headers_out.status,
                          ngx_http_pprof_busy_go_pprof(r), body))
    {
        ctx->upstream_status = r->headers_out.status;
        ctx->upstream_said.data = ctx->busy_body->pos;
        ctx->upstream_said.len = body.len;

        return ngx_http_pprof_busy_answer(r, ctx, PPROF_CAPTURE_BUSY);
    }

    /* Not the target's "busy": its answer, as it came. */
    rc = ngx_http_pprof_header_send(r, ctx);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    ctx->busy_body->last_buf = 1;

    /* Less than announced, maybe nothing: an empty one must be special. */
    if (body.len == 0) {
        ctx->busy_body->temporary = 0;
    }

    out.buf = ctx->busy_body;
    out.next = NULL;

    return ngx_http_pprof_body_out(r, ctx, &out);
}


/*
 * The upstream's header is dropped and the denial of reason sent in its
 * place, as the access phase sends it.  The capture never ran: its slot
 * goes back now, as a HEAD's answer brings no last buffer to say so.
 */
static ngx_int_t
ngx_http_pprof_busy_answer(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx,
    pprof_reason_t reason)
{
    ngx_int_t                   rc;
    ngx_chain_t                 out;
    ngx_http_pprof_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pprof_module);

    ngx_http_pprof_zone_release(ctx);
    ngx_http_pprof_busy_clear(r);

    if (reason == PPROF_CAPTURE_BUSY) {
        pprof_busy_deny(&ctx->decision);

        /* Its words are in the audit record, not here. */
        ngx_log_error(plcf->log_level, r->connection->log, 0,
                      "pprof: capture_busy: %s (it answered %ui, already "
                      "in use), audit id %s", ctx->decision.detail,
                      ctx->upstream_status, ctx->audit_id);

    } else {
        ctx->decision.reason = reason;
    }

    /* Counted again, as the denial the client got. */
    ngx_http_pprof_zone_count(r, ctx, 0);

    if (ngx_http_pprof_denial(r, plcf, ctx, &out) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_pprof_header_send(r, ctx);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_pprof_body_send(r, ctx, &out);
}


/* Nothing of the upstream's header may reach the client with ours. */
static void
ngx_http_pprof_busy_clear(ngx_http_request_t *r)
{
    ngx_memzero(&r->headers_out.status,
                sizeof(ngx_http_headers_out_t)
                - offsetof(ngx_http_headers_out_t, status));

    r->headers_out.headers.part.nelts = 0;
    r->headers_out.headers.part.next = NULL;
    r->headers_out.headers.last = &r->headers_out.headers.part;

    r->headers_out.trailers.part.nelts = 0;
    r->headers_out.trailers.part.next = NULL;
    r->headers_out.trailers.last = &r->headers_out.trailers.part;

    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;
}
