/*
 * policy: what a pprof request is and whether it may pass.
 *
 * Portable C11, no nginx header.  Every function takes plain byte strings
 * with lengths and returns a reason code (SPEC §3); callers own all memory.
 */

#ifndef PPROF_POLICY_H
#define PPROF_POLICY_H

#include <stddef.h>
#include <stdint.h>


typedef struct {
    const unsigned char  *data;
    size_t                len;
} pprof_str_t;


/* SPEC §3 reasons, in pipeline order; PPROF_OK is "no stage failed". */
typedef enum {
    PPROF_OK = 0,
    PPROF_UNKNOWN_ENDPOINT,
    PPROF_METHOD_NOT_ALLOWED,
    PPROF_TLS_REQUIRED,
    PPROF_ADDRESS_DENIED,
    PPROF_UNTRUSTED_PROXY,
    PPROF_UNAUTHENTICATED,
    PPROF_INVALID_CREDENTIAL,
    PPROF_FORBIDDEN,
    PPROF_BAD_PARAMETER,
    PPROF_RATE_LIMITED,
    PPROF_CAPTURE_BUSY,
    PPROF_BUDGET_EXHAUSTED,
    PPROF_SHARED_STATE_UNAVAILABLE,
    PPROF_AUDIT_UNAVAILABLE,
    PPROF_INTERNAL_ERROR,
    PPROF_REASON_COUNT
} pprof_reason_t;

const char *pprof_reason_name(pprof_reason_t reason);
const char *pprof_reason_message(pprof_reason_t reason);
int pprof_reason_status(pprof_reason_t reason);

/* Whether its denial carries Retry-After: the 429s, and shared state's 503. */
int pprof_reason_retries(pprof_reason_t reason);


/* ASCII for protocol text; lit is lowercase. */
int pprof_hex_value(int c);                /* -1 for a byte that is none */
int pprof_ascii_lower(int c);
int pprof_ascii_starts_ci(pprof_str_t s, const char *lit);
int pprof_ascii_equal_ci(pprof_str_t s, const char *lit);


/* SPEC §2 classes; the values are bit positions in a role's permissions. */
typedef enum {
    PPROF_CLASS_INDEX = 0,
    PPROF_CLASS_CMDLINE,
    PPROF_CLASS_SYMBOL,
    PPROF_CLASS_SNAPSHOT,
    PPROF_CLASS_CAPTURE,
    PPROF_CLASS_COUNT
} pprof_class_t;

const char *pprof_class_name(pprof_class_t cls);


typedef enum {
    PPROF_METHOD_GET = 0,
    PPROF_METHOD_HEAD,
    PPROF_METHOD_POST,
    PPROF_METHOD_OTHER
} pprof_method_t;


/* Which parameter rules of SPEC §4 apply. */
typedef enum {
    PPROF_EP_INDEX = 0,
    PPROF_EP_CMDLINE,
    PPROF_EP_SYMBOL,
    PPROF_EP_PROFILE,
    PPROF_EP_TRACE,
    PPROF_EP_HEAP,
    PPROF_EP_SNAPSHOT          /* any other single segment */
} pprof_ep_kind_t;

#define PPROF_ENDPOINT_NAME_MAX  128

typedef struct {
    pprof_str_t      name;     /* points into the caller's uri; empty if unknown */
    pprof_ep_kind_t  kind;
    pprof_class_t    cls;      /* PPROF_CLASS_COUNT (no name) if unknown */
} pprof_endpoint_t;

/*
 * Stage 1.  uri is nginx's decoded, normalised $uri; args the raw query
 * string, looked at only to see whether a snapshot is really a capture
 * (a delta profile), so that authorisation sees the class that will run.
 */
pprof_reason_t pprof_policy_classify(pprof_str_t prefix, pprof_str_t uri,
    pprof_method_t method, pprof_str_t args, pprof_endpoint_t *ep);

/*
 * Whether a location can receive a request that names an endpoint under
 * prefix, for nginx -t.  A prefix location ("location /p") can when some
 * endpoint's path begins with its path, an exact one ("location = /p")
 * when its path is an endpoint's.  A regular expression location is tried
 * on prefix followed by each pprof_endpoint_example().
 */
int pprof_location_reaches(pprof_str_t location, int exact,
    pprof_str_t prefix);

/*
 * Whether a prefix or exact location's own path lies under prefix (the
 * prefix without its last "/" included): a location without the module
 * there that proxies serves the profiles unchecked.  A path above the
 * prefix, "/" among them, is the catch-all of most servers and is not.
 */
int pprof_location_under_prefix(pprof_str_t location, int exact,
    pprof_str_t prefix);

/* The i-th of Go's endpoint names, "" (the index) first; NULL past them. */
const char *pprof_endpoint_example(size_t i);

/* The Allow header of a 405 for this endpoint. */
const char *pprof_endpoint_allow(const pprof_endpoint_t *ep);


/* Stage 2. */
typedef enum {
    PPROF_TLS_MODE_REQUIRED = 0,
    PPROF_TLS_MODE_REDIRECT,
    PPROF_TLS_MODE_OFF
} pprof_tls_mode_t;

typedef enum {
    PPROF_TRANSPORT_PASS = 0,
    PPROF_TRANSPORT_DENY,
    PPROF_TRANSPORT_REDIRECT
} pprof_transport_t;

pprof_transport_t pprof_policy_transport(pprof_tls_mode_t mode, int is_tls,
    pprof_method_t method);


/* Stage 3: IPv4 and IPv6 CIDR sets. */
typedef enum {
    PPROF_ADDR_ANY = 0,        /* "all": matches every client, unix too */
    PPROF_ADDR_INET,
    PPROF_ADDR_INET6
} pprof_addr_family_t;

typedef struct {
    pprof_addr_family_t  family;
    unsigned char        addr[16];
    unsigned char        mask[16];
} pprof_cidr_t;

/* 0, or -1 with a static explanation in *err. */
int pprof_cidr_parse(pprof_str_t text, pprof_cidr_t *cidr, const char **err);

/* addr is 4 or 16 network-order bytes; family PPROF_ADDR_ANY is "other". */
int pprof_cidr_match(const pprof_cidr_t *set, size_t n,
    pprof_addr_family_t family, const unsigned char *addr);


/* Stage 5: roles and binds (SPEC §6). */
typedef struct {
    pprof_str_t         name;
    unsigned            classes;      /* 1u << pprof_class_t */
    const pprof_str_t  *endpoints;
    size_t              nendpoints;
} pprof_role_t;

/*
 * A permission word is a class name or one of Go's endpoint names.  Returns
 * 1 for a class (*cls set), 0 for an endpoint name, -1 for neither.
 */
int pprof_permission_parse(pprof_str_t word, pprof_class_t *cls);

typedef struct {
    pprof_str_t         pattern;      /* the identity, or the regex source */
    void               *regex;        /* pcre2_code *, NULL for exact */
    void               *match_data;
    const pprof_str_t  *roles;
    size_t              nroles;
    unsigned            sources;      /* bits of source= names; 0: any */
    void               *data;         /* the caller's: where it was set */
} pprof_bind_t;

/*
 * "~REGEX" compiles a PCRE2 pattern (searched in the whole identity, as
 * nginx's own regexes are), "~*REGEX" the same without regard to case;
 * anything else binds one identity exactly.
 * Returns 0, or -1 with a message in err.
 */
int pprof_bind_compile(pprof_bind_t *bind, pprof_str_t pattern,
    char *err, size_t errlen);
void pprof_bind_free(pprof_bind_t *bind);
int pprof_bind_is_anchored(const pprof_bind_t *bind);

/*
 * One "source=NAME" of pprof_bind: the bind then matches only identities
 * from the named sources (cert, xfcc, jwt, apikey, variable, anonymous, as
 * the audit's "auth" names them).  0, or -1 with *err.
 */
int pprof_bind_source_add(pprof_bind_t *bind, pprof_str_t name,
    const char **err);

/*
 * Appends to held[*nheld] (capacity cap) the roles every matching bind
 * grants the identity, skipping duplicates.  source is the name of the
 * source that yielded the identity.  -1 on a regex engine error (the match
 * limit) or when cap is too small, with what failed in err: the caller
 * must deny and log it.
 */
#define PPROF_BIND_ERROR_MAX  512

int pprof_policy_bind_roles(const pprof_bind_t *binds, size_t nbinds,
    pprof_str_t identity, pprof_str_t source, pprof_str_t *held,
    size_t *nheld, size_t cap, char *err, size_t errlen);

/*
 * Every role a bind grants must be defined: -1 with the first that is not
 * in *undefined and the index of its bind in *at.  *max_held: how many
 * roles the binds can grant at most.
 */
int pprof_policy_check_binds(const pprof_bind_t *binds, size_t nbinds,
    const pprof_role_t *roles, size_t nroles, size_t *max_held,
    pprof_str_t *undefined, size_t *at);

/*
 * Whether a name can be a role: it travels comma-separated in
 * X-Pprof-Roles and $pprof_roles and quoted in logs, so printable ASCII
 * without space, comma, quote or backslash.
 */
int pprof_role_name_valid(pprof_str_t name);

/* Adds one role name to held unless already there; -1 when full. */
int pprof_roles_add(pprof_str_t role, pprof_str_t *held, size_t *nheld,
    size_t cap);

/*
 * PPROF_OK when one held role permits the endpoint: its class, or its name
 * while the endpoint runs in its own class (a named snapshot endpoint does
 * not grant its delta capture).  Otherwise PPROF_FORBIDDEN.
 */
pprof_reason_t pprof_policy_authorize(const pprof_role_t *roles,
    size_t nroles, const pprof_str_t *held, size_t nheld,
    const pprof_endpoint_t *ep);


/* Stage 6: parameters, SPEC §4. */
#define PPROF_MAX_SECONDS_DEFAULT  30
#define PPROF_MAX_SECONDS_LIMIT  86400
#define PPROF_SYMBOL_BODY_MAX    65536
#define PPROF_CANONICAL_MAX      64

#define PPROF_PARAMS_DETAIL_MAX  80

typedef struct {
    int       debug;               /* -1 when absent */
    int       gc;                  /* -1 when absent */
    uint64_t  seconds_us;          /* 0 when absent */
    char      canonical[PPROF_CANONICAL_MAX];
    size_t    canonical_len;
    char      detail[PPROF_PARAMS_DETAIL_MAX];
} pprof_params_t;

/*
 * Validates the query string (percent-decoded as Go decodes it) against the
 * endpoint's table row and writes the canonical form.  body_len is the
 * request body's declared length, -1 when unknown.  A PPROF_BAD_PARAMETER
 * says in params->detail which parameter and what it may be, from fixed
 * text and max_seconds only ("seconds must be 1..60"); "" otherwise.
 */
pprof_reason_t pprof_policy_params(const pprof_endpoint_t *ep,
    pprof_str_t args, pprof_method_t method, long long body_len,
    unsigned max_seconds, pprof_params_t *params);

/* Whether a key of the query decodes to "seconds" (used by classify). */
int pprof_params_has_seconds(pprof_str_t args);


/* Stage 2 again: pprof_tls redirect's 308 carries the canonical request. */

/*
 * Whether text is a host a Location may name: DNS labels (letters, digits,
 * inner hyphens; a name a browser would read as a number must be a dotted
 * quad), an IPv4 dotted quad or a bracketed IPv6 address; then ":port"
 * (1..65535) when port is set.  *hostlen: the host's length, port excluded.
 */
int pprof_host_valid(pprof_str_t text, int port, size_t *hostlen);

#define PPROF_LOCATION_MAX  2048

/*
 * A redirect's Location: https://<host><prefix><endpoint>[?<params>], the
 * host being server_name when it is one exact name, else host (the Host
 * header) when valid, without its port; the path percent-encoded.  params
 * are args (the raw query of a GET or HEAD) in canonical form, as stage 6
 * would write them with body_len and max_seconds.  Returns the length
 * written to location, or 0 when no Location can be vouched for (parameters
 * that do not parse among the reasons) and the request is a plain 403
 * tls_required.
 */
size_t pprof_redirect_location(pprof_str_t server_name, pprof_str_t host,
    pprof_str_t prefix, const pprof_endpoint_t *ep, pprof_str_t args,
    long long body_len, unsigned max_seconds, char *location, size_t cap);


/*
 * Stages 7-9: rate, concurrency and budget arithmetic on state that the
 * caller keeps (in nginx, a shared-memory zone) and locks.  Times are
 * milliseconds; a denial sets *retry_after in whole seconds, at least 1.
 */

/* A leaky bucket per identity, class and location, as limit_req's. */
typedef struct {
    uint64_t  rate;                /* milli-requests per second; 0: off */
    uint64_t  burst;               /* requests beyond the rate */
} pprof_rate_t;

typedef struct {
    uint64_t  excess;              /* milli-requests above the rate */
    uint64_t  last;                /* ms of the last accepted request; 0 new */
} pprof_rate_state_t;

/* A class's rate where no pprof_rate sets one (rate 0: unlimited). */
pprof_rate_t pprof_rate_default(pprof_class_t cls);

/* "4r/m" or "10r/s", and "burst=N" (empty: 0); 0 or -1 with *err. */
int pprof_rate_parse(pprof_str_t rate, pprof_str_t burst, pprof_rate_t *out,
    const char **err);

pprof_reason_t pprof_rate_take(pprof_rate_state_t *state,
    const pprof_rate_t *rate, uint64_t now, uint64_t *retry_after);

/* Whether forgetting the state now lets its identity ask no sooner. */
int pprof_rate_idle(const pprof_rate_state_t *state, const pprof_rate_t *rate,
    uint64_t now);


/*
 * Capture slots per endpoint.  A lease ends when its request releases it,
 * or at its expiry (the capture's length plus a margin) if a worker died
 * holding it.
 */
typedef struct {
    uint64_t  id;                  /* 0: free */
    uint64_t  starts;              /* when it was granted */
    uint64_t  ends;                /* when the capture itself is over */
    uint64_t  expires;
} pprof_lease_t;

#define PPROF_LEASE_MARGIN  15000  /* ms after a capture's end */
#define PPROF_CONCURRENCY_DEFAULT  1

/* Frees expired leases; returns how many were freed. */
size_t pprof_slots_expire(pprof_lease_t *slots, size_t n, uint64_t now);

pprof_reason_t pprof_slots_acquire(pprof_lease_t *slots, size_t n,
    uint64_t now, uint64_t duration, uint64_t id, uint64_t *retry_after);

/* A slot no request gives back (a proxy's check): held to its expiry. */
pprof_reason_t pprof_slots_lease(pprof_lease_t *slots, size_t n,
    uint64_t now, uint64_t duration, uint64_t id, uint64_t *retry_after);

/* 1 when the lease was held (and is now free), 0 otherwise. */
int pprof_slots_release(pprof_lease_t *slots, size_t n, uint64_t id);

/*
 * A capture whose response did not complete (the client left, the
 * upstream failed) may still run at the target, which stops only once it
 * notices the closed connection: its lease ends PPROF_CAPTURE_SETTLE ms
 * from now, not at once, nor later than it would have.  1 when the lease
 * was held.
 */
#define PPROF_CAPTURE_SETTLE  1000   /* ms */

int pprof_slots_settle(pprof_lease_t *slots, size_t n, uint64_t id,
    uint64_t now);

size_t pprof_slots_live(const pprof_lease_t *slots, size_t n);


/*
 * The read timeout, in ms, that a location's longest capture needs: Go
 * sends nothing until a capture is over, then builds the profile, which
 * takes up to PPROF_CAPTURE_READ_MARGIN seconds more.
 */
#define PPROF_CAPTURE_READ_MARGIN  10

uint64_t pprof_capture_read_timeout(unsigned max_seconds);


/* Capture time granted per location over a sliding window of buckets. */
#define PPROF_BUDGET_BUCKETS  60

typedef struct {
    uint64_t  limit;               /* ms of capture per window; 0: off */
    uint64_t  window;              /* ms */
} pprof_budget_t;

typedef struct {
    uint64_t  epoch[PPROF_BUDGET_BUCKETS];   /* which slice a bucket holds */
    uint64_t  used[PPROF_BUDGET_BUCKETS];    /* ms granted in it */
} pprof_budget_state_t;

pprof_reason_t pprof_budget_take(pprof_budget_state_t *state,
    const pprof_budget_t *budget, uint64_t now, uint64_t amount,
    uint64_t *retry_after);

/*
 * A target's window of another length than the asking location's: the
 * capture granted there is counted in it too, unchecked.
 */
void pprof_budget_charge(pprof_budget_state_t *state, uint64_t window,
    uint64_t now, uint64_t amount);

/* Whether nothing was granted within the window: forgetting it loses none. */
int pprof_budget_idle(const pprof_budget_state_t *state, uint64_t window,
    uint64_t now);


/*
 * A capture's target (pprof_target): its slots and budget window belong to
 * it.  An empty value, or one longer than PPROF_TARGET_MAX, names no
 * process: PPROF_FORBIDDEN.
 */
#define PPROF_TARGET_MAX  255

pprof_reason_t pprof_policy_target(pprof_str_t target);


/*
 * Records one stage's result in *first (the first failure decides) and says
 * whether to stop: at a failure when enforcing, and at an internal error
 * always; a dry run goes on judging the later stages.
 */
int pprof_policy_stop(pprof_reason_t *first, pprof_reason_t rc, int enforce);

/*
 * Stage 10: a request that would go upstream without its decision record
 * written is audit_unavailable when the record is required.
 */
pprof_reason_t pprof_policy_audited(pprof_reason_t reason, int enforce,
    int written, int required);

/* Whether the request goes upstream (dry run: what it would deny, too). */
int pprof_policy_forwards(pprof_reason_t reason, int enforce);


/*
 * The decision pipeline: stages 1-9 in their order, the dry run, the
 * defaults and the Retry-After arithmetic, for every mode and every state
 * store.  The caller gathers the request's facts, and the pipeline asks it
 * for the two things only it can do: authenticate (auth/ needs what nginx
 * holds), and keep the state of stages 7-9.
 */

/* What authentication found, as the later stages need it. */
typedef struct {
    pprof_reason_t       reason;      /* OK, UNAUTHENTICATED,
                                         INVALID_CREDENTIAL, INTERNAL_ERROR */
    pprof_str_t          identity;
    pprof_str_t          source;      /* its source's name, for source= */
    const pprof_str_t   *roles;       /* granted by the credential itself */
    size_t               nroles;
    const char          *told;        /* a refusal's explanation for the
                                         client, fixed text naming nothing
                                         it sent; NULL: none */
} pprof_who_t;

/*
 * Stages 7-9 on a store.  Between lock and unlock the pipeline calls rate,
 * acquire and budget as the request needs them, and release for a slot it
 * took for a capture that will not run.  Each returns PPROF_OK, its
 * stage's denial with *retry_after in whole seconds, or
 * PPROF_INTERNAL_ERROR when the store failed (the caller logs why).  A
 * granted slot is *lease, never 0.
 */
typedef struct {
    void            (*lock)(void *store);
    void            (*unlock)(void *store);
    pprof_reason_t  (*rate)(void *store, pprof_class_t cls,
                        pprof_str_t identity, const pprof_rate_t *rate,
                        uint64_t now, uint64_t *retry_after);
    pprof_reason_t  (*acquire)(void *store, pprof_str_t endpoint,
                        size_t concurrency, uint64_t now, uint64_t duration,
                        uint64_t *lease, uint64_t *retry_after);
    void            (*release)(void *store, pprof_str_t endpoint,
                        uint64_t lease);
    pprof_reason_t  (*budget)(void *store, const pprof_budget_t *budget,
                        uint64_t now, uint64_t amount, uint64_t *retry_after);
} pprof_store_ops_t;

/* A location's policy, as its directives set it after merging. */
typedef struct {
    int                   enforce;       /* 0: dry run */
    int                   authz;         /* answering a proxy's check */
    pprof_str_t           prefix;
    pprof_tls_mode_t      tls;
    const pprof_cidr_t   *allow;         /* NULL: every address */
    size_t                nallow;
    const pprof_cidr_t   *trusted;       /* the proxies asking, in authz */
    size_t                ntrusted;
    const pprof_bind_t   *binds;
    size_t                nbinds;
    size_t                max_held;      /* roles the binds can grant */
    const pprof_role_t   *roles;
    size_t                nroles;
    unsigned              max_seconds;
    pprof_rate_t          rates[PPROF_CLASS_COUNT];
    size_t                concurrency;
    pprof_budget_t        budget;
    int                   named_target;  /* pprof_target is set: the
                                            request's target_name is
                                            judged at stage 5 */
} pprof_pipeline_conf_t;

/* An address; family PPROF_ADDR_ANY for a peer that is not IP (unix). */
typedef struct {
    pprof_addr_family_t  family;
    unsigned char        addr[16];       /* 4 or 16 network-order bytes */
} pprof_addr_t;

/* One request's facts, and the caller's hooks. */
typedef struct {
    pprof_reason_t        read;          /* OK, or why the request (in
                                            authz, the proxy's headers)
                                            could not be read */
    const char           *read_detail;   /* and what was wrong, or NULL */
    pprof_reason_t        target;        /* OK, or why the upstream could
                                            not be resolved */
    pprof_str_t           target_name;   /* whose slots and budget:
                                            pprof_target's value */
    pprof_method_t        method;
    pprof_str_t           uri;           /* decoded and normalised */
    pprof_str_t           args;          /* the raw query */
    long long             body_len;      /* -1: unknown */
    int                   tls;
    pprof_addr_t          client;
    pprof_addr_t          proxy;         /* the peer, in authz */
    pprof_str_t           server_name;   /* for a redirect's Location */
    pprof_str_t           host;
    uint64_t              now;           /* ms, monotonic */

    void                (*authenticate)(void *data, pprof_who_t *who);
    void               *(*alloc)(void *data, size_t size);
    void                 *data;
} pprof_request_t;

#define PPROF_PIPELINE_ERROR_MAX   PPROF_BIND_ERROR_MAX
#define PPROF_PIPELINE_DETAIL_MAX  128

typedef struct {
    pprof_reason_t        reason;        /* the first stage that failed */
    pprof_endpoint_t      endpoint;      /* cls COUNT until classified */
    pprof_params_t        params;
    unsigned              canonical:1;   /* params valid: the request may
                                            be rewritten to them */
    unsigned              authenticated:1;
    pprof_str_t           identity;      /* who, for stage 7's key; points
                                            where authenticate put it */
    pprof_str_t          *held;          /* roles held, from alloc */
    size_t                nheld;
    uint64_t              retry_after;   /* whole seconds, >= 1, for 429 */
    uint64_t              lease;         /* a capture's slot, 0: none */
    uint64_t              capture_ms;    /* the capture's length */
    size_t                location_len;  /* a 308's, 0: a plain 403 */
    char                  location[PPROF_LOCATION_MAX];
    char                  error[PPROF_PIPELINE_ERROR_MAX];  /* what failed,
                                            for an internal error's log */
    char                  detail[PPROF_PIPELINE_DETAIL_MAX];  /* for the
                                            client, after the reason's
                                            message; "" when none */
} pprof_decision_t;

/* Whether a proxy's check comes from a proxy the location trusts. */
int pprof_pipeline_trusted(const pprof_pipeline_conf_t *conf,
    const pprof_addr_t *proxy);

/*
 * Stages 1-9.  d->reason is the first failure; when enforcing the later
 * stages are not run, and an internal error stops every run.  A dry run
 * runs them all so that its accounting is what enforcing would do.  A slot
 * taken for a capture that will not go ahead is given back before return.
 */
void pprof_pipeline_decide(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, const pprof_store_ops_t *ops, void *store,
    pprof_decision_t *d);

/*
 * The same in two halves, for a store whose answer comes later: stages
 * 1-6, which return whether stages 7-9 are to be asked, then stages 7-9.
 */
int pprof_pipeline_check(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, pprof_decision_t *d);
void pprof_pipeline_admit(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, const pprof_store_ops_t *ops, void *store,
    pprof_decision_t *d);

/*
 * Stage 10, once the decision record was (or was not) written.  Gives the
 * slot back if the request no longer goes ahead.  Returns whether it does:
 * forwarded in proxy mode, allowed in authz mode.
 */
int pprof_pipeline_audited(const pprof_pipeline_conf_t *conf,
    const pprof_store_ops_t *ops, void *store, pprof_decision_t *d,
    int written, int required);


/*
 * Stages 7-9 of a capture kept in Redis (pprof_shared_state), so that every
 * gateway of a fleet enforces one limit.  One Lua script does the capture's
 * rate, slot and budget atomically on Redis's clock; the gateway runs it
 * with EVALSHA (EVAL after a NOSCRIPT) and replays its answer through the
 * pipeline.  Every key of a target holds the target between braces, so
 * that Redis Cluster keeps a target's keys in one hash slot.
 */

/* A Redis command as hiredis's redisAsyncCommandArgv takes it. */
#define PPROF_SHARED_ARGV_MAX  40
#define PPROF_SHARED_BUF_MAX   4096

typedef struct {
    int          argc;
    const char  *argv[PPROF_SHARED_ARGV_MAX];
    size_t       argvlen[PPROF_SHARED_ARGV_MAX];
    char         buf[PPROF_SHARED_BUF_MAX];      /* where argv points */
} pprof_shared_cmd_t;

/* The script's text, and its SHA-1 in hex as EVALSHA names it. */
extern const char  pprof_shared_script[];
#define PPROF_SHARED_SHA1_HEX  40

int pprof_shared_script_sha1(char sha1[PPROF_SHARED_SHA1_HEX + 1]);

/*
 * Whose keys: the prefix of every key, the target, the lease's owner.  A
 * location without pprof_target is its own target, named by its server
 * and location: own keeps its keys apart from every pprof_target value,
 * "{@<location>}" where a value is "{<value>}" (a leading '@' escaped).
 */
typedef struct {
    pprof_str_t  prefix;                 /* e.g. "pprof:" */
    pprof_str_t  target;                 /* pprof_target's value, or the
                                            location's own name */
    pprof_str_t  token;                  /* the gateway id and audit id */
    int          own;                    /* target is a location's own */
    const uint64_t  *windows;            /* every budget window length
                                            configured, ms: a capture is
                                            charged to each */
    size_t           nwindows;
} pprof_shared_key_t;

/*
 * The admission of one capture that passed stages 1-6 (d after
 * pprof_pipeline_check), as EVALSHA sha1 or, with sha1 NULL, as EVAL of
 * the script's text.  The budget is judged in the location's own window
 * and, granted, charged to the target's window of every length in
 * key->windows too, as the local zone does.  0, or -1 when it does not fit
 * (more than PPROF_SHARED_WINDOWS_MAX other lengths, no target, or a
 * concurrency of 0).  argv points into cmd->buf and at the script's
 * text: hand cmd to hiredis before it is copied or reused.
 */
#define PPROF_SHARED_WINDOWS_MAX  10

int pprof_shared_admit_cmd(const pprof_pipeline_conf_t *conf,
    const pprof_decision_t *d, const pprof_shared_key_t *key,
    const char *sha1, pprof_shared_cmd_t *cmd);

/*
 * The lease's release, by its owner only.  With settle_ms 0 the lease is
 * freed; otherwise (a capture whose response did not complete, usually
 * PPROF_CAPTURE_SETTLE) it ends settle_ms after Redis runs the release,
 * never later than it would have, and other gateways find the slot busy
 * until then.  Its reply is an integer: 1, the lease was held; 0, the
 * owner held none, and a tombstone now lasts for the lease's length, so
 * that an admission still on its way (one that timed out here, or whose
 * connection dropped) cannot take the slot after.  Send it for every
 * admission given up on, as well as at a response's end.
 */
int pprof_shared_release_cmd(pprof_str_t endpoint, uint64_t capture_ms,
    uint64_t settle_ms, const pprof_shared_key_t *key, const char *sha1,
    pprof_shared_cmd_t *cmd);

/* The script's answer: each stage's verdict, OK where it was not asked. */
typedef struct {
    pprof_reason_t  rate;
    pprof_reason_t  slot;
    pprof_reason_t  budget;
    uint64_t        rate_retry;          /* whole seconds, >= 1 on denial */
    uint64_t        slot_retry;
    uint64_t        budget_retry;
    int             leased;              /* a lease is held for the token */
} pprof_shared_answer_t;

/*
 * The script's reply: PPROF_SHARED_REPLY_LEN integers, the first
 * PPROF_SHARED_MAGIC, then each stage's verdict (0 granted or not asked, 1
 * denied) and its retry in seconds, then whether a lease is held.
 */
#define PPROF_SHARED_MAGIC      1347441201   /* "PPR1" */
#define PPROF_SHARED_REPLY_LEN  8
#define PPROF_SHARED_RETRY_MAX  4294967295ULL

/*
 * The script's reply, an array of n integers as the caller read them.  0,
 * or -1 with a static *err for a reply that is not what the script
 * returns (another program wrote our keys, or it is not our script).
 */
int pprof_shared_answer(const long long *v, size_t n,
    pprof_shared_answer_t *a, const char **err);

/*
 * What became of an admission sent to Redis, as the link saw it.  Only
 * where Redis certainly did not run the script is it sure to hold no
 * lease: never written, or refused as an unknown script.  Any other
 * failure (an error reply, a lost or late reply, a reply not the
 * script's) may follow a script that ran, whole or half-way.
 */
typedef enum {
    PPROF_SHARED_UNSENT = 0,             /* never written to Redis */
    PPROF_SHARED_NOSCRIPT,               /* Redis did not know the script */
    PPROF_SHARED_FAILED,                 /* written, no answer of the
                                            script's came back */
    PPROF_SHARED_ANSWERED                /* the script's answer, a */
} pprof_shared_outcome_t;

/*
 * Whether the admission's token may hold a lease, which a release must then
 * give back (or, answered with a lease, the response's end).  A release
 * where none is held is harmless: it leaves a tombstone.
 */
int pprof_shared_may_hold(pprof_shared_outcome_t outcome,
    const pprof_shared_answer_t *a);

/*
 * The pipeline's store for a shared capture.  The local store's slot is
 * taken first (pprof_pipeline_reserve), so a gateway serialises its own
 * captures and Redis sees one call per admission; then Redis's verdicts,
 * replayed by pprof_pipeline_admit(conf, req, &pprof_shared_store_ops, ss,
 * d) once ss->answer is set.  With answer NULL (Redis did not answer,
 * pprof_shared_failure open), the local store's rate and budget decide.
 * lock and unlock are the local store's; a local slot that the replay did
 * not hand to d->lease is given back before unlock.  Redis's own lease
 * (answer->leased) is the caller's to release, with the release command,
 * when the response ends or at once if the request does not go ahead.
 */
typedef struct {
    const pprof_store_ops_t      *local;
    void                         *local_store;
    const pprof_shared_answer_t  *answer;
    pprof_reason_t                reserved;   /* the local slot's verdict */
    uint64_t                      reserved_retry;
    uint64_t                      lease;      /* the local slot, 0: none */
    pprof_str_t                   endpoint;   /* the local slot's, set by
                                                 pprof_pipeline_reserve */
} pprof_shared_store_t;

extern const pprof_store_ops_t  pprof_shared_store_ops;

/*
 * Before asking Redis: the local slot, into ss.  Returns whether Redis is
 * to be asked (not when enforcing and the gateway's own slot is busy: the
 * decision is then made, capture_busy; nor when the local store failed,
 * internal_error).  A request that is not a capture is not shared: it is
 * decided here on the local store, and 0 returned.
 */
int pprof_pipeline_reserve(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, pprof_shared_store_t *ss,
    pprof_decision_t *d);

/*
 * Redis did not answer in time: closed, PPROF_SHARED_STATE_UNAVAILABLE
 * with a Retry-After of 1 s, the local slot given back (a dry run forwards
 * it, as any denial, without the slot); open, stages 7-9 on the local
 * store (ss->answer NULL).
 */
void pprof_pipeline_unshared(const pprof_pipeline_conf_t *conf,
    const pprof_request_t *req, pprof_shared_store_t *ss, int open,
    pprof_decision_t *d);


/*
 * The authorization service mode (pprof_authz): another proxy asks whether
 * a request may pass, and the request's facts arrive as its headers.
 */

/* Every value of one request header, in the order received. */
typedef struct {
    const pprof_str_t  *v;
    size_t              n;
} pprof_values_t;


/*
 * The original client: walking X-Forwarded-For (xff, every line in order,
 * one list) from the right, the first entry that is not in trusted; if
 * every entry is trusted, the leftmost; with no entry, the proxy itself.
 * Entries are IPv4, IPv6 or [IPv6], each with an optional :port; empty
 * list elements are skipped.  Entries left of the one that decides are
 * the client's own words and are not read.  A proxy outside trusted (the
 * caller has denied it already: untrusted_proxy) makes the client the
 * proxy itself.  PPROF_OK, or PPROF_BAD_PARAMETER with a static *detail
 * when the deciding entry is not an address: a guess could let a forged
 * entry pass for the client.
 */
pprof_reason_t pprof_authz_client(pprof_values_t xff,
    const pprof_addr_t *proxy, const pprof_cidr_t *trusted, size_t ntrusted,
    pprof_addr_t *client, const char **detail);

/* An address as text (inet_ntop); 0 when it has none (PPROF_ADDR_ANY). */
#define PPROF_ADDR_TEXT_MAX  46
size_t pprof_addr_text(const pprof_addr_t *a, char *buf, size_t cap);

typedef enum {
    PPROF_AUTHZ_ENVOY = 0,         /* Envoy ext_authz, Istio */
    PPROF_AUTHZ_FORWARD,           /* Traefik ForwardAuth, Caddy */
    PPROF_AUTHZ_ORIGINAL           /* nginx auth_request, ingress-nginx */
} pprof_authz_mode_t;

/* What the check request carries; each mode reads its own fields. */
typedef struct {
    pprof_str_t     method;            /* envoy: the check's method */
    pprof_str_t     target;            /* envoy: its raw target, path?query */
    pprof_values_t  forwarded_method;  /* forward: X-Forwarded-Method */
    pprof_values_t  forwarded_uri;     /* forward: X-Forwarded-Uri */
    pprof_values_t  original_method;   /* original: X-Original-Method */
    pprof_values_t  original_url;      /* original: X-Original-URL */
    pprof_values_t  original_uri;      /* original: X-Original-URI */
    int             body;              /* the check itself has a body */
} pprof_authz_check_t;

#define PPROF_AUTHZ_URI_MAX  4096

/* The original request; method_name and query point into the check. */
typedef struct {
    pprof_method_t  method;            /* OTHER for any other method */
    pprof_str_t     method_name;       /* as sent, for the audit record */
    pprof_str_t     query;             /* raw, after '?'; empty if none */
    size_t          path_len;
    unsigned char   path[PPROF_AUTHZ_URI_MAX];  /* decoded, as $uri */
} pprof_authz_request_t;

/*
 * The original request of a check.  envoy: the check's method and target,
 * prefix (pprof_authz_prefix, may be empty, no trailing '/') removed from
 * the front: a target that does not continue with '/' after it is
 * PPROF_UNKNOWN_ENDPOINT.  forward: X-Forwarded-Method and -Uri.
 * original: X-Original-Method and X-Original-URL (its host ignored) or
 * X-Original-URI; with both, they must agree.  A missing or repeated
 * header, a method that is not a token, or a target that is not
 * "/path[?query]" is PPROF_BAD_PARAMETER.  So is a path that nginx's
 * normalisation would change or a reader could split differently: "//",
 * "." and ".." segments, %-encoded '/', '\', '.', '%', '?', '#' or control
 * bytes, raw '\', '#', spaces, controls and non-ASCII.  What is left
 * decodes to one path that every reader reads alike (req->path).  *detail
 * is a static explanation of a refusal, NULL on PPROF_OK.  The path goes
 * to pprof_policy_classify, the query to pprof_authz_params.
 */
pprof_reason_t pprof_authz_request(pprof_authz_mode_t mode,
    pprof_str_t prefix, const pprof_authz_check_t *check,
    pprof_authz_request_t *req, const char **detail);

/* TLS from X-Forwarded-Proto (every line): one value, "https". */
int pprof_authz_https(pprof_values_t proto);

/*
 * Stage 6 for the authz mode: the query must already be canonical, since
 * the proxy forwards it as it is.  pprof_policy_params' verdict first;
 * then the query must equal params->canonical, except that profile and
 * trace may omit seconds (Go's 30 s and 1 s; params says so), which for
 * profile is PPROF_BAD_PARAMETER when max_seconds is under 30.  A refusal
 * that has a better answer writes it to detail (capacity cap, one line of
 * ASCII, the canonical query included); detail is "" otherwise.  Hand it
 * to pprof_denial_render_detail.
 */
#define PPROF_AUTHZ_DETAIL_MAX  128

pprof_reason_t pprof_authz_params(const pprof_endpoint_t *ep,
    pprof_str_t query, pprof_method_t method, long long body_len,
    unsigned max_seconds, pprof_params_t *params, char *detail, size_t cap);

/*
 * The status a denial is answered with.  nginx's auth_request passes on
 * only 401 and 403 (anything else is its 500), so in original mode 401
 * stays and every other denial is 403, its real status in a header.
 */
int pprof_authz_status(pprof_authz_mode_t mode, pprof_reason_t reason);

/*
 * The allow answer's headers.  X-Pprof-Identity: every byte outside RFC
 * 3986's unreserved set and ":/@" as %XX, uppercase (at most three bytes
 * per identity byte, plus a NUL).  X-Pprof-Roles: the roles joined with
 * ','; a role that is empty or holds a comma, space, control or non-ASCII
 * byte fails.  Both write a NUL-terminated value and its length; 0, or -1
 * (buffer too small, bad role): the caller denies with internal_error.
 */
int pprof_authz_identity_header(pprof_str_t identity, char *buf, size_t cap,
    size_t *len);
int pprof_authz_roles_header(const pprof_str_t *roles, size_t n, char *buf,
    size_t cap, size_t *len);

#endif /* PPROF_POLICY_H */
