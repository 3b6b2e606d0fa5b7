/*
 * cmdline redaction (SPEC §10): pprof_redact_pattern, the compiled set a
 * location uses, and the body filter's part.  A flag and its value may
 * arrive in different buffers, so argv is gathered whole, redacted once at
 * its end and sent as one buffer.  proxy/redact.c decides what is hidden.
 */

#include "ngx_http_pprof_module.h"


static pprof_redactor_t *ngx_http_pprof_redactor(ngx_conf_t *cf,
    ngx_array_t *patterns);
static void ngx_http_pprof_redactor_cleanup(void *data);
static ngx_int_t ngx_http_pprof_redact_gather(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_buf_t *b);
static ngx_int_t ngx_http_pprof_redact_reserve(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, off_t size);
static ngx_int_t ngx_http_pprof_redact_finish(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_chain_t **out);


char *
ngx_http_pprof_redact_pattern(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_loc_conf_t *plcf = conf;

    char               err[NGX_MAX_CONF_ERRSTR];
    ngx_str_t         *value, *pattern;
    pprof_str_t        text;
    pprof_redactor_t  *check;

    value = cf->args->elts;

    text.data = value[1].data;
    text.len = value[1].len;

    /*
     * Compiled here once on its own, so that a bad pattern is reported at
     * its line; the merge compiles the level's whole set.
     */
    check = pprof_redactor_create(&text, 1, err, sizeof(err));
    if (check == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_redact_pattern: bad pattern \"%V\": %s",
                           &value[1], err);
        return NGX_CONF_ERROR;
    }

    pprof_redactor_free(check);

    if (plcf->redact_patterns == NGX_CONF_UNSET_PTR) {
        plcf->redact_patterns = ngx_array_create(cf->pool, 4,
                                                 sizeof(ngx_str_t));
        if (plcf->redact_patterns == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    pattern = ngx_array_push(plcf->redact_patterns);
    if (pattern == NULL) {
        return NGX_CONF_ERROR;
    }

    *pattern = value[1];

    return NGX_CONF_OK;
}


/*
 * A level with patterns of its own replaces the inherited list, as
 * nginx's list directives (add_header, proxy_set_header) do.  A level
 * without takes its parent's list and its parent's compiled set, so that
 * every location inheriting one list shares one set.  The http level is
 * never merged itself: its set is compiled for its first child.
 */
char *
ngx_http_pprof_redact_merge(ngx_conf_t *cf, ngx_http_pprof_loc_conf_t *prev,
    ngx_http_pprof_loc_conf_t *conf)
{
    if (conf->redact_patterns != NGX_CONF_UNSET_PTR) {
        conf->redactor = ngx_http_pprof_redactor(cf, conf->redact_patterns);
        return conf->redactor ? NGX_CONF_OK : NGX_CONF_ERROR;
    }

    if (prev->redactor == NGX_CONF_UNSET_PTR) {
        prev->redactor = ngx_http_pprof_redactor(cf, prev->redact_patterns);
        if (prev->redactor == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    conf->redact_patterns = prev->redact_patterns;
    conf->redactor = prev->redactor;

    return NGX_CONF_OK;
}


static pprof_redactor_t *
ngx_http_pprof_redactor(ngx_conf_t *cf, ngx_array_t *patterns)
{
    char                 err[NGX_MAX_CONF_ERRSTR];
    ngx_str_t           *value;
    ngx_uint_t           i, n;
    pprof_str_t         *text;
    pprof_redactor_t    *rd;
    ngx_pool_cleanup_t  *cln;

    n = (patterns == NGX_CONF_UNSET_PTR) ? 0 : patterns->nelts;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    text = ngx_palloc(cf->temp_pool, n * sizeof(pprof_str_t));
    if (cln == NULL || text == NULL) {
        return NULL;
    }

    value = (n > 0) ? patterns->elts : NULL;

    for (i = 0; i < n; i++) {
        text[i].data = value[i].data;
        text[i].len = value[i].len;
    }

    rd = pprof_redactor_create(text, n, err, sizeof(err));
    if (rd == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_redact_pattern: %s", err);
        return NULL;
    }

    cln->handler = ngx_http_pprof_redactor_cleanup;
    cln->data = rd;

    return rd;
}


static void
ngx_http_pprof_redactor_cleanup(void *data)
{
    pprof_redactor_free(data);
}


ngx_int_t
ngx_http_pprof_redact_body(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx,
    ngx_chain_t *in, ngx_chain_t **out)
{
    ngx_uint_t    last;
    ngx_chain_t  *cl;

    *out = NULL;
    last = 0;

    for (cl = in; cl; cl = cl->next) {
        if (ngx_http_pprof_redact_gather(r, ctx, cl->buf) != NGX_OK) {
            return NGX_ERROR;
        }

        if (cl->buf->last_buf) {
            last = 1;
        }
    }

    return last ? ngx_http_pprof_redact_finish(r, ctx, out) : NGX_OK;
}


/* argv grows as it comes; ngx_http_pprof_buf_take copies each buffer. */
static ngx_int_t
ngx_http_pprof_redact_gather(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_buf_t *b)
{
    off_t  size;

    size = ngx_buf_size(b);

    if (size > 0 && ngx_http_pprof_redact_reserve(r, ctx, size) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_pprof_buf_take(ctx->cmdline, b);
}


/*
 * Room for size more bytes of argv, doubling as it grows.  Past
 * PPROF_CMDLINE_MAX the response fails: an argv cut short could end in
 * the middle of a secret, and argv cannot be sent unredacted.
 */
static ngx_int_t
ngx_http_pprof_redact_reserve(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, off_t size)
{
    size_t      used, want;
    ngx_buf_t  *b;

    b = ctx->cmdline;
    used = b ? (size_t) (b->last - b->pos) : 0;

    if (size > (off_t) (PPROF_CMDLINE_MAX - used)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: cmdline is longer than %uz bytes, "
                      "response not sent", (size_t) PPROF_CMDLINE_MAX);
        return NGX_ERROR;
    }

    if (b && b->end - b->last >= size) {
        return NGX_OK;
    }

    want = ngx_max(2 * (used + (size_t) size), 4096);
    want = ngx_min(want, PPROF_CMDLINE_MAX);

    ctx->cmdline = ngx_create_temp_buf(r->pool, want);
    if (ctx->cmdline == NULL) {
        return NGX_ERROR;
    }

    if (b) {
        ctx->cmdline->last = ngx_cpymem(ctx->cmdline->pos, b->pos, used);
        ngx_pfree(r->pool, b->start);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_pprof_redact_finish(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_chain_t **out)
{
    size_t                      len, n, count;
    u_char                     *argv;
    ngx_buf_t                  *b;
    ngx_chain_t                *cl;
    ngx_http_pprof_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pprof_module);

    argv = ctx->cmdline ? ctx->cmdline->pos : NULL;
    len = ctx->cmdline ? (size_t) (ctx->cmdline->last - argv) : 0;

    b = ngx_create_temp_buf(r->pool, PPROF_REDACT_BOUND(len));
    cl = ngx_alloc_chain_link(r->pool);
    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    if (pprof_redact(plcf->redactor, argv, len, b->pos, b->end - b->pos, &n,
                     &count)
        != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: cmdline redaction failed (a regex engine "
                      "error such as the match limit, or no memory), "
                      "response not sent");
        return NGX_ERROR;
    }

    if (ctx->cmdline) {
        ngx_pfree(r->pool, ctx->cmdline->start);
        ctx->cmdline = NULL;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "pprof cmdline: %uz values redacted", count);

    ctx->redacted = (ngx_int_t) count;

    b->last = b->pos + n;
    b->last_buf = 1;

    /* An empty body must go as a special buffer, not an empty one. */
    if (n == 0) {
        b->temporary = 0;
    }

    cl->buf = b;
    cl->next = NULL;
    *out = cl;

    return NGX_OK;
}
