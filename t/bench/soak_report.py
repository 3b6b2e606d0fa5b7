#!/usr/bin/env python3
"""
soak_report.py DIR SECONDS RELOAD TIMEOUT: the figures of a `make soak` run
(t/bench/soak.sh) from what it left in DIR: the clients' summaries
(cmdline.json, captures.json), error.log, the process samples, the
reload times and pprof-audit's verdict.  Prints them, writes them to
DIR/summary.json, and exits 1 when a figure that must be zero is not:
[alert] lines, requests without an answer, Go's 500s passed through, a
failed audit verification or a gateway that did not stop cleanly.
"""

import json
import os
import re
import sys


def read(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return default


def error_log(path):
    """[alert] lines, and [emerg]/[crit]/[error] counted by message with
    the numbers that change from line to line taken out."""
    alerts, counts = [], {}
    line_re = re.compile(r"^\S+ \S+ \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*)$")
    for line in read(path).splitlines():
        m = line_re.match(line)
        if not m:
            continue
        level, msg = m.groups()
        if level == "alert":
            alerts.append(line)
        if level not in ("alert", "emerg", "crit", "error"):
            continue
        msg = re.sub(r", client: .*", "", msg)
        msg = re.sub(r"[0-9a-f]{16,}", "<id>", msg)
        msg = re.sub(r"\d+", "N", msg)
        key = "[%s] %s" % (level, msg)
        counts[key] = counts.get(key, 0) + 1
    return alerts, counts


def unfinished(path):
    """Requests the audit log shows forwarded (a decision record that
    allows) but never answered (no response record): the gateway's side
    of a request left without an answer.  Denials have no response
    record.  Lines are judged by their bytes, JSON parsed only for the
    few left, so that millions of cmdline records read quickly."""
    left = {}
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return []
    with f:
        for line in f:
            i = line.find(b'"audit_id":"')
            if i < 0:
                continue
            aid = line[i + 12:line.find(b'"', i + 12)]
            if b'"stage":"response"' in line:
                left.pop(aid, None)
            elif (b'"stage":"decision"' in line
                  and b'"decision":"allow"' in line):
                left[aid] = line
    out = []
    for line in left.values():
        r = json.loads(line)
        out.append({k: r.get(k) for k in ("ts", "audit_id", "identity",
                                          "path", "params")})
    return out


def samples(path):
    """{t: [(pid, role, rss_kb, fds)]} in time order."""
    out = {}
    for line in read(path).splitlines():
        t, pid, role, rss, fds = line.split()
        out.setdefault(int(t), []).append((int(pid), role, int(rss), int(fds)))
    return dict(sorted(out.items()))


def mb(kb):
    return "%.1f" % (kb / 1024)


def main():
    d, seconds, reload, timeout = sys.argv[1], float(sys.argv[2]), \
        sys.argv[3], sys.argv[4]
    clients = {}
    for name in ("cmdline", "captures"):
        text = read(os.path.join(d, name + ".json"))
        clients[name] = json.loads(text) if text else None

    alerts, errors = error_log(os.path.join(d, "error.log"))
    proc = samples(os.path.join(d, "samples"))
    reloads = [int(x) for x in read(os.path.join(d, "reloads")).split()]
    verify_out = read(os.path.join(d, "verify.out")).strip()
    verify_rc = int(read(os.path.join(d, "verify.rc"), "1").strip() or 1)
    stop_problems = read(os.path.join(d, "stop-problems")).splitlines()
    m = re.search(r"(\d+) records.*?, (\d+) checkpoints", verify_out)
    records, checkpoints = (int(m.group(1)), int(m.group(2))) if m else (0, 0)

    no_response = unfinished(os.path.join(d, "audit.jsonl"))

    unanswered, go_500, classes = [], [], {}
    missing = [n for n, c in clients.items() if c is None]
    for c in clients.values():
        if c is None:
            continue
        unanswered += c["unanswered"]
        go_500 += c["go_500"]
        for cls, counts in c["classes"].items():
            classes[cls] = dict(counts, **{"per_s": round(
                sum(counts.values()) / c["elapsed"], 2)})

    # RSS and descriptors over time, per role.
    timeline = []
    for t, rows in proc.items():
        entry = {"t": t}
        for role in ("master", "worker", "exiting"):
            sel = [r for r in rows if r[1] == role]
            entry[role] = [{"pid": p, "rss_kb": rss, "fds": fds}
                           for p, _, rss, fds in sel]
        timeline.append(entry)
    workers = [w for e in timeline for w in e["worker"]]
    first = [w["rss_kb"] for w in timeline[0]["worker"]] if timeline else []
    last = [w["rss_kb"] for w in timeline[-1]["worker"]] if timeline else []

    gate = {
        "alerts": len(alerts),
        "unanswered": len(unanswered),
        "go_500_passed_through": len(go_500),
        "audit_verify_failed": 0 if verify_rc == 0 else 1,
        "stop_problems": len(stop_problems) + len(missing),
    }
    summary = {
        "seconds": seconds,
        "reload_every": float(reload),
        "timeout": float(timeout),
        "reloads": reloads,
        "gate": gate,
        "passed": not any(gate.values()),
        "alert_lines": alerts,
        "errors_by_message": errors,
        "unanswered": unanswered,
        "forwarded_without_response_record": no_response,
        "go_500": go_500,
        "classes": classes,
        "keepalive_closed": sum(c["keepalive_closed"]
                                for c in clients.values() if c),
        "connect_errors": {n: c["connect_errors"]
                           for n, c in clients.items() if c},
        "client_cpu_seconds": {n: c["cpu_seconds"]
                               for n, c in clients.items() if c},
        "processes": timeline,
        "audit": {"verify_exit": verify_rc, "verify": verify_out,
                  "records": records, "checkpoints": checkpoints},
        "stop_problems": stop_problems + ["no %s.json: the client failed"
                                          % n for n in missing],
    }
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)

    p = print
    p()
    p("soak: %gs, a reload every %ss (%d reloads, at %s s)" % (
        seconds, reload, len(reloads), " ".join(map(str, reloads)) or "-"))
    p()
    p("requests by class: answers by status and reason, rate over the run")
    for cls in sorted(classes):
        counts = dict(classes[cls])
        rate = counts.pop("per_s")
        p("  %-16s %8.1f/s  %s" % (cls, rate, ", ".join(
            "%s: %d" % kv for kv in sorted(counts.items()))))
    p("  cmdline connections closed by a worker at a reload, request sent"
      " again: %d" % summary["keepalive_closed"])
    for n, errs in summary["connect_errors"].items():
        if errs:
            p("  %s: connections that failed: %s" % (n, errs))
    p("  clients' own CPU: %s" % ", ".join(
        "%s %.1f s" % kv for kv in summary["client_cpu_seconds"].items()))
    p()
    p("worker RSS (MB) and open descriptors, every sample")
    p("  %5s  %-26s %-26s %s" % ("t", "workers: MB/fds", "exiting: MB/fds",
                                 "master"))
    for e in timeline:
        col = lambda ws: " ".join("%s/%d" % (mb(w["rss_kb"]), w["fds"])
                                  for w in ws) or "-"
        p("  %4ds  %-26s %-26s %s" % (e["t"], col(e["worker"]),
                                      col(e["exiting"]), col(e["master"])))
    if workers:
        p("  workers: RSS %s-%s MB over the run, first sample %s MB, last %s"
          " MB; descriptors %d-%d" % (
              mb(min(w["rss_kb"] for w in workers)),
              mb(max(w["rss_kb"] for w in workers)),
              "/".join(map(mb, first)), "/".join(map(mb, last)),
              min(w["fds"] for w in workers), max(w["fds"] for w in workers)))
    p()
    p("error.log: [emerg], [crit], [error] and [alert] by message")
    for msg, n in sorted(errors.items(), key=lambda kv: -kv[1]):
        p("  %7d  %s" % (n, msg[:150]))
    if not errors:
        p("  none")
    p()
    p("audit: pprof-audit verify --pubkey: exit %d: %s" % (verify_rc,
                                                            verify_out))
    p()
    p("must be none:")
    p("  [alert] lines in error.log           %d" % gate["alerts"])
    for line in alerts:
        p("    " + line)
    p("  requests without an answer           %d" % gate["unanswered"])
    p("    (none within %ss, or the connection closed first)" % timeout)
    for u in unanswered:
        p("    " + json.dumps(u, sort_keys=True))
    p("    the audit log's side: forwarded, no response record: %d" %
      len(no_response))
    for r in no_response:
        p("      " + json.dumps(r, sort_keys=True))
    p("  Go 500s passed through to clients    %d" % gate["go_500_passed_through"])
    for g in go_500:
        p("    " + json.dumps(g, sort_keys=True))
    p("  audit log failing verification       %d" % gate["audit_verify_failed"])
    p("  nginx or a client not ending cleanly %d" % gate["stop_problems"])
    for s in summary["stop_problems"]:
        p("    " + s)
    p()
    p("soak: %s (summary in %s)" % ("PASS" if summary["passed"] else "FAIL",
                                    os.path.join(d, "summary.json")))
    sys.exit(0 if summary["passed"] else 1)


if __name__ == "__main__":
    main()
