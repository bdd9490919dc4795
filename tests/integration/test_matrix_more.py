"""The compatibility matrix, second round (issue 13, README
"Compatibility"): more servers as users run them, each as two pods behind
HAProxy (mode http, health checks on /readyz) under wrk keep-alive, SIGTERM
to pod a 2 s in, with LAMEDUCK_DELAY=2s and LAMEDUCK_DRAIN_TIMEOUT=5s:
pods.lb_case asserts what its docstring lists (no failed request, /readyz
503 at once, serving through the delay, the slow request answered across
the drain, the whole tree gone in time, the owner ending as the program
ends on the signal it was given, one health listener, ...), and each case
records its row with matrix.record() (test_matrix.run_row).

| server | model | slow path |
| --- | --- | --- |
| uWSGI | pre-fork master, 2 workers, --http11-socket | time.sleep 1 s in the WSGI app |

Packages (tests/deps.sh): uwsgi-core, uwsgi-plugin-python3.
"""
import os
import re
import signal
import socket
import threading
import time

from harness import check, children_of, connect, fail, need, now, wait_for
from matrix import dpkg_version
from pods import DELAY, DRAIN, LB_TIMEOUT, Pod, popen_exit
from test_matrix import run_row

DELAY2 = 2          # LAMEDUCK_DELAY of these rows, seconds

WSGI_APP = """import time

def application(environ, start_response):
    slow = environ.get("PATH_INFO") == "/slow"
    if slow:
        time.sleep(1.0)
    body = b"slow\\n" if slow else b"%s\\n"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""


def write_wsgi(pod, body):
    """pod.dir/app.py: a WSGI app that answers `body`, and "slow" after
    1 s for /slow."""
    path = os.path.join(pod.dir, "app.py")
    with open(path, "w") as f:
        f.write(WSGI_APP % body)
    pod.body = body
    pod.slow_path, pod.slow_body, pod.slow_s = "/slow", "slow", 1.0
    return path


def workers_of(pod, n, what):
    """Waits for the owner's n children (its workers): pod.workers, and the
    core of the pod (owner and workers)."""
    wait_for(lambda: len(children_of(pod.owner)) >= n, 20, "%s to start %d workers" % (what, n))
    pod.workers = children_of(pod.owner)
    check(len(pod.workers) == n, "pod %s: %s has children %s, expected %d workers" %
          (pod.name, what, pod.workers, n))
    pod.core_fn = lambda: [pod.owner] + pod.workers


# ---------------------------------------------------------------- uWSGI

def uwsgi_pod(t, name):
    """uWSGI (Debian's, the python3 plugin): a master and 2 pre-forked
    workers, each serving one HTTP/1.1 keep-alive connection at a time
    (--http11-socket); --die-on-term makes SIGTERM its stop (without it,
    SIGTERM reloads); the master exits 0."""
    pod = Pod(t, name, "uWSGI", delay=DELAY2)
    app = write_wsgi(pod, "uwsgi")
    pod.proc = t.spawn(["uwsgi", "--plugin", "python3", "--http11-socket",
                        "%s:%d" % (pod.addr, pod.port), "--wsgi-file", app, "--master",
                        "--processes", "2", "--die-on-term", "--disable-logging"],
                       env=pod.env(), cwd=pod.dir, name="uwsgi-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.errors = r"Traceback|[Ee]rror|accept\(\)"
    pod.log_pids = {pod.owner}
    # Its workers are held by the balancer's keep-alive connections (each
    # waits on one up to --socket-timeout, 4 s, for the next request), so
    # a request straight to it waits for one, without the shim too; in the
    # drain the shim makes them let go (test_uwsgi_queued_behind_keepalive).
    pod.direct_timeout = DELAY2 + DRAIN
    pod.wait_ready(20)
    workers_of(pod, 2, "uwsgi")
    pod.exit_check = popen_exit(pod, (0,))
    return pod


def drained_in(a):
    """Seconds the drain took, from the owner's log line; None if none."""
    for l in a.shim_lines():
        m = re.search(r"drained in ([0-9.]+)s", l)
        if m:
            return float(m.group(1))
    return None


def test_matrix_uwsgi(t):
    """uWSGI, a pre-fork master with 2 workers, --http11-socket,
    --die-on-term: the workers' requests finish in the drain, then the
    master stops its workers and exits 0. Each worker serves one connection
    at a time, so the load is 2 connections (more, and HAProxy's extra ones
    wait in pod b's queue for seconds, timing wrk out, without the shim
    too). When the drain begins, both workers wait on HAProxy's idle
    keep-alive connections and the slow request waits in the queue: the
    drain must end with it (about 1 s), not when uWSGI's --socket-timeout
    (4 s) lets the workers go."""
    need("uwsgi")

    def quick(t, a, t_sig, t_gone):
        took = drained_in(a)
        if took is None:
            return ["no 'drained in' line in the log"]
        return [] if took < 2.0 else \
            ["the drain took %.2fs: it waited for uWSGI's workers to let go of idle keep-alive"
             " connections (--socket-timeout)" % took]
    run_row(t, "uWSGI (pre-fork, --http11-socket)", "uWSGI " + dpkg_version("uwsgi-core"), {},
            uwsgi_pod, conns=2, after=quick)


test_matrix_uwsgi.timeout = LB_TIMEOUT


def keepalive_get(s, timeout):
    """One HTTP/1.1 request on s, answered with a Content-Length: (status,
    body), the connection left open; (None, why) if no full answer came."""
    s.sendall(b"GET / HTTP/1.1\r\nHost: pod\r\n\r\n")
    buf, end = b"", now() + timeout
    while now() < end:
        head, sep, body = buf.partition(b"\r\n\r\n")
        m = re.search(rb"Content-Length: *(\d+)", head, re.I) if sep else None
        if m and len(body) >= int(m.group(1)):
            return int(head.split()[1]), body.decode().strip()
        s.settimeout(max(0.01, end - now()))
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            break
        except OSError as e:
            return None, "%s after %r" % (e, buf[:60])
        if not chunk:
            return None, "closed after %r" % buf[:60]
        buf += chunk
    return None, "no answer within %.1fs (got %r)" % (timeout, buf[:60])


def test_uwsgi_queued_behind_keepalive(t):
    """uWSGI's --http11-socket workers serve one connection at a time: after
    an answer, a worker waits in poll() on that keep-alive connection for the
    next request (up to --socket-timeout, 30 s here) and accepts nothing
    else meanwhile. Both workers wait so on idle keep-alive connections (a
    balancer's, which no longer sends on them), and two requests wait in
    the listen queue when the drain begins, taken by the shim for the
    program's next accept(). Those are in flight: the drain must end with
    them answered, not at its timeout with them cut. It does only if the
    shim makes the workers leave their idle connections (shut down for
    reading: end-of-file, they close them and accept)."""
    need("uwsgi")
    pod = Pod(t, "u", "uWSGI")
    app = write_wsgi(pod, "uwsgi")
    p = t.spawn(["uwsgi", "--plugin", "python3", "--http11-socket",
                 "%s:%d" % (pod.addr, pod.port), "--wsgi-file", app, "--master",
                 "--processes", "2", "--die-on-term", "--disable-logging",
                 "--socket-timeout", "30"], env=pod.env(), cwd=pod.dir, name="uwsgi")
    pod.proc, pod.owner = p, p.pid
    pod.wait_ready(20)
    workers_of(pod, 2, "uwsgi")
    # One idle keep-alive connection on each worker.
    idle = []
    for i in range(2):
        s = connect(pod.port, timeout=3)
        t.keep(s)
        got = keepalive_get(s, 3)
        check(got == (200, "uwsgi"), "keep-alive request %d: %r" % (i, got))
        idle.append(s)
    t_sig = p.signal(signal.SIGTERM)
    time.sleep(0.5)
    got = {}

    def queued(i):
        s = connect(pod.port, timeout=3)
        t.keep(s)
        t0 = now()
        got[i] = keepalive_get(s, DELAY + DRAIN + 3) + (now() - t0,)
    ths = [threading.Thread(target=queued, args=(i,), daemon=True) for i in range(2)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(DELAY + DRAIN + 5)
    rc, t_end = p.wait_exit(DELAY + DRAIN + 5)
    log = [l.split(": ", 1)[-1] for l in p.shim_lines()]
    t.note("queued requests: %s; uWSGI %s %.2fs after SIGTERM; log: %s" %
           (got, p.status_text(), t_end - t_sig, " | ".join(log)))
    problems = ["queued request %d: %r" % (i, got.get(i)) for i in range(2)
                if got.get(i, (None,))[:2] != (200, "uwsgi")]
    if any("drain timeout" in l for l in log):
        problems.append("the drain ran into its timeout")
    if rc != 0:
        problems.append("uWSGI: %s" % p.status_text())
    if problems:
        fail("requests queued behind idle keep-alive connections:\n  - %s" %
             "\n  - ".join(problems))


test_uwsgi_queued_behind_keepalive.timeout = 60
