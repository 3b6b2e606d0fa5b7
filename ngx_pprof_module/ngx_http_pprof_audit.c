/*
 * The audit trail in nginx (SPEC §8): where records go, the chain heads
 * kept in the zone so that every worker extends one chain per log, the
 * decision record before forwarding, the body hash, the response record in
 * the log phase, and the sinks the lines go to.  The records, their chain
 * and its checkpoints are proxy/'s (pprof_audit_chain_append()): this
 * file holds the chain heads under the zone's lock and writes the lines.
 */

#include "ngx_http_pprof_module.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#if (NGX_HTTP_SSL)
#include <openssl/ssl.h>
#endif


#define NGX_HTTP_PPROF_SYSLOG_HEADER  128     /* "<PRI>date host tag: " */


/* One write of one line, as the chain's writer hands it to a sink. */
typedef struct {
    ngx_http_pprof_zone_ctx_t    *zone;
    ngx_http_pprof_audit_log_t   *log;
    ngx_http_pprof_audit_head_t  *head;
    ngx_log_t                    *nlog;
} ngx_http_pprof_audit_out_t;

/*
 * Where a log's lines go, chosen by the prefix of pprof_audit_log's value
 * (the last sink takes any value).  open sets the log up at configuration;
 * resume, when set, reads the chain head of an existing log in the master;
 * write sends one line, which always has NGX_HTTP_PPROF_SYSLOG_HEADER free
 * bytes before it and its NUL after it, and logs why it failed.
 */
struct ngx_http_pprof_audit_sink_s {
    ngx_str_t     prefix;
    char       *(*open)(ngx_conf_t *cf, ngx_http_pprof_audit_log_t *log);
    ngx_int_t   (*resume)(ngx_http_pprof_audit_log_t *log,
                    pprof_audit_chain_t *chain, ngx_log_t *nlog);
    ngx_int_t   (*write)(ngx_http_pprof_audit_out_t *out, u_char *line,
                    size_t len);
};


static char *ngx_http_pprof_audit_syslog_open(ngx_conf_t *cf,
    ngx_http_pprof_audit_log_t *log);
static ngx_int_t ngx_http_pprof_audit_syslog_write(
    ngx_http_pprof_audit_out_t *out, u_char *line, size_t len);
static char *ngx_http_pprof_audit_file_open(ngx_conf_t *cf,
    ngx_http_pprof_audit_log_t *log);
static ngx_int_t ngx_http_pprof_audit_file_resume(
    ngx_http_pprof_audit_log_t *log, pprof_audit_chain_t *chain,
    ngx_log_t *nlog);
static ngx_int_t ngx_http_pprof_audit_file_write(
    ngx_http_pprof_audit_out_t *out, u_char *line, size_t len);
static ngx_int_t ngx_http_pprof_audit_follow(ngx_http_pprof_audit_log_t *log,
    ngx_http_pprof_audit_head_t *head, ngx_file_info_t *fi, ngx_log_t *nlog);
static void ngx_http_pprof_audit_unwritten(ngx_http_pprof_audit_out_t *out);
static void ngx_http_pprof_audit_writer(ngx_http_pprof_audit_out_t *out,
    ngx_http_pprof_main_conf_t *pmcf, u_char *buf,
    pprof_audit_writer_t *w);
static int ngx_http_pprof_audit_put(void *data, char *line, size_t len);
static void ngx_http_pprof_audit_unencodable(void *data, uint64_t seq);
static ngx_int_t ngx_http_pprof_audit_append(ngx_http_pprof_zone_ctx_t *zone,
    ngx_http_pprof_audit_log_t *log, pprof_audit_record_t *rec,
    ngx_http_pprof_main_conf_t *pmcf, ngx_log_t *nlog);
static void ngx_http_pprof_audit_fill(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, pprof_audit_stage_t stage,
    pprof_audit_record_t *rec);
static ngx_int_t ngx_http_pprof_audit_response(ngx_http_request_t *r);
static uint64_t ngx_http_pprof_audit_now_us(void);
static ngx_int_t ngx_http_pprof_audit_untear(const char *path,
    ngx_log_t *log);
static void ngx_http_pprof_audit_key_cleanup(void *data);
static void ngx_http_pprof_audit_sha_cleanup(void *data);


static const ngx_http_pprof_audit_sink_t  ngx_http_pprof_audit_sinks[] = {

    { ngx_string("syslog:"),
      ngx_http_pprof_audit_syslog_open,
      NULL,                             /* its past lines are elsewhere */
      ngx_http_pprof_audit_syslog_write },

    { ngx_string(""),                   /* a path */
      ngx_http_pprof_audit_file_open,
      ngx_http_pprof_audit_file_resume,
      ngx_http_pprof_audit_file_write }
};


/* pprof_audit_log PATH | syslog:server=ADDR[,tag=T] | off */
char *
ngx_http_pprof_audit_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_loc_conf_t *plcf = conf;

    ngx_str_t                          *value;
    ngx_uint_t                          i;
    ngx_http_pprof_audit_log_t         *log;
    ngx_http_pprof_main_conf_t         *pmcf;
    const ngx_http_pprof_audit_sink_t  *sink;

    if (plcf->audit_log != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        plcf->audit_log = NULL;
        return NGX_CONF_OK;
    }

    if (value[1].len == 0) {
        return "has an empty path: write a file path, \"syslog:server=...\" "
               "or \"off\"";
    }

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_pprof_module);

    /* One log named twice is one chain. */
    log = pmcf->audit_logs.elts;
    for (i = 0; i < pmcf->audit_logs.nelts; i++) {
        if (log[i].name.len == value[1].len
            && ngx_strncmp(log[i].name.data, value[1].data, value[1].len) == 0)
        {
            plcf->audit_log = &log[i];
            return NGX_CONF_OK;
        }
    }

    if (pmcf->audit_logs.nelts == NGX_HTTP_PPROF_AUDIT_LOGS) {
        return "names more audit logs than the 16 a configuration may have";
    }

    log = ngx_array_push(&pmcf->audit_logs);
    if (log == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(log, sizeof(ngx_http_pprof_audit_log_t));
    log->name = value[1];
    ngx_http_pprof_where(cf, &log->at);
    log->index = NGX_CONF_UNSET_UINT;

    for (sink = ngx_http_pprof_audit_sinks; /* the last takes any */; sink++) {
        if (ngx_strncmp(value[1].data, sink->prefix.data, sink->prefix.len)
            == 0)
        {
            break;
        }
    }

    log->sink = sink;

    if (sink->open(cf, log) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    plcf->audit_log = log;
    pmcf->used = 1;

    return NGX_CONF_OK;
}


char *
ngx_http_pprof_audit_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_main_conf_t *pmcf = conf;

    BIO                 *bio;
    ngx_str_t           *value, path;
    ngx_pool_cleanup_t  *cln;

    if (pmcf->audit_key) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    bio = BIO_new_file((char *) path.data, "r");
    if (bio == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "pprof_audit_signing_key: \"%V\" cannot be "
                           "opened", &path);
        ERR_clear_error();
        return NGX_CONF_ERROR;
    }

    pmcf->audit_key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);

    ERR_clear_error();

    if (pmcf->audit_key == NULL
        || EVP_PKEY_get_id(pmcf->audit_key) != EVP_PKEY_ED25519)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_audit_signing_key: \"%V\" is not an "
                           "Ed25519 private key in PEM (\"openssl genpkey "
                           "-algorithm ed25519\" makes one)", &path);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_pprof_audit_key_cleanup;
    cln->data = pmcf->audit_key;

    return NGX_CONF_OK;
}


static void
ngx_http_pprof_audit_key_cleanup(void *data)
{
    EVP_PKEY_free(data);
}


/*
 * pprof_gateway_id NAME: checked by the core's rule, so that it goes whole
 * into every record and lease.  The name is not echoed: it is what is
 * wrong.
 */
char *
ngx_http_pprof_gateway_id(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_main_conf_t *pmcf = conf;

    ngx_str_t    *value;
    pprof_str_t   name;
    const char   *why;

    if (pmcf->gateway_id.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name.data = value[1].data;
    name.len = value[1].len;

    why = pprof_audit_gateway_check(name);
    if (why != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_gateway_id: the name %s (a gateway id is "
                           "1 to %d bytes of printable UTF-8)", why,
                           PPROF_AUDIT_GATEWAY_MAX);
        return NGX_CONF_ERROR;
    }

    pmcf->gateway_id = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_pprof_audit_syslog_open(ngx_conf_t *cf,
    ngx_http_pprof_audit_log_t *log)
{
    log->syslog = ngx_pcalloc(cf->pool, sizeof(ngx_syslog_peer_t));
    if (log->syslog == NULL) {
        return NGX_CONF_ERROR;
    }

    return ngx_syslog_process_conf(cf, log->syslog);
}


static char *
ngx_http_pprof_audit_file_open(ngx_conf_t *cf, ngx_http_pprof_audit_log_t *log)
{
    ngx_fd_t  fd;

    log->file = ngx_conf_open_file(cf->cycle, &log->name);
    if (log->file == NULL) {
        return NGX_CONF_ERROR;
    }

    /*
     * nginx opens it once the configuration is read, and its message
     * would name no directive: try now, as nginx will, to name this one.
     * "nginx -s" reads the configuration only to find the master's pid
     * file, and opens no file of its own.
     */
    if (ngx_process == NGX_PROCESS_SIGNALLER) {
        return NGX_CONF_OK;
    }

    fd = ngx_open_file(log->file->name.data, NGX_FILE_APPEND,
                       NGX_FILE_CREATE_OR_OPEN, NGX_FILE_DEFAULT_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "pprof_audit_log: \"%V\" cannot be opened for "
                           "appending", &log->file->name);
        return NGX_CONF_ERROR;
    }

    (void) ngx_close_file(fd);

    return NGX_CONF_OK;
}


/*
 * Each log's chain head lives in the zone: found by name after a reload,
 * or read from the file's last line on a fresh start, so the chain goes on
 * across reloads, restarts and existing files.  Runs in the master.
 */
ngx_int_t
ngx_http_pprof_audit_heads(ngx_http_pprof_zone_ctx_t *zone, ngx_log_t *log)
{
    uint32_t                     hash;
    ngx_uint_t                   i, k, slot;
    ngx_http_pprof_audit_log_t  *alog;
    ngx_http_pprof_audit_head_t *head;

    alog = zone->audit_logs->elts;

    for (i = 0; i < zone->audit_logs->nelts; i++) {
        hash = ngx_crc32_short(alog[i].name.data, alog[i].name.len);
        slot = NGX_HTTP_PPROF_AUDIT_LOGS;

        for (k = 0; k < NGX_HTTP_PPROF_AUDIT_LOGS; k++) {
            head = &zone->sh->audit[k];

            if (head->used && head->hash == hash) {
                break;
            }

            if (!head->used && slot == NGX_HTTP_PPROF_AUDIT_LOGS) {
                slot = k;
            }
        }

        if (k < NGX_HTTP_PPROF_AUDIT_LOGS) {
            alog[i].index = k;
            continue;
        }

        if (slot == NGX_HTTP_PPROF_AUDIT_LOGS) {
            ngx_log_error(NGX_LOG_EMERG, log, 0,
                          "pprof_zone holds no room for the chain of audit "
                          "log \"%V\" of pprof_audit_log in %s:%ui; restart "
                          "nginx instead of reloading", &alog[i].name,
                          alog[i].at.file, alog[i].at.line);
            return NGX_ERROR;
        }

        head = &zone->sh->audit[slot];
        ngx_memzero(head, sizeof(ngx_http_pprof_audit_head_t));
        pprof_audit_chain_init(&head->chain);

        if (alog[i].sink->resume
            && alog[i].sink->resume(&alog[i], &head->chain, log) != NGX_OK)
        {
            return NGX_ERROR;
        }

        head->hash = hash;
        head->used = 1;
        alog[i].index = slot;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_pprof_audit_file_resume(ngx_http_pprof_audit_log_t *log,
    pprof_audit_chain_t *chain, ngx_log_t *nlog)
{
    char  err[256], *path;

    path = ngx_alloc(log->file->name.len + 1, nlog);
    if (path == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn((u_char *) path, log->file->name.data,
                log->file->name.len + 1);

    /* nginx -t sets zones up too, but must not edit a live log. */
    if ((!ngx_test_config
         && ngx_http_pprof_audit_untear(path, nlog) != NGX_OK)
        || pprof_audit_head(path, &chain->seq, chain->prev, err, sizeof(err))
           != 0)
    {
        ngx_log_error(NGX_LOG_EMERG, nlog, 0, "pprof_audit_log: %s in %s:%ui",
                      err, log->at.file, log->at.line);
        ngx_free(path);
        return NGX_ERROR;
    }

    ngx_free(path);
    return NGX_OK;
}


/*
 * A crash in the middle of a write leaves a last line without its newline.
 * It was never part of the chain (the head never moved past it), and the
 * next record must not be glued to it: cut it off, and say so.
 */
static ngx_int_t
ngx_http_pprof_audit_untear(const char *path, ngx_log_t *log)
{
    off_t           size, cut;
    ssize_t         n;
    ngx_fd_t        fd;
    ngx_file_t      file;
    u_char          tail[65536];

    fd = ngx_open_file(path, NGX_FILE_RDWR, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return NGX_OK;                  /* not there yet: nothing to mend */
    }

    size = lseek(fd, 0, SEEK_END);

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.log = log;

    cut = size > (off_t) sizeof(tail) ? size - (off_t) sizeof(tail) : 0;
    n = size > 0 ? ngx_read_file(&file, tail, size - cut, cut) : 0;

    if (n > 0 && tail[n - 1] != '\n') {
        while (n > 0 && tail[n - 1] != '\n') {
            n--;
        }

        if (n == 0 && cut > 0) {
            ngx_log_error(NGX_LOG_EMERG, log, 0,
                          "pprof audit log \"%s\" does not end in a "
                          "record", path);
            (void) ngx_close_file(fd);
            return NGX_ERROR;
        }

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "pprof audit log \"%s\" ended in a torn line of %O "
                      "bytes, removed", path, size - (cut + n));

        if (ftruncate(fd, cut + n) != 0) {
            ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                          "pprof audit log \"%s\": cannot remove its torn "
                          "line", path);
            (void) ngx_close_file(fd);
            return NGX_ERROR;
        }
    }

    (void) ngx_close_file(fd);
    return NGX_OK;
}


ngx_int_t
ngx_http_pprof_audit_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt         *h;
    ngx_http_core_main_conf_t   *cmcf;
    ngx_http_pprof_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_pprof_module);

    /* A request that ends waiting on Redis is decided there, too. */
    if (pmcf->audit_logs.nelts == 0 && pmcf->shared == NULL) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_pprof_audit_response;

    return NGX_OK;
}


/*
 * Stage 10: the decision record, before anything is forwarded.  NGX_ERROR
 * when it could not be written; the caller decides what that means.  A
 * forwarded request starts hashing the body it will send.
 */
ngx_int_t
ngx_http_pprof_audit_decision(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx)
{
    pprof_audit_record_t         rec;
    ngx_pool_cleanup_t          *cln;
    ngx_http_pprof_main_conf_t  *pmcf;

    if (plcf->audit_log == NULL) {
        return NGX_OK;
    }

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pprof_module);

    ngx_http_pprof_audit_fill(r, ctx, PPROF_AUDIT_DECISION, &rec);

    if (ngx_http_pprof_audit_append(pmcf->shm_zone->data, plcf->audit_log,
                                    &rec, pmcf, r->connection->log)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* A proxy's check has no response of ours to hash. */
    if (ctx->authz
        || !pprof_policy_forwards(ctx->decision.reason, plcf->enforce))
    {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ctx->body_sha = EVP_MD_CTX_new();
    if (ctx->body_sha == NULL
        || pprof_audit_sha256_init(ctx->body_sha) != 0)
    {
        EVP_MD_CTX_free(ctx->body_sha);
        ctx->body_sha = NULL;
        return NGX_ERROR;
    }

    cln->handler = ngx_http_pprof_audit_sha_cleanup;
    cln->data = ctx->body_sha;

    return NGX_OK;
}


static void
ngx_http_pprof_audit_sha_cleanup(void *data)
{
    EVP_MD_CTX_free(data);
}


/* The body as the client receives it, buffers in temp files included. */
ngx_int_t
ngx_http_pprof_audit_body(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx,
    ngx_chain_t *in)
{
    off_t         offset;
    size_t        size;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;
    u_char        chunk[16384];

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            size = b->last - b->pos;
            if (EVP_DigestUpdate(ctx->body_sha, b->pos, size) != 1) {
                return NGX_ERROR;
            }
            ctx->body_bytes += size;
            continue;
        }

        if (!b->in_file) {
            continue;
        }

        for (offset = b->file_pos; offset < b->file_last; offset += n) {
            size = ngx_min((off_t) sizeof(chunk), b->file_last - offset);

            n = ngx_read_file(b->file, chunk, size, offset);
            if (n <= 0 || EVP_DigestUpdate(ctx->body_sha, chunk, n) != 1) {
                return NGX_ERROR;
            }

            ctx->body_bytes += n;
        }
    }

    return NGX_OK;
}


/* The log phase: the response record of a forwarded request. */
static ngx_int_t
ngx_http_pprof_audit_response(ngx_http_request_t *r)
{
    u_char                       md[EVP_MAX_MD_SIZE];
    char                         hex[2 * EVP_MAX_MD_SIZE];
    unsigned                     mdlen;
    uint64_t                     start;
    pprof_audit_record_t         rec;
    ngx_http_pprof_ctx_t        *ctx;
    ngx_http_variable_value_t   *vv;
    ngx_http_pprof_loc_conf_t   *plcf;
    ngx_http_pprof_main_conf_t  *pmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_pprof_module);
    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pprof_module);

    /* Ended while it waited for Redis: decided now, and so recorded. */
    if (ctx && ctx->wait) {
        ngx_http_pprof_shared_ended(r, plcf, ctx);
    }

    if (ctx == NULL || !ctx->forwarded || ctx->body_sha == NULL
        || plcf->audit_log == NULL)
    {
        return NGX_OK;
    }

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pprof_module);

    ngx_http_pprof_audit_fill(r, ctx, PPROF_AUDIT_RESPONSE, &rec);

    if (EVP_DigestFinal_ex(ctx->body_sha, md, &mdlen) != 1) {
        mdlen = 0;
    }

    ngx_hex_dump((u_char *) hex, md, mdlen);
    rec.sha256.data = (u_char *) hex;
    rec.sha256.len = 2 * mdlen;

    rec.status = r->headers_out.status;
    rec.bytes = ctx->body_bytes;

    start = (uint64_t) r->start_sec * 1000 + r->start_msec;
    rec.duration_ms = rec.time_us / 1000 > start ? rec.time_us / 1000 - start
                                                 : 0;

    vv = ngx_http_pprof_upstream_addr(r);
    if (vv) {
        rec.upstream.data = vv->data;
        rec.upstream.len = vv->len;
    }

    rec.annotation = ngx_http_pprof_annotation(r, ctx);
    rec.redacted = ctx->redacted;

    rec.upstream_status = ctx->upstream_status;
    rec.upstream_said.data = ctx->upstream_said.data;
    rec.upstream_said.len = ctx->upstream_said.len;

    (void) ngx_http_pprof_audit_append(pmcf->shm_zone->data, plcf->audit_log,
                                       &rec, pmcf, r->connection->log);

    return NGX_OK;
}


static void
ngx_http_pprof_audit_fill(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx,
    pprof_audit_stage_t stage, pprof_audit_record_t *rec)
{
    const char  *s;

    ngx_memzero(rec, sizeof(pprof_audit_record_t));

    rec->stage = stage;
    rec->time_us = ngx_http_pprof_audit_now_us();
    rec->audit_id.data = (u_char *) ctx->audit_id;
    rec->audit_id.len = ngx_strlen(ctx->audit_id);
    rec->client.data = r->connection->addr_text.data;
    rec->client.len = r->connection->addr_text.len;

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        s = SSL_get_version(r->connection->ssl->connection);
        rec->tls.data = (u_char *) s;
        rec->tls.len = ngx_strlen(s);
    }
#endif

    rec->identity.data = ctx->auth.identity;
    rec->identity.len = ctx->auth.identity_len;

    if (rec->identity.len == 0 && ctx->auth.refused_len) {
        rec->identity.len = ctx->auth.refused_len;
        rec->identity_cut = 1;
    }

    s = pprof_auth_method_name(ctx->auth.method);
    rec->auth.data = (u_char *) s;
    rec->auth.len = ngx_strlen(s);

    rec->roles = ctx->decision.held;
    rec->nroles = ctx->decision.nheld;
    rec->method.data = r->method_name.data;
    rec->method.len = r->method_name.len;
    rec->path.data = ctx->path.data;
    rec->path.len = ctx->path.len;
    rec->endpoint = ctx->decision.endpoint.name;

    s = pprof_class_name(ctx->decision.endpoint.cls);
    rec->cls.data = (u_char *) s;
    rec->cls.len = ngx_strlen(s);

    if (ctx->decision.canonical) {
        rec->params.data = (u_char *) ctx->decision.params.canonical;
        rec->params.len = ctx->decision.params.canonical_len;
    }

    rec->allow = ctx->decision.reason == PPROF_OK;

    s = pprof_reason_name(ctx->decision.reason);
    rec->reason.data = (u_char *) s;
    rec->reason.len = ngx_strlen(s);

    rec->enforced = ctx->enforced;

    switch (ctx->shared) {
    case NGX_HTTP_PPROF_SHARED_OK:
        ngx_str_set(&rec->shared, "ok");
        break;
    case NGX_HTTP_PPROF_SHARED_UNAVAILABLE:
        ngx_str_set(&rec->shared, "unavailable");
        break;
    default:                            /* Redis was not asked */
        break;
    }

    /* A proxy's check: the original request, as the proxy told it. */
    if (ctx->authz) {
        rec->client.data = ctx->client.data;
        rec->client.len = ctx->client.len;
        rec->tls.data = (u_char *) (ctx->https ? "https" : "");
        rec->tls.len = ctx->https ? 5 : 0;
        rec->proxy.data = ctx->proxy.data;
        rec->proxy.len = ctx->proxy.len;

        if (ctx->method.len) {
            rec->method.data = ctx->method.data;
            rec->method.len = ctx->method.len;
        }
    }
}


/* Appends one record, and a signed checkpoint when one is due. */
static ngx_int_t
ngx_http_pprof_audit_append(ngx_http_pprof_zone_ctx_t *zone,
    ngx_http_pprof_audit_log_t *log, pprof_audit_record_t *rec,
    ngx_http_pprof_main_conf_t *pmcf, ngx_log_t *nlog)
{
    int                          rc;
    pprof_audit_writer_t         w;
    ngx_http_pprof_audit_out_t   out;
    u_char                       buf[NGX_HTTP_PPROF_SYSLOG_HEADER
                                     + PPROF_AUDIT_LINE_MAX];

    out.zone = zone;
    out.log = log;
    out.nlog = nlog;

    ngx_http_pprof_audit_writer(&out, pmcf, buf, &w);

    /* One lock orders the records of every worker: no line interleaves. */
    ngx_shmtx_lock(&zone->shpool->mutex);

    out.head = &zone->sh->audit[log->index];
    rc = pprof_audit_chain_append(&out.head->chain, &w, rec);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc == 0 ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_pprof_audit_writer(ngx_http_pprof_audit_out_t *out,
    ngx_http_pprof_main_conf_t *pmcf, u_char *buf, pprof_audit_writer_t *w)
{
    w->line = (char *) buf + NGX_HTTP_PPROF_SYSLOG_HEADER;
    w->key = pmcf->audit_key;
    w->every = pmcf->audit_checkpoint;
    w->write = ngx_http_pprof_audit_put;
    w->unencodable = ngx_http_pprof_audit_unencodable;
    w->data = out;
    w->gateway.data = pmcf->gateway_id.data;
    w->gateway.len = pmcf->gateway_id.len;
}


static int
ngx_http_pprof_audit_put(void *data, char *line, size_t len)
{
    ngx_http_pprof_audit_out_t *out = data;

    if (out->log->sink->write(out, (u_char *) line, len) != NGX_OK) {
        (void) ngx_atomic_fetch_add(&out->zone->sh->audit_errors, 1);
        return -1;
    }

    (void) ngx_atomic_fetch_add(&out->zone->sh->audit_records, 1);
    return 0;
}


static void
ngx_http_pprof_audit_unencodable(void *data, uint64_t seq)
{
    ngx_http_pprof_audit_out_t *out = data;

    ngx_log_error(NGX_LOG_ERR, out->nlog, 0,
                  "pprof audit record could not be encoded (seq %uL)", seq);
    (void) ngx_atomic_fetch_add(&out->zone->sh->audit_errors, 1);
}


static ngx_int_t
ngx_http_pprof_audit_syslog_write(ngx_http_pprof_audit_out_t *out,
    u_char *line, size_t len)
{
    u_char   *start;
    ssize_t   n, want;

    /* The header is built at the front, then moved next to the line. */
    start = line - NGX_HTTP_PPROF_SYSLOG_HEADER;
    n = ngx_syslog_add_header(out->log->syslog, start) - start;
    ngx_memmove(line - n, start, n);
    start = line - n;
    want = n + len;

    if (ngx_syslog_send(out->log->syslog, start, want) != want) {
        ngx_http_pprof_audit_unwritten(out);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The line goes with its newline.  A short write would leave half a line
 * for the next record to be glued to: the file is cut back to where this
 * record began.
 */
static ngx_int_t
ngx_http_pprof_audit_file_write(ngx_http_pprof_audit_out_t *out,
    u_char *line, size_t len)
{
    off_t                         size;
    ssize_t                       n, want;
    ngx_file_info_t               fi;
    ngx_http_pprof_audit_log_t   *log = out->log;
    ngx_http_pprof_audit_head_t  *head = out->head;

    if (ngx_http_pprof_audit_follow(log, head, &fi, out->nlog) != NGX_OK) {
        return NGX_ERROR;
    }

    line[len] = '\n';
    want = len + 1;

    size = ngx_is_file(&fi) ? ngx_file_size(&fi) : -1;
    n = ngx_write_fd(log->file->fd, line, want);

    if (n != want && n > 0 && size >= 0
        && ftruncate(log->file->fd, size) != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, out->nlog, ngx_errno,
                      "pprof audit log \"%V\" holds a torn line",
                      &log->name);
    }

    if (n != want) {
        ngx_http_pprof_audit_unwritten(out);
        return NGX_ERROR;
    }

    if (size >= 0) {
        head->file_dev = (uint64_t) fi.st_dev;
        head->file_ino = (uint64_t) fi.st_ino;
        head->file_end = size + want;
    }

    return NGX_OK;
}


static void
ngx_http_pprof_audit_unwritten(ngx_http_pprof_audit_out_t *out)
{
    ngx_log_error(NGX_LOG_ERR, out->nlog, ngx_errno,
                  "pprof audit record not written to \"%V\"",
                  &out->log->name);
}


/*
 * A record goes to the file the log's path names now, whichever process
 * writes it.  "nginx -s reopen" reaches the workers one after another, and
 * one busy with a request reopens later: writing on to the renamed file
 * while another worker writes to the new one would split the chain
 * between the two files out of order.  So under the lock the writer
 * compares the path with its descriptor and follows the path; once one
 * record is in the new file, every later one is.  A path that names
 * nothing yet (renamed, not yet created) keeps the old file, for every
 * process alike, and so does a new file no worker may open yet.  A new
 * file that cannot be opened for another reason fails the write rather
 * than split the chain.
 *
 * The same look tells a truncation (logrotate's copytruncate): the file
 * the last record went to is now shorter than where that record ended.
 * Whatever was written between the copy and the truncation is lost, and
 * the chain shows the gap; that cannot be undone here, only said.
 */
static ngx_int_t
ngx_http_pprof_audit_follow(ngx_http_pprof_audit_log_t *log,
    ngx_http_pprof_audit_head_t *head, ngx_file_info_t *fi, ngx_log_t *nlog)
{
    ngx_fd_t         fd;
    ngx_err_t        err;
    ngx_file_info_t  pi;

    if (ngx_fd_info(log->file->fd, fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, nlog, ngx_errno,
                      "pprof audit log \"%V\": " ngx_fd_info_n " failed",
                      &log->name);
        return NGX_ERROR;
    }

    /* /dev/full, a pipe: nothing there is rotated. */
    if (!ngx_is_file(fi)) {
        return NGX_OK;
    }

    if (ngx_file_info(log->file->name.data, &pi) != NGX_FILE_ERROR
        && (pi.st_dev != fi->st_dev || pi.st_ino != fi->st_ino))
    {
        fd = ngx_open_file(log->file->name.data, NGX_FILE_APPEND|O_CLOEXEC,
                           NGX_FILE_OPEN, 0);

        if (fd == NGX_INVALID_FILE) {
            err = ngx_errno;

            /*
             * Not yet the workers' to write (logrotate made it, and the
             * master's reopen has yet to chown it): then no worker can
             * open it, and all stay on the renamed file until it can.
             */
            if (err == NGX_EACCES || err == NGX_ENOENT) {
                ngx_log_error(NGX_LOG_WARN, nlog, err,
                              "pprof audit log \"%V\" was rotated, but its "
                              "new file cannot be opened yet: records stay "
                              "in the renamed file until \"nginx -s "
                              "reopen\"", &log->name);
                return NGX_OK;
            }

            ngx_log_error(NGX_LOG_ERR, nlog, err,
                          "pprof audit log \"%V\" was rotated, and its new "
                          "file cannot be opened", &log->name);
            return NGX_ERROR;
        }

        if (ngx_fd_info(fd, fi) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ERR, nlog, ngx_errno,
                          "pprof audit log \"%V\": " ngx_fd_info_n " failed",
                          &log->name);
            (void) ngx_close_file(fd);
            return NGX_ERROR;
        }

        ngx_log_error(NGX_LOG_NOTICE, nlog, 0,
                      "pprof audit log \"%V\" was rotated: records go to "
                      "its new file, ahead of this process's reopen",
                      &log->name);

        if (ngx_close_file(log->file->fd) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ALERT, nlog, ngx_errno,
                          ngx_close_file_n " \"%V\" failed", &log->name);
        }

        log->file->fd = fd;
    }

    if ((uint64_t) fi->st_dev == head->file_dev
        && (uint64_t) fi->st_ino == head->file_ino
        && ngx_file_size(fi) < head->file_end)
    {
        ngx_log_error(NGX_LOG_ERR, nlog, 0,
                      "pprof audit log \"%V\" was truncated under nginx, "
                      "from %O to %O bytes: records written between a copy "
                      "and the truncation are lost, and the chain breaks "
                      "before seq %uL if any were; rotate by renaming and "
                      "\"nginx -s reopen\", not by copytruncate",
                      &log->name, head->file_end, ngx_file_size(fi),
                      head->chain.seq + 1);
    }

    return NGX_OK;
}


/* A signed checkpoint closes every log's chain when nginx stops. */
void
ngx_http_pprof_audit_shutdown(ngx_cycle_t *cycle)
{
    ngx_uint_t                   i;
    pprof_audit_writer_t         w;
    ngx_http_pprof_zone_ctx_t   *zone;
    ngx_http_pprof_audit_log_t  *log;
    ngx_http_pprof_audit_out_t   out;
    ngx_http_pprof_main_conf_t  *pmcf;
    u_char                       buf[NGX_HTTP_PPROF_SYSLOG_HEADER
                                     + PPROF_AUDIT_LINE_MAX];

    if (ngx_http_cycle_get_module_main_conf(cycle, ngx_http_module) == NULL) {
        return;
    }

    pmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_pprof_module);

    if (pmcf == NULL || pmcf->audit_key == NULL || pmcf->shm_zone == NULL) {
        return;
    }

    zone = pmcf->shm_zone->data;
    log = pmcf->audit_logs.elts;

    out.zone = zone;
    out.nlog = cycle->log;

    ngx_http_pprof_audit_writer(&out, pmcf, buf, &w);

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < pmcf->audit_logs.nelts; i++) {
        out.log = &log[i];
        out.head = &zone->sh->audit[log[i].index];

        (void) pprof_audit_chain_checkpoint(&out.head->chain, &w,
                                            ngx_http_pprof_audit_now_us());
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


static uint64_t
ngx_http_pprof_audit_now_us(void)
{
    struct timeval  tv;

    ngx_gettimeofday(&tv);

    return (uint64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}
