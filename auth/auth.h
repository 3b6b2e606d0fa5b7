/*
 * auth: who is asking.  An ordered list of identity sources (SPEC §5); the
 * first that yields an identity wins, and one whose credential is present
 * but invalid ends the search.
 *
 * Portable C11 and OpenSSL, no nginx header.
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
    PPROF_AUTH_ANONYMOUS
} pprof_auth_method_t;

const char *pprof_auth_method_name(pprof_auth_method_t method);


typedef struct {
    pprof_auth_method_t  method;
} pprof_auth_source_t;

/*
 * One word of pprof_identity.  0, or -1 with a static explanation: the
 * word is unknown, or names a source this build does not have yet.
 */
int pprof_auth_source_parse(pprof_str_t word, pprof_auth_source_t *source,
    const char **err);


/* What the connection offers; the caller fills what its sources need. */
typedef struct {
    X509  *cert;                 /* the peer certificate, or NULL */
    long   verify_result;        /* X509_V_OK when the TLS layer verified it */
} pprof_auth_input_t;


#define PPROF_IDENTITY_MAX  1024

typedef struct {
    pprof_reason_t       reason;   /* OK, UNAUTHENTICATED, INVALID_CREDENTIAL */
    pprof_auth_method_t  method;   /* the source that decided */
    const char          *detail;   /* why a credential failed; no secrets */
    size_t               identity_len;
    unsigned char        identity[PPROF_IDENTITY_MAX];
} pprof_auth_result_t;

void pprof_auth_identify(const pprof_auth_source_t *sources, size_t n,
    const pprof_auth_input_t *input, pprof_auth_result_t *result);

#endif /* PPROF_AUTH_H */
