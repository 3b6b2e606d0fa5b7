/* Shared by the core's unit tests: cmocka and a string literal helper. */

#ifndef PPROF_UNIT_H
#define PPROF_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy.h"

static inline pprof_str_t
S(const char *s)
{
    pprof_str_t  str = { (const unsigned char *) s, strlen(s) };

    return str;
}

/* For strings with embedded NUL bytes. */
static inline pprof_str_t
SN(const char *s, size_t len)
{
    pprof_str_t  str = { (const unsigned char *) s, len };

    return str;
}

#endif
