/*
 * What nginx -t checks once the configuration is merged: a "pprof on"
 * location that cannot forward, that no endpoint can reach, or whose
 * read timeout would cut captures short; and roles that guard nothing.
 * Such checks run after the directive's line was read, so the line is
 * recorded when the directive is parsed and printed as nginx does for
 * "listen ... ssl" without a certificate.
 */

#include "ngx_http_pprof_module.h"


static char *ngx_http_pprof_check_content(ngx_conf_t *cf,
    ngx_http_pprof_loc_conf_t *conf);
static void ngx_http_pprof_check_reach(ngx_conf_t *cf,
    ngx_http_pprof_loc_conf_t *conf);
static ngx_uint_t ngx_http_pprof_rewrites(ngx_http_core_loc_conf_t *clcf,
    ngx_http_pprof_loc_conf_t *conf);
static char *ngx_http_pprof_check_timeout(ngx_conf_t *cf,
    ngx_http_pprof_loc_conf_t *conf);
static void ngx_http_pprof_check_unguarded_pass(ngx_conf_t *cf,
    ngx_http_pprof_loc_conf_t *conf);


void
ngx_http_pprof_where(ngx_conf_t *cf, ngx_http_pprof_where_t *at)
{
    at->file = cf->conf_file->file.name.data;
    at->line = cf->conf_file->line;
}


/*
 * After the last line is read, ngx_conf_log_error() would name that line:
 * name the directive's instead.
 */
void ngx_cdecl
ngx_http_pprof_conf_log(ngx_uint_t level, ngx_conf_t *cf,
    ngx_http_pprof_where_t *at, const char *fmt, ...)
{
    u_char   errstr[NGX_MAX_CONF_ERRSTR], *p;
    va_list  args;

    va_start(args, fmt);
    p = ngx_vslprintf(errstr, errstr + NGX_MAX_CONF_ERRSTR, fmt, args);
    va_end(args);

    if (at == NULL || at->file == NULL) {
        ngx_conf_log_error(level, cf, 0, "%*s", p - errstr, errstr);
        return;
    }

    ngx_log_error(level, cf->log, 0, "%*s in %s:%ui", p - errstr, errstr,
                  at->file, at->line);
}


/* The directive that makes a location judge requests. */
ngx_http_pprof_where_t *
ngx_http_pprof_active_at(ngx_http_pprof_loc_conf_t *conf)
{
    return conf->enable == 1 ? &conf->enable_at : &conf->authz_at;
}


/* pprof_role and pprof_bind: the first one is named if nothing uses them. */
void
ngx_http_pprof_note_policy(ngx_conf_t *cf)
{
    ngx_http_pprof_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_pprof_module);

    if (pmcf->policy_at.file == NULL) {
        ngx_http_pprof_where(cf, &pmcf->policy_at);
    }
}


/* At merge, with enable, prefix, max_seconds and proxy_pass merged. */
char *
ngx_http_pprof_check_merge(ngx_conf_t *cf, ngx_http_pprof_loc_conf_t *prev,
    ngx_http_pprof_loc_conf_t *conf)
{
    ngx_http_pprof_main_conf_t  *pmcf;

    if (conf->read_timeout_at.file == NULL) {
        conf->read_timeout_at = prev->read_timeout_at;
    }

    if (conf->authz != NGX_CONF_UNSET_UINT) {
        pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_pprof_module);
        pmcf->guarded = 1;
        return NGX_CONF_OK;
    }

    if (!conf->enable) {
        ngx_http_pprof_check_unguarded_pass(cf, conf);
        return NGX_CONF_OK;
    }

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_pprof_module);
    pmcf->guarded = 1;

    if (ngx_http_pprof_check_content(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_http_pprof_check_reach(cf, conf);

    return ngx_http_pprof_check_timeout(cf, conf);
}


/*
 * The module judges and the content handler forwards: anything but
 * proxy_pass would answer allowed requests itself, nginx's static files
 * when there is nothing.  An "if" or limit_except block forwards with its
 * location's proxy_pass unless it has a content directive of its own.
 */
static char *
ngx_http_pprof_check_content(ngx_conf_t *cf, ngx_http_pprof_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_pprof_main_conf_t  *pmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_pprof_module);

    if (!clcf->noname && conf->proxy_pass.data == NULL) {
        ngx_http_pprof_conf_log(NGX_LOG_EMERG, cf, &conf->enable_at,
                      "\"pprof on\" in location \"%V\" has no proxy_pass: "
                      "the module only judges requests, so allowed ones "
                      "would get nginx's static files; add \"proxy_pass "
                      "http://<Go target>;\" to the location (or \"pprof "
                      "off;\" to a nested location that is not for pprof)",
                      &clcf->name);
        return NGX_CONF_ERROR;
    }

    if (clcf->handler != pmcf->proxy_handler
        && (clcf->handler != NULL || !clcf->noname))
    {
        ngx_http_pprof_conf_log(NGX_LOG_EMERG, cf, &conf->enable_at,
                      "\"pprof on\" in location \"%V\" has a content "
                      "directive other than proxy_pass (such as "
                      "fastcgi_pass, grpc_pass, uwsgi_pass, scgi_pass or "
                      "pprof_status), which would answer allowed requests "
                      "instead of the Go target: keep only proxy_pass",
                      &clcf->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* A location where every request would be 404 unknown_endpoint. */
static void
ngx_http_pprof_check_reach(ngx_conf_t *cf, ngx_http_pprof_loc_conf_t *conf)
{
    pprof_str_t                location, prefix;
    ngx_http_core_loc_conf_t  *clcf;
#if (NGX_PCRE)
    u_char                    *p;
    ngx_str_t                  path;
    ngx_int_t                  rc;
    ngx_uint_t                 i;
    const char                *name;
#endif

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->noname || clcf->named || ngx_http_pprof_rewrites(clcf, conf)) {
        return;
    }

#if (NGX_PCRE)

    if (clcf->regex) {
        path.data = ngx_pnalloc(cf->temp_pool,
                                conf->prefix.len + PPROF_ENDPOINT_NAME_MAX);
        if (path.data == NULL) {
            return;
        }

        p = ngx_cpymem(path.data, conf->prefix.data, conf->prefix.len);

        for (i = 0; (name = pprof_endpoint_example(i)) != NULL; i++) {
            path.len = ngx_cpymem(p, name, ngx_strlen(name)) - path.data;

            rc = ngx_regex_exec(clcf->regex->regex, &path, NULL, 0);

            /* PCRE's error (a match limit) leaves the question open. */
            if (rc != NGX_REGEX_NO_MATCHED) {
                return;
            }
        }

        goto unreachable;
    }

#endif

    location.data = clcf->name.data;
    location.len = clcf->name.len;
    prefix.data = conf->prefix.data;
    prefix.len = conf->prefix.len;

    if (pprof_location_reaches(location, clcf->exact_match, prefix)) {
        return;
    }

#if (NGX_PCRE)
unreachable:
#endif

    ngx_http_pprof_conf_log(NGX_LOG_WARN, cf, &conf->enable_at,
                  "location \"%V\" with \"pprof on\" matches no endpoint "
                  "under pprof_prefix \"%V\": every request would be 404 "
                  "unknown_endpoint; make the location's path and "
                  "pprof_prefix agree", &clcf->name, &conf->prefix);
}


/*
 * A rewrite in the location, or in one of its "if" blocks (merged after
 * it), may bring any path under the prefix before the module judges it.
 */
static ngx_uint_t
ngx_http_pprof_rewrites(ngx_http_core_loc_conf_t *clcf,
    ngx_http_pprof_loc_conf_t *conf)
{
    ngx_queue_t                *q;
    ngx_http_core_loc_conf_t   *child;
    ngx_http_pprof_loc_conf_t  *plcf;
    ngx_http_location_queue_t  *lq;

    if (conf->rewrites) {
        return 1;
    }

    if (clcf->locations == NULL) {
        return 0;
    }

    for (q = ngx_queue_head(clcf->locations);
         q != ngx_queue_sentinel(clcf->locations);
         q = ngx_queue_next(q))
    {
        lq = (ngx_http_location_queue_t *) q;
        child = lq->exact ? lq->exact : lq->inclusive;

        if (child->noname) {
            plcf = child->loc_conf[ngx_http_pprof_module.ctx_index];

            if (plcf->rewrites) {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * A capture must not end in a 504 from a timeout nobody chose for it.
 * When no proxy_read_timeout applies here, this location's is raised to
 * cover the longest capture; one the operator wrote must already do so.
 * The value is read and written where the proxy module's own directive
 * stores it, whatever the layout of its configuration.
 */
static char *
ngx_http_pprof_check_timeout(ngx_conf_t *cf, ngx_http_pprof_loc_conf_t *conf)
{
    ngx_msec_t                *timeout, need;
    ngx_module_t              *m;
    ngx_command_t             *c;
    ngx_http_core_loc_conf_t  *clcf;

    c = ngx_http_pprof_owner_command(cf->cycle, "proxy_read_timeout", &m);

    if (c == NULL || ngx_strcmp(m->name, "ngx_http_proxy_module") != 0
        || c->set != ngx_conf_set_msec_slot
        || c->conf != NGX_HTTP_LOC_CONF_OFFSET)
    {
        ngx_http_pprof_conf_log(NGX_LOG_EMERG, cf, &conf->enable_at,
                      "\"pprof on\" cannot find this nginx's "
                      "proxy_read_timeout to fit it to pprof_max_seconds");
        return NGX_CONF_ERROR;
    }

    timeout = (ngx_msec_t *)
        ((char *) ((ngx_http_conf_ctx_t *) cf->ctx)->loc_conf[m->ctx_index]
         + c->offset);

    need = (ngx_msec_t)
               pprof_capture_read_timeout((unsigned) conf->max_seconds);

    if (*timeout >= need) {
        return NGX_CONF_OK;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (conf->read_timeout_at.file == NULL) {
        ngx_http_pprof_conf_log(NGX_LOG_NOTICE, cf, &conf->enable_at,
                      "proxy_read_timeout of location \"%V\" raised from "
                      "%Mms to %Mms to cover its pprof_max_seconds %ui",
                      &clcf->name, *timeout, need, conf->max_seconds);

        *timeout = need;
        return NGX_CONF_OK;
    }

    ngx_http_pprof_conf_log(NGX_LOG_EMERG, cf, &conf->read_timeout_at,
                  "proxy_read_timeout %Mms of location \"%V\" is shorter "
                  "than its pprof_max_seconds %ui plus %ui seconds for Go to "
                  "send the profile: the longest captures would end in 504; "
                  "set proxy_read_timeout to %uis or more, or lower "
                  "pprof_max_seconds", *timeout, &clcf->name,
                  conf->max_seconds,
                  (ngx_uint_t) PPROF_CAPTURE_READ_MARGIN,
                  (ngx_uint_t) (need / 1000));

    return NGX_CONF_ERROR;
}


/*
 * Where roles are defined, a location without "pprof on" that proxies
 * the profiles serves them unchecked: its proxy_pass names the pprof
 * prefix itself, or the location's own path lies under it.  Another
 * server's "pprof on" does not guard this one.
 */
static void
ngx_http_pprof_check_unguarded_pass(ngx_conf_t *cf,
    ngx_http_pprof_loc_conf_t *conf)
{
    pprof_str_t                  url, location, prefix;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_pprof_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_pprof_module);
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (pmcf->policy_at.file == NULL || conf->proxy_pass.data == NULL
        || clcf->noname)
    {
        return;
    }

    url.data = conf->proxy_pass.data;
    url.len = conf->proxy_pass.len;
    prefix.data = conf->prefix.data;
    prefix.len = conf->prefix.len;

    if (pprof_proxy_pass_names_prefix(url, prefix)) {
        ngx_http_pprof_conf_log(NGX_LOG_WARN, cf, &conf->proxy_pass_at,
                      "location \"%V\" has no \"pprof on\" but its "
                      "proxy_pass \"%V\" sends requests to pprof_prefix "
                      "\"%V\": the roles (first in %s:%ui) do not guard "
                      "it; add \"pprof on\" to it",
                      &clcf->name, &conf->proxy_pass, &conf->prefix,
                      pmcf->policy_at.file, pmcf->policy_at.line);
        return;
    }

    location.data = clcf->name.data;
    location.len = clcf->name.len;

    if (clcf->named
#if (NGX_PCRE)
        || clcf->regex
#endif
        || !pprof_location_under_prefix(location, clcf->exact_match, prefix))
    {
        return;
    }

    ngx_http_pprof_conf_log(NGX_LOG_WARN, cf, &conf->proxy_pass_at,
                  "location \"%V\" is under pprof_prefix \"%V\" and has "
                  "a proxy_pass but no \"pprof on\": the roles (first in "
                  "%s:%ui) do not guard it; add \"pprof on\" to it",
                  &clcf->name, &conf->prefix,
                  pmcf->policy_at.file, pmcf->policy_at.line);
}


/* After every merge: roles and binds that no location puts to use. */
void
ngx_http_pprof_check_unguarded(ngx_conf_t *cf)
{
    ngx_http_pprof_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_pprof_module);

    if (pmcf->policy_at.file == NULL || pmcf->guarded) {
        return;
    }

    ngx_http_pprof_conf_log(NGX_LOG_WARN, cf, &pmcf->policy_at,
                  "pprof_role or pprof_bind is set but no location has "
                  "\"pprof on\" or \"pprof_authz\": they guard nothing, "
                  "and a plain proxy_pass leaves the profiles open; add "
                  "\"pprof on\" to the location that proxies them");
}
