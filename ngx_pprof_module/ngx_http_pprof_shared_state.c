/*
 * The pprof_shared_state directive: the Redis URL, resolved here in the
 * master, the password file and the options.  The worker's link that these
 * settings make is ngx_http_pprof_redis.c's.
 */

#include "ngx_http_pprof_module.h"


#define NGX_HTTP_PPROF_PASSWORD_MAX   1024


static char *ngx_http_pprof_shared_state_url(ngx_conf_t *cf,
    ngx_http_pprof_redis_conf_t *rcf, ngx_str_t *url);
static char *ngx_http_pprof_shared_state_password(ngx_conf_t *cf,
    ngx_http_pprof_redis_conf_t *rcf, ngx_str_t *name);


/*
 * pprof_shared_state redis://HOST[:PORT][/DB] [password_file=FILE]
 *     [timeout=TIME] [prefix=STRING]
 */
char *
ngx_http_pprof_shared_state(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_main_conf_t *pmcf = conf;

    u_char                       *p;
    ngx_str_t                    *value, s;
    ngx_int_t                     ms;
    ngx_uint_t                    i;
    ngx_http_pprof_redis_conf_t   rcf;

    if (pmcf->shared) {
        return "is duplicate";
    }

    ngx_memzero(&rcf, sizeof(ngx_http_pprof_redis_conf_t));

    value = cf->args->elts;

    if (ngx_http_pprof_shared_state_url(cf, &rcf, &value[1]) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    rcf.timeout = 200;
    ngx_str_set(&rcf.prefix, "pprof:");

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            s.data = value[i].data + 14;
            s.len = value[i].len - 14;

            if (ngx_http_pprof_shared_state_password(cf, &rcf, &s)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            ms = ngx_parse_time(&s, 0);

            if (ms == NGX_ERROR || ms < 1 || ms > 60000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "pprof_shared_state: \"%V\" is not a "
                                   "time from 1ms to 60s", &value[i]);
                return NGX_CONF_ERROR;
            }

            rcf.timeout = (ngx_msec_t) ms;
            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            /*
             * A target's keys hold it between braces, for Redis Cluster;
             * a '%' would be escaped, and a command's room is reckoned
             * with the prefix as written.
             */
            for (p = s.data; p < s.data + s.len; p++) {
                if (*p <= ' ' || *p >= 0x7f || *p == '{' || *p == '}'
                    || *p == '%')
                {
                    break;
                }
            }

            if (s.len == 0 || s.len > 64 || p != s.data + s.len) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "pprof_shared_state: \"%V\" needs 1 to "
                                   "64 printable characters without "
                                   "spaces, braces or %%", &value[i]);
                return NGX_CONF_ERROR;
            }

            rcf.prefix = s;
            continue;
        }

        /* Not echoed: it may be a password written in the wrong place. */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_shared_state: parameter %ui is none of "
                           "password_file=, timeout=, prefix=", i);
        return NGX_CONF_ERROR;
    }

    pmcf->shared = ngx_http_pprof_redis_create(cf, &rcf);
    if (pmcf->shared == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The host is resolved here, in the master, once: a worker must not wait
 * on DNS, and hiredis would look a name up with a blocking getaddrinfo().
 */
static char *
ngx_http_pprof_shared_state_url(ngx_conf_t *cf,
    ngx_http_pprof_redis_conf_t *rcf, ngx_str_t *url)
{
    u_char     *p, *last, *slash;
    size_t      len;
    ngx_url_t   u;

    if (ngx_strlchr(url->data, url->data + url->len, '@')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_shared_state: the URL holds a user or "
                           "password; put them in password_file= instead");
        return NGX_CONF_ERROR;
    }

    if (url->len >= 9 && ngx_strncasecmp(url->data, (u_char *) "rediss://", 9)
                         == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_shared_state \"%V\": this build's hiredis "
                           "has no TLS; use redis:// on loopback, or to a "
                           "local TLS tunnel", url);
        return NGX_CONF_ERROR;
    }

    if (url->len < 9
        || ngx_strncasecmp(url->data, (u_char *) "redis://", 8) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_shared_state \"%V\" is not a "
                           "redis://HOST:PORT[/DB] URL", url);
        return NGX_CONF_ERROR;
    }

    rcf->url = *url;

    p = url->data + 8;
    last = url->data + url->len;

    slash = ngx_strlchr(p, last, '/');

    if (slash) {
        rcf->db.data = slash + 1;
        rcf->db.len = last - slash - 1;

        if (rcf->db.len == 0 || rcf->db.len > 6
            || ngx_atoi(rcf->db.data, rcf->db.len) == NGX_ERROR)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "pprof_shared_state \"%V\": the database "
                               "after \"/\" is not a number", url);
            return NGX_CONF_ERROR;
        }

        /* SELECT 0 is what a new connection has anyway. */
        if (ngx_atoi(rcf->db.data, rcf->db.len) == 0) {
            rcf->db.len = 0;
        }

        last = slash;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.data = p;
    u.url.len = last - p;
    u.default_port = 6379;

    if (u.url.len == 0 || ngx_parse_url(cf->pool, &u) != NGX_OK
        || u.naddrs == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_shared_state \"%V\": %s", url,
                           u.err ? u.err : "no host, or it has no address");
        return NGX_CONF_ERROR;
    }

    if (u.family != AF_INET && u.family != AF_INET6) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_shared_state \"%V\": only a TCP address "
                           "is supported", url);
        return NGX_CONF_ERROR;
    }

    if (u.naddrs > 1) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "pprof_shared_state \"%V\": the host has %ui "
                           "addresses, only the first is used", url,
                           u.naddrs);
    }

    len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                        (u_char *) rcf->host, NGX_SOCKADDR_STRLEN, 0);
    rcf->host[len] = '\0';
    rcf->port = ngx_inet_get_port(u.addrs[0].sockaddr);

    return NGX_CONF_OK;
}


/*
 * The first line, trailing whitespace removed: "PASSWORD", or "USER
 * PASSWORD" for an ACL user.  No message names what the file holds.
 */
static char *
ngx_http_pprof_shared_state_password(ngx_conf_t *cf,
    ngx_http_pprof_redis_conf_t *rcf, ngx_str_t *name)
{
    char       *rv;
    u_char     *p, *end, *space;
    ssize_t     n;
    ngx_fd_t    fd;
    ngx_str_t   path;
    u_char      buf[NGX_HTTP_PPROF_PASSWORD_MAX];

    path = *name;

    if (path.len == 0
        || ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_shared_state: password_file= names no "
                           "file");
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "pprof_shared_state: cannot open password_file "
                           "\"%V\"", &path);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, buf, sizeof(buf));

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "pprof_shared_state: cannot read password_file "
                           "\"%V\"", &path);
    }

    (void) ngx_close_file(fd);

    rv = NGX_CONF_ERROR;

    if (n == -1) {
        goto done;
    }

    end = ngx_strlchr(buf, buf + n, '\n');

    if (end == NULL) {
        if (n == (ssize_t) sizeof(buf)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "pprof_shared_state: the first line of "
                               "password_file \"%V\" is longer than %uz "
                               "bytes", &path, sizeof(buf) - 1);
            goto done;
        }

        end = buf + n;
    }

    while (end > buf && (end[-1] == ' ' || end[-1] == '\t'
                         || end[-1] == '\r'))
    {
        end--;
    }

    space = ngx_strlchr(buf, end, ' ');
    p = space ? space + 1 : buf;

    if (end == buf || p == end || space == buf) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_shared_state: the first line of "
                           "password_file \"%V\" holds no password, or "
                           "not as \"PASSWORD\" or \"USER PASSWORD\"", &path);
        goto done;
    }

    if (space) {
        rcf->user.len = space - buf;
        rcf->user.data = ngx_pnalloc(cf->pool, rcf->user.len);
        if (rcf->user.data == NULL) {
            goto done;
        }

        ngx_memcpy(rcf->user.data, buf, rcf->user.len);
    }

    rcf->password.len = end - p;
    rcf->password.data = ngx_pnalloc(cf->pool, rcf->password.len);
    if (rcf->password.data == NULL) {
        goto done;
    }

    ngx_memcpy(rcf->password.data, p, rcf->password.len);

    rv = NGX_CONF_OK;

done:

    ngx_explicit_memzero(buf, sizeof(buf));

    return rv;
}
