/*
 * $pprof_* variables (SPEC §11): what the module decided, for access logs,
 * maps and headers.  Empty ("not found") where the module did not run.
 */

#include "ngx_http_pprof_module.h"


enum {
    NGX_HTTP_PPROF_VAR_IDENTITY = 0,
    NGX_HTTP_PPROF_VAR_ROLES,
    NGX_HTTP_PPROF_VAR_ENDPOINT,
    NGX_HTTP_PPROF_VAR_CLASS,
    NGX_HTTP_PPROF_VAR_DECISION,
    NGX_HTTP_PPROF_VAR_REASON,
    NGX_HTTP_PPROF_VAR_AUDIT_ID
};


static ngx_int_t ngx_http_pprof_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_pprof_roles_value(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_http_variable_value_t *v);


static ngx_http_variable_t  ngx_http_pprof_vars[] = {

    { ngx_string("pprof_identity"), NULL, ngx_http_pprof_variable,
      NGX_HTTP_PPROF_VAR_IDENTITY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("pprof_roles"), NULL, ngx_http_pprof_variable,
      NGX_HTTP_PPROF_VAR_ROLES, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("pprof_endpoint"), NULL, ngx_http_pprof_variable,
      NGX_HTTP_PPROF_VAR_ENDPOINT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("pprof_class"), NULL, ngx_http_pprof_variable,
      NGX_HTTP_PPROF_VAR_CLASS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("pprof_decision"), NULL, ngx_http_pprof_variable,
      NGX_HTTP_PPROF_VAR_DECISION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("pprof_reason"), NULL, ngx_http_pprof_variable,
      NGX_HTTP_PPROF_VAR_REASON, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("pprof_audit_id"), NULL, ngx_http_pprof_variable,
      NGX_HTTP_PPROF_VAR_AUDIT_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_pprof_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_pprof_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_pprof_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    const char            *s;
    ngx_http_pprof_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_pprof_module);
    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    switch (data) {

    case NGX_HTTP_PPROF_VAR_IDENTITY:
        v->data = ctx->auth.identity;
        v->len = ctx->auth.identity_len;
        return NGX_OK;

    case NGX_HTTP_PPROF_VAR_ROLES:
        return ngx_http_pprof_roles_value(r, ctx, v);

    case NGX_HTTP_PPROF_VAR_ENDPOINT:
        v->data = (u_char *) ctx->decision.endpoint.name.data;
        v->len = ctx->decision.endpoint.name.len;
        return NGX_OK;

    case NGX_HTTP_PPROF_VAR_CLASS:
        s = pprof_class_name(ctx->decision.endpoint.cls);
        break;

    case NGX_HTTP_PPROF_VAR_DECISION:
        s = ctx->decision.reason == PPROF_OK ? "allow" : "deny";
        break;

    case NGX_HTTP_PPROF_VAR_REASON:
        s = pprof_reason_name(ctx->decision.reason);
        break;

    default: /* NGX_HTTP_PPROF_VAR_AUDIT_ID */
        s = ctx->audit_id;
        break;
    }

    v->data = (u_char *) s;
    v->len = ngx_strlen(s);

    return NGX_OK;
}


static ngx_int_t
ngx_http_pprof_roles_value(ngx_http_request_t *r, ngx_http_pprof_ctx_t *ctx,
    ngx_http_variable_value_t *v)
{
    u_char  *p;
    size_t   i, len;

    len = 0;
    for (i = 0; i < ctx->decision.nheld; i++) {
        len += ctx->decision.held[i].len + 1;
    }

    if (len == 0) {
        v->len = 0;
        v->data = (u_char *) "";
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    for (i = 0; i < ctx->decision.nheld; i++) {
        if (i) {
            *p++ = ',';
        }
        p = ngx_cpymem(p, ctx->decision.held[i].data,
                       ctx->decision.held[i].len);
    }

    v->len = p - v->data;

    return NGX_OK;
}


/* $upstream_addr, for the audit record and the profile's comments. */
ngx_http_variable_value_t *
ngx_http_pprof_upstream_addr(ngx_http_request_t *r)
{
    static ngx_str_t  name = ngx_string("upstream_addr");

    ngx_http_variable_value_t  *vv;

    vv = ngx_http_get_variable(r, &name, ngx_hash_key(name.data, name.len));

    return (vv && !vv->not_found) ? vv : NULL;
}
