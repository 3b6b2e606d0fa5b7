/*
 * pprof_status: the zone's counters as Prometheus text.  Every worker
 * reads the same shared numbers.
 */

#include "ngx_http_pprof_module.h"


static ngx_int_t ngx_http_pprof_status_handler(ngx_http_request_t *r);


char *
ngx_http_pprof_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_pprof_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_pprof_status_handler(ngx_http_request_t *r)
{
    size_t            len;
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_chain_t       out;
    pprof_metrics_t  *m;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    m = ngx_palloc(r->pool, sizeof(pprof_metrics_t));
    b = ngx_create_temp_buf(r->pool, PPROF_METRICS_MAX);
    if (m == NULL || b == NULL
        || ngx_http_pprof_zone_metrics(r, m) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = pprof_metrics_render((char *) b->pos, PPROF_METRICS_MAX, m);
    if (len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof_status: the metrics do not fit in %uz bytes",
                      (size_t) PPROF_METRICS_MAX);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = b->pos + len;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
