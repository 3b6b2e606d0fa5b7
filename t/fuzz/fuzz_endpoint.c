/*
 * Path classification (policy/endpoint.c), stage 1.
 *
 * Input: one byte choosing the method (low two bits) and the location
 * prefix (the rest), the uri as a length byte and its bytes, then the
 * query string.  Asserts that a classified endpoint is exactly the part of
 * the uri after the prefix, made of plain name bytes; that a class of
 * Go's own names is given only to that exact name (never to a look-alike
 * such as "CMDLINE"); that a snapshot turns into a capture exactly when
 * the query has a seconds key; and that the method verdict follows the
 * endpoint.
 */

#include <string.h>

#include "fuzz.h"


static const char *const  prefixes[] = {
    "/debug/pprof/", "/", "/pprof", "/a/b/c/"
};

static const struct {
    const char       *name;
    pprof_ep_kind_t   kind;
    pprof_class_t     cls;
} go_names[] = {
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

#define NGO  (sizeof(go_names) / sizeof(go_names[0]))


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    return 0;
}


static int
same_ci(pprof_str_t s, const char *name)
{
    size_t  i;

    if (s.len != strlen(name)) {
        return 0;
    }

    for (i = 0; i < s.len; i++) {
        if ((s.data[i] >= 'A' && s.data[i] <= 'Z' ? s.data[i] | 0x20
                                                  : s.data[i]) != name[i])
        {
            return 0;
        }
    }

    return 1;
}


static int
plain_name(pprof_str_t s)
{
    size_t  i;
    int     c;

    if (s.len == 0 || s.len > PPROF_ENDPOINT_NAME_MAX || s.data[0] == '.') {
        return 0;
    }

    for (i = 0; i < s.len; i++) {
        c = s.data[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
        {
            return 0;
        }
    }

    return 1;
}


static void
check_permission(pprof_str_t word)
{
    pprof_class_t  cls = PPROF_CLASS_COUNT;
    size_t         i;
    int            rc, go;

    rc = pprof_permission_parse(word, &cls);

    go = 0;
    for (i = 0; i < NGO; i++) {
        go |= fz_str_is(word, go_names[i].name);
    }

    if (rc == 1) {
        FZ_CHECK(cls < PPROF_CLASS_COUNT);
        FZ_CHECK(fz_str_is(word, pprof_class_name(cls)));

    } else {
        FZ_CHECK(rc == (go ? 0 : -1));
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t              in = { data, size };
    pprof_str_t       prefix, uri, args, name;
    pprof_endpoint_t  ep;
    pprof_method_t    method;
    pprof_reason_t    rc;
    const char       *p;
    size_t            i, row;
    uint8_t           b;
    int               lookalike;

    b = fz_u8(&in);
    method = (pprof_method_t) (b & 3);
    p = prefixes[(b >> 2) % (sizeof(prefixes) / sizeof(prefixes[0]))];
    prefix.data = (const unsigned char *) p;
    prefix.len = strlen(p);
    uri = fz_field(&in);
    args = fz_rest(&in);

    rc = pprof_policy_classify(prefix, uri, method, args, &ep);

    FZ_CHECK(rc == PPROF_OK || rc == PPROF_UNKNOWN_ENDPOINT
             || rc == PPROF_METHOD_NOT_ALLOWED);

    check_permission(uri);

    if (uri.len < prefix.len || memcmp(uri.data, p, prefix.len) != 0) {
        FZ_CHECK(rc == PPROF_UNKNOWN_ENDPOINT);
        return 0;
    }

    name.data = uri.data + prefix.len;
    name.len = uri.len - prefix.len;

    row = NGO;
    lookalike = 0;
    for (i = 0; i < NGO; i++) {
        if (fz_str_is(name, go_names[i].name)) {
            row = i;
        } else if (same_ci(name, go_names[i].name)) {
            lookalike = 1;
        }
    }

    if (name.len > 0 && (!plain_name(name) || lookalike)) {
        FZ_CHECK(rc == PPROF_UNKNOWN_ENDPOINT);
        return 0;
    }

    FZ_CHECK(rc != PPROF_UNKNOWN_ENDPOINT);
    FZ_CHECK(ep.name.data == name.data && ep.name.len == name.len);
    FZ_CHECK(pprof_endpoint_allow(&ep) != NULL);

    if (name.len == 0) {
        FZ_CHECK(ep.kind == PPROF_EP_INDEX && ep.cls == PPROF_CLASS_INDEX);

    } else if (row < NGO) {
        FZ_CHECK(ep.kind == go_names[row].kind);
        FZ_CHECK(ep.cls == go_names[row].cls
                 || (go_names[row].cls == PPROF_CLASS_SNAPSHOT
                     && ep.cls == PPROF_CLASS_CAPTURE));

    } else {
        FZ_CHECK(ep.kind == PPROF_EP_SNAPSHOT);
        FZ_CHECK(ep.cls == PPROF_CLASS_SNAPSHOT
                 || ep.cls == PPROF_CLASS_CAPTURE);
    }

    /* A snapshot is a delta capture exactly when seconds is asked for
     * (judged only once the method passed). */
    if (rc == PPROF_OK
        && (ep.kind == PPROF_EP_HEAP || ep.kind == PPROF_EP_SNAPSHOT))
    {
        FZ_CHECK((ep.cls == PPROF_CLASS_CAPTURE)
                 == (pprof_params_has_seconds(args) != 0));
    }

    FZ_CHECK((rc == PPROF_METHOD_NOT_ALLOWED)
             == (method == PPROF_METHOD_OTHER
                 || (method == PPROF_METHOD_POST
                     && ep.kind != PPROF_EP_SYMBOL)));

    return 0;
}
