/*
 * Filters: every response the module touched, allowed or denied, carries
 * the audit id (the upstream cannot supply its own), and the body of a
 * forwarded one is hashed for its audit record.
 */

#include "ngx_http_pprof_module.h"


static ngx_int_t ngx_http_pprof_header_filter(ngx_http_request_t *r);
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


/* The audit's response record hashes what the client is sent. */
static ngx_int_t
ngx_http_pprof_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_http_pprof_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_pprof_module);

    if (ctx && ctx->body_sha && r == r->main
        && ngx_http_pprof_audit_body(r, ctx, in) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_next_body_filter(r, in);
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
