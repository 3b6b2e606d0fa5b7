/*
 * The original request of an authorization check (policy/authz.c,
 * pprof_authz_request), then its query (pprof_authz_params).
 *
 * Input: one byte choosing the mode (low two bits) and how many values
 * each of the five headers has (0 to 2, from the next five bytes), then
 * fields (length byte and bytes): the prefix, the check's method, its
 * target, and each header value in order.  Asserts that an accepted
 * request has a token method and a decoded path that starts with '/',
 * holds no "//", no "." or ".." segment and no byte that a reader splits
 * on or decodes again, so that nginx's normalisation leaves it as it is;
 * that a refusal has a detail; that the envoy mode's path came from under
 * the prefix; and that an accepted query is the canonical one.
 */

#include <string.h>

#include "fuzz.h"


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    return 0;
}


static int
dot_segment(const unsigned char *p, size_t n)
{
    return (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.');
}


static void
check_path(const pprof_authz_request_t *req)
{
    size_t  i, seg;

    FZ_CHECK(req->path_len > 0 && req->path_len <= PPROF_AUTHZ_URI_MAX);
    FZ_CHECK(req->path[0] == '/');

    for (i = 1, seg = 1; i <= req->path_len; i++) {
        if (i == req->path_len || req->path[i] == '/') {
            FZ_CHECK(i == req->path_len || req->path[i - 1] != '/');
            FZ_CHECK(!dot_segment(req->path + seg, i - seg));
            seg = i + 1;
            continue;
        }

        FZ_CHECK(req->path[i] >= 0x20 && req->path[i] != 0x7f);
        FZ_CHECK(strchr("\\%?#", req->path[i]) == NULL);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pprof_authz_request_t  req;
    fz_t                          in = { data, size };
    pprof_authz_check_t           check;
    pprof_values_t               *hdr[5];
    pprof_str_t                   values[5][2], prefix;
    pprof_authz_mode_t            mode;
    pprof_endpoint_t              ep;
    pprof_params_t                params;
    pprof_reason_t                rc;
    const char                   *detail;
    char                          msg[PPROF_AUTHZ_DETAIL_MAX];
    uint8_t                       counts[5];
    size_t                        i, j;

    memset(&check, 0, sizeof(check));
    hdr[0] = &check.forwarded_method;
    hdr[1] = &check.forwarded_uri;
    hdr[2] = &check.original_method;
    hdr[3] = &check.original_url;
    hdr[4] = &check.original_uri;

    mode = (pprof_authz_mode_t) (fz_u8(&in) % 3);

    for (i = 0; i < 5; i++) {
        counts[i] = fz_u8(&in) % 3;
    }

    prefix = fz_field(&in);
    check.method = fz_field(&in);
    check.target = fz_field(&in);

    for (i = 0; i < 5; i++) {
        for (j = 0; j < counts[i]; j++) {
            values[i][j] = fz_field(&in);
        }
        hdr[i]->v = values[i];
        hdr[i]->n = counts[i];
    }

    detail = "unset";
    rc = pprof_authz_request(mode, prefix, &check, &req, &detail);

    if (rc != PPROF_OK) {
        FZ_CHECK(rc == PPROF_BAD_PARAMETER
                 || (rc == PPROF_UNKNOWN_ENDPOINT && mode == PPROF_AUTHZ_ENVOY));
        FZ_CHECK(detail != NULL);
        return 0;
    }

    FZ_CHECK(detail == NULL);
    FZ_CHECK(req.method_name.len > 0 && req.method_name.len <= 32);
    check_path(&req);

    if (mode == PPROF_AUTHZ_ENVOY) {
        FZ_CHECK(check.target.len > prefix.len);
        FZ_CHECK(prefix.len == 0
                 || memcmp(check.target.data, prefix.data, prefix.len) == 0);
    } else {
        FZ_CHECK(counts[mode == PPROF_AUTHZ_FORWARD ? 0 : 2] == 1);
    }

    if (pprof_policy_classify(fz_str_is(prefix, "/") ? prefix
                              : (pprof_str_t) { (const unsigned char *)
                                                "/debug/pprof/", 13 },
                              (pprof_str_t) { req.path, req.path_len },
                              req.method, req.query, &ep)
        != PPROF_OK)
    {
        return 0;
    }

    rc = pprof_authz_params(&ep, req.query, req.method, 0, 30, &params, msg,
                            sizeof(msg));

    if (rc == PPROF_OK) {
        FZ_CHECK(req.query.len == 0
                 || (req.query.len == params.canonical_len
                     && memcmp(req.query.data, params.canonical,
                               req.query.len) == 0));
        FZ_CHECK(msg[0] == '\0');

    } else {
        FZ_CHECK(rc == PPROF_BAD_PARAMETER);
        FZ_CHECK(strlen(msg) < sizeof(msg));
    }

    return 0;
}
