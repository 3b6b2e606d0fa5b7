/*
 * ngx_http_pprof_module: the glue between nginx and the core (policy/,
 * auth/, proxy/).  Shared by the module's files only.
 */

#ifndef _NGX_HTTP_PPROF_MODULE_H_INCLUDED_
#define _NGX_HTTP_PPROF_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "policy/policy.h"
#include "auth/auth.h"
#include "proxy/proxy.h"


/*
 * Where a directive was written.  Checks that need the whole configuration
 * run after the last line is read; they name the directive's own line, as
 * nginx's checks of "listen ... ssl" do.
 */
typedef struct {
    u_char               *file;             /* NULL: not written */
    ngx_uint_t            line;
} ngx_http_pprof_where_t;


/* An audit log: its sink (a file or a syslog peer), and its chain head in
 * the zone. */
#define NGX_HTTP_PPROF_AUDIT_LOGS  16

typedef struct ngx_http_pprof_audit_sink_s  ngx_http_pprof_audit_sink_t;

typedef struct {
    ngx_str_t             name;             /* as configured */
    const ngx_http_pprof_audit_sink_t  *sink;
    ngx_open_file_t      *file;             /* NULL for syslog */
    ngx_syslog_peer_t    *syslog;
    ngx_uint_t            index;            /* of its head in the zone */
    ngx_http_pprof_where_t  at;             /* its first pprof_audit_log */
} ngx_http_pprof_audit_log_t;

typedef struct {
    uint32_t              hash;             /* of the log's name */
    uint32_t              used;
    pprof_audit_chain_t   chain;
    uint64_t              file_dev;         /* the file the last record */
    uint64_t              file_ino;         /* went to, and where it ended */
    off_t                 file_end;         /* there, to see a truncation */
} ngx_http_pprof_audit_head_t;


typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 lru;
    ngx_atomic_t                requests[PPROF_CLASS_COUNT + 1][2]
                                        [PPROF_REASON_COUNT];
    ngx_atomic_t                capture_ms;
    ngx_uint_t                  in_flight;    /* under the zone's lock */
    ngx_atomic_t                audit_records;
    ngx_atomic_t                audit_errors;
    ngx_atomic_t                shared_errors[PPROF_SHARED_KINDS];
    ngx_atomic_t                shared_latency[PPROF_SHARED_BUCKETS];
    ngx_atomic_t                shared_latency_us;
    ngx_http_pprof_audit_head_t audit[NGX_HTTP_PPROF_AUDIT_LOGS];
} ngx_http_pprof_shctx_t;


typedef struct {
    ngx_http_pprof_shctx_t     *sh;
    ngx_slab_pool_t            *shpool;
    ngx_array_t                *audit_logs;   /* to find their heads */
} ngx_http_pprof_zone_ctx_t;



/* pprof_shared_state: the Redis link of each worker (its own file). */
typedef struct ngx_http_pprof_shared_s  ngx_http_pprof_shared_t;

/* pprof_shared_state's settings, as its directive read them. */
typedef struct {
    ngx_str_t                     url;          /* as written: no secret */
    char                          host[NGX_SOCKADDR_STRLEN + 1];
    int                           port;
    ngx_str_t                     db;           /* empty: no SELECT */
    ngx_str_t                     user;         /* empty: the default */
    ngx_str_t                     password;     /* empty: no AUTH */
    ngx_msec_t                    timeout;
    ngx_str_t                     prefix;
} ngx_http_pprof_redis_conf_t;

/*
 * A command on the link, in memory of its owner's that outlives any
 * request: done runs once, with NGX_OK and the reply's integers, NGX_ERROR
 * and the kind of failure (pprof_shared_kind_t), NGX_ABORT when it failed
 * before it could reach Redis, or NGX_DECLINED for a NOSCRIPT (the owner
 * may send it again as EVAL).
 */
typedef struct ngx_http_pprof_redis_call_s  ngx_http_pprof_redis_call_t;

#define NGX_HTTP_PPROF_REDIS_INTS  16

typedef void (*ngx_http_pprof_redis_done_pt)(ngx_http_pprof_redis_call_t *call,
    ngx_int_t rc, ngx_uint_t kind, const long long *v, size_t n);

struct ngx_http_pprof_redis_call_s {
    pprof_shared_cmd_t            cmd;
    ngx_http_pprof_redis_done_pt  done;
    void                         *data;     /* done's */
    ngx_queue_t                   queue;    /* waiting for a link */
    ngx_msec_t                    expires;  /* given up there after */
};

/* The request's wait for Redis's answer (ngx_http_pprof_shared.c). */
typedef struct ngx_http_pprof_wait_s  ngx_http_pprof_wait_t;


typedef struct {
    ngx_shm_zone_t       *shm_zone;
    ngx_flag_t            used;             /* a location has pprof on */
    ngx_http_pprof_where_t  used_at;        /* the first such location's */
    ngx_array_t           audit_logs;       /* ngx_http_pprof_audit_log_t */
    ngx_array_t           budget_windows;   /* uint64_t ms: the lengths of
                                               pprof_capture_budget windows,
                                               each once */
    EVP_PKEY             *audit_key;        /* checkpoint signing key */
    ngx_uint_t            audit_checkpoint; /* records between them */
    ngx_int_t             request_uri;      /* its variable index */
    ngx_str_t             gateway_id;       /* audit's "gateway" */
    ngx_http_pprof_shared_t  *shared;       /* NULL: no pprof_shared_state */
    ngx_uint_t            shared_failure;   /* pprof_shared_failure open */

    /* For nginx -t's checks after the merge. */
    ngx_http_handler_pt   proxy_handler;    /* what proxy_pass sets */
    ngx_http_pprof_where_t  policy_at;      /* the first pprof_role or
                                               pprof_bind */
    ngx_flag_t            guarded;          /* pprof on or pprof_authz */
} ngx_http_pprof_main_conf_t;


typedef struct {
    ngx_flag_t            enable;
    ngx_http_pprof_where_t  enable_at;
    ngx_flag_t            status;           /* pprof_status */
    ngx_flag_t            enforce;
    ngx_uint_t            log_level;        /* of denials, as limit_req's */
    ngx_uint_t            tls;              /* pprof_tls_mode_t */
    ngx_uint_t            max_seconds;
    ngx_str_t             prefix;
    ngx_array_t          *allow;            /* pprof_cidr_t, NULL: all */
    ngx_array_t          *trusted_proxies;  /* pprof_cidr_t, NULL: none */
    ngx_array_t          *identity;         /* ngx_str_t, the source words */
    ngx_http_pprof_where_t  identity_at;

    pprof_jwt_keys_t     *jwt_keys;
    pprof_apikeys_t      *api_keys;
    time_t                jwt_leeway;
    ngx_str_t             jwt_issuer;
    ngx_str_t             jwt_audience;
    ngx_str_t             jwt_identity_claim;
    ngx_str_t             jwt_roles_claim;

    /* Bound at merge, where the keys of this level are known. */
    pprof_jwt_conf_t      jwt;
    ngx_array_t          *sources;          /* pprof_auth_source_t */
    ngx_array_t          *variables;        /* ngx_int_t variable indexes */
    const char           *challenge;        /* WWW-Authenticate, or NULL */

    ngx_http_pprof_audit_log_t  *audit_log; /* NULL: off */
    ngx_flag_t            audit_required;

    ngx_array_t          *roles;            /* pprof_role_t, inherited too */
    ngx_array_t          *binds;            /* pprof_bind_t, inherited too */
    ngx_uint_t            max_held;         /* roles one identity can hold */

    /*
     * Stages 7-9, kept in the zone: rates under this location's key,
     * slots and budget under its target's.
     */
    pprof_rate_t          rates[PPROF_CLASS_COUNT];
    ngx_uint_t            rates_set;        /* bit per class set here */
    ngx_uint_t            concurrency;
    pprof_budget_t        budget;
    ngx_flag_t            budget_set;
    ngx_str_t             zone_key;         /* server and location names */
    ngx_http_complex_value_t  *target;      /* pprof_target, NULL: the
                                               location (zone_key) */

    /* What forwarded bodies become (SPEC §9, §10). */
    ngx_flag_t            annotate;
    ngx_flag_t            redact;
    ngx_array_t          *redact_patterns;  /* ngx_str_t, added here */
    pprof_redactor_t     *redactor;         /* bound at merge */

    /* This location's proxy_pass, as written (SPEC §4). */
    ngx_str_t             proxy_pass;
    ngx_str_t             proxy_pass_location;
    ngx_http_complex_value_t  *proxy_pass_host;  /* its variable host */
    ngx_http_pprof_where_t  proxy_pass_at;

    /* Where proxy_read_timeout was written, here or above. */
    ngx_http_pprof_where_t  read_timeout_at;
    ngx_flag_t            rewrites;         /* a rewrite at this level */

    /* Answering a proxy's check instead of proxying (pprof_authz). */
    ngx_uint_t            authz;            /* pprof_authz_mode_t, or
                                               NGX_CONF_UNSET_UINT: off */
    ngx_str_t             authz_prefix;
    ngx_http_pprof_where_t  authz_at;

    pprof_pipeline_conf_t pipeline;         /* all of the above, merged */
} ngx_http_pprof_loc_conf_t;


typedef struct ngx_http_pprof_hold_s  ngx_http_pprof_hold_t;

/* Whether a capture was admitted on Redis, for the audit's "shared". */
#define NGX_HTTP_PPROF_SHARED_NONE         0   /* not asked: field left out */
#define NGX_HTTP_PPROF_SHARED_OK           1
#define NGX_HTTP_PPROF_SHARED_UNAVAILABLE  2

typedef struct {
    pprof_decision_t      decision;         /* the pipeline's */
    unsigned              authz:1;          /* a proxy's check */
    unsigned              https:1;          /* authz: X-Forwarded-Proto */
    ngx_str_t             client;           /* authz: the original client */
    ngx_str_t             method;           /* authz: the original method */
    ngx_str_t             proxy;            /* authz: who asked */
    ngx_str_t             path;             /* $uri as judged, for both
                                               audit records */
    unsigned              enforced:1;

    pprof_auth_result_t   auth;

    ngx_http_pprof_hold_t  *hold;           /* a capture's slot, or NULL */
    ngx_str_t             target;           /* pprof_target's value, or the
                                               location's zone key */
    ngx_uint_t            shared;           /* NGX_HTTP_PPROF_SHARED_* */
    ngx_http_pprof_wait_t  *wait;           /* asking Redis, or NULL */

    unsigned              forwarded:1;
    ngx_event_t           guard;            /* forwarded: the worker waits
                                               for the upstream */
    EVP_MD_CTX           *body_sha;         /* of the body sent */
    uint64_t              body_bytes;

    pprof_body_action_t   body_action;      /* set by the header filter */
    pprof_annotate_reason_t  annotation;    /* decided at the header;
                                               REASON_COUNT: never */
    pprof_annotator_t    *annotator;
    ngx_chain_t          *free;             /* our copies, to reuse */
    ngx_chain_t          *free_parts;       /* our parts of upstream's */
    ngx_chain_t          *busy;             /* ours, not yet sent */
    u_char               *scratch;          /* file buffers read here */

    ngx_int_t             redacted;         /* values replaced; -1: none */
    ngx_buf_t            *cmdline;          /* argv, gathered to redact */

    /* A capture's 500 held until it is told whether the target is busy. */
    unsigned              busy_held:1;      /* its header not sent yet */
    ngx_buf_t            *busy_body;        /* its bytes; NULL: failed */
    ngx_uint_t            upstream_status;  /* when answered in its place */
    ngx_str_t             upstream_said;

    char                  audit_id[PPROF_AUDIT_ID_LEN + 1];
} ngx_http_pprof_ctx_t;


/* One request's view of the zone, as the pipeline's store. */
typedef struct {
    ngx_http_request_t         *r;
    ngx_http_pprof_loc_conf_t  *plcf;
    ngx_http_pprof_ctx_t       *ctx;
    ngx_http_pprof_zone_ctx_t  *zone;
    ngx_http_pprof_hold_t      *hold;       /* the slot taken, if any */
    uint64_t                    now;
    unsigned                    leases:1;   /* no response will end the
                                               capture: slots expire */
} ngx_http_pprof_store_t;


ngx_int_t ngx_http_pprof_handler(ngx_http_request_t *r);

char *ngx_http_pprof_identity(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_pprof_jwt_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_pprof_api_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_pprof_bind_sources(ngx_conf_t *cf,
    ngx_http_pprof_loc_conf_t *conf);
pprof_reason_t ngx_http_pprof_authenticate(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx);
void ngx_http_pprof_peer(ngx_connection_t *c, pprof_addr_t *addr);
ngx_int_t ngx_http_pprof_header_values(ngx_http_request_t *r,
    const ngx_str_t *names, ngx_uint_t nnames, pprof_values_t *values);

ngx_int_t ngx_http_pprof_filter_init(ngx_conf_t *cf);

char *ngx_http_pprof_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_pprof_rate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_pprof_budget(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_pprof_budget_window(ngx_conf_t *cf,
    ngx_http_pprof_loc_conf_t *conf);
pprof_reason_t ngx_http_pprof_target(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx);
char *ngx_http_pprof_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_pprof_zone_default(ngx_conf_t *cf);
ngx_http_pprof_ctx_t *ngx_http_pprof_ctx_create(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf);
void ngx_http_pprof_facts(ngx_http_request_t *r, pprof_request_t *req);
ngx_int_t ngx_http_pprof_decide(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx,
    pprof_request_t *req);
ngx_int_t ngx_http_pprof_decide_start(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx,
    ngx_http_pprof_store_t *store, pprof_request_t *req);
ngx_uint_t ngx_http_pprof_decided(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx,
    const pprof_store_ops_t *ops, void *store);
ngx_int_t ngx_http_pprof_deny(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx);
ngx_int_t ngx_http_pprof_denial(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx,
    ngx_chain_t *out);
ngx_int_t ngx_http_pprof_add_header(ngx_http_request_t *r, const char *key,
    ngx_str_t *value, ngx_table_elt_t **slot);
void ngx_http_pprof_zone_store(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_http_pprof_store_t *store);
void ngx_http_pprof_zone_release(ngx_http_pprof_ctx_t *ctx);
void ngx_http_pprof_zone_count(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_uint_t ahead);
ngx_int_t ngx_http_pprof_zone_metrics(ngx_http_request_t *r,
    pprof_metrics_t *m);
void ngx_http_pprof_zone_shared_count(ngx_http_request_t *r, ngx_int_t kind,
    int64_t latency_us);
ngx_int_t ngx_http_pprof_zone_share(ngx_http_pprof_hold_t *hold, void *lease);

char *ngx_http_pprof_shared_state(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_pprof_shared_t *ngx_http_pprof_redis_create(ngx_conf_t *cf,
    ngx_http_pprof_redis_conf_t *conf);
ngx_msec_t ngx_http_pprof_redis_timeout(ngx_http_pprof_shared_t *sh);
ngx_msec_t ngx_http_pprof_redis_backoff(ngx_http_pprof_shared_t *sh);
pprof_str_t ngx_http_pprof_redis_prefix(ngx_http_pprof_shared_t *sh);
ngx_int_t ngx_http_pprof_redis_send(ngx_http_pprof_shared_t *sh,
    ngx_http_pprof_redis_call_t *call, ngx_uint_t queue);
void ngx_http_pprof_redis_drop(ngx_http_pprof_shared_t *sh, ngx_uint_t kind);
void ngx_http_pprof_redis_exit(ngx_cycle_t *cycle);

ngx_int_t ngx_http_pprof_shared_decide(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx,
    pprof_request_t *req);
ngx_int_t ngx_http_pprof_shared_finish(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx);
void ngx_http_pprof_shared_ended(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx);
void ngx_http_pprof_shared_release(void *lease, ngx_uint_t settle);

char *ngx_http_pprof_audit_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_pprof_audit_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_pprof_gateway_id(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_pprof_audit_heads(ngx_http_pprof_zone_ctx_t *zone,
    ngx_log_t *log);
ngx_int_t ngx_http_pprof_audit_decision(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf, ngx_http_pprof_ctx_t *ctx);
ngx_int_t ngx_http_pprof_audit_init(ngx_conf_t *cf);
ngx_int_t ngx_http_pprof_audit_body(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_chain_t *in);
void ngx_http_pprof_audit_shutdown(ngx_cycle_t *cycle);
ngx_int_t ngx_http_pprof_add_variables(ngx_conf_t *cf);
ngx_http_variable_value_t *ngx_http_pprof_upstream_addr(
    ngx_http_request_t *r);

ngx_int_t ngx_http_pprof_header_send(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx);
ngx_int_t ngx_http_pprof_body_out(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_chain_t *in);
ngx_int_t ngx_http_pprof_body_send(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_chain_t *out);
ngx_int_t ngx_http_pprof_buf_take(ngx_buf_t *into, ngx_buf_t *b);
ngx_int_t ngx_http_pprof_busy_header(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx);
ngx_int_t ngx_http_pprof_busy_body(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_chain_t *in);
ngx_int_t ngx_http_pprof_annotate_body(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_chain_t *in);
pprof_str_t ngx_http_pprof_annotation(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx);

char *ngx_http_pprof_redact_pattern(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_pprof_redact_merge(ngx_conf_t *cf,
    ngx_http_pprof_loc_conf_t *prev, ngx_http_pprof_loc_conf_t *conf);
ngx_int_t ngx_http_pprof_redact_body(ngx_http_request_t *r,
    ngx_http_pprof_ctx_t *ctx, ngx_chain_t *in, ngx_chain_t **out);

char *ngx_http_pprof_authz(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_pprof_authz_prefix(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_pprof_authz_merge(ngx_conf_t *cf,
    ngx_http_pprof_loc_conf_t *conf);

char *ngx_http_pprof_proxy_pass_merge(ngx_conf_t *cf,
    ngx_http_pprof_loc_conf_t *prev, ngx_http_pprof_loc_conf_t *conf);
pprof_reason_t ngx_http_pprof_proxy_pass_host(ngx_http_request_t *r,
    ngx_http_pprof_loc_conf_t *plcf);
ngx_command_t *ngx_http_pprof_owner_command(ngx_cycle_t *cycle, char *name,
    ngx_module_t **module);

void ngx_http_pprof_where(ngx_conf_t *cf, ngx_http_pprof_where_t *at);
void ngx_cdecl ngx_http_pprof_conf_log(ngx_uint_t level, ngx_conf_t *cf,
    ngx_http_pprof_where_t *at, const char *fmt, ...);
ngx_http_pprof_where_t *ngx_http_pprof_active_at(
    ngx_http_pprof_loc_conf_t *conf);

void ngx_http_pprof_note_policy(ngx_conf_t *cf);
char *ngx_http_pprof_check_merge(ngx_conf_t *cf,
    ngx_http_pprof_loc_conf_t *prev, ngx_http_pprof_loc_conf_t *conf);
void ngx_http_pprof_check_unguarded(ngx_conf_t *cf);


extern const pprof_store_ops_t  ngx_http_pprof_zone_ops;
extern ngx_module_t  ngx_http_pprof_module;
extern ngx_module_t  ngx_http_pprof_proxy_pass_module;


#endif /* _NGX_HTTP_PPROF_MODULE_H_INCLUDED_ */
