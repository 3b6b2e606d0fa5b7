/*
 * Annotation in the body filter (SPEC §9): the upstream's buffers are fed
 * to proxy/'s annotator as they come, and what it releases goes on as it
 * is, without a copy: a buffer of our own points at the released part of
 * the upstream's, and shadows it, as ngx_http_sub_filter_module does; the
 * upstream buffer is marked consumed only once that part is sent, so that
 * the upstream does not reuse memory still waiting to be written.  Only
 * our own buffers are kept in busy: an upstream buffer, once consumed, may
 * be refilled at any time.  The bytes the annotator holds back are its
 * own copies, so no upstream buffer is held: neither proxy_buffering nor
 * its absence stalls.
 *
 * Buffers in a temporary file are read in pieces into a scratch area to
 * be fed, and passed on as ranges of the file.
 */

#include "ngx_http_pprof_module.h"


#define NGX_HTTP_PPROF_SCRATCH  32768
#define NGX_HTTP_PPROF_COPY_MIN 512


static ngx_int_t ngx_http_pprof_annotate_start(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx);
static void ngx_http_pprof_annotate_cleanup(void *data);
static ngx_int_t ngx_http_pprof_annotate_buf(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_buf_t *b, ngx_chain_t ***ll);
static ngx_int_t ngx_http_pprof_annotate_feed(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_buf_t *b, u_char *data, off_t off,
    size_t len, ngx_chain_t ***ll, ngx_buf_t **part);
static ngx_int_t ngx_http_pprof_annotate_finish(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_chain_t ***ll);
static ngx_buf_t *ngx_http_pprof_annotate_copy(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, size_t size, ngx_chain_t **cl);
static ngx_buf_t *ngx_http_pprof_annotate_part(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_chain_t ***ll);
static ngx_int_t ngx_http_pprof_annotate_last(ngx_http_request_t *r,
    ngx_chain_t ***ll, u_char *data, size_t len);
static void ngx_http_pprof_annotate_sent(ngx_http_pprof_ctx_t *ctx,
    ngx_chain_t *out);


/* Our buffers: copies of held bytes (with memory kept for reuse), and
 * parts of upstream buffers. */
static u_char  ngx_http_pprof_copy_tag;
static u_char  ngx_http_pprof_part_tag;


ngx_int_t
ngx_http_pprof_annotate_body(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx,
    ngx_chain_t *in)
{
    ngx_int_t     rc;
    ngx_chain_t  *cl, *out, **ll;

    if (ctx->annotator == NULL && in != NULL) {
        rc = ngx_http_pprof_annotate_start(r, ctx);

        if (rc == NGX_DECLINED) {
            /* Out of memory for the annotator: the body passes as is. */
            ctx->annotation = PPROF_ANNOTATE_NO_MEMORY;
            ctx->body_action = PPROF_BODY_AS_IS;
            return ngx_http_pprof_body_send(r, ctx, in);
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }
    }

    out = NULL;
    ll = &out;

    for (cl = in; cl; cl = cl->next) {
        if (ngx_http_pprof_annotate_buf(r, ctx, cl->buf, &ll) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* Called again with nothing new: the shadows may have been sent. */
    if (out == NULL && in != NULL) {
        ngx_http_pprof_annotate_sent(ctx, NULL);
        return NGX_OK;
    }

    rc = ngx_http_pprof_body_send(r, ctx, out);

    ngx_http_pprof_annotate_sent(ctx, out);

    return rc;
}


static ngx_int_t
ngx_http_pprof_annotate_start(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ctx->annotator = pprof_annotator_create(PPROF_ANNOTATE_HOLD_MAX);
    if (ctx->annotator == NULL) {
        return NGX_DECLINED;
    }

    cln->handler = ngx_http_pprof_annotate_cleanup;
    cln->data = ctx->annotator;

    return NGX_OK;
}


static void
ngx_http_pprof_annotate_cleanup(void *data)
{
    pprof_annotator_free(data);
}


/*
 * One upstream buffer: its bytes fed, what is released linked to *ll.
 * A buffer of which nothing is passed is consumed at once: the annotator
 * holds its own copy of what it keeps.
 */
static ngx_int_t
ngx_http_pprof_annotate_buf(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx,
    ngx_buf_t *b, ngx_chain_t ***ll)
{
    off_t         off, size;
    ssize_t       n;
    ngx_buf_t    *part;
    ngx_chain_t  **start;

    part = NULL;
    start = *ll;

    if (ngx_buf_in_memory(b)) {
        if (b->last > b->pos
            && ngx_http_pprof_annotate_feed(r, ctx, b, b->pos, 0,
                                            b->last - b->pos, ll, &part)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (b->in_file) {
        if (ctx->scratch == NULL) {
            ctx->scratch = ngx_palloc(r->pool, NGX_HTTP_PPROF_SCRATCH);
            if (ctx->scratch == NULL) {
                return NGX_ERROR;
            }
        }

        size = b->file_last - b->file_pos;

        for (off = 0; off < size; off += n) {
            n = ngx_read_file(b->file, ctx->scratch,
                              (size_t) ngx_min(size - off,
                                               NGX_HTTP_PPROF_SCRATCH),
                              b->file_pos + off);
            if (n <= 0) {
                return NGX_ERROR;
            }

            if (ngx_http_pprof_annotate_feed(r, ctx, b, ctx->scratch, off,
                                             (size_t) n, ll, &part)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    if (part) {
        /* The last part of b sent marks b consumed, as it is. */
        part->shadow = b;
        part->recycled = b->recycled;

    } else {
        b->pos = b->last;
        b->file_pos = b->file_last;
    }

    if (b->last_buf) {
        return ngx_http_pprof_annotate_finish(r, ctx, ll);
    }

    /*
     * The flush goes with the last buffer sent for b.  When none is, there
     * is nothing new to flush, and a buffer of its own for each would grow
     * the pool with a target that trickles bytes.
     */
    if (b->flush && *ll != start) {
        ((ngx_chain_t *) ((u_char *) *ll - offsetof(ngx_chain_t, next)))
            ->buf->flush = 1;
    }

    return NGX_OK;
}


/*
 * len bytes of b, off bytes from its start, are at data: what the
 * annotator releases of earlier bytes is copied out, and what it releases
 * of these is linked as a part of b (*part).
 */
static ngx_int_t
ngx_http_pprof_annotate_feed(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx,
    ngx_buf_t *b, u_char *data, off_t off, size_t len, ngx_chain_t ***ll,
    ngx_buf_t **part)
{
    size_t       held_len, nheld, pass;
    ngx_buf_t   *copy, *p;
    ngx_chain_t *cl;

    held_len = pprof_annotator_held(ctx->annotator);

    if (held_len == 0) {
        /* Nothing is held back, so no earlier byte can be released. */
        pprof_annotator_feed(ctx->annotator, data, len, NULL, &nheld, &pass);

    } else {
        copy = ngx_http_pprof_annotate_copy(r, ctx, held_len, &cl);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        pprof_annotator_feed(ctx->annotator, data, len, copy->pos, &nheld,
                             &pass);

        /* An empty buffer that is not special would stop the output. */
        if (nheld > 0) {
            copy->last = copy->pos + nheld;
            **ll = cl;
            *ll = &cl->next;

        } else {
            cl->next = ctx->free;
            ctx->free = cl;
        }
    }

    if (pass == 0) {
        return NGX_OK;
    }

    p = ngx_http_pprof_annotate_part(r, ctx, ll);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *p = *b;
    p->shadow = NULL;
    p->last_buf = 0;
    p->last_in_chain = 0;
    p->flush = 0;
    p->sync = 0;
    p->recycled = 0;
    p->tag = &ngx_http_pprof_part_tag;

    if (ngx_buf_in_memory(b)) {
        p->last = p->pos + pass;

        if (b->in_file) {
            p->file_last = p->file_pos + pass;
        }

    } else {
        p->file_pos = b->file_pos + off;
        p->file_last = p->file_pos + pass;
    }

    *part = p;
    return NGX_OK;
}


/* The end of the body: what replaces the held bytes, and the result. */
static ngx_int_t
ngx_http_pprof_annotate_finish(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_chain_t ***ll)
{
    char                        *line1, *line2;
    size_t                       len;
    const unsigned char         *tail;
    pprof_provenance_t           p;
    ngx_http_variable_value_t   *vv;
    ngx_http_pprof_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pprof_module);

    line1 = ngx_pnalloc(r->pool, 2 * PPROF_COMMENT_LINE_MAX);
    if (line1 == NULL) {
        return NGX_ERROR;
    }

    line2 = line1 + PPROF_COMMENT_LINE_MAX;

    ngx_memzero(&p, sizeof(pprof_provenance_t));
    p.audit_id.data = (u_char *) ctx->audit_id;
    p.audit_id.len = ngx_strlen(ctx->audit_id);
    p.identity.data = ctx->auth.identity;
    p.identity.len = ctx->auth.identity_len;
    p.roles = ctx->decision.held;
    p.nroles = ctx->decision.nheld;
    p.endpoint = ctx->decision.endpoint.name;

    if (ctx->decision.canonical) {
        p.params.data = (u_char *) ctx->decision.params.canonical;
        p.params.len = ctx->decision.params.canonical_len;
    }

    vv = ngx_http_pprof_upstream_addr(r);
    if (vv != NULL) {
        p.upstream.data = vv->data;
        p.upstream.len = vv->len;
    }

    p.time_us = (uint64_t) r->start_sec * 1000000
                + (uint64_t) r->start_msec * 1000;

    tail = NULL;
    len = 0;

    /* Lines too long to write pass as NULL: nothing is annotated. */
    if (pprof_provenance_lines(&p, line1, line2) != 0) {
        line1 = NULL;
        line2 = NULL;
    }

    /* The result stays in the annotator, for the audit record. */
    (void) pprof_annotator_finish(ctx->annotator, line1, line2,
                                  pmcf->audit_key, &tail, &len);

    /* The annotator owns the tail until the request's pool goes. */
    return ngx_http_pprof_annotate_last(r, ll, (u_char *) tail, len);
}


/*
 * The last buffer: never reused, for the next filters may hold it, empty,
 * until what precedes it is sent.
 */
static ngx_int_t
ngx_http_pprof_annotate_last(ngx_http_request_t *r, ngx_chain_t ***ll,
    u_char *data, size_t len)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    if (len > 0) {
        b->pos = data;
        b->last = data + len;
        b->memory = 1;
    }

    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;
    **ll = cl;
    *ll = &cl->next;

    return NGX_OK;
}


/*
 * A buffer of ours with room for size bytes, not yet linked (*cl holds
 * it).  Its memory is kept across reuse, so that a long body does not
 * grow the pool.
 */
static ngx_buf_t *
ngx_http_pprof_annotate_copy(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx,
    size_t size, ngx_chain_t **cl)
{
    u_char      *start, *end;
    ngx_buf_t   *b;

    *cl = ngx_chain_get_free_buf(r->pool, &ctx->free);
    if (*cl == NULL) {
        return NULL;
    }

    b = (*cl)->buf;
    start = b->start;
    end = b->end;

    if (start == NULL || (size_t) (end - start) < size) {
        size = ngx_max(size, NGX_HTTP_PPROF_COPY_MIN);

        start = ngx_palloc(r->pool, size);
        if (start == NULL) {
            return NULL;
        }

        end = start + size;
    }

    ngx_memzero(b, sizeof(ngx_buf_t));
    b->start = start;
    b->end = end;
    b->pos = start;
    b->last = start;
    b->temporary = 1;
    b->tag = &ngx_http_pprof_copy_tag;

    return b;
}


/* A part of an upstream buffer, of ours, linked at *ll. */
static ngx_buf_t *
ngx_http_pprof_annotate_part(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx,
    ngx_chain_t ***ll)
{
    ngx_chain_t  *cl;

    cl = ngx_chain_get_free_buf(r->pool, &ctx->free_parts);
    if (cl == NULL) {
        return NULL;
    }

    cl->next = NULL;
    **ll = cl;
    *ll = &cl->next;

    return cl->buf;
}


/*
 * After the next filters: our buffers that were sent are free again, and
 * an upstream buffer whose last part was sent is consumed.
 */
static void
ngx_http_pprof_annotate_sent(ngx_http_pprof_ctx_t *ctx, ngx_chain_t *out)
{
    ngx_buf_t     *b;
    ngx_chain_t   *cl, **ll;

    for (ll = &ctx->busy; *ll; ll = &(*ll)->next) { /* void */ }
    *ll = out;

    while (ctx->busy) {
        cl = ctx->busy;
        b = cl->buf;

        if (ngx_buf_size(b) != 0) {
            break;
        }

        if (b->shadow) {
            b->shadow->pos = b->shadow->last;
            b->shadow->file_pos = b->shadow->file_last;
        }

        ctx->busy = cl->next;

        if (b->tag == NULL) {
            /* The last buffer: left to the pool. */
            continue;
        }

        if (b->tag == &ngx_http_pprof_copy_tag) {
            cl->next = ctx->free;
            ctx->free = cl;

        } else {
            cl->next = ctx->free_parts;
            ctx->free_parts = cl;
        }
    }
}


/* The audit's "annotation"; the connection's error is a client gone. */
pprof_str_t
ngx_http_pprof_annotation(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx)
{
    const char                  *s;
    pprof_str_t                  out;
    ngx_http_pprof_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pprof_module);

    s = pprof_annotation_outcome(ctx->annotation, ctx->annotator,
                                 r->connection->error, pmcf->audit_key != NULL);

    out.data = (const unsigned char *) s;
    out.len = s ? ngx_strlen(s) : 0;

    return out;
}
