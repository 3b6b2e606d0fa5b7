/*
 * proxy_pass as the module sees it (SPEC §4).  The proxy module's location
 * configuration is opaque and differs between nginx versions, so the
 * directive's argument is read on its way in: this second module of the
 * .so is loaded before ngx_http_proxy_module, so nginx offers it each
 * proxy_pass first.  It records the argument and hands the directive on
 * to the proxy module unchanged.  proxy/ judges what was recorded.
 * proxy_read_timeout is read the same way, to know where one was written,
 * and rewrite, to know which locations change the URI before the module
 * judges it: this module is loaded before ngx_http_rewrite_module too.
 */

#include "ngx_http_pprof_module.h"


static ngx_int_t ngx_http_pprof_proxy_pass_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_pprof_proxy_pass_postconfiguration(ngx_conf_t *cf);
static char *ngx_http_pprof_proxy_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_pprof_proxy_read_timeout(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_pprof_rewrite(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_pprof_hand_on(ngx_conf_t *cf, ngx_command_t *cmd);


static ngx_command_t  ngx_http_pprof_proxy_pass_commands[] = {

    /* Their modules' types, copied over these at preconfiguration. */
    { ngx_string("proxy_pass"),
      NGX_HTTP_LOC_CONF|NGX_HTTP_LIF_CONF|NGX_HTTP_LMT_CONF|NGX_CONF_TAKE1,
      ngx_http_pprof_proxy_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("proxy_read_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_pprof_proxy_read_timeout,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("rewrite"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_SIF_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LIF_CONF
                       |NGX_CONF_TAKE23,
      ngx_http_pprof_rewrite,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_pprof_proxy_pass_module_ctx = {
    ngx_http_pprof_proxy_pass_preconfiguration, /* preconfiguration */
    ngx_http_pprof_proxy_pass_postconfiguration, /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_pprof_proxy_pass_module = {
    NGX_MODULE_V1,
    &ngx_http_pprof_proxy_pass_module_ctx, /* module context */
    ngx_http_pprof_proxy_pass_commands,    /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * Loaded after the proxy module, this module would never see a proxy_pass
 * and every spelling would pass unchecked: refuse to start instead.
 * Before it, it sees a proxy_pass only in the contexts its command's type
 * names; any other goes straight to the proxy module.  The type is
 * therefore the proxy module's own, whatever contexts a version adds.
 */
static ngx_int_t
ngx_http_pprof_proxy_pass_preconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t      i;
    ngx_module_t   *m;
    ngx_command_t  *c, *own, *next;

    for (i = 0; cf->cycle->modules[i]; i++) {

        if (cf->cycle->modules[i] == &ngx_http_pprof_proxy_pass_module) {
            break;
        }

        if (ngx_strcmp(cf->cycle->modules[i]->name, "ngx_http_proxy_module")
            == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ngx_http_pprof_proxy_pass_module is loaded "
                               "after ngx_http_proxy_module and cannot check "
                               "proxy_pass; build the module with its "
                               "\"config\" script");
            return NGX_ERROR;
        }
    }

    own = ngx_http_pprof_proxy_pass_commands;

    while (own->name.len) {
        c = ngx_http_pprof_owner_command(cf->cycle,
                                         (char *) own->name.data, &m);
        if (c != NULL) {
            own->type = c->type;
            own++;
            continue;
        }

        /*
         * An nginx built without the directive's module: dropped, nginx
         * says "unknown directive" as it would without this module.
         */
        for (next = own; next->name.len; next++) {
            next[0] = next[1];
        }
    }

    return NGX_OK;
}


/*
 * The directive of that name that nginx would have used without this
 * module: the next HTTP module's that has it (the stream proxy module
 * has a proxy_pass too).
 */
ngx_command_t *
ngx_http_pprof_owner_command(ngx_cycle_t *cycle, char *name,
    ngx_module_t **module)
{
    ngx_uint_t      i;
    ngx_module_t   *m;
    ngx_command_t  *c;

    for (i = 0; cycle->modules[i]; i++) {
        m = cycle->modules[i];

        if (m == &ngx_http_pprof_proxy_pass_module || m->commands == NULL
            || m->type != NGX_HTTP_MODULE)
        {
            continue;
        }

        for (c = m->commands; c->name.len; c++) {
            if (c->name.len == ngx_strlen(name)
                && ngx_strcmp(c->name.data, name) == 0)
            {
                *module = m;
                return c;
            }
        }
    }

    return NULL;
}


/* $request_uri is cached once read: forwarding must be able to reset it. */
static ngx_int_t
ngx_http_pprof_proxy_pass_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_pprof_main_conf_t  *pmcf;

    static ngx_str_t  request_uri = ngx_string("request_uri");

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_pprof_module);

    pmcf->request_uri = ngx_http_get_variable_index(cf, &request_uri);
    if (pmcf->request_uri == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static char *
ngx_http_pprof_proxy_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                        *rv;
    ngx_str_t                   *value;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_pprof_loc_conf_t   *plcf;
    ngx_http_pprof_main_conf_t  *pmcf;

    plcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_pprof_module);
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    value = cf->args->elts;

    /* a limit_except block's clcf->name is its location's */
    plcf->proxy_pass = value[1];
    plcf->proxy_pass_location = clcf->name;
    ngx_http_pprof_where(cf, &plcf->proxy_pass_at);

    rv = ngx_http_pprof_hand_on(cf, cmd);

    /* "pprof on" needs this content handler, and no other. */
    if (rv == NGX_CONF_OK) {
        pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_pprof_module);
        pmcf->proxy_handler = clcf->handler;
    }

    return rv;
}


static char *
ngx_http_pprof_proxy_read_timeout(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_pprof_loc_conf_t  *plcf;

    /*
     * Written at http or server level, it applies to every location
     * below: it is recorded in that level's configuration and inherited
     * at merge, so that a location sees whether any level wrote one.
     */
    plcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_pprof_module);

    ngx_http_pprof_where(cf, &plcf->read_timeout_at);

    return ngx_http_pprof_hand_on(cf, cmd);
}


/*
 * Recorded at the level it was written, and not inherited: a location's
 * own, or one in its "if" blocks, may bring any path under the prefix
 * after the location was chosen.  One in a server runs before, so the
 * location chosen sees the rewritten path as its own: it is not read.
 */
static char *
ngx_http_pprof_rewrite(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_loc_conf_t  *plcf;

    plcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_pprof_module);
    plcf->rewrites = 1;

    return ngx_http_pprof_hand_on(cf, cmd);
}


/*
 * The directive as ngx_conf_handler() would have given its owner, the
 * proxy or the rewrite module.
 */
static char *
ngx_http_pprof_hand_on(ngx_conf_t *cf, ngx_command_t *cmd)
{
    void           **confp;
    ngx_module_t    *m;
    ngx_command_t   *c;

    c = ngx_http_pprof_owner_command(cf->cycle, (char *) cmd->name.data, &m);
    if (c == NULL) {
        return "is handled by no module";
    }

    confp = *(void **) ((char *) cf->ctx + c->conf);

    return c->set(cf, c, confp ? confp[m->ctx_index] : NULL);
}


/*
 * Merged with pprof_prefix known.  An "if" or limit_except block without
 * its own proxy_pass proxies with its location's.
 */
char *
ngx_http_pprof_proxy_pass_merge(ngx_conf_t *cf,
    ngx_http_pprof_loc_conf_t *prev, ngx_http_pprof_loc_conf_t *conf)
{
    const char                        *why;
    pprof_str_t                        url, location, prefix, host;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_compile_complex_value_t   ccv;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (conf->proxy_pass.data == NULL && clcf->noname) {
        conf->proxy_pass = prev->proxy_pass;
        conf->proxy_pass_location = prev->proxy_pass_location;
        conf->proxy_pass_host = prev->proxy_pass_host;
        conf->proxy_pass_at = prev->proxy_pass_at;
        return NGX_CONF_OK;
    }

    if (!conf->enable || conf->proxy_pass.data == NULL) {
        return NGX_CONF_OK;
    }

    url.data = conf->proxy_pass.data;
    url.len = conf->proxy_pass.len;
    location.data = conf->proxy_pass_location.data;
    location.len = conf->proxy_pass_location.len;
    prefix.data = conf->prefix.data;
    prefix.len = conf->prefix.len;

    if (pprof_proxy_pass_check(url, location, prefix, &host, &why) != 0) {
        ngx_http_pprof_conf_log(NGX_LOG_EMERG, cf, &conf->proxy_pass_at,
                                "proxy_pass \"%V\" in a location with "
                                "\"pprof on\" %s", &conf->proxy_pass, why);
        return NGX_CONF_ERROR;
    }

    if (host.len == 0) {
        return NGX_CONF_OK;
    }

    conf->proxy_pass_host = ngx_palloc(cf->pool,
                                       sizeof(ngx_http_complex_value_t));
    if (conf->proxy_pass_host == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = ngx_pcalloc(cf->pool, sizeof(ngx_str_t));
    if (ccv.value == NULL) {
        return NGX_CONF_ERROR;
    }

    ccv.value->data = conf->proxy_pass.data;     /* host is its start */
    ccv.value->len = host.len;
    ccv.complex_value = conf->proxy_pass_host;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* A variable host that holds a path or query would send that instead. */
pprof_reason_t
ngx_http_pprof_proxy_pass_host(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf)
{
    ngx_str_t    value;
    pprof_str_t  host;

    if (plcf->proxy_pass_host == NULL) {
        return PPROF_OK;
    }

    if (ngx_http_complex_value(r, plcf->proxy_pass_host, &value) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: the host of proxy_pass \"%V\" "
                      "could not be evaluated", &plcf->proxy_pass);
        return PPROF_INTERNAL_ERROR;
    }

    host.data = value.data;
    host.len = value.len;

    if (!pprof_proxy_pass_host_ok(host)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: the host of proxy_pass \"%V\" "
                      "is \"%*s\", which holds more than a scheme and host: "
                      "the target would not receive the canonical request",
                      &plcf->proxy_pass, ngx_min(value.len, 256), value.data);
        return PPROF_INTERNAL_ERROR;
    }

    return PPROF_OK;
}
