/*
 * ngx_http_pprof_module: directives, configuration and its merge, module
 * registration.  Decisions live in policy/, auth/ and proxy/.
 */

#include "ngx_http_pprof_module.h"


static ngx_int_t ngx_http_pprof_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_pprof_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_pprof_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_pprof_init_main_conf(ngx_conf_t *cf, void *conf);
static void ngx_http_pprof_exit_process(ngx_cycle_t *cycle);
static void ngx_http_pprof_exit_master(ngx_cycle_t *cycle);
static void *ngx_http_pprof_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_pprof_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_pprof_merge_list(ngx_conf_t *cf, ngx_array_t **conf,
    ngx_array_t *prev, size_t size);
static void ngx_http_pprof_pipeline_conf(ngx_http_pprof_loc_conf_t *conf);
static char *ngx_http_pprof_check_binds(ngx_conf_t *cf,
    ngx_http_pprof_loc_conf_t *conf);
static void ngx_http_pprof_merge_capture(ngx_http_pprof_loc_conf_t *conf,
    ngx_http_pprof_loc_conf_t *prev);
static char *ngx_http_pprof_zone_key(ngx_conf_t *cf,
    ngx_http_pprof_loc_conf_t *conf);

static char *ngx_http_pprof_enable(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_pprof_prefix(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_pprof_cidrs(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_pprof_role(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_pprof_bind(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_pprof_bind_cleanup(void *data);


static ngx_conf_enum_t  ngx_http_pprof_tls_modes[] = {
    { ngx_string("required"), PPROF_TLS_MODE_REQUIRED },
    { ngx_string("redirect"), PPROF_TLS_MODE_REDIRECT },
    { ngx_string("off"), PPROF_TLS_MODE_OFF },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_pprof_authz_modes[] = {
    { ngx_string("envoy"), PPROF_AUTHZ_ENVOY },
    { ngx_string("forward"), PPROF_AUTHZ_FORWARD },
    { ngx_string("original"), PPROF_AUTHZ_ORIGINAL },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_pprof_shared_failures[] = {
    { ngx_string("closed"), 0 },
    { ngx_string("open"), 1 },
    { ngx_null_string, 0 }
};


/* As limit_req_log_level: the levels a client's doing may be logged at. */
static ngx_conf_enum_t  ngx_http_pprof_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_pprof_max_seconds_bounds = {
    ngx_conf_check_num_bounds, 1, PPROF_MAX_SECONDS_LIMIT
};


static ngx_conf_num_bounds_t  ngx_http_pprof_concurrency_bounds = {
    ngx_conf_check_num_bounds, 1, 64
};


static ngx_conf_num_bounds_t  ngx_http_pprof_checkpoint_bounds = {
    ngx_conf_check_num_bounds, 1, 1000000
};


static ngx_command_t  ngx_http_pprof_commands[] = {

    { ngx_string("pprof"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_pprof_enable,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, enable),
      NULL },

    { ngx_string("pprof_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_pprof_prefix,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, prefix),
      NULL },

    { ngx_string("pprof_tls"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, tls),
      &ngx_http_pprof_tls_modes },

    { ngx_string("pprof_allow"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_pprof_cidrs,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, allow),
      NULL },

    { ngx_string("pprof_trusted_proxies"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_pprof_cidrs,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, trusted_proxies),
      NULL },

    { ngx_string("pprof_authz"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_pprof_authz,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, authz),
      &ngx_http_pprof_authz_modes },

    { ngx_string("pprof_authz_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_pprof_authz_prefix,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, authz_prefix),
      NULL },

    { ngx_string("pprof_identity"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_pprof_identity,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pprof_jwt_keys"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_pprof_jwt_keys,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pprof_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, jwt_leeway),
      NULL },

    { ngx_string("pprof_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, jwt_issuer),
      NULL },

    { ngx_string("pprof_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, jwt_audience),
      NULL },

    { ngx_string("pprof_jwt_identity_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, jwt_identity_claim),
      NULL },

    { ngx_string("pprof_jwt_roles_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, jwt_roles_claim),
      NULL },

    { ngx_string("pprof_api_keys"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_pprof_api_keys,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pprof_role"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_pprof_role,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pprof_bind"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_pprof_bind,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pprof_max_seconds"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, max_seconds),
      &ngx_http_pprof_max_seconds_bounds },

    { ngx_string("pprof_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_pprof_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pprof_shared_state"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_pprof_shared_state,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pprof_shared_failure"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_pprof_main_conf_t, shared_failure),
      &ngx_http_pprof_shared_failures },

    { ngx_string("pprof_rate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_pprof_rate,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pprof_capture_concurrency"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, concurrency),
      &ngx_http_pprof_concurrency_bounds },

    { ngx_string("pprof_capture_budget"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE13,
      ngx_http_pprof_budget,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pprof_target"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, target),
      NULL },

    { ngx_string("pprof_audit_log"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_pprof_audit_log,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pprof_audit_required"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, audit_required),
      NULL },

    { ngx_string("pprof_audit_signing_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_pprof_audit_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pprof_audit_checkpoint"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_pprof_main_conf_t, audit_checkpoint),
      &ngx_http_pprof_checkpoint_bounds },

    { ngx_string("pprof_gateway_id"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_pprof_gateway_id,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pprof_annotate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, annotate),
      NULL },

    { ngx_string("pprof_redact"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, redact),
      NULL },

    { ngx_string("pprof_redact_pattern"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_pprof_redact_pattern,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pprof_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_pprof_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pprof_enforce"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, enforce),
      NULL },

    { ngx_string("pprof_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pprof_loc_conf_t, log_level),
      &ngx_http_pprof_log_levels },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_pprof_module_ctx = {
    ngx_http_pprof_preconfiguration,       /* preconfiguration */
    ngx_http_pprof_postconfiguration,      /* postconfiguration */

    ngx_http_pprof_create_main_conf,       /* create main configuration */
    ngx_http_pprof_init_main_conf,         /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_pprof_create_loc_conf,        /* create location configuration */
    ngx_http_pprof_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_http_pprof_module = {
    NGX_MODULE_V1,
    &ngx_http_pprof_module_ctx,            /* module context */
    ngx_http_pprof_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_pprof_exit_process,           /* exit process */
    ngx_http_pprof_exit_master,            /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_pprof_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_pprof_add_variables(cf);
}


/*
 * The handler runs in the precontent phase, after every access-phase
 * module: "satisfy any" cannot turn one of its denials into an allow, and
 * identities that auth_basic or auth_request establish are already known.
 */
static ngx_int_t
ngx_http_pprof_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_pprof_handler;

    if (ngx_http_pprof_zone_default(cf) != NGX_OK
        || ngx_http_pprof_audit_init(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_pprof_check_unguarded(cf);

    return ngx_http_pprof_filter_init(cf);
}


static void *
ngx_http_pprof_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_pprof_main_conf_t  *pmcf;

    pmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_pprof_main_conf_t));
    if (pmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     pmcf->shm_zone = NULL;
     *     pmcf->used = 0;
     *     pmcf->used_at = { NULL, 0 };
     *     pmcf->audit_key = NULL;
     *     pmcf->gateway_id = { 0, NULL };
     *     pmcf->proxy_handler = NULL;
     *     pmcf->policy_at = { NULL, 0 };
     *     pmcf->guarded = 0;
     */

    if (ngx_array_init(&pmcf->audit_logs, cf->pool, 4,
                       sizeof(ngx_http_pprof_audit_log_t))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&pmcf->budget_windows, cf->pool, 2, sizeof(uint64_t))
        != NGX_OK)
    {
        return NULL;
    }

    pmcf->audit_checkpoint = NGX_CONF_UNSET_UINT;
    pmcf->shared_failure = NGX_CONF_UNSET_UINT;

    return pmcf;
}


static char *
ngx_http_pprof_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_pprof_main_conf_t *pmcf = conf;

    ngx_conf_init_uint_value(pmcf->audit_checkpoint, 1000);
    ngx_conf_init_uint_value(pmcf->shared_failure, 0);

    /* $hostname: a sidecar's is its pod's name. */
    if (pmcf->gateway_id.data == NULL) {
        pmcf->gateway_id = cf->cycle->hostname;
    }

    return NGX_CONF_OK;
}


static void
ngx_http_pprof_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_pprof_redis_exit(cycle);
}


static void
ngx_http_pprof_exit_master(ngx_cycle_t *cycle)
{
    ngx_http_pprof_audit_shutdown(cycle);
}


static void *
ngx_http_pprof_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_pprof_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_pprof_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->prefix = { 0, NULL };
     *     conf->allow = NULL;
     *     conf->trusted_proxies = NULL;
     *     conf->identity = NULL;
     *     conf->jwt_issuer = { 0, NULL };
     *     conf->jwt_audience = { 0, NULL };
     *     conf->jwt_identity_claim = { 0, NULL };
     *     conf->jwt_roles_claim = { 0, NULL };
     *     conf->jwt = { 0 };
     *     conf->sources = NULL;
     *     conf->variables = NULL;
     *     conf->challenge = NULL;
     *     conf->rates = { 0 };
     *     conf->rates_set = 0;
     *     conf->budget = { 0 };
     *     conf->zone_key = { 0, NULL };
     *     conf->target = NULL;
     *     conf->roles = NULL;
     *     conf->binds = NULL;
     *     conf->max_held = 0;
     *     conf->proxy_pass = { 0, NULL };
     *     conf->proxy_pass_location = { 0, NULL };
     *     conf->proxy_pass_host = NULL;
     *     conf->enable_at, identity_at, proxy_pass_at, authz_at,
     *         read_timeout_at = { NULL, 0 };
     *     conf->rewrites = 0;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->authz = NGX_CONF_UNSET_UINT;
    conf->enforce = NGX_CONF_UNSET;
    conf->log_level = NGX_CONF_UNSET_UINT;
    conf->tls = NGX_CONF_UNSET_UINT;
    conf->max_seconds = NGX_CONF_UNSET_UINT;
    conf->jwt_keys = NGX_CONF_UNSET_PTR;
    conf->api_keys = NGX_CONF_UNSET_PTR;
    conf->jwt_leeway = NGX_CONF_UNSET;
    conf->concurrency = NGX_CONF_UNSET_UINT;
    conf->budget_set = NGX_CONF_UNSET;
    conf->audit_log = NGX_CONF_UNSET_PTR;
    conf->audit_required = NGX_CONF_UNSET;
    conf->annotate = NGX_CONF_UNSET;
    conf->redact = NGX_CONF_UNSET;
    conf->redact_patterns = NGX_CONF_UNSET_PTR;
    conf->redactor = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_pprof_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_pprof_loc_conf_t *prev = parent;
    ngx_http_pprof_loc_conf_t *conf = child;

    ngx_flag_t                 active;
    ngx_http_core_loc_conf_t  *clcf;

    if (conf->enable == NGX_CONF_UNSET) {
        conf->enable_at = prev->enable_at;
    }

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->enforce, prev->enforce, 1);
    ngx_conf_merge_uint_value(conf->log_level, prev->log_level, NGX_LOG_ERR);
    ngx_conf_merge_uint_value(conf->tls, prev->tls, PPROF_TLS_MODE_REQUIRED);
    ngx_conf_merge_uint_value(conf->max_seconds, prev->max_seconds,
                              PPROF_MAX_SECONDS_DEFAULT);
    ngx_conf_merge_str_value(conf->prefix, prev->prefix, "/debug/pprof/");

    /* Address lists and identity lists replace what they inherit. */
    if (conf->allow == NULL) {
        conf->allow = prev->allow;
    }

    if (conf->trusted_proxies == NULL) {
        conf->trusted_proxies = prev->trusted_proxies;
    }

    if (conf->identity == NULL) {
        conf->identity = prev->identity;
        conf->identity_at = prev->identity_at;
    }

    ngx_conf_merge_str_value(conf->authz_prefix, prev->authz_prefix, "");

    ngx_conf_merge_ptr_value(conf->jwt_keys, prev->jwt_keys, NULL);
    ngx_conf_merge_ptr_value(conf->api_keys, prev->api_keys, NULL);
    ngx_conf_merge_sec_value(conf->jwt_leeway, prev->jwt_leeway, 30);
    ngx_conf_merge_str_value(conf->jwt_issuer, prev->jwt_issuer, "");
    ngx_conf_merge_str_value(conf->jwt_audience, prev->jwt_audience, "");
    ngx_conf_merge_str_value(conf->jwt_identity_claim,
                             prev->jwt_identity_claim, "sub");
    ngx_conf_merge_str_value(conf->jwt_roles_claim, prev->jwt_roles_claim,
                             "roles");

    ngx_http_pprof_merge_capture(conf, prev);

    ngx_conf_merge_ptr_value(conf->audit_log, prev->audit_log, NULL);
    ngx_conf_merge_value(conf->audit_required, prev->audit_required, 1);
    ngx_conf_merge_value(conf->annotate, prev->annotate, 1);
    ngx_conf_merge_value(conf->redact, prev->redact, 1);

    if (ngx_http_pprof_redact_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_pprof_proxy_pass_merge(cf, prev, conf) != NGX_CONF_OK
        || ngx_http_pprof_authz_merge(cf, conf) != NGX_CONF_OK
        || ngx_http_pprof_check_merge(cf, prev, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* Where requests are judged: proxied, or a proxy's checks. */
    active = conf->enable || conf->authz != NGX_CONF_UNSET_UINT;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* An "if" or limit_except block would repeat its location's warning. */
    if (active && conf->audit_log == NULL && !clcf->noname) {
        ngx_http_pprof_conf_log(NGX_LOG_WARN, cf,
                                ngx_http_pprof_active_at(conf),
                                "a location with \"%s\" has no "
                                "pprof_audit_log: its requests leave no trail",
                                conf->enable ? "pprof on" : "pprof_authz");
    }

    if (active
        && (ngx_http_pprof_bind_sources(cf, conf) != NGX_CONF_OK
            || ngx_http_pprof_zone_key(cf, conf) != NGX_CONF_OK
            || ngx_http_pprof_budget_window(cf, conf) != NGX_CONF_OK))
    {
        return NGX_CONF_ERROR;
    }

    /* Roles and binds add to what they inherit (SPEC §6). */
    if (ngx_http_pprof_merge_list(cf, &conf->roles, prev->roles,
                                  sizeof(pprof_role_t))
        != NGX_CONF_OK
        || ngx_http_pprof_merge_list(cf, &conf->binds, prev->binds,
                                     sizeof(pprof_bind_t))
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (active && ngx_http_pprof_check_binds(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_http_pprof_pipeline_conf(conf);

    return NGX_CONF_OK;
}


/* The merged directives, as the core's pipeline reads them. */
static void
ngx_http_pprof_pipeline_conf(ngx_http_pprof_loc_conf_t *conf)
{
    pprof_pipeline_conf_t  *pc;

    pc = &conf->pipeline;

    pc->enforce = conf->enforce;
    pc->authz = (conf->authz != NGX_CONF_UNSET_UINT);
    pc->prefix.data = conf->prefix.data;
    pc->prefix.len = conf->prefix.len;
    pc->tls = conf->tls;
    pc->allow = conf->allow ? conf->allow->elts : NULL;
    pc->nallow = conf->allow ? conf->allow->nelts : 0;
    pc->trusted = conf->trusted_proxies ? conf->trusted_proxies->elts : NULL;
    pc->ntrusted = conf->trusted_proxies ? conf->trusted_proxies->nelts : 0;
    pc->binds = conf->binds ? conf->binds->elts : NULL;
    pc->nbinds = conf->binds ? conf->binds->nelts : 0;
    pc->max_held = conf->max_held;
    pc->roles = conf->roles ? conf->roles->elts : NULL;
    pc->nroles = conf->roles ? conf->roles->nelts : 0;
    pc->max_seconds = conf->max_seconds;
    ngx_memcpy(pc->rates, conf->rates, sizeof(pc->rates));
    pc->concurrency = conf->concurrency;
    pc->budget = conf->budget;
    pc->named_target = (conf->target != NULL);
}


/* Rates per class: what this level sets, else what it inherits. */
static void
ngx_http_pprof_merge_capture(ngx_http_pprof_loc_conf_t *conf,
    ngx_http_pprof_loc_conf_t *prev)
{
    ngx_uint_t  c;

    for (c = 0; c < PPROF_CLASS_COUNT; c++) {
        if (conf->rates_set & (1u << c)) {
            continue;
        }

        conf->rates[c] = (prev->rates_set & (1u << c))
                         ? prev->rates[c] : pprof_rate_default(c);
    }

    conf->rates_set |= prev->rates_set;

    ngx_conf_merge_uint_value(conf->concurrency, prev->concurrency,
                              PPROF_CONCURRENCY_DEFAULT);

    if (conf->budget_set == NGX_CONF_UNSET) {
        conf->budget = prev->budget;
        conf->budget_set = prev->budget_set;
    }

    if (conf->target == NULL) {
        conf->target = prev->target;
    }
}


/*
 * Zone state is keyed by server and location names, which survive a
 * reload; two locations of one name in servers of one name share it.
 */
static char *
ngx_http_pprof_zone_key(ngx_conf_t *cf, ngx_http_pprof_loc_conf_t *conf)
{
    u_char                      *p;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_core_srv_conf_t    *cscf;
    ngx_http_pprof_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_pprof_module);
    pmcf->used = 1;

    if (pmcf->used_at.file == NULL) {
        pmcf->used_at = *ngx_http_pprof_active_at(conf);
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);

    conf->zone_key.len = cscf->server_name.len + 1 + clcf->name.len;
    conf->zone_key.data = ngx_pnalloc(cf->pool, conf->zone_key.len);
    if (conf->zone_key.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(conf->zone_key.data, cscf->server_name.data,
                   cscf->server_name.len);
    *p++ = ' ';
    ngx_memcpy(p, clcf->name.data, clcf->name.len);

    return NGX_CONF_OK;
}


static char *
ngx_http_pprof_merge_list(ngx_conf_t *cf, ngx_array_t **conf,
    ngx_array_t *prev, size_t size)
{
    ngx_array_t  *own, *all;
    void         *p;

    own = *conf;

    if (prev == NULL || prev->nelts == 0) {
        return NGX_CONF_OK;
    }

    if (own == NULL || own->nelts == 0) {
        *conf = prev;
        return NGX_CONF_OK;
    }

    all = ngx_array_create(cf->pool, prev->nelts + own->nelts, size);
    if (all == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_array_push_n(all, prev->nelts + own->nelts);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(p, prev->elts, prev->nelts * size);
    ngx_memcpy((u_char *) p + prev->nelts * size, own->elts, own->nelts * size);

    *conf = all;

    return NGX_CONF_OK;
}


/*
 * Where pprof is on, a bind to a role nobody defined is a typo that would
 * silently grant nothing: refuse the configuration instead.
 */
static char *
ngx_http_pprof_check_binds(ngx_conf_t *cf, ngx_http_pprof_loc_conf_t *conf)
{
    size_t                     max_held, at;
    pprof_str_t                undefined;
    const pprof_bind_t        *bind;
    ngx_http_core_loc_conf_t  *clcf;

    conf->max_held = 0;

    if (conf->binds == NULL) {
        return NGX_CONF_OK;
    }

    if (pprof_policy_check_binds(conf->binds->elts, conf->binds->nelts,
                                 conf->roles ? conf->roles->elts : NULL,
                                 conf->roles ? conf->roles->nelts : 0,
                                 &max_held, &undefined, &at)
        != 0)
    {
        bind = conf->binds->elts;
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        ngx_http_pprof_conf_log(NGX_LOG_EMERG, cf, bind[at].data,
                                "pprof_bind: role \"%*s\" is bound but never "
                                "defined by pprof_role where location "
                                "\"%V\" sees it", undefined.len,
                                undefined.data, &clcf->name);
        return NGX_CONF_ERROR;
    }

    conf->max_held = max_held;

    return NGX_CONF_OK;
}


static char *
ngx_http_pprof_enable(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_loc_conf_t *plcf = conf;

    char  *rv;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);

    if (rv == NGX_CONF_OK) {
        ngx_http_pprof_where(cf, &plcf->enable_at);
    }

    return rv;
}


static char *
ngx_http_pprof_prefix(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_loc_conf_t *plcf = conf;

    ngx_str_t  *value;

    if (plcf->prefix.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len < 2 || value[1].data[0] != '/'
        || value[1].data[value[1].len - 1] != '/')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_prefix \"%V\" must start and end with \"/\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    plcf->prefix = value[1];

    return NGX_CONF_OK;
}


/* pprof_allow and pprof_trusted_proxies: CIDR lists, "all" included. */
static char *
ngx_http_pprof_cidrs(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_array_t  **list = (ngx_array_t **) ((char *) conf + cmd->offset);

    ngx_str_t     *value;
    ngx_uint_t     i;
    const char    *err;
    pprof_str_t    text;
    pprof_cidr_t  *cidr;

    if (*list == NULL) {
        *list = ngx_array_create(cf->pool, 4, sizeof(pprof_cidr_t));
        if (*list == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        cidr = ngx_array_push(*list);
        if (cidr == NULL) {
            return NGX_CONF_ERROR;
        }

        text.data = value[i].data;
        text.len = value[i].len;

        if (pprof_cidr_parse(text, cidr, &err) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V: \"%V\" %s",
                               &cmd->name, &value[i], err);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_pprof_role(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_loc_conf_t *plcf = conf;

    ngx_str_t      *value;
    ngx_uint_t      i;
    pprof_str_t     word, *ep;
    pprof_role_t   *role;
    pprof_class_t   cls;
    ngx_array_t    *endpoints;

    ngx_http_pprof_note_policy(cf);

    value = cf->args->elts;

    word.data = value[1].data;
    word.len = value[1].len;

    if (pprof_permission_parse(word, &cls) != -1) {
        /* A role called "capture" would read as a grant everywhere. */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_role: \"%V\" is a class or endpoint name, "
                           "not a role name", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (!pprof_role_name_valid(word)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_role: \"%V\" is not a role name: roles "
                           "travel comma-separated in X-Pprof-Roles and "
                           "$pprof_roles, so printable ASCII without space, "
                           "comma, quote or backslash", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (plcf->roles == NULL) {
        plcf->roles = ngx_array_create(cf->pool, 4, sizeof(pprof_role_t));
        if (plcf->roles == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    role = plcf->roles->elts;

    for (i = 0; i < plcf->roles->nelts; i++) {
        if (role[i].name.len == word.len
            && ngx_memcmp(role[i].name.data, word.data, word.len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "pprof_role: \"%V\" is defined twice here",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    endpoints = ngx_array_create(cf->pool, cf->args->nelts,
                                 sizeof(pprof_str_t));
    role = ngx_array_push(plcf->roles);
    if (endpoints == NULL || role == NULL) {
        return NGX_CONF_ERROR;
    }

    role->name = word;
    role->classes = 0;

    for (i = 2; i < cf->args->nelts; i++) {
        word.data = value[i].data;
        word.len = value[i].len;

        switch (pprof_permission_parse(word, &cls)) {

        case 1:
            role->classes |= 1u << cls;
            break;

        case 0:
            ep = ngx_array_push(endpoints);
            if (ep == NULL) {
                return NGX_CONF_ERROR;
            }
            *ep = word;
            break;

        default:
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "pprof_role: unknown class or endpoint \"%V\" "
                               "(classes: index cmdline symbol snapshot "
                               "capture)", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    role->endpoints = endpoints->elts;
    role->nendpoints = endpoints->nelts;

    return NGX_CONF_OK;
}


static char *
ngx_http_pprof_bind(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_loc_conf_t *plcf = conf;

    u_char               err[NGX_MAX_CONF_ERRSTR];
    ngx_str_t           *value;
    ngx_uint_t           i;
    const char          *msg;
    pprof_str_t          pattern, word, *roles;
    pprof_bind_t        *bind;
    ngx_pool_cleanup_t  *cln;

    ngx_http_pprof_note_policy(cf);

    value = cf->args->elts;

    if (plcf->binds == NULL) {
        plcf->binds = ngx_array_create(cf->pool, 4, sizeof(pprof_bind_t));
        if (plcf->binds == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    bind = ngx_array_push(plcf->binds);
    roles = ngx_palloc(cf->pool, (cf->args->nelts - 2) * sizeof(pprof_str_t));
    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (bind == NULL || roles == NULL || cln == NULL) {
        return NGX_CONF_ERROR;
    }

    pattern.data = value[1].data;
    pattern.len = value[1].len;

    if (pprof_bind_compile(bind, pattern, (char *) err, sizeof(err)) != 0) {
        plcf->binds->nelts--;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_bind: bad pattern \"%V\": %s",
                           &value[1], err);
        return NGX_CONF_ERROR;
    }

    /* The array may move as it grows: free the compiled pattern by value. */
    cln->data = ngx_palloc(cf->pool, sizeof(pprof_bind_t));
    if (cln->data == NULL) {
        pprof_bind_free(bind);
        return NGX_CONF_ERROR;
    }
    ngx_memcpy(cln->data, bind, sizeof(pprof_bind_t));
    cln->handler = ngx_http_pprof_bind_cleanup;

    if (!pprof_bind_is_anchored(bind)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "pprof_bind: regex \"%V\" is not anchored with "
                           "\"^\" and matches anywhere in an identity",
                           &value[1]);
    }

    bind->data = ngx_palloc(cf->pool, sizeof(ngx_http_pprof_where_t));
    if (bind->data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_http_pprof_where(cf, bind->data);

    bind->roles = roles;
    bind->nroles = 0;

    for (i = 2; i < cf->args->nelts; i++) {
        word.data = value[i].data;
        word.len = value[i].len;

        if (word.len < sizeof("source=") - 1
            || ngx_strncmp(word.data, "source=", sizeof("source=") - 1) != 0)
        {
            roles[bind->nroles++] = word;
            continue;
        }

        word.data += sizeof("source=") - 1;
        word.len -= sizeof("source=") - 1;

        if (pprof_bind_source_add(bind, word, &msg) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "pprof_bind: \"%V\" %s", &value[i], msg);
            return NGX_CONF_ERROR;
        }
    }

    if (bind->nroles == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pprof_bind: \"%V\" is bound to no role",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void
ngx_http_pprof_bind_cleanup(void *data)
{
    pprof_bind_free(data);
}
