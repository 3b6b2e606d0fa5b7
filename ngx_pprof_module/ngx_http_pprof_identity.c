/*
 * Identity sources in nginx: the pprof_identity, pprof_jwt_keys and
 * pprof_api_keys directives, binding sources to the keys of their level,
 * and gathering what a request offers for auth/ to judge.
 */

#include "ngx_http_pprof_module.h"

#if (NGX_HTTP_SSL)
#include <openssl/ssl.h>
#endif


typedef void *(*ngx_http_pprof_load_pt)(ngx_conf_t *cf, const char *path,
    char *err, size_t errlen);

static char *ngx_http_pprof_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void **slot, ngx_http_pprof_load_pt load, ngx_pool_cleanup_pt free);
static void *ngx_http_pprof_load_jwt_keys(ngx_conf_t *cf, const char *path,
    char *err, size_t errlen);
static void *ngx_http_pprof_load_api_keys(ngx_conf_t *cf, const char *path,
    char *err, size_t errlen);
static void ngx_http_pprof_jwt_keys_cleanup(void *data);
static void ngx_http_pprof_api_keys_cleanup(void *data);
static pprof_reason_t ngx_http_pprof_xfcc(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, pprof_auth_input_t *input);
static void ngx_http_pprof_check_tls(ngx_conf_t *cf,
    ngx_http_pprof_loc_conf_t *conf, ngx_str_t *header);
static const char *ngx_http_pprof_no_cert(ngx_http_request_t *r);


static ngx_str_t  ngx_http_pprof_xfcc_name =
    ngx_string("X-Forwarded-Client-Cert");


char *
ngx_http_pprof_identity(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_loc_conf_t *plcf = conf;

    ngx_str_t            *value, *word;
    ngx_uint_t            i, j;
    const char           *err;
    pprof_str_t           w;
    pprof_auth_source_t   src;

    if (plcf->identity) {
        return "is duplicate";
    }

    plcf->identity = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                      sizeof(ngx_str_t));
    if (plcf->identity == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_http_pprof_where(cf, &plcf->identity_at);

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        w.data = value[i].data;
        w.len = value[i].len;

        if (pprof_auth_source_parse(w, &src, &err) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "pprof_identity: \"%V\" %s", &value[i], err);
            return NGX_CONF_ERROR;
        }

        for (j = 1; j < i; j++) {
            if (value[j].len == value[i].len
                && ngx_strncmp(value[j].data, value[i].data, value[i].len)
                   == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "pprof_identity: \"%V\" is listed twice",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        word = ngx_array_push(plcf->identity);
        if (word == NULL) {
            return NGX_CONF_ERROR;
        }

        *word = value[i];
    }

    return NGX_CONF_OK;
}


/*
 * Key files are read here, at configuration time: a reload reads them
 * anew, and the old workers keep their keys until their requests end.
 */
char *
ngx_http_pprof_jwt_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_loc_conf_t *plcf = conf;

    return ngx_http_pprof_key_file(cf, cmd, (void **) &plcf->jwt_keys,
                                   ngx_http_pprof_load_jwt_keys,
                                   ngx_http_pprof_jwt_keys_cleanup);
}


char *
ngx_http_pprof_api_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pprof_loc_conf_t *plcf = conf;

    return ngx_http_pprof_key_file(cf, cmd, (void **) &plcf->api_keys,
                                   ngx_http_pprof_load_api_keys,
                                   ngx_http_pprof_api_keys_cleanup);
}


static char *
ngx_http_pprof_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void **slot,
    ngx_http_pprof_load_pt load, ngx_pool_cleanup_pt free)
{
    char                 err[256];
    void                *keys;
    ngx_str_t           *value, path;
    ngx_pool_cleanup_t  *cln;

    if (*slot != NGX_CONF_UNSET_PTR) {
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

    keys = load(cf, (char *) path.data, err, sizeof(err));
    if (keys == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V: \"%V\": %s",
                           &cmd->name, &path, err);
        return NGX_CONF_ERROR;
    }

    cln->handler = free;
    cln->data = keys;

    *slot = keys;

    return NGX_CONF_OK;
}


static void *
ngx_http_pprof_load_jwt_keys(ngx_conf_t *cf, const char *path, char *err,
    size_t errlen)
{
    size_t             skipped;
    pprof_jwt_keys_t  *keys;

    keys = pprof_jwt_keys_load(path, &skipped, err, errlen);

    if (keys && skipped) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "pprof_jwt_keys: skipped %uz key(s) of a type or "
                           "use that cannot verify tokens here", skipped);
    }

    return keys;
}


static void *
ngx_http_pprof_load_api_keys(ngx_conf_t *cf, const char *path, char *err,
    size_t errlen)
{
    pprof_apikeys_t  *keys;

    keys = pprof_apikeys_load(path, err, errlen);

    if (keys && pprof_apikeys_count(keys) == 0) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "pprof_api_keys: \"%s\" holds no key", path);
    }

    return keys;
}


static void
ngx_http_pprof_jwt_keys_cleanup(void *data)
{
    pprof_jwt_keys_free(data);
}


static void
ngx_http_pprof_api_keys_cleanup(void *data)
{
    pprof_apikeys_free(data);
}


/*
 * Where pprof is on: the source words become sources that point at this
 * level's keys and variables.  A source without its keys fails nginx -t.
 */
char *
ngx_http_pprof_bind_sources(ngx_conf_t *cf, ngx_http_pprof_loc_conf_t *conf)
{
    ngx_str_t             *word, *header, name, cert = ngx_string("cert");
    ngx_uint_t             i, n;
    ngx_int_t             *index;
    const char            *err;
    pprof_str_t            w;
    pprof_auth_source_t   *src;

    word = conf->identity ? conf->identity->elts : &cert;
    n = conf->identity ? conf->identity->nelts : 1;

    conf->sources = ngx_array_create(cf->pool, n, sizeof(pprof_auth_source_t));
    conf->variables = ngx_array_create(cf->pool, 1, sizeof(ngx_int_t));
    if (conf->sources == NULL || conf->variables == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->jwt.keys = conf->jwt_keys;
    conf->jwt.leeway = conf->jwt_leeway;
    conf->jwt.issuer.data = conf->jwt_issuer.data;
    conf->jwt.issuer.len = conf->jwt_issuer.len;
    conf->jwt.audience.data = conf->jwt_audience.data;
    conf->jwt.audience.len = conf->jwt_audience.len;
    conf->jwt.identity_claim.data = conf->jwt_identity_claim.data;
    conf->jwt.identity_claim.len = conf->jwt_identity_claim.len;
    conf->jwt.roles_claim.data = conf->jwt_roles_claim.data;
    conf->jwt.roles_claim.len = conf->jwt_roles_claim.len;

    header = NULL;

    for (i = 0; i < n; i++) {
        src = ngx_array_push(conf->sources);
        if (src == NULL) {
            return NGX_CONF_ERROR;
        }

        w.data = word[i].data;
        w.len = word[i].len;

        if (pprof_auth_source_parse(w, src, &err) != 0) {
            return NGX_CONF_ERROR;          /* refused by the directive */
        }

        switch (src->method) {

        case PPROF_AUTH_JWT:
            if (conf->jwt_keys == NULL) {
                ngx_http_pprof_conf_log(NGX_LOG_EMERG, cf, &conf->identity_at,
                                        "pprof_identity jwt needs "
                                        "pprof_jwt_keys");
                return NGX_CONF_ERROR;
            }

            if (pprof_jwt_conf_check(&conf->jwt, &err) != 0) {
                ngx_http_pprof_conf_log(NGX_LOG_EMERG, cf, &conf->identity_at,
                                        "pprof_jwt_identity_claim, "
                                        "pprof_jwt_roles_claim: %s, for "
                                        "pprof_identity jwt", err);
                return NGX_CONF_ERROR;
            }
            src->jwt = &conf->jwt;
            header = &word[i];
            break;

        case PPROF_AUTH_APIKEY:
            if (conf->api_keys == NULL) {
                ngx_http_pprof_conf_log(NGX_LOG_EMERG, cf, &conf->identity_at,
                                        "pprof_identity apikey needs "
                                        "pprof_api_keys");
                return NGX_CONF_ERROR;
            }
            src->apikeys = conf->api_keys;
            header = &word[i];
            break;

        case PPROF_AUTH_VARIABLE:
            name.data = word[i].data + 1;
            name.len = word[i].len - 1;

            index = ngx_array_push(conf->variables);
            if (index == NULL) {
                return NGX_CONF_ERROR;
            }

            *index = ngx_http_get_variable_index(cf, &name);
            if (*index == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            src->variable = conf->variables->nelts - 1;
            break;

        default:
            break;
        }
    }

    conf->challenge = pprof_auth_challenge(conf->sources->elts,
                                           conf->sources->nelts);

    ngx_http_pprof_check_tls(cf, conf, header);

    return NGX_CONF_OK;
}


/*
 * With several servers on one address, the handshake follows the name the
 * client sends (SNI): each server is checked for its own ssl_verify_client,
 * which the SSL module, merged before this one, has already merged.
 */
static void
ngx_http_pprof_check_tls(ngx_conf_t *cf, ngx_http_pprof_loc_conf_t *conf,
    ngx_str_t *header)
{
    ngx_uint_t                 tls;
    pprof_tls_verify_t         verify;
    ngx_http_core_loc_conf_t  *clcf;
#if (NGX_HTTP_SSL)
    ngx_http_ssl_srv_conf_t   *sscf;
#endif

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* An "if" or limit_except block would repeat its location's warning. */
    if (clcf->noname) {
        return;
    }

#if (NGX_HTTP_SSL)
    sscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_ssl_module);

    tls = (sscf->certificates != NULL);
    verify = (sscf->verify == 0) ? PPROF_TLS_VERIFY_OFF
             : (sscf->verify == 1) ? PPROF_TLS_VERIFY_ON
             : PPROF_TLS_VERIFY_OPTIONAL;
#else
    tls = 0;
    verify = PPROF_TLS_VERIFY_OFF;
#endif

    switch (pprof_auth_tls_conflict(conf->sources->elts, conf->sources->nelts,
                                    tls, verify))
    {
    case PPROF_TLS_CONFLICT_CERT_UNASKED:
        ngx_http_pprof_conf_log(NGX_LOG_WARN, cf,
                                conf->identity
                                ? &conf->identity_at
                                : ngx_http_pprof_active_at(conf),
                                "%s in location \"%V\" never sees a "
                                "certificate: ssl_verify_client is off in "
                                "this server; set \"ssl_verify_client "
                                "optional\" or \"on\", or name another source",
                                conf->identity
                                ? "pprof_identity cert"
                                : "pprof_identity (default: cert)",
                                &clcf->name);
        break;

    case PPROF_TLS_CONFLICT_KEY_REFUSED:
        ngx_http_pprof_conf_log(NGX_LOG_WARN, cf, &conf->identity_at,
                                "pprof_identity %V in location \"%V\" is "
                                "never reached without a client certificate: "
                                "\"ssl_verify_client on\" in this server "
                                "answers such clients 400 first; use "
                                "\"ssl_verify_client optional\"",
                                header, &clcf->name);
        break;

    default:
        break;
    }
}


pprof_reason_t
ngx_http_pprof_authenticate(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx)
{
    ngx_uint_t                  i;
    ngx_int_t                  *index;
    pprof_str_t                *values;
    pprof_auth_input_t          input;
    ngx_http_variable_value_t  *vv;

    ngx_memzero(&input, sizeof(pprof_auth_input_t));

    input.now = ngx_time();

    if (r->headers_in.authorization) {
        input.authorization.data = r->headers_in.authorization->value.data;
        input.authorization.len = r->headers_in.authorization->value.len;
    }

    if (plcf->variables->nelts) {
        values = ngx_palloc(r->pool,
                            plcf->variables->nelts * sizeof(pprof_str_t));
        if (values == NULL) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "pprof: internal_error: no memory for the "
                          "identity variables' values");
            return PPROF_INTERNAL_ERROR;
        }

        index = plcf->variables->elts;

        for (i = 0; i < plcf->variables->nelts; i++) {
            vv = ngx_http_get_indexed_variable(r, index[i]);

            values[i].data = (vv && !vv->not_found) ? vv->data : NULL;
            values[i].len = (vv && !vv->not_found) ? vv->len : 0;
        }

        input.variables = values;
        input.nvariables = plcf->variables->nelts;
    }

    if (ngx_http_pprof_xfcc(r, plcf, &input) != PPROF_OK) {
        return PPROF_INTERNAL_ERROR;
    }

#if (NGX_HTTP_SSL)
    {
    ngx_http_ssl_srv_conf_t  *sscf;

    sscf = ngx_http_get_module_srv_conf(r, ngx_http_ssl_module);

    /* A certificate counts only where nginx was told to verify one. */
    if (r->connection->ssl && sscf->verify) {
        input.cert = SSL_get_peer_certificate(r->connection->ssl->connection);
        input.verify_result =
                        SSL_get_verify_result(r->connection->ssl->connection);
    }
    }
#endif

    input.no_cert = ngx_http_pprof_no_cert(r);

    pprof_auth_identify(plcf->sources->elts, plcf->sources->nelts, &input,
                        &ctx->auth);

#if (NGX_HTTP_SSL)
    if (input.cert) {
        X509_free(input.cert);
    }
#endif

    return ctx->auth.reason;
}


/*
 * Why this request could not have carried a certificate, for the log line
 * of its 401: the operator finds the setting, not "no credential".
 */
static const char *
ngx_http_pprof_no_cert(ngx_http_request_t *r)
{
#if (NGX_HTTP_SSL)
    ngx_http_ssl_srv_conf_t  *sscf;

    if (r->connection->ssl == NULL) {
        return "no certificate can be offered: this connection is not TLS";
    }

    sscf = ngx_http_get_module_srv_conf(r, ngx_http_ssl_module);

    if (!sscf->verify) {
        return "certificates are not requested: ssl_verify_client is off "
               "in this server";
    }

    /* Without SNI, or by another name, the handshake was another server's. */
    if (SSL_get_verify_mode(r->connection->ssl->connection)
        == SSL_VERIFY_NONE)
    {
        return "certificates are not requested on this connection: its TLS "
               "handshake chose a server where ssl_verify_client is off (no "
               "SNI, or another name)";
    }

    return NULL;
#else
    return "no certificate can be offered: nginx was built without TLS";
#endif
}


/*
 * Where xfcc is a source: every X-Forwarded-Client-Cert line, believed
 * only from pprof_trusted_proxies.  The address is nginx's client address,
 * after realip as for pprof_allow.
 */
static pprof_reason_t
ngx_http_pprof_xfcc(ngx_http_request_t *r, ngx_http_pprof_loc_conf_t *plcf,
    pprof_auth_input_t *input)
{
    ngx_uint_t            i;
    pprof_addr_t          peer;
    pprof_values_t        xfcc;
    pprof_auth_source_t  *src;

    src = plcf->sources->elts;

    for (i = 0; i < plcf->sources->nelts; i++) {
        if (src[i].method == PPROF_AUTH_XFCC) {
            break;
        }
    }

    if (i == plcf->sources->nelts) {
        return PPROF_OK;
    }

    if (ngx_http_pprof_header_values(r, &ngx_http_pprof_xfcc_name, 1, &xfcc)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pprof: internal_error: no memory for the "
                      "X-Forwarded-Client-Cert lines");
        return PPROF_INTERNAL_ERROR;
    }

    if (xfcc.n == 0) {
        return PPROF_OK;
    }

    ngx_http_pprof_peer(r->connection, &peer);

    if (!pprof_pipeline_trusted(&plcf->pipeline, &peer)) {
        ngx_log_error(plcf->log_level, r->connection->log, 0,
                      "pprof: X-Forwarded-Client-Cert from %V ignored: "
                      "not in pprof_trusted_proxies",
                      &r->connection->addr_text);
        return PPROF_OK;
    }

    input->xfcc = xfcc.v;
    input->nxfcc = xfcc.n;
    input->xfcc_trusted = 1;

    return PPROF_OK;
}


void
ngx_http_pprof_peer(ngx_connection_t *c, pprof_addr_t *addr)
{
    ngx_memzero(addr, sizeof(pprof_addr_t));

    switch (c->sockaddr->sa_family) {

    case AF_INET:
        addr->family = PPROF_ADDR_INET;
        ngx_memcpy(addr->addr, &((struct sockaddr_in *) c->sockaddr)->sin_addr,
                   4);
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        addr->family = PPROF_ADDR_INET6;
        ngx_memcpy(addr->addr,
                   ((struct sockaddr_in6 *) c->sockaddr)->sin6_addr.s6_addr,
                   16);
        break;
#endif

    default:
        addr->family = PPROF_ADDR_ANY;
        break;
    }
}


/* Every line of one request header, in order; none: values->n is 0. */
ngx_int_t
ngx_http_pprof_header_values(ngx_http_request_t *r, const ngx_str_t *names,
    ngx_uint_t nnames, pprof_values_t *values)
{
    ngx_uint_t        i, k, total, pass;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    pprof_str_t      *v;

    ngx_memzero(values, nnames * sizeof(pprof_values_t));

    /*
     * Count, then fill, in two walks whatever the number of names: headers
     * are few, and most requests carry none of these.
     */
    for (pass = 0; pass < 2; pass++) {
        part = &r->headers_in.headers.part;
        h = part->elts;

        for (i = 0; /* void */; i++) {
            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }
                part = part->next;
                h = part->elts;
                i = 0;
            }

            for (k = 0; k < nnames; k++) {
                if (h[i].key.len == names[k].len
                    && ngx_strncasecmp(h[i].key.data, names[k].data,
                                       names[k].len)
                       == 0)
                {
                    break;
                }
            }

            if (k == nnames) {
                continue;
            }

            if (pass) {
                v = (pprof_str_t *) values[k].v + values[k].n;
                v->data = h[i].value.data;
                v->len = h[i].value.len;
            }

            values[k].n++;
        }

        if (pass) {
            break;
        }

        total = 0;
        for (k = 0; k < nnames; k++) {
            total += values[k].n;
        }

        if (total == 0) {
            break;
        }

        v = ngx_palloc(r->pool, total * sizeof(pprof_str_t));
        if (v == NULL) {
            return NGX_ERROR;
        }

        /* Each name's slice of the one array, refilled from 0. */
        for (k = 0; k < nnames; k++) {
            values[k].v = v;
            v += values[k].n;
            values[k].n = 0;
        }
    }

    return NGX_OK;
}
