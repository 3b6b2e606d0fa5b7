/*
 * auth: who is asking.  An ordered list of identity sources (SPEC §5); the
 * first that yields an identity wins, and one whose credential is present
 * but invalid ends the search.
 *
 * Portable C11, OpenSSL and jansson, no nginx header.
 */

#ifndef PPROF_AUTH_H
#define PPROF_AUTH_H

#include <openssl/x509.h>

#include "policy/policy.h"


typedef enum {
    PPROF_AUTH_NONE = 0,
    PPROF_AUTH_CERT,
    PPROF_AUTH_JWT,
    PPROF_AUTH_APIKEY,
    PPROF_AUTH_VARIABLE,
    PPROF_AUTH_ANONYMOUS,
    PPROF_AUTH_XFCC            /* X-Forwarded-Client-Cert, from a proxy */
} pprof_auth_method_t;

const char *pprof_auth_method_name(pprof_auth_method_t method);


/*
 * Keys for the jwt source: a JWKS document (RSA, EC P-256/P-384, OKP
 * Ed25519, oct) or PEM public keys.  Loaded at configuration time.
 * Keys of a type this build does not verify with are skipped and counted
 * in *skipped; a broken key, or a set with no usable key, is an error.
 */
typedef struct pprof_jwt_keys_s  pprof_jwt_keys_t;

pprof_jwt_keys_t *pprof_jwt_keys_parse(const unsigned char *data, size_t len,
    size_t *skipped, char *err, size_t errlen);
pprof_jwt_keys_t *pprof_jwt_keys_load(const char *path, size_t *skipped,
    char *err, size_t errlen);
void pprof_jwt_keys_free(pprof_jwt_keys_t *keys);
size_t pprof_jwt_keys_count(const pprof_jwt_keys_t *keys);

typedef struct {
    const pprof_jwt_keys_t  *keys;
    long long                leeway;          /* seconds, for exp and nbf */
    pprof_str_t              issuer;          /* empty: not checked */
    pprof_str_t              audience;        /* empty: not checked */
    pprof_str_t              identity_claim;  /* "sub" by default */
    pprof_str_t              roles_claim;     /* "roles" by default */
} pprof_jwt_conf_t;

/* Claim names usable as JSON keys; 0, or -1 with a static explanation. */
int pprof_jwt_conf_check(const pprof_jwt_conf_t *conf, const char **err);

#define PPROF_JWT_TOKEN_MAX  8192


/*
 * API keys: lines "<sha256 hex of key> <identity> [role...]", '#' starts a
 * comment.  A malformed line is an error naming its line number.
 */
typedef struct pprof_apikeys_s  pprof_apikeys_t;

pprof_apikeys_t *pprof_apikeys_parse(const unsigned char *data, size_t len,
    char *err, size_t errlen);
pprof_apikeys_t *pprof_apikeys_load(const char *path, char *err,
    size_t errlen);
void pprof_apikeys_free(pprof_apikeys_t *keys);
size_t pprof_apikeys_count(const pprof_apikeys_t *keys);

#define PPROF_APIKEY_MAX  512


typedef struct {
    pprof_auth_method_t      method;
    const pprof_jwt_conf_t  *jwt;        /* PPROF_AUTH_JWT */
    const pprof_apikeys_t   *apikeys;    /* PPROF_AUTH_APIKEY */
    size_t                   variable;   /* PPROF_AUTH_VARIABLE: input index */
} pprof_auth_source_t;

/*
 * One word of pprof_identity: cert, xfcc, jwt, apikey, anonymous or $name (the
 * caller resolves the variable and sets source->variable).  0, or -1 with a
 * static explanation.
 */
int pprof_auth_source_parse(pprof_str_t word, pprof_auth_source_t *source,
    const char **err);

/* The WWW-Authenticate value for a 401, or NULL when no source reads one. */
const char *pprof_auth_challenge(const pprof_auth_source_t *sources,
    size_t n);

/* A server's ssl_verify_client. */
typedef enum {
    PPROF_TLS_VERIFY_OFF = 0,
    PPROF_TLS_VERIFY_ON,
    PPROF_TLS_VERIFY_OPTIONAL           /* optional and optional_no_ca */
} pprof_tls_verify_t;

typedef enum {
    PPROF_TLS_CONFLICT_NONE = 0,
    PPROF_TLS_CONFLICT_CERT_UNASKED,    /* a cert source, verify off */
    PPROF_TLS_CONFLICT_KEY_REFUSED      /* jwt or apikey, verify on */
} pprof_tls_conflict_t;

/*
 * How a server's TLS settings defeat a location's sources, for nginx -t:
 * off, no certificate is asked for; on, nginx answers a client without
 * one 400 before the module runs, key users included, but only where
 * there is a handshake: tls says whether the server has certificates.
 */
pprof_tls_conflict_t pprof_auth_tls_conflict(
    const pprof_auth_source_t *sources, size_t n, int tls,
    pprof_tls_verify_t verify);


/*
 * What the request offers; the caller fills what its sources need.
 *
 * xfcc: every X-Forwarded-Client-Cert line of the request, in the order
 * received; several lines are one comma-separated list, as RFC 9110 joins
 * them.  They are read only when xfcc_trusted is set (the peer's address
 * is in pprof_trusted_proxies); otherwise the source sees no header at
 * all, and the caller logs that it ignored one.  The identity comes from
 * the last element (the nearest proxy's): its first URI, else its first
 * DNS, else the CN of its Subject (an RFC 4514 DN), with cert's rules.
 * Any malformed line, element or value is INVALID_CREDENTIAL, with a
 * static detail.
 */
#define PPROF_XFCC_MAX  65536            /* all lines together, in bytes */

typedef struct {
    X509                *cert;           /* the peer certificate, or NULL */
    long                 verify_result;  /* X509_V_OK when TLS verified it */
    const pprof_str_t   *xfcc;           /* X-Forwarded-Client-Cert lines */
    size_t               nxfcc;
    int                  xfcc_trusted;   /* the peer may set them */
    pprof_str_t          authorization;  /* the header's value, or empty */
    const pprof_str_t   *variables;      /* by pprof_auth_source_t.variable */
    size_t               nvariables;
    long long            now;            /* Unix time, for exp and nbf */
    const char          *no_cert;        /* why cert cannot have one, or
                                            NULL: the 401's detail */
} pprof_auth_input_t;


#define PPROF_IDENTITY_MAX   1024
#define PPROF_AUTH_ROLES_MAX 32
#define PPROF_AUTH_ROLE_MAX  64

/*
 * roles point into rolebuf: use the result where it was filled.  An
 * identity refused for its length is no identity (identity_len 0), but
 * its first refused_len bytes stay in identity for the audit record.
 */
typedef struct {
    pprof_reason_t       reason;   /* OK, UNAUTHENTICATED, INVALID_CREDENTIAL */
    pprof_auth_method_t  method;   /* the source that decided */
    const char          *detail;   /* why a credential failed; no secrets */
    const char          *told;     /* a refused JWT or API key, for the
                                      client's body: fixed text naming
                                      nothing sent; NULL */
    const char          *token_error;  /* told, as RFC 6750's
                                          error_description: only for a
                                          Bearer credential; NULL */
    size_t               identity_len;
    size_t               refused_len;
    unsigned char        identity[PPROF_IDENTITY_MAX];
    size_t               nroles;   /* from a JWT claim or the key file */
    pprof_str_t          roles[PPROF_AUTH_ROLES_MAX];
    unsigned char        rolebuf[PPROF_AUTH_ROLES_MAX * PPROF_AUTH_ROLE_MAX];
} pprof_auth_result_t;

void pprof_auth_identify(const pprof_auth_source_t *sources, size_t n,
    const pprof_auth_input_t *input, pprof_auth_result_t *result);

/* One compact JWS checked against conf at time now (OK or INVALID). */
void pprof_jwt_verify(const pprof_jwt_conf_t *conf, pprof_str_t token,
    long long now, pprof_auth_result_t *result);

#endif /* PPROF_AUTH_H */
