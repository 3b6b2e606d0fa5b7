#!/usr/bin/env python3
"""
soak_client.py: the load of `make soak` (t/bench/soak.sh), two kinds:

  soak_client.py cmdline PORT CA CERT KEY CONNS SECONDS TIMEOUT OUT
      CONNS keep-alive mTLS connections, each sending GET
      /debug/pprof/cmdline as soon as the previous answer is in, for
      SECONDS.  One process, one thread: the connections are multiplexed
      with selectors over non-blocking sockets, so that the client costs
      little CPU beside the gateway it loads.

  soak_client.py captures PORT CA IDENTITIES LOOPS SECONDS TIMEOUT OUT
      LOOPS threads, each alternating a heap snapshot and a 2 s CPU
      profile, every request on a new connection from the next identity
      of IDENTITIES (a JSON list: {"name", "cert", "key"} for a client
      certificate, {"name", "authorization"} for a token or an API key).
      A third of the profiles are aborted after a random 0.2-1.5 s: the
      socket is closed before the answer.

Both write OUT, a JSON summary: the answers of each request class by
status and reason ("200", "429 capture_busy", "500 upstream"), the
requests that got no complete answer within TIMEOUT seconds or whose
connection closed first, every 500 that did not come from the gateway
itself (Go's, passed through), and the client's own CPU time.

A connection the server closes right after an answer, before the next
request's answer begins, is what a worker shutting down gracefully does
to a kept-alive connection at a reload: such a request is counted as
"keepalive_closed" and sent again on a new connection, as HTTP clients
do.  Anything else without an answer is "unanswered".
"""

import itertools
import json
import random
import resource
import selectors
import socket
import ssl
import sys
import threading
import time


# A kept-alive connection closed by the server within this many seconds
# of a request being sent, with no byte of its answer, is the server
# ending the connection, not leaving the request unanswered.
KEEPALIVE_RACE = 1.0


def parse_response(buf, eof=False):
    """The first whole response in buf: (status, headers, body, length),
    or None while it is incomplete.  eof: the connection is closed, which
    ends a body that has neither length nor chunks."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    pos = end + 4

    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = []
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(buf[pos:eol].split(b";")[0], 16)
            if size == 0:
                last = buf.find(b"\r\n\r\n", eol)
                if last < 0:
                    return None
                return status, headers, b"".join(body), last + 4
            if len(buf) < eol + 2 + size + 2:
                return None
            body.append(buf[eol + 2:eol + 2 + size])
            pos = eol + 2 + size + 2

    if "content-length" in headers:
        n = int(headers["content-length"])
        if len(buf) < pos + n:
            return None
        return status, headers, buf[pos:pos + n], pos + n

    if eof:
        return status, headers, buf[pos:], len(buf)
    return None


def stamp():
    """Now, as error.log writes it (local time), with milliseconds."""
    now = time.time()
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(now)) + (
        ".%03d" % (now % 1 * 1000))


class Tally:
    """Answers by request class and "status reason", and the problems."""

    def __init__(self):
        self.lock = threading.Lock()
        self.classes = {}
        self.unanswered = []
        self.go_500 = []
        self.keepalive_closed = 0
        self.connect_errors = {}
        self.start = time.time()

    def answer(self, cls, status, body, detail):
        # A denial of the gateway's begins "pprof-gateway: <reason>:";
        # any other body is the target's, passed through.
        if status == 200:
            key = "200"
        elif body.startswith(b"pprof-gateway: "):
            key = "%d %s" % (status, body[15:].split(b":", 1)[0].decode())
        else:
            key = "%d upstream" % status
        with self.lock:
            counts = self.classes.setdefault(cls, {})
            counts[key] = counts.get(key, 0) + 1
            if status == 500 and key == "500 upstream":
                self.go_500.append(dict(detail, at=stamp(),
                                        body=body[:200].decode("latin-1")))

    def count(self, cls, key):
        with self.lock:
            counts = self.classes.setdefault(cls, {})
            counts[key] = counts.get(key, 0) + 1

    def problem(self, cls, why, detail):
        with self.lock:
            self.unanswered.append(dict(detail, cls=cls, why=why,
                                        at=stamp()))

    def connect_error(self, err):
        with self.lock:
            name = type(err).__name__
            self.connect_errors[name] = self.connect_errors.get(name, 0) + 1

    def write(self, path, extra):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out = {
            "elapsed": round(time.time() - self.start, 3),
            "classes": self.classes,
            "unanswered": self.unanswered,
            "go_500": self.go_500,
            "keepalive_closed": self.keepalive_closed,
            "connect_errors": self.connect_errors,
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        }
        out.update(extra)
        with open(path, "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)


def tls_context(ca, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def connect(port, ctx, timeout):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise


###############################################################################
# cmdline: keep-alive connections multiplexed in one thread

CMDLINE = (b"GET /debug/pprof/cmdline HTTP/1.1\r\nHost: localhost\r\n"
           b"User-Agent: pprof-soak\r\n\r\n")


class Conn:
    def __init__(self, idx):
        self.idx = idx
        self.sock = None
        self.buf = b""
        self.sent_at = None
        self.served = 0


def run_cmdline(port, ca, cert, key, conns, seconds, timeout, out):
    tally = Tally()
    ctx = tls_context(ca, cert, key)
    sel = selectors.DefaultSelector()
    deadline = time.time() + seconds
    pool = [Conn(i) for i in range(conns)]
    requests = 0

    def close(c):
        if c.sock is not None:
            sel.unregister(c.sock)
            c.sock.close()
        c.sock, c.buf, c.sent_at, c.served = None, b"", None, 0

    def send(c):
        nonlocal requests
        c.buf = b""
        c.sent_at = time.time()
        requests += 1
        try:
            c.sock.send(CMDLINE)
        except ssl.SSLWantWriteError:
            # A fresh request on an emptied connection: only a full
            # socket buffer says this, and a short wait settles it.
            sel.modify(c.sock, selectors.EVENT_WRITE, c)
        except OSError:
            closed(c)

    def closed(c):
        # The connection ended with a request outstanding.
        detail = {"conn": c.idx, "served_on_conn": c.served,
                  "waited": round(time.time() - c.sent_at, 3),
                  "bytes": len(c.buf)}
        if (not c.buf and c.served > 0
                and time.time() - c.sent_at < KEEPALIVE_RACE):
            tally.keepalive_closed += 1
        elif c.buf:
            tally.problem("cmdline", "closed mid-answer", detail)
        else:
            tally.problem("cmdline", "closed without an answer", detail)
        close(c)

    def readable(c):
        eof = False
        while True:
            try:
                data = c.sock.recv(65536)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLWantWriteError:
                break
            except OSError:
                data = b""
            if not data:
                eof = True
                break
            c.buf += data
        resp = parse_response(c.buf, eof)
        if resp is None:
            if eof:
                closed(c)
            return
        status, headers, body, _ = resp
        tally.answer("cmdline", status, body, {"conn": c.idx})
        c.served += 1
        c.sent_at = None
        if eof or headers.get("connection", "").lower() == "close":
            close(c)
        elif time.time() < deadline:
            send(c)

    while True:
        now = time.time()
        for c in pool:
            if c.sock is None and now < deadline:
                try:
                    c.sock = connect(port, ctx, timeout)
                except (OSError, ssl.SSLError) as e:
                    tally.connect_error(e)
                    time.sleep(0.05)
                    continue
                c.sock.setblocking(False)
                sel.register(c.sock, selectors.EVENT_READ, c)
                send(c)
        if now >= deadline and all(c.sent_at is None for c in pool):
            break
        for skey, events in sel.select(timeout=0.5):
            c = skey.data
            if events & selectors.EVENT_WRITE:
                sel.modify(c.sock, selectors.EVENT_READ, c)
                try:
                    c.sock.send(CMDLINE)
                except OSError:
                    closed(c)
                continue
            readable(c)
        now = time.time()
        for c in pool:
            if c.sent_at is not None and now - c.sent_at > timeout:
                tally.problem("cmdline", "no answer within %ds" % timeout,
                              {"conn": c.idx, "bytes": len(c.buf)})
                close(c)

    for c in pool:
        close(c)
    tally.write(out, {"requests_sent": requests})


###############################################################################
# captures: snapshots and profiles on new connections, identities rotating

def one_request(port, ident, path, timeout, abort_after):
    """(outcome, status, headers, body): outcome is "answered", "aborted",
    "timeout", "closed" or "closed mid-answer"."""
    sock = connect(port, ident["ctx"], timeout)
    try:
        req = "GET %s HTTP/1.1\r\nHost: localhost\r\n" % path
        if "authorization" in ident:
            req += "Authorization: %s\r\n" % ident["authorization"]
        req += "User-Agent: pprof-soak\r\nConnection: close\r\n\r\n"
        sock.sendall(req.encode())
        sent = time.time()
        end = sent + (abort_after if abort_after is not None else timeout)
        buf = b""
        while True:
            left = end - time.time()
            if left <= 0:
                if abort_after is not None:
                    return "aborted", None, {}, b""
                return "timeout", None, {}, buf
            sock.settimeout(left)
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                data = b""
            if not data:
                resp = parse_response(buf, eof=True)
                if resp is None:
                    return ("closed mid-answer" if buf else "closed"), None, \
                        {}, buf
                return "answered", resp[0], resp[1], resp[2]
            buf += data
            resp = parse_response(buf)
            if resp is not None:
                return "answered", resp[0], resp[1], resp[2]
    finally:
        sock.close()


def capture_loop(n, port, identities, seconds, timeout, tally, turn, seed):
    rng = random.Random(seed)
    deadline = tally.start + seconds
    snapshot = rng.random() < 0.5
    while time.time() < deadline:
        snapshot = not snapshot
        ident = identities[next(turn[snapshot]) % len(identities)]
        abort_after = None
        if snapshot:
            cls, path = "heap", "/debug/pprof/heap"
        else:
            cls, path = "profile", "/debug/pprof/profile?seconds=2"
            if rng.random() < 1 / 3:
                abort_after = rng.uniform(0.2, 1.5)
                cls = "profile (abort)"
        detail = {"loop": n, "identity": ident["name"], "path": path}
        started = time.time()
        try:
            outcome, status, headers, body = one_request(
                port, ident, path, timeout, abort_after)
        except (OSError, ssl.SSLError) as e:
            tally.connect_error(e)
            time.sleep(0.1)
            continue
        detail["waited"] = round(time.time() - started, 3)
        if outcome == "answered":
            tally.answer(cls, status, body, detail)
            if status == 429:
                # Retry-After, as a well-behaved client waits, at most 3 s.
                retry = int(headers.get("retry-after", "1"))
                time.sleep(min(retry, 3) + rng.uniform(0, 0.3))
        elif outcome == "aborted":
            tally.count(cls, "aborted")
        else:
            tally.problem(cls, outcome, dict(detail, bytes=len(body)))


def run_captures(port, ca, identities_path, loops, seconds, timeout, out):
    with open(identities_path) as f:
        identities = json.load(f)
    for ident in identities:
        ident["ctx"] = tls_context(ca, ident.get("cert"), ident.get("key"))
    tally = Tally()
    # One rotation for all loops, one for snapshots and one for profiles,
    # so that each kind comes from every identity whatever the loops'
    # interleaving; next() of a count is atomic in CPython.
    turn = {True: itertools.count(), False: itertools.count()}

    threads = [threading.Thread(target=capture_loop,
                                args=(n, port, identities, seconds, timeout,
                                      tally, turn, 1000 + n))
               for n in range(loops)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tally.write(out, {"identities": [i["name"] for i in identities],
                      "loops": loops})


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("cmdline", "captures"):
        sys.exit(__doc__)
    args = sys.argv[2:]
    try:
        if sys.argv[1] == "cmdline":
            port, ca, cert, key, conns, seconds, timeout, out = args
            run_cmdline(int(port), ca, cert, key, int(conns), float(seconds),
                        float(timeout), out)
        else:
            port, ca, identities, loops, seconds, timeout, out = args
            run_captures(int(port), ca, identities, int(loops),
                         float(seconds), float(timeout), out)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
