#!/usr/bin/env python3
"""
mtls_client.py PORT CERT KEY CA PATH WARMUP N ZERO_CMD DUMP_CMD

One keep-alive TLS connection with a client certificate: WARMUP requests,
then ZERO_CMD (callgrind_control -z), then N requests, then DUMP_CMD
(callgrind_control -d), so that the dump holds the N requests alone, with
no handshake, no process start and no first-request setup.  Every answer
must be 200 from the same connection, or the figure would be of something
else.
"""

import http.client
import ssl
import subprocess
import sys


def main():
    port, cert, key, ca, path = sys.argv[1:6]
    warmup, n = int(sys.argv[6]), int(sys.argv[7])
    zero_cmd, dump_cmd = sys.argv[8], sys.argv[9]

    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    ctx.check_hostname = False

    conn = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx,
                                       timeout=120)
    conn.connect()
    sock = conn.sock

    def run(count):
        for _ in range(count):
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200 or not body:
                sys.exit("mtls_client: %s: %d %r" % (path, resp.status,
                                                     body[:200]))
            if conn.sock is not sock:
                sys.exit("mtls_client: the connection was not kept alive")

    run(warmup)
    subprocess.run(zero_cmd, shell=True, check=True,
                   stdout=subprocess.DEVNULL)
    run(n)
    subprocess.run(dump_cmd, shell=True, check=True,
                   stdout=subprocess.DEVNULL)
    conn.close()


if __name__ == "__main__":
    main()
