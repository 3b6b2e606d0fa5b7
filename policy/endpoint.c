/*
 * Stage 1 and 2: which endpoint a request names, its class, whether the
 * method fits, and what the transport mode makes of a plain connection.
 */

#include <string.h>

#include "policy.h"


static const struct {
    const char       *name;
    pprof_ep_kind_t   kind;
    pprof_class_t     cls;
} known[] = {
    { "cmdline", PPROF_EP_CMDLINE, PPROF_CLASS_CMDLINE },
    { "symbol", PPROF_EP_SYMBOL, PPROF_CLASS_SYMBOL },
    { "profile", PPROF_EP_PROFILE, PPROF_CLASS_CAPTURE },
    { "trace", PPROF_EP_TRACE, PPROF_CLASS_CAPTURE },
    { "heap", PPROF_EP_HEAP, PPROF_CLASS_SNAPSHOT },
    { "allocs", PPROF_EP_SNAPSHOT, PPROF_CLASS_SNAPSHOT },
    { "goroutine", PPROF_EP_SNAPSHOT, PPROF_CLASS_SNAPSHOT },
    { "block", PPROF_EP_SNAPSHOT, PPROF_CLASS_SNAPSHOT },
    { "mutex", PPROF_EP_SNAPSHOT, PPROF_CLASS_SNAPSHOT },
    { "threadcreate", PPROF_EP_SNAPSHOT, PPROF_CLASS_SNAPSHOT },
};


/*
 * Custom profile names are Go identifiers in practice; anything beyond
 * letters, digits, '_', '-' and '.' is refused rather than interpreted.
 */
static int
name_is_plain(pprof_str_t name)
{
    size_t  i;
    int     c;

    if (name.len == 0 || name.len > PPROF_ENDPOINT_NAME_MAX) {
        return 0;
    }

    if (name.data[0] == '.') {
        return 0;                    /* ".", "..", hidden names */
    }

    for (i = 0; i < name.len; i++) {
        c = name.data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
        {
            return 0;
        }
    }

    return 1;
}


/* 1 and the table row for a known name, 0 for a custom one, -1 refused. */
static int
lookup(pprof_str_t name, size_t *row)
{
    size_t  i;

    if (!name_is_plain(name)) {
        return -1;
    }

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (!pprof_ascii_equal_ci(name, known[i].name)) {
            continue;
        }

        /*
         * "CMDLINE" is not Go's cmdline but would slip past a role that
         * lacks cmdline as a custom snapshot: refuse look-alikes outright.
         */
        if (memcmp(name.data, known[i].name, name.len) != 0) {
            return -1;
        }

        *row = i;
        return 1;
    }

    return 0;
}


pprof_reason_t
pprof_policy_classify(pprof_str_t prefix, pprof_str_t uri,
    pprof_method_t method, pprof_str_t args, pprof_endpoint_t *ep)
{
    size_t       row;
    pprof_str_t  name;

    ep->name.data = uri.data;
    ep->name.len = 0;
    ep->kind = PPROF_EP_SNAPSHOT;
    ep->cls = PPROF_CLASS_COUNT;

    if (prefix.len == 0 || uri.len < prefix.len
        || memcmp(uri.data, prefix.data, prefix.len) != 0)
    {
        return PPROF_UNKNOWN_ENDPOINT;
    }

    name.data = uri.data + prefix.len;
    name.len = uri.len - prefix.len;

    if (name.len == 0) {
        ep->kind = PPROF_EP_INDEX;
        ep->cls = PPROF_CLASS_INDEX;

    } else {
        switch (lookup(name, &row)) {

        case 1:
            ep->kind = known[row].kind;
            ep->cls = known[row].cls;
            break;

        case 0:
            ep->kind = PPROF_EP_SNAPSHOT;
            ep->cls = PPROF_CLASS_SNAPSHOT;
            break;

        default:
            return PPROF_UNKNOWN_ENDPOINT;
        }
    }

    ep->name = name;

    if (method == PPROF_METHOD_POST ? ep->kind != PPROF_EP_SYMBOL
                                    : method == PPROF_METHOD_OTHER)
    {
        return PPROF_METHOD_NOT_ALLOWED;
    }

    if (ep->cls == PPROF_CLASS_SNAPSHOT && pprof_params_has_seconds(args)) {
        ep->cls = PPROF_CLASS_CAPTURE;
    }

    return PPROF_OK;
}


int
pprof_location_reaches(pprof_str_t location, int exact, pprof_str_t prefix)
{
    pprof_str_t       rest, noargs;
    pprof_endpoint_t  ep;

    if (exact) {
        noargs.data = NULL;
        noargs.len = 0;

        return pprof_policy_classify(prefix, location, PPROF_METHOD_GET,
                                     noargs, &ep)
               == PPROF_OK;
    }

    if (location.len <= prefix.len) {
        /* the index, and every endpoint after it, begin with location */
        return memcmp(location.data, prefix.data, location.len) == 0;
    }

    if (memcmp(location.data, prefix.data, prefix.len) != 0) {
        return 0;
    }

    /* Some name begins with the rest when the rest is itself a name. */
    rest.data = location.data + prefix.len;
    rest.len = location.len - prefix.len;

    return name_is_plain(rest);
}


int
pprof_location_under_prefix(pprof_str_t location, int exact,
    pprof_str_t prefix)
{
    return prefix.len > 0 && location.len >= prefix.len - 1
           && pprof_location_reaches(location, exact, prefix);
}


const char *
pprof_endpoint_example(size_t i)
{
    if (i == 0) {
        return "";
    }

    return i <= sizeof(known) / sizeof(known[0]) ? known[i - 1].name : NULL;
}


const char *
pprof_endpoint_allow(const pprof_endpoint_t *ep)
{
    return ep->kind == PPROF_EP_SYMBOL ? "GET, HEAD, POST" : "GET, HEAD";
}


pprof_transport_t
pprof_policy_transport(pprof_tls_mode_t mode, int is_tls,
    pprof_method_t method)
{
    if (is_tls || mode == PPROF_TLS_MODE_OFF) {
        return PPROF_TRANSPORT_PASS;
    }

    /* A redirected POST would lose its body: only safe methods move. */
    if (mode == PPROF_TLS_MODE_REDIRECT
        && (method == PPROF_METHOD_GET || method == PPROF_METHOD_HEAD))
    {
        return PPROF_TRANSPORT_REDIRECT;
    }

    return PPROF_TRANSPORT_DENY;
}


/*
 * Only classes and Go's own endpoint names: a typo such as "captures" must
 * fail nginx -t rather than grant nothing, or something, silently.  Custom
 * profiles are reached through the snapshot class.
 */
int
pprof_permission_parse(pprof_str_t word, pprof_class_t *cls)
{
    pprof_class_t  c;
    size_t         row;

    for (c = 0; c < PPROF_CLASS_COUNT; c++) {
        if (word.len == strlen(pprof_class_name(c))
            && memcmp(word.data, pprof_class_name(c), word.len) == 0)
        {
            *cls = c;
            return 1;
        }
    }

    return lookup(word, &row) == 1 ? 0 : -1;
}
