/*
 * What of the client's request may travel upstream besides the canonical
 * request line.
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
