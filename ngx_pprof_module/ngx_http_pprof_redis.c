/*
 * pprof_shared_state: each worker's link to Redis, through hiredis's
 * asynchronous API driven by nginx's event loop.  hiredis formats the
 * commands and parses the replies; this file gives its socket to nginx's
 * events, does the handshake (AUTH, SELECT), backs off after a failure and
 * says of each failure what kind it was.
 *
 * Nothing here blocks a worker: the address was resolved when the
 * configuration was read (ngx_http_pprof_shared_state.c), so hiredis
 * connects to a numeric address without a lookup, and every exchange is
 * bounded by a timer.
 */

#include "ngx_http_pprof_module.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_PPROF_REDIS_DOWN     0    /* no link */
#define NGX_HTTP_PPROF_REDIS_UP       1    /* connecting, or connected */
#define NGX_HTTP_PPROF_REDIS_DYING    2    /* hiredis is freeing it */

/* Why a link is dropped, beyond pprof_shared_kind_t. */
#define NGX_HTTP_PPROF_REDIS_LOST     PPROF_SHARED_KINDS     /* hiredis's */
#define NGX_HTTP_PPROF_REDIS_IDLE     (PPROF_SHARED_KINDS + 1)

/*
 * After a failed exchange a worker waits before connecting again, 100 ms
 * doubling to 2 s while failures go on; meanwhile admissions fail at once.
 */
#define NGX_HTTP_PPROF_BACKOFF_MIN    100
#define NGX_HTTP_PPROF_BACKOFF_MAX    2000

/* Releases waiting for a link; a lease ends by itself after that. */
#define NGX_HTTP_PPROF_QUEUE_MAX      64


struct ngx_http_pprof_shared_s {
    ngx_http_pprof_redis_conf_t   conf;

    /* The worker's link; every worker has its own copy of this. */
    redisAsyncContext            *ac;
    ngx_connection_t             *c;
    ngx_uint_t                    state;
    ngx_uint_t                    kind;         /* why it is dropped */
    ngx_uint_t                    outstanding;  /* sent, not answered */
    unsigned                      broken:1;     /* an event failed */
    unsigned                      exiting:1;
    ngx_msec_t                    backoff;
    ngx_msec_t                    retry_at;
    ngx_event_t                   timer;        /* up: no answer in time;
                                                   down: connect again */
    ngx_queue_t                   queued;       /* calls for the next link */
    ngx_uint_t                    nqueued;
    ngx_queue_t                   held;         /* calls until the
                                                   handshake's end */
    ngx_uint_t                    greeting;     /* handshake replies
                                                   awaited */
    ngx_log_t                    *log;

    ngx_http_pprof_redis_call_t   auth;         /* the handshake */
    ngx_http_pprof_redis_call_t   select;
};


static ngx_int_t ngx_http_pprof_redis_connect(ngx_http_pprof_shared_t *sh);
static void ngx_http_pprof_redis_handshake(ngx_http_pprof_shared_t *sh);
static void ngx_http_pprof_redis_greeted(ngx_http_pprof_redis_call_t *call,
    ngx_int_t rc, ngx_uint_t kind, const long long *v, size_t n);
static ngx_int_t ngx_http_pprof_redis_put(ngx_http_pprof_shared_t *sh,
    ngx_http_pprof_redis_call_t *call);
static ngx_int_t ngx_http_pprof_redis_issue(ngx_http_pprof_shared_t *sh,
    ngx_http_pprof_redis_call_t *call);
static void ngx_http_pprof_redis_reply(redisAsyncContext *ac, void *r,
    void *data);
static ngx_uint_t ngx_http_pprof_redis_refused(ngx_http_pprof_shared_t *sh,
    ngx_http_pprof_redis_call_t *call, redisReply *reply);
static void ngx_http_pprof_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_pprof_redis_read(ngx_event_t *rev);
static void ngx_http_pprof_redis_write(ngx_event_t *wev);
static void ngx_http_pprof_redis_add_read(void *data);
static void ngx_http_pprof_redis_del_read(void *data);
static void ngx_http_pprof_redis_add_write(void *data);
static void ngx_http_pprof_redis_del_write(void *data);
static void ngx_http_pprof_redis_event(ngx_http_pprof_shared_t *sh,
    ngx_event_t *ev, ngx_uint_t event, ngx_uint_t add);
static void ngx_http_pprof_redis_cleanup(void *data);
static void ngx_http_pprof_redis_flush(ngx_http_pprof_shared_t *sh);
static void ngx_http_pprof_redis_arm(ngx_http_pprof_shared_t *sh,
    ngx_msec_t msec, ngx_uint_t cancelable);
static void ngx_http_pprof_redis_retry(ngx_http_pprof_shared_t *sh);
static void ngx_http_pprof_redis_tick(ngx_event_t *ev);
static void ngx_http_pprof_redis_fail(ngx_http_pprof_redis_call_t *call,
    ngx_uint_t kind);
static u_char *ngx_http_pprof_redis_text(u_char *buf, size_t cap,
    const char *s, size_t len);


/* pprof_shared_state's link, down until a worker first needs it. */
ngx_http_pprof_shared_t *
ngx_http_pprof_redis_create(ngx_conf_t *cf, ngx_http_pprof_redis_conf_t *conf)
{
    ngx_http_pprof_shared_t  *sh;

    sh = ngx_pcalloc(cf->pool, sizeof(ngx_http_pprof_shared_t));
    if (sh == NULL) {
        return NULL;
    }

    sh->conf = *conf;
    sh->backoff = NGX_HTTP_PPROF_BACKOFF_MIN;
    sh->log = &cf->cycle->new_log;
    sh->timer.handler = ngx_http_pprof_redis_tick;
    sh->timer.data = sh;
    sh->timer.log = sh->log;
    ngx_queue_init(&sh->queued);
    ngx_queue_init(&sh->held);

    return sh;
}


ngx_msec_t
ngx_http_pprof_redis_timeout(ngx_http_pprof_shared_t *sh)
{
    return sh->conf.timeout;
}


/* How long until a link is tried again; 0 when not backing off. */
ngx_msec_t
ngx_http_pprof_redis_backoff(ngx_http_pprof_shared_t *sh)
{
    ngx_msec_int_t  wait;

    if (sh->state != NGX_HTTP_PPROF_REDIS_DOWN) {
        return 0;
    }

    wait = (ngx_msec_int_t) (sh->retry_at - ngx_current_msec);

    return wait > 0 ? (ngx_msec_t) wait : 0;
}


pprof_str_t
ngx_http_pprof_redis_prefix(ngx_http_pprof_shared_t *sh)
{
    pprof_str_t  prefix;

    prefix.data = sh->conf.prefix.data;
    prefix.len = sh->conf.prefix.len;

    return prefix;
}


/*
 * Sends a call, connecting first when there is no link.  Returns NGX_OK
 * (done will run), or NGX_DECLINED when there is no link to send it on:
 * backing off after a failure, or the connect failed at once.  With queue,
 * such a call waits for the next link instead (until call->expires), and
 * the link is tried again when the backoff ends.
 */
ngx_int_t
ngx_http_pprof_redis_send(ngx_http_pprof_shared_t *sh,
    ngx_http_pprof_redis_call_t *call, ngx_uint_t queue)
{
    if (sh->exiting) {
        return NGX_DECLINED;
    }

    if (sh->state == NGX_HTTP_PPROF_REDIS_DOWN
        && (ngx_msec_int_t) (sh->retry_at - ngx_current_msec) <= 0)
    {
        (void) ngx_http_pprof_redis_connect(sh);
    }

    if (sh->state == NGX_HTTP_PPROF_REDIS_UP
        && ngx_http_pprof_redis_put(sh, call) == NGX_OK)
    {
        return NGX_OK;
    }

    if (!queue || sh->nqueued >= NGX_HTTP_PPROF_QUEUE_MAX) {
        return NGX_DECLINED;
    }

    ngx_queue_insert_tail(&sh->queued, &call->queue);
    sh->nqueued++;

    if (sh->state == NGX_HTTP_PPROF_REDIS_DOWN && !sh->timer.timer_set) {
        ngx_http_pprof_redis_retry(sh);
    }

    return NGX_OK;
}


/*
 * The link's commands go out in order on one connection: AUTH and SELECT
 * first, then, once both said OK, whatever waited for a link and the
 * callers'.  hiredis keeps them until the connect completes.
 */
static ngx_int_t
ngx_http_pprof_redis_connect(ngx_http_pprof_shared_t *sh)
{
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    /* A numeric address: hiredis's getaddrinfo() does not look it up. */
    ac = redisAsyncConnect(sh->conf.host, sh->conf.port);

    if (ac == NULL || ac->err) {
        ngx_log_error(NGX_LOG_ERR, sh->log, 0,
                      "pprof_shared_state: cannot connect to %V: %s",
                      &sh->conf.url, ac ? ac->errstr : "no memory");
        goto failed;
    }

    c = ngx_get_connection(ac->c.fd, sh->log);
    if (c == NULL) {
        goto failed;
    }

    c->data = sh;
    c->read->handler = ngx_http_pprof_redis_read;
    c->write->handler = ngx_http_pprof_redis_write;
    c->read->log = sh->log;
    c->write->log = sh->log;

    /* The timer now watches for answers, not for the backoff's end. */
    if (sh->timer.timer_set) {
        ngx_del_timer(&sh->timer);
    }

    sh->ac = ac;
    sh->c = c;
    sh->state = NGX_HTTP_PPROF_REDIS_UP;
    sh->kind = NGX_HTTP_PPROF_REDIS_LOST;
    sh->broken = 0;
    sh->outstanding = 0;

    ac->data = sh;
    ac->ev.data = sh;
    ac->ev.addRead = ngx_http_pprof_redis_add_read;
    ac->ev.delRead = ngx_http_pprof_redis_del_read;
    ac->ev.addWrite = ngx_http_pprof_redis_add_write;
    ac->ev.delWrite = ngx_http_pprof_redis_del_write;
    ac->ev.cleanup = ngx_http_pprof_redis_cleanup;

    /* Its first write event tells the connect's outcome. */
    (void) redisAsyncSetConnectCallback(ac, ngx_http_pprof_redis_connected);

    ngx_http_pprof_redis_handshake(sh);
    ngx_http_pprof_redis_flush(sh);

    /* The handshake's own failure may have dropped the link already. */
    return sh->state == NGX_HTTP_PPROF_REDIS_UP ? NGX_OK : NGX_ERROR;

failed:

    if (ac) {
        redisAsyncFree(ac);
    }

    sh->retry_at = ngx_current_msec + sh->backoff;
    sh->backoff = ngx_min(sh->backoff * 2, NGX_HTTP_PPROF_BACKOFF_MAX);

    return NGX_ERROR;
}


/*
 * Nothing else goes out before the handshake's replies: a script sent
 * behind a refused AUTH or SELECT would run as Redis's default user, or
 * in database 0, and take a lease nobody meant.
 */
static void
ngx_http_pprof_redis_handshake(ngx_http_pprof_shared_t *sh)
{
    pprof_shared_cmd_t  *cmd;

    sh->greeting = 0;

    if (sh->conf.password.len) {
        cmd = &sh->auth.cmd;

        cmd->argc = 0;
        cmd->argv[cmd->argc] = "AUTH";
        cmd->argvlen[cmd->argc++] = 4;

        if (sh->conf.user.len) {
            cmd->argv[cmd->argc] = (const char *) sh->conf.user.data;
            cmd->argvlen[cmd->argc++] = sh->conf.user.len;
        }

        cmd->argv[cmd->argc] = (const char *) sh->conf.password.data;
        cmd->argvlen[cmd->argc++] = sh->conf.password.len;

        sh->auth.done = ngx_http_pprof_redis_greeted;
        sh->auth.data = sh;

        if (ngx_http_pprof_redis_issue(sh, &sh->auth) != NGX_OK) {
            ngx_http_pprof_redis_drop(sh, PPROF_SHARED_CONNECT);
            return;
        }

        sh->greeting++;
    }

    if (sh->conf.db.len) {
        cmd = &sh->select.cmd;

        cmd->argc = 2;
        cmd->argv[0] = "SELECT";
        cmd->argvlen[0] = 6;
        cmd->argv[1] = (const char *) sh->conf.db.data;
        cmd->argvlen[1] = sh->conf.db.len;

        sh->select.done = ngx_http_pprof_redis_greeted;
        sh->select.data = sh;

        if (ngx_http_pprof_redis_issue(sh, &sh->select) != NGX_OK) {
            ngx_http_pprof_redis_drop(sh, PPROF_SHARED_CONNECT);
            return;
        }

        sh->greeting++;
    }
}


/*
 * A refused handshake leaves a link no command can use: what it held is
 * failed unsent when the link goes (ngx_http_pprof_redis_cleanup).  An
 * accepted one lets the held calls out, oldest first.
 */
static void
ngx_http_pprof_redis_greeted(ngx_http_pprof_redis_call_t *call, ngx_int_t rc,
    ngx_uint_t kind, const long long *v, size_t n)
{
    ngx_http_pprof_shared_t *sh = call->data;

    ngx_queue_t                  *q;
    ngx_http_pprof_redis_call_t  *held;

    if (rc != NGX_OK) {
        ngx_http_pprof_redis_drop(sh, call == &sh->auth ? PPROF_SHARED_AUTH
                                                        : PPROF_SHARED_PROTOCOL);
        return;
    }

    if (sh->state != NGX_HTTP_PPROF_REDIS_UP || --sh->greeting) {
        return;
    }

    while (!ngx_queue_empty(&sh->held)) {
        q = ngx_queue_head(&sh->held);
        ngx_queue_remove(q);

        held = ngx_queue_data(q, ngx_http_pprof_redis_call_t, queue);

        if (ngx_http_pprof_redis_issue(sh, held) != NGX_OK) {
            ngx_http_pprof_redis_fail(held, PPROF_SHARED_CONNECT);
        }
    }
}


/* A call goes out now, or after the handshake's replies. */
static ngx_int_t
ngx_http_pprof_redis_put(ngx_http_pprof_shared_t *sh,
    ngx_http_pprof_redis_call_t *call)
{
    if (sh->greeting) {
        ngx_queue_insert_tail(&sh->held, &call->queue);
        return NGX_OK;
    }

    return ngx_http_pprof_redis_issue(sh, call);
}


static ngx_int_t
ngx_http_pprof_redis_issue(ngx_http_pprof_shared_t *sh,
    ngx_http_pprof_redis_call_t *call)
{
    if (redisAsyncCommandArgv(sh->ac, ngx_http_pprof_redis_reply, call,
                              call->cmd.argc, call->cmd.argv,
                              call->cmd.argvlen)
        != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, sh->log, 0,
                      "pprof_shared_state: hiredis took no command (%s)",
                      sh->ac->errstr[0] ? sh->ac->errstr : "no memory");
        return NGX_ERROR;
    }

    /* The link answers in time, or is dropped: a silent Redis wedges none. */
    if (sh->outstanding++ == 0) {
        ngx_http_pprof_redis_arm(sh, sh->conf.timeout, 0);
    }

    return NGX_OK;
}


static void
ngx_http_pprof_redis_reply(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                   *reply = r;
    ngx_http_pprof_redis_call_t  *call = data;

    size_t                    i, n;
    ngx_uint_t                kind;
    ngx_http_pprof_shared_t  *sh;
    long long                 v[NGX_HTTP_PPROF_REDIS_INTS];

    sh = ac->data;

    /*
     * hiredis is freeing the link: every call still out is told so.  When
     * hiredis drops it on its own (end of file, a protocol error), it has
     * given back the socket first (ngx_http_pprof_redis_cleanup), and the
     * link's state is no longer this context's.
     */
    if (reply == NULL) {
        if (ac == sh->ac) {
            sh->outstanding--;

            if (sh->state == NGX_HTTP_PPROF_REDIS_UP) {
                sh->state = NGX_HTTP_PPROF_REDIS_DYING;
            }
        }

        kind = sh->kind;

        if (kind == NGX_HTTP_PPROF_REDIS_LOST
            || kind == NGX_HTTP_PPROF_REDIS_IDLE)
        {
            kind = (ac->err == REDIS_ERR_PROTOCOL) ? PPROF_SHARED_PROTOCOL
                                                   : PPROF_SHARED_CONNECT;
        }

        /* Not connected, nothing was written. */
        call->done(call, (ac->c.flags & REDIS_CONNECTED) ? NGX_ERROR
                                                         : NGX_ABORT,
                   kind, NULL, 0);
        return;
    }

    sh->outstanding--;

    /*
     * Bytes after the last reply asked for: nothing a Redis sends, and
     * hiredis would take them for a reply nobody waits for and abort.  A
     * server that does is believed in nothing.
     */
    if (ac->replies.head == NULL && ac->c.reader->pos < ac->c.reader->len) {
        ngx_log_error(NGX_LOG_ERR, sh->log, 0,
                      "pprof_shared_state: %V sent more than was asked",
                      &sh->conf.url);
        ngx_http_pprof_redis_drop(sh, PPROF_SHARED_PROTOCOL);
        call->done(call, NGX_ERROR, PPROF_SHARED_PROTOCOL, NULL, 0);
        return;
    }

    if (sh->state == NGX_HTTP_PPROF_REDIS_UP) {
        if (sh->outstanding) {
            ngx_http_pprof_redis_arm(sh, sh->conf.timeout, 0);

        } else if (sh->timer.timer_set) {
            ngx_del_timer(&sh->timer);
        }
    }

    n = 0;

    switch (reply->type) {

    case REDIS_REPLY_ERROR:
        if (reply->len >= 9 && ngx_strncmp(reply->str, "NOSCRIPT ", 9) == 0) {
            call->done(call, NGX_DECLINED, 0, NULL, 0);
            return;
        }

        kind = ngx_http_pprof_redis_refused(sh, call, reply);
        call->done(call, NGX_ERROR, kind, NULL, 0);
        return;

    case REDIS_REPLY_STATUS:
        break;

    case REDIS_REPLY_INTEGER:
        v[n++] = reply->integer;
        break;

    case REDIS_REPLY_ARRAY:
        if (reply->elements > NGX_HTTP_PPROF_REDIS_INTS) {
            goto protocol;
        }

        for (i = 0; i < reply->elements; i++) {
            if (reply->element[i]->type != REDIS_REPLY_INTEGER) {
                goto protocol;
            }

            v[n++] = reply->element[i]->integer;
        }

        break;

    default:
        goto protocol;
    }

    sh->backoff = NGX_HTTP_PPROF_BACKOFF_MIN;

    call->done(call, NGX_OK, 0, v, n);
    return;

protocol:

    ngx_log_error(NGX_LOG_ERR, sh->log, 0,
                  "pprof_shared_state: %V answered a reply of type %d, not "
                  "integers: is another program writing keys with prefix "
                  "\"%V\"?", &sh->conf.url, reply->type, &sh->conf.prefix);

    call->done(call, NGX_ERROR, PPROF_SHARED_PROTOCOL, NULL, 0);
}


/*
 * An error reply.  One about authentication makes the link useless until
 * the password is right; any other (a key of the wrong type, a script
 * error) is this command's.  The reply of AUTH itself is not echoed, in
 * case a server repeats what it was sent.
 */
static ngx_uint_t
ngx_http_pprof_redis_refused(ngx_http_pprof_shared_t *sh,
    ngx_http_pprof_redis_call_t *call, redisReply *reply)
{
    size_t       len;
    ngx_uint_t   auth;
    const char  *space;
    u_char       text[128], *last;

    auth = (call == &sh->auth);

    len = (size_t) reply->len;
    space = memchr(reply->str, ' ', len);

    if (auth && space) {
        len = space - reply->str;
    }

    if ((len >= 6 && ngx_strncmp(reply->str, "NOAUTH", 6) == 0)
        || (len >= 9 && ngx_strncmp(reply->str, "WRONGPASS", 9) == 0)
        || (len >= 20
            && ngx_strncmp(reply->str, "ERR invalid password", 20) == 0))
    {
        auth = 1;
    }

    last = ngx_http_pprof_redis_text(text, sizeof(text), reply->str, len);

    if (call == &sh->auth) {
        ngx_log_error(NGX_LOG_ERR, sh->log, 0,
                      "pprof_shared_state: %V refused the password of "
                      "password_file: %*s", &sh->conf.url, last - text, text);

    } else {
        ngx_log_error(NGX_LOG_ERR, sh->log, 0,
                      "pprof_shared_state: %V refused %*s: %*s", &sh->conf.url,
                      call->cmd.argvlen[0], call->cmd.argv[0],
                      last - text, text);
    }

    if (auth) {
        ngx_http_pprof_redis_drop(sh, PPROF_SHARED_AUTH);
        return PPROF_SHARED_AUTH;
    }

    return PPROF_SHARED_PROTOCOL;
}


static void
ngx_http_pprof_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_pprof_shared_t  *sh;

    if (status == REDIS_OK) {
        return;
    }

    sh = ac->data;

    /* hiredis frees the link next: its calls are told then. */
    ngx_log_error(NGX_LOG_ERR, sh->log, 0,
                  "pprof_shared_state: cannot connect to %V: %s",
                  &sh->conf.url, ac->errstr);
}


/*
 * Drops the link: hiredis tells each call still out, gives back the
 * socket (ngx_http_pprof_redis_cleanup) and frees it, at once or, within
 * one of its callbacks, once that returns.
 */
void
ngx_http_pprof_redis_drop(ngx_http_pprof_shared_t *sh, ngx_uint_t kind)
{
    if (sh->state != NGX_HTTP_PPROF_REDIS_UP) {
        return;
    }

    sh->state = NGX_HTTP_PPROF_REDIS_DYING;
    sh->kind = kind;

    redisAsyncFree(sh->ac);
}


/*
 * Nothing asked, a readable socket is the server closing an idle link or
 * sending what nobody asked for, which hiredis would take for a reply
 * nobody waits for and abort: either way the link goes.
 */
static void
ngx_http_pprof_redis_read(ngx_event_t *rev)
{
    ngx_connection_t         *c;
    ngx_http_pprof_shared_t  *sh;

    c = rev->data;
    sh = c->data;

    if ((sh->ac->c.flags & REDIS_CONNECTED) && sh->ac->replies.head == NULL) {
        ngx_log_error(NGX_LOG_INFO, sh->log, 0,
                      "pprof_shared_state: %V closed or spoke on an idle "
                      "link", &sh->conf.url);
        ngx_http_pprof_redis_drop(sh, NGX_HTTP_PPROF_REDIS_IDLE);
        return;
    }

    redisAsyncHandleRead(sh->ac);
}


static void
ngx_http_pprof_redis_write(ngx_event_t *wev)
{
    ngx_connection_t         *c;
    ngx_http_pprof_shared_t  *sh;

    c = wev->data;
    sh = c->data;

    redisAsyncHandleWrite(sh->ac);
}


/*
 * hiredis's hooks, as its libevent adapter's: persistent, level-triggered
 * interest in each direction, which hiredis turns on and off itself.
 * Level-triggered, because hiredis reads at most 16k per event and
 * nginx's edge-triggered epoll would not report the rest again.
 */
static void
ngx_http_pprof_redis_add_read(void *data)
{
    ngx_http_pprof_shared_t *sh = data;

    if (sh->c) {
        ngx_http_pprof_redis_event(sh, sh->c->read, NGX_READ_EVENT, 1);
    }
}


static void
ngx_http_pprof_redis_del_read(void *data)
{
    ngx_http_pprof_shared_t *sh = data;

    if (sh->c) {
        ngx_http_pprof_redis_event(sh, sh->c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_pprof_redis_add_write(void *data)
{
    ngx_http_pprof_shared_t *sh = data;

    if (sh->c) {
        ngx_http_pprof_redis_event(sh, sh->c->write, NGX_WRITE_EVENT, 1);
    }
}


static void
ngx_http_pprof_redis_del_write(void *data)
{
    ngx_http_pprof_shared_t *sh = data;

    if (sh->c) {
        ngx_http_pprof_redis_event(sh, sh->c->write, NGX_WRITE_EVENT, 0);
    }
}


/*
 * Within hiredis nothing may free the link: a failure is handed to the
 * timer's handler, which drops it.
 */
static void
ngx_http_pprof_redis_event(ngx_http_pprof_shared_t *sh, ngx_event_t *ev,
    ngx_uint_t event, ngx_uint_t add)
{
    ngx_int_t  rc;

    if (add == ev->active) {
        return;
    }

    rc = add ? ngx_add_event(ev, event, NGX_LEVEL_EVENT)
             : ngx_del_event(ev, event, 0);

    if (rc != NGX_OK && !sh->broken) {
        ngx_log_error(NGX_LOG_ERR, sh->log, 0,
                      "pprof_shared_state: the link's events failed");
        sh->broken = 1;

        if (sh->timer.timer_set) {
            ngx_del_timer(&sh->timer);
        }

        ngx_post_event(&sh->timer, &ngx_posted_events);
    }
}


/* hiredis is done with the socket, which it closes next. */
static void
ngx_http_pprof_redis_cleanup(void *data)
{
    ngx_http_pprof_shared_t *sh = data;

    ngx_uint_t                    kind;
    ngx_queue_t                  *q;
    ngx_connection_t             *c;
    ngx_http_pprof_redis_call_t  *call;

    c = sh->c;

    if (c == NULL) {
        return;
    }

    if (sh->kind == NGX_HTTP_PPROF_REDIS_LOST
        && (sh->ac->c.flags & REDIS_CONNECTED))
    {
        ngx_log_error(NGX_LOG_ERR, sh->log, 0,
                      "pprof_shared_state: lost the link to %V: %s",
                      &sh->conf.url, sh->ac->errstr);
    }

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    sh->c = NULL;
    sh->ac = NULL;
    sh->state = NGX_HTTP_PPROF_REDIS_DOWN;
    sh->outstanding = 0;

    if (sh->timer.timer_set) {
        ngx_del_timer(&sh->timer);
    }

    if (sh->timer.posted) {
        ngx_delete_posted_event(&sh->timer);
    }

    /* An idle link the server closed is no failure: connect again at once. */
    if (sh->kind != NGX_HTTP_PPROF_REDIS_IDLE) {
        sh->retry_at = ngx_current_msec + sh->backoff;
        sh->backoff = ngx_min(sh->backoff * 2, NGX_HTTP_PPROF_BACKOFF_MAX);
    }

    /* Held for a handshake that did not end well: never sent. */
    sh->greeting = 0;

    kind = sh->kind;

    if (kind == NGX_HTTP_PPROF_REDIS_LOST
        || kind == NGX_HTTP_PPROF_REDIS_IDLE)
    {
        kind = PPROF_SHARED_CONNECT;
    }

    while (!ngx_queue_empty(&sh->held)) {
        q = ngx_queue_head(&sh->held);
        ngx_queue_remove(q);

        call = ngx_queue_data(q, ngx_http_pprof_redis_call_t, queue);
        ngx_http_pprof_redis_fail(call, kind);
    }

    if (sh->nqueued && !sh->exiting) {
        ngx_http_pprof_redis_retry(sh);
    }
}


/*
 * What waited for a link goes out on this one, oldest first.  A call that
 * hiredis refuses may queue itself again at the tail: the pass stops at
 * the calls it started with.
 */
static void
ngx_http_pprof_redis_flush(ngx_http_pprof_shared_t *sh)
{
    ngx_uint_t                    n;
    ngx_queue_t                  *q;
    ngx_http_pprof_redis_call_t  *call;

    for (n = sh->nqueued;
         n && sh->nqueued && sh->state == NGX_HTTP_PPROF_REDIS_UP;
         n--)
    {
        q = ngx_queue_head(&sh->queued);
        ngx_queue_remove(q);
        sh->nqueued--;

        call = ngx_queue_data(q, ngx_http_pprof_redis_call_t, queue);

        if ((ngx_msec_int_t) (call->expires - ngx_current_msec) <= 0
            || ngx_http_pprof_redis_put(sh, call) != NGX_OK)
        {
            ngx_http_pprof_redis_fail(call, PPROF_SHARED_CONNECT);
        }
    }
}


/*
 * Exactly msec from now: ngx_add_timer keeps a timer that is due less
 * than 300 ms off, which would not push a watchdog of 200 ms forward.
 * While answers are awaited the timer holds up a worker's graceful exit;
 * waiting to connect again does not.
 */
static void
ngx_http_pprof_redis_arm(ngx_http_pprof_shared_t *sh, ngx_msec_t msec,
    ngx_uint_t cancelable)
{
    if (sh->timer.timer_set) {
        ngx_del_timer(&sh->timer);
    }

    sh->timer.cancelable = cancelable;
    ngx_add_timer(&sh->timer, msec);
}


/* Calls wait for a link: try again when the backoff ends. */
static void
ngx_http_pprof_redis_retry(ngx_http_pprof_shared_t *sh)
{
    ngx_msec_int_t  wait;

    wait = (ngx_msec_int_t) (sh->retry_at - ngx_current_msec);

    ngx_http_pprof_redis_arm(sh, wait > 0 ? (ngx_msec_t) wait : 0, 1);
}


/*
 * Up, the link answered nothing in time (or its events failed): dropped.
 * Down, calls wait for it: connect again, or give up on those whose lease
 * has ended anyway.
 */
static void
ngx_http_pprof_redis_tick(ngx_event_t *ev)
{
    ngx_http_pprof_shared_t *sh = ev->data;

    ngx_queue_t                  *q, *next;
    ngx_http_pprof_redis_call_t  *call;

    if (sh->state == NGX_HTTP_PPROF_REDIS_UP) {
        if (!sh->broken) {
            ngx_log_error(NGX_LOG_ERR, sh->log, 0,
                          "pprof_shared_state: %V answered nothing in %Mms, "
                          "the link is dropped", &sh->conf.url,
                          sh->conf.timeout);
        }

        ngx_http_pprof_redis_drop(sh, sh->broken ? PPROF_SHARED_CONNECT
                                                 : PPROF_SHARED_TIMEOUT);
        return;
    }

    if (sh->state != NGX_HTTP_PPROF_REDIS_DOWN) {
        return;
    }

    for (q = ngx_queue_head(&sh->queued);
         q != ngx_queue_sentinel(&sh->queued);
         q = next)
    {
        next = ngx_queue_next(q);
        call = ngx_queue_data(q, ngx_http_pprof_redis_call_t, queue);

        if ((ngx_msec_int_t) (call->expires - ngx_current_msec) <= 0) {
            ngx_queue_remove(q);
            sh->nqueued--;
            ngx_http_pprof_redis_fail(call, PPROF_SHARED_CONNECT);
        }
    }

    if (sh->nqueued == 0) {
        return;
    }

    if (ngx_http_pprof_redis_connect(sh) != NGX_OK && !sh->exiting) {
        ngx_http_pprof_redis_retry(sh);
    }
}


static void
ngx_http_pprof_redis_fail(ngx_http_pprof_redis_call_t *call, ngx_uint_t kind)
{
    call->done(call, NGX_ABORT, kind, NULL, 0);
}


/* The worker exits: what waited is given up, the link closed. */
void
ngx_http_pprof_redis_exit(ngx_cycle_t *cycle)
{
    ngx_queue_t                  *q;
    ngx_http_pprof_shared_t      *sh;
    ngx_http_pprof_redis_call_t  *call;
    ngx_http_pprof_main_conf_t   *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_pprof_module);

    if (pmcf == NULL || pmcf->shared == NULL) {
        return;
    }

    sh = pmcf->shared;
    sh->exiting = 1;

    if (sh->timer.timer_set) {
        ngx_del_timer(&sh->timer);
    }

    while (!ngx_queue_empty(&sh->queued)) {
        q = ngx_queue_head(&sh->queued);
        ngx_queue_remove(q);
        sh->nqueued--;

        call = ngx_queue_data(q, ngx_http_pprof_redis_call_t, queue);
        ngx_http_pprof_redis_fail(call, PPROF_SHARED_CONNECT);
    }

    if (sh->state == NGX_HTTP_PPROF_REDIS_UP) {
        sh->state = NGX_HTTP_PPROF_REDIS_DYING;
        sh->kind = NGX_HTTP_PPROF_REDIS_IDLE;
        redisAsyncFree(sh->ac);
    }
}


/* Printable ASCII only: a hostile server's reply must not forge log lines. */
static u_char *
ngx_http_pprof_redis_text(u_char *buf, size_t cap, const char *s, size_t len)
{
    u_char  *p;
    size_t   i;

    p = buf;

    for (i = 0; i < len && p < buf + cap; i++) {
        *p++ = (s[i] >= ' ' && s[i] < 0x7f) ? (u_char) s[i] : '?';
    }

    return p;
}
