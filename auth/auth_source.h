/*
 * Private to auth/: one function per identity source, each filling the
 * result with OK, UNAUTHENTICATED (nothing offered) or INVALID_CREDENTIAL.
 */

#ifndef PPROF_AUTH_SOURCE_H
#define PPROF_AUTH_SOURCE_H

#include "auth.h"

void pprof_auth_cert(const pprof_auth_input_t *input,
    pprof_auth_result_t *result);

/*
 * Copies an identity if it is printable (ASCII only when ascii is set) and
 * fits; 0, or -1 with the result set to INVALID_CREDENTIAL and a detail.
 */
int pprof_auth_set_identity(pprof_auth_result_t *result,
    const unsigned char *data, size_t len, int ascii);

#endif /* PPROF_AUTH_SOURCE_H */
