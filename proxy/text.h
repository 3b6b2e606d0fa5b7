/*
 * A bounded text writer, private to proxy/: the audit encoder and the
 * provenance lines write through it.  Writing stops at the capacity and
 * sets full, so that a caller checks once, at the end; one byte is always
 * kept for the terminating NUL.
 */

#ifndef PPROF_PROXY_TEXT_H
#define PPROF_PROXY_TEXT_H

#include <stddef.h>
#include <string.h>


typedef struct {
    char    *p;
    size_t   left;
    int      full;
} pprof_text_t;


static inline void
pprof_text_put(pprof_text_t *t, const void *data, size_t len)
{
    if (t->full || len >= t->left) {
        t->full = 1;
        return;
    }

    memcpy(t->p, data, len);
    t->p += len;
    t->left -= len;
}

#endif /* PPROF_PROXY_TEXT_H */
