/*
 * The cert source: an identity from a client certificate that the TLS layer
 * verified.  First URI SAN (a SPIFFE ID), else first DNS SAN, else the
 * subject CN.  Only a URI SAN may name a URI: a DNS SAN or CN shaped like
 * one ("spiffe://prod.example/ns/sre/x") is refused, so that no other
 * name of a certificate can pass for a SPIFFE ID in a bind.
 */

#include <openssl/x509v3.h>
#include <string.h>

#include "auth_source.h"


/* The DNS charset admits wildcards; see auth_source.h for the rule. */
int
pprof_auth_name_valid(const unsigned char *p, size_t n, int dns)
{
    size_t  i;

    /* A CN names a person or a host; "scheme:" or a path means a URI. */
    if (!dns) {
        return memchr(p, ':', n) == NULL && memchr(p, '/', n) == NULL;
    }

    for (i = 0; i < n; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
              || (p[i] >= '0' && p[i] <= '9')
              || p[i] == '-' || p[i] == '_' || p[i] == '.' || p[i] == '*'))
        {
            return 0;
        }
    }

    return 1;
}


/* 1 identity found, 0 no SAN of these kinds, -1 malformed (result set). */
static int
from_san(X509 *cert, pprof_auth_result_t *result)
{
    GENERAL_NAMES   *names;
    GENERAL_NAME    *gn, *uri, *dns;
    ASN1_IA5STRING  *s;
    int              crit, i;

    crit = -1;
    names = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);

    if (names == NULL) {
        if (crit == -1) {
            return 0;
        }
        /* Present but undecodable, or more than one SAN extension. */
        result->reason = PPROF_INVALID_CREDENTIAL;
        result->detail = "certificate has a malformed subjectAltName";
        return -1;
    }

    uri = NULL;
    dns = NULL;

    for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        gn = sk_GENERAL_NAME_value(names, i);

        if (gn->type == GEN_URI && uri == NULL) {
            uri = gn;

        } else if (gn->type == GEN_DNS && dns == NULL) {
            dns = gn;
        }
    }

    gn = uri ? uri : dns;

    if (gn == NULL) {
        GENERAL_NAMES_free(names);
        return 0;
    }

    s = (gn->type == GEN_URI) ? gn->d.uniformResourceIdentifier : gn->d.dNSName;

    if (gn->type == GEN_DNS
        && !pprof_auth_name_valid(ASN1_STRING_get0_data(s),
                                  (size_t) ASN1_STRING_length(s), 1))
    {
        GENERAL_NAMES_free(names);
        result->reason = PPROF_INVALID_CREDENTIAL;
        result->detail = "certificate DNS SAN is not a DNS name";
        return -1;
    }

    i = pprof_auth_set_identity(result, ASN1_STRING_get0_data(s),
                                (size_t) ASN1_STRING_length(s), 1);

    GENERAL_NAMES_free(names);
    return i == 0 ? 1 : -1;
}


static void
from_cn(X509 *cert, pprof_auth_result_t *result)
{
    X509_NAME        *subject;
    X509_NAME_ENTRY  *entry;
    unsigned char    *utf8;
    int               idx, len;

    subject = X509_get_subject_name(cert);
    idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);

    if (idx < 0) {
        result->reason = PPROF_INVALID_CREDENTIAL;
        result->detail = "certificate names no URI SAN, DNS SAN or CN";
        return;
    }

    /* Two CNs: which one the CA meant is a guess we refuse to make. */
    if (X509_NAME_get_index_by_NID(subject, NID_commonName, idx) >= 0) {
        result->reason = PPROF_INVALID_CREDENTIAL;
        result->detail = "certificate has more than one CN";
        return;
    }

    entry = X509_NAME_get_entry(subject, idx);
    len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));

    if (len < 0) {
        result->reason = PPROF_INVALID_CREDENTIAL;
        result->detail = "certificate CN is not a valid string";
        return;
    }

    if (!pprof_auth_name_valid(utf8, (size_t) len, 0)) {
        result->reason = PPROF_INVALID_CREDENTIAL;
        result->detail = "certificate CN looks like a URI; only a URI SAN "
                         "names one";

    } else {
        (void) pprof_auth_set_identity(result, utf8, (size_t) len, 0);
    }

    OPENSSL_free(utf8);
}


void
pprof_auth_cert(const pprof_auth_input_t *input, pprof_auth_result_t *result)
{
    if (input->cert == NULL) {
        result->reason = PPROF_UNAUTHENTICATED;
        return;
    }

    if (input->verify_result != X509_V_OK) {
        result->reason = PPROF_INVALID_CREDENTIAL;
        result->detail = "client certificate failed verification";
        return;
    }

    if (from_san(input->cert, result) != 0) {
        return;
    }

    from_cn(input->cert, result);
}
