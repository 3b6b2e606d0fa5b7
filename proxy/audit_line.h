/*
 * An audit line read back, private to proxy/.  The chain head a writer
 * resumes from (audit_chain.c) and pprof-audit verify (audit_verify.c)
 * must agree on which lines are records, so they share one parser.
 */

#ifndef PPROF_PROXY_AUDIT_LINE_H
#define PPROF_PROXY_AUDIT_LINE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "proxy.h"


/* The longest line without its newline: line and newline fit LINE_MAX. */
#define PPROF_AUDIT_LINE_LEN_MAX  (PPROF_AUDIT_LINE_MAX - 1)

/* The prev of a chain's first record. */
#define PPROF_AUDIT_ZERO_HASH                                                 \
    "0000000000000000000000000000000000000000000000000000000000000000"

/* What the chain rests on in a parsed line; the strings live in json. */
typedef struct {
    json_t      *json;
    uint64_t     seq;
    const char  *prev;
    int          checkpoint;
} pprof_audit_parsed_t;

/*
 * NULL with rec set (json_decref(rec->json) after), or why the line is
 * no record: "not JSON" or "not a record".
 */
const char *pprof_audit_parse_line(const char *line, size_t len,
    pprof_audit_parsed_t *rec);

#endif /* PPROF_PROXY_AUDIT_LINE_H */
