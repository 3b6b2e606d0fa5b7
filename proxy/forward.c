/*
 * What of the client's request may travel upstream: which headers stay
 * behind, and whether a proxy_pass sends only the canonical request line.
 */

#include <string.h>

#include "proxy.h"


/*
 * The gateway consumes credentials; the target must never see them, or a
 * profile endpoint's logs become a place to harvest them from.
 */
int
pprof_proxy_is_credential_header(pprof_str_t lowcase_name)
{
    static const char  *credentials[] = {
        "authorization",
        "proxy-authorization",
        "cookie",
    };

    size_t  i;

    for (i = 0; i < sizeof(credentials) / sizeof(credentials[0]); i++) {
        if (lowcase_name.len == strlen(credentials[i])
            && memcmp(lowcase_name.data, credentials[i], lowcase_name.len)
               == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * proxy_pass (SPEC §4).  nginx builds the upstream request line in one of
 * two ways.  Without a URI part it sends the request's URI and arguments,
 * which the module has rewritten; a static URI part replaces the
 * location's name in that URI.  With variables, a URI part in the value is
 * sent as it is, so only the variables that the module also rewrites may
 * make it up.
 */

typedef struct {
    pprof_str_t  name;                 /* empty: a literal byte */
    size_t       end;                  /* offset just past the token */
} pprof_pass_token_t;


/* word in lower case; s in any, as nginx reads variable names and schemes */
static int
pprof_pass_starts_nocase(pprof_str_t s, size_t at, const char *word)
{
    size_t         i, n;
    unsigned char  c;

    n = strlen(word);

    if (s.len - at < n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        c = s.data[at + i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c != (unsigned char) word[i]) {
            return 0;
        }
    }

    return 1;
}


static int
pprof_pass_is(pprof_str_t name, const char *word)
{
    return name.len == strlen(word) && pprof_pass_starts_nocase(name, 0, word);
}


/* The literal byte or the variable ($name, ${name}, $1) at offset at. */
static pprof_pass_token_t
pprof_pass_token(pprof_str_t url, size_t at)
{
    size_t              i;
    pprof_pass_token_t  t;

    t.name.data = NULL;
    t.name.len = 0;
    t.end = at + 1;

    if (url.data[at] != '$') {
        return t;
    }

    i = at + 1;

    if (i < url.len && url.data[i] == '{') {
        t.name.data = url.data + i + 1;

        for (i++; i < url.len && url.data[i] != '}'; i++) { /* void */ }

        t.name.len = url.data + i - t.name.data;
        t.end = i < url.len ? i + 1 : i;
        return t;
    }

    t.name.data = url.data + i;

    /* nginx reads a digit after "$" as a one-digit regex capture. */
    if (i < url.len && url.data[i] >= '0' && url.data[i] <= '9') {
        i++;

    } else {
        while (i < url.len
               && (((url.data[i] | 0x20) >= 'a' && (url.data[i] | 0x20) <= 'z')
                   || (url.data[i] >= '0' && url.data[i] <= '9')
                   || url.data[i] == '_'))
        {
            i++;
        }
    }

    t.name.len = url.data + i - t.name.data;
    t.end = i;

    return t;
}


/*
 * Variables whose value is the client's request target or a part of it:
 * where one appears, the URI part has begun, whatever byte precedes it.
 */
static int
pprof_pass_is_request_variable(pprof_str_t name)
{
    static const char  *request[] = {
        "request_uri", "uri", "document_uri", "args", "query_string",
        "is_args", "request", "request_body",
    };

    size_t  i;

    if (name.len && name.data[0] >= '0' && name.data[0] <= '9') {
        return 1;
    }

    if (pprof_pass_starts_nocase(name, 0, "arg_")) {
        return 1;
    }

    for (i = 0; i < sizeof(request) / sizeof(request[0]); i++) {
        if (pprof_pass_is(name, request[i])) {
            return 1;
        }
    }

    return 0;
}


/*
 * Where the URI part of a proxy_pass URL begins, as nginx's URL parser
 * finds it: after "unix:<path>:", else at the first "/" or "?" after the
 * scheme.  In the written form (variables set) a request variable begins
 * it too, whatever byte precedes it; in an evaluated value every byte is
 * literal.  -1 when the scheme is not http:// or https://.
 */
static int
pprof_pass_uri_part(pprof_str_t url, int variables, pprof_str_t *uri)
{
    size_t              at;
    pprof_pass_token_t  t;

    if (pprof_pass_starts_nocase(url, 0, "http://")) {
        at = sizeof("http://") - 1;

    } else if (pprof_pass_starts_nocase(url, 0, "https://")) {
        at = sizeof("https://") - 1;

    } else {
        return -1;
    }

    if (pprof_pass_starts_nocase(url, at, "unix:")) {
        for (at += 5; at < url.len && url.data[at] != ':'; at++) {
            /* void */
        }

        at += (at < url.len);

    } else {
        while (at < url.len) {
            if (variables) {
                t = pprof_pass_token(url, at);

            } else {
                t.name.data = NULL;
                t.end = at + 1;
            }

            if (t.name.data == NULL
                ? url.data[at] == '/' || url.data[at] == '?'
                : pprof_pass_is_request_variable(t.name))
            {
                break;
            }

            at = t.end;
        }
    }

    uri->data = url.data + at;
    uri->len = url.len - at;

    return 0;
}


/*
 * A URI part of variables only: $request_uri, which the module sets to the
 * canonical request, or $uri$is_args$args (or their synonyms), which read
 * the rewritten URI and arguments.
 */
static int
pprof_pass_uri_is_rewritten(pprof_str_t uri)
{
    size_t              at, n;
    pprof_str_t         v[3];
    pprof_pass_token_t  t;

    n = 0;

    for (at = 0; at < uri.len; at = t.end) {
        t = pprof_pass_token(uri, at);

        if (t.name.data == NULL || n == 3) {
            return 0;
        }

        v[n++] = t.name;
    }

    if (n == 1) {
        return pprof_pass_is(v[0], "request_uri");
    }

    return n == 3
           && (pprof_pass_is(v[0], "uri") || pprof_pass_is(v[0], "document_uri"))
           && pprof_pass_is(v[1], "is_args")
           && (pprof_pass_is(v[2], "args") || pprof_pass_is(v[2], "query_string"));
}


int
pprof_proxy_pass_check(pprof_str_t url, pprof_str_t location,
    pprof_str_t prefix, pprof_str_t *host, const char **why)
{
    pprof_str_t  uri;

    host->data = url.data;
    host->len = 0;

    if (pprof_pass_uri_part(url, 1, &uri) != 0) {
        *why = "does not start with http:// or https://, so where its URI "
               "part begins cannot be judged";
        return -1;
    }

    if (memchr(url.data, '$', uri.data - url.data) != NULL) {
        host->len = uri.data - url.data;
    }

    if (uri.len == 0) {
        return 0;
    }

    if (memchr(uri.data, '$', uri.len) != NULL) {
        if (pprof_pass_uri_is_rewritten(uri)) {
            return 0;
        }

        *why = "has a URI part with variables other than $request_uri or "
               "$uri$is_args$args: the target would receive what they "
               "hold, not the canonical request";
        return -1;
    }

    if (uri.data[0] != '/' || uri.data[uri.len - 1] != '/'
        || memchr(uri.data, '?', uri.len) != NULL)
    {
        *why = "has a URI part that does not start and end with \"/\" or "
               "that has a query: the target would receive an endpoint or "
               "parameters the module did not print";
        return -1;
    }

    if (location.len > prefix.len
        || memcmp(location.data, prefix.data, location.len) != 0)
    {
        *why = "has a URI part, which replaces the location's name, and "
               "that name is not a prefix of pprof_prefix: part of the "
               "endpoint would be replaced";
        return -1;
    }

    return 0;
}


/*
 * Only a literal URI part is judged: where it is a variable, or absent,
 * what the target receives depends on the request.
 */
int
pprof_proxy_pass_names_prefix(pprof_str_t url, pprof_str_t prefix)
{
    size_t       n;
    pprof_str_t  uri;

    if (pprof_pass_uri_part(url, 1, &uri) != 0 || uri.len == 0
        || memchr(uri.data, '$', uri.len) != NULL || prefix.len == 0)
    {
        return 0;
    }

    n = prefix.len - 1;             /* the prefix without its last '/' */

    return uri.len >= n && memcmp(uri.data, prefix.data, n) == 0
           && (uri.len == n || uri.data[n] == '/' || uri.data[n] == '?');
}


/*
 * A variable in the host may hold a "/", a "?" or, after "unix:", a ":",
 * and nginx would send what follows instead of the canonical request.
 */
int
pprof_proxy_pass_host_ok(pprof_str_t value)
{
    pprof_str_t  uri;

    return pprof_pass_uri_part(value, 0, &uri) == 0 && uri.len == 0;
}
