/*
 * ASCII for protocol text: header values, schemes, names.  Locale-free on
 * purpose, so that a name means the same in every process.
 */

#include <string.h>

#include "policy.h"


int
pprof_hex_value(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


int
pprof_ascii_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}


int
pprof_ascii_starts_ci(pprof_str_t s, const char *lit)
{
    size_t  i, n;

    n = strlen(lit);
    if (s.len < n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (pprof_ascii_lower(s.data[i]) != lit[i]) {
            return 0;
        }
    }

    return 1;
}


int
pprof_ascii_equal_ci(pprof_str_t s, const char *lit)
{
    return s.len == strlen(lit) && pprof_ascii_starts_ci(s, lit);
}
