"""The compatibility matrix (issue 6, README "Compatibility"), non-HTTP
part: redis-server and memcached, each run as two pods behind HAProxy in
`mode tcp` (L4: it cannot move established flows), health checks over HTTP
on each pod's health port (`option httpchk GET /readyz`, `check port
HPORT`, `inter 200ms fall 2 rise 1`), retries 0. A load client sends
requests through HAProxy for ~6 s, each on a connection of its own (what
lets an L4 balancer route around a pod that is going away); 2 s in, pod a
gets SIGTERM (LAMEDUCK_DELAY=1s, LAMEDUCK_DRAIN_TIMEOUT=5s). Asserted:

- the client saw no failed request (its own count and exit status), and
  HAProxy logged no failed session (`option tcplog`, `dontlog-normal`);
  the load ran on at least until pod a was gone;
- /readyz of pod a turns 503 (`lameduck`) at once and stays so; pod a keeps
  answering requests sent straight to it during the delay;
- pod a's server is gone after the delay and by delay + drain timeout +
  margin (+ the program's own shutdown), the drain did not run into its
  timeout, and it exited with status 0 (both servers' own SIGTERM handler:
  redis shuts down, memcached leaves its event loop);
- the program's own output shows no error it saw;
- all along, each pod's health port has one LISTEN socket, held by the
  server's pid alone (`ss -ltnp`, every ~150 ms); none once it ended;
- pod b is still up, ready and in HAProxy's rotation.

Neither server needs a LAMEDUCK_* variable: the listeners are found by the
shim itself (one TCP listener each; no UDP with memcached's -U 0), both
install a SIGTERM handler that ends the process cleanly (exit 0), and the
default LAMEDUCK_DRAIN=always lets the requests in flight finish first.

Clients: redis-benchmark -k 0 (it stops at its first error: "Error: Server
closed the connection", exit status 1; sized from a short calibration run
to last ~6 s), and for memcached our build/progs/mc_load (set + get, each
answer checked, a connection per exchange).

Measured, not asserted (notes): the same with persistent connections
(redis-benchmark -k 1, mc_load persist). An L4 balancer keeps forwarding
on connections already established, so those clients lose requests when
pod a ends (README, "What in flight means").

Rows: matrix.record() once every assertion held. Packages: redis-server,
redis-tools, memcached, haproxy, iproute2.
"""
import os
import re
import signal
import socket
import subprocess
import time

from harness import PROGS, check, fail, is_gone, need, now, wait_for
from matrix import dpkg_version, record
from pods import (DELAY, DRAIN, KILL_AT, LAMEDUCK, MARGIN, DelayProber, HealthSampler,
                  first_503_of, haproxy_stat, other_pod_problems, readyz_problems, start_haproxy)

LOAD_S = 6           # the load client's run (SIGTERM KILL_AT seconds into it)
PERSIST_S = 10       # with persistent connections: beyond delay + drain timeout
CONNS = 16           # its concurrent clients
TIMEOUT = 90         # per test (runner's limit)

def exchange(port, data, want, timeout=1.5):
    """Sends data on a new connection, reads until the answer starts with
    `want` (a regex) and ends with CRLF. (True, answer) or (False, why)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(data)
            buf = b""
            end = now() + timeout
            while now() < end:
                chunk = s.recv(4096)
                if not chunk:
                    return False, "closed after %r" % buf[:60]
                buf += chunk
                if buf.endswith(b"\r\n"):
                    if re.match(want, buf):
                        return True, buf.decode("latin-1").strip()
                    return False, "answer %r" % buf[:60]
            return False, "no full answer within %.1fs (%r)" % (timeout, buf[:60])
    except OSError as e:
        return False, "%s: %s" % (type(e).__name__, e)


# ---------------------------------------------------------------- pods

class TcpPod:
    """One instance of a single-process TCP server under the shim."""

    def __init__(self, t, name, kind, ping, pong, errors, extra_exit=0.0):
        self.t, self.name, self.kind = t, name, kind
        self.port, self.hport = t.port(), t.port()
        self.ping, self.pong = ping, pong      # a direct request and its answer (regex)
        self.errors = errors                   # regex: the program's own error lines
        self.extra_exit = extra_exit           # its own shutdown time after delivery
        self.proc = None

    proc_must_live = True

    @property
    def owner(self):
        return self.proc.pid

    def owner_alive(self):
        return self.proc is not None and not is_gone(self.proc.pid)

    def start(self, argv):
        self.proc = self.t.spawn(argv, env=self.t.shim_env(self.hport, **LAMEDUCK),
                                 name="%s-%s" % (self.kind, self.name))
        last = {}

        def ready():
            if not self.proc.alive():
                fail("pod %s (%s) exited (%s) while starting; %s" %
                     (self.name, self.kind, self.proc.status_text(), self.proc.tail()))
            last["readyz"] = self.t.health(self.hport, timeout=1.0)
            last["server"] = exchange(self.port, self.ping, self.pong)
            return last["readyz"][0] == 200 and last["server"][0]
        end = now() + 10
        while not ready():
            if now() > end:
                fail("pod %s (%s) not ready after 10s: /readyz %r, server %r; log: %s" %
                     (self.name, self.kind, last["readyz"], last["server"],
                      " | ".join(self.proc.shim_lines()) or "(none)"))
            time.sleep(0.05)
        return self

    def error_lines(self):
        """The program's own output lines that show an error it saw."""
        rx = re.compile(self.errors)
        return [l for l in self.proc.out_lines() + self.proc.err_lines()
                if not l.startswith("lameduck") and rx.search(l)]


def redis_pod(t, name):
    pod = TcpPod(t, name, "redis", b"PING\r\n", rb"\+PONG\r\n",
                 r"Accepting client connection|Error|error|\bfailed\b")
    return pod.start(["redis-server", "--port", pod.port, "--bind", "127.0.0.1", "--save", "",
                      "--appendonly", "no", "--daemonize", "no"])


def memcached_pod(t, name):
    pod = TcpPod(t, name, "memcached", b"version\r\n", rb"VERSION \S+\r\n",
                 r"accept4?\(\)|[Ee]rror|Failed",
                 extra_exit=1.0)    # it leaves its event loop on its 1 s clock tick
    # memcached perror()s every failed accept4(), EAGAIN included (then
    # "accept(): Invalid argument": glibc's perror() left errno at EINVAL).
    # Its epoll set must never wake it for the listener at the drain: the
    # drain moves the registration to the placeholder before the shutdown
    # (EPOLLHUP), so any such line is a failure.
    argv = ["memcached", "-l", "127.0.0.1", "-p", pod.port, "-U", "0"]
    if os.geteuid() == 0:
        argv += ["-u", "nobody"]
    return pod.start(argv)


# ---------------------------------------------------------------- the case

_TERM_STATE = re.compile(r"\] \S+ \S+ \S+ \S+ ([A-Z-])([A-Z-]) ")


def haproxy_failures(hap):
    """HAProxy's log lines of sessions that did not end normally
    (dontlog-normal), less its health-check state changes and sessions the
    client itself gave up (termination state C*: a load client that stops
    with connections still being set up, as redis-benchmark does when it
    has its count), which the client's own figures account for."""
    return [l for l in hap.out_lines()
            if l.strip() and "is DOWN" not in l and "is UP" not in l and
            not (_TERM_STATE.search(l) and _TERM_STATE.search(l).group(1) == "C")]


def setup(t, make_pod, label):
    need("haproxy", "ss")
    a = make_pod(t, "a" + label)
    b = make_pod(t, "b" + label)
    fe, sock, hap = start_haproxy(t, "tcp", [("127.0.0.1", p.port, p.hport) for p in (a, b)],
                                  d=os.path.join(t.tmp, "haproxy" + label),
                                  name="haproxy" + label)
    return a, b, fe, sock, hap


def signal_under_load(t, a, load, sock):
    """SIGTERM to pod a KILL_AT seconds after the load started, the load
    still running; returns when it was sent."""
    wait_for(lambda: now() >= load.started + KILL_AT or not load.alive(), KILL_AT + 1,
             "the signal's time")
    check(load.alive(), "the load client ended before SIGTERM: %s" % load.tail())
    check(int(haproxy_stat(sock)["s1"]["stot"]) > 0, "pod a got no traffic before SIGTERM")
    t_sig = a.proc.signal(signal.SIGTERM)
    return t_sig


def lb_case_tcp(t, make_pod, run_load, server, version):
    """Two pods behind HAProxy (mode tcp), the load from run_load(t, fe),
    SIGTERM to pod a 2 s in; asserts (see the module's docstring) and
    records the row. run_load returns an object with .proc, .started,
    .result() -> (requests, failed, text)."""
    a, b, fe, sock, hap = setup(t, make_pod, "")
    sampler = HealthSampler([a, b], forks=False)
    load = run_load(t, fe, persist=False)
    wall_sig = time.strftime("%H:%M:%S")
    t_sig = signal_under_load(t, a, load.proc, sock)
    prober = DelayProber(t_sig, DELAY - 0.2, lambda: exchange(a.port, a.ping, a.pong),
                         lambda: t.health(a.hport, timeout=1.5))
    hard = DELAY + DRAIN + MARGIN + a.extra_exit
    a.proc.done.wait(hard + 3)
    t_gone = a.proc.exit_time
    load_alive_at_gone = load.proc.alive()
    prober.join(5)
    requests, failed, text = load.result()
    bad_ss = sampler.finish()
    rows = haproxy_stat(sock)
    log = a.proc.shim_lines()
    problems = []

    # ---- figures
    first503 = first_503_of(prober.readyz)
    t.note("%s pod a: /readyz 503 %s after SIGTERM; server gone %s after SIGTERM (delay %.1fs,"
           " drain timeout %.1fs); %s" %
           (a.kind, "%.0f ms" % (first503[0] * 1000) if first503 else "never",
            "%.2fs" % (t_gone - t_sig) if t_gone else "NOT", DELAY, DRAIN,
            a.proc.status_text()))
    t.note("client: %s" % text)
    t.note("HAProxy: s1 %s sessions (econ %s, eresp %s, srv_abrt %s), s2 %s; health port"
           " samples %d" % (rows["s1"]["stot"], rows["s1"]["econ"], rows["s1"]["eresp"],
                            rows["s1"]["srv_abrt"], rows["s2"]["stot"], sampler.samples))
    t.note("pod a's log: %s" % " | ".join(l.split(": ", 1)[-1] for l in log))

    # ---- client-visible
    if requests < 500:
        problems.append("only %d requests through HAProxy" % requests)
    if failed:
        problems.append("the client saw %d failed request(s): %s; HAProxy s1 econ %s eresp %s"
                        " srv_abrt %s, s2 econ %s eresp %s; HAProxy's log of failed sessions"
                        " (SIGTERM at %s): %s" %
                        (failed, text, rows["s1"]["econ"], rows["s1"]["eresp"],
                         rows["s1"]["srv_abrt"], rows["s2"]["econ"], rows["s2"]["eresp"],
                         wall_sig, haproxy_failures(hap)[:6] or "none"))
    elif haproxy_failures(hap):
        problems.append("HAProxy logged failed sessions: %s" % haproxy_failures(hap)[:6])
    if t_gone is not None and not load_alive_at_gone:
        problems.append("the load ended before pod a was gone (%.2fs after SIGTERM): the end of"
                        " the drain was not under load" % (t_gone - t_sig))
    bad = [e for e in prober.server if not e[1]]
    if len(prober.server) < 3:
        problems.append("only %d direct requests made during the delay" % len(prober.server))
    if bad:
        problems.append("pod a stopped serving during the delay: %s" %
                        ["%.2fs: %s" % (o, why) for o, _, why in bad[:4]])
    # ---- lifecycle
    problems += readyz_problems(prober.readyz, first503)
    if t_gone is None:
        problems.append("pod a's server still running %.1fs after SIGTERM" % (hard + 3))
    else:
        took = t_gone - t_sig
        if took < DELAY - 0.05:
            problems.append("pod a's server ended %.2fs after SIGTERM, before the %.1fs delay" %
                            (took, DELAY))
        if took > hard:
            problems.append("pod a's server ended only %.2fs after SIGTERM (bound: delay %.1f +"
                            " drain timeout %.1f + %.1f)" % (took, DELAY, DRAIN,
                                                             MARGIN + a.extra_exit))
        if a.proc.returncode != 0:
            problems.append("pod a's server: %s, expected exit status 0" % a.proc.status_text())
    if any("drain timeout" in l for l in log):
        problems.append("the drain ran into its timeout")
    errs = a.error_lines() + b.error_lines()
    if errs:
        problems.append("the program saw errors (%d lines): %s" % (len(errs), errs[:4]))
    stray = [l for p in (a, b) for l in p.proc.shim_lines()
             if not l.startswith("lameduck[%d]" % p.owner)]
    if stray:
        problems.append("log lines not from the server's pid: %s" % stray[:4])
    if bad_ss:
        problems.append("health port samples: %s" % ["%s %.2fs: %s" % e for e in bad_ss[:4]])
    # ---- the other pod
    problems += other_pod_problems(t, b, rows)
    if problems:
        fail("%s:\n  - %s\npod a's log:\n    %s\npod a's output: %s" %
             (a.kind, "\n  - ".join(problems), "\n    ".join(log) or "(none)",
              [l for l in a.proc.out_lines() + a.proc.err_lines()
               if not l.startswith("lameduck")][-8:]))

    exit_text = a.proc.status_text()
    record(server, version, {}, load.client, requests, failed, exit_text)
    t.note("matrix row: %s | %s | - | %s | %d requests, %d failed | %s" %
           (server, version, load.client, requests, failed, exit_text))

    measure_persistent(t, make_pod, run_load)


def measure_persistent(t, make_pod, run_load):
    """The same with persistent connections: noted, never failed (an L4
    balancer cannot move established flows)."""
    try:
        a, b, fe, sock, hap = setup(t, make_pod, "-persist")
        load = run_load(t, fe, persist=True)
        t_sig = signal_under_load(t, a, load.proc, sock)
        a.proc.done.wait(DELAY + DRAIN + MARGIN + a.extra_exit + 3)
        t_gone = a.proc.exit_time
        requests, failed, text = load.result()
        rows = haproxy_stat(sock)
        log = [l.split(": ", 1)[-1] for l in a.proc.shim_lines()]
        t.note("persistent (%s): %s; pod a gone %s after SIGTERM (%s); HAProxy s1 srv_abrt %s,"
               " cli_abrt %s; pod a's log: %s" %
               (load.client, text, "%.2fs" % (t_gone - t_sig) if t_gone else "NOT",
                a.proc.status_text(), rows["s1"]["srv_abrt"], rows["s1"]["cli_abrt"],
                " | ".join(log[1:])))
    except Exception as e:      # a measurement only
        t.note("persistent: not measured: %s: %s" % (type(e).__name__, e))


# ---------------------------------------------------------------- redis

_COMPLETED = re.compile(r"(\d+) requests completed in ([\d.]+) seconds")


class RedisBenchmark:
    """redis-benchmark through HAProxy, SET then GET, CONNS clients; -k 0 (a
    connection per request) or -k 1 (SET alone). Sized by a short
    calibration run to last about LOAD_S (-k 1: PERSIST_S). It stops at
    its first error (one line on stderr, exit status 1), so `failed` is 1
    then: what it did before is unknown to it."""

    def __init__(self, t, fe, persist):
        # -k 1: SET alone, so that the connections made at the start last
        # through the delay and the drain (each test makes its own).
        k, tests, secs = ("1", "set", PERSIST_S) if persist else ("0", "set,get", LOAD_S)
        self.tests = tests.count(",") + 1
        base = ["redis-benchmark", "-p", str(fe), "-c", str(CONNS), "-k", k, "-t", tests]
        cal = subprocess.run(base + ["-n", "3000", "-q"], capture_output=True, text=True,
                             timeout=60)
        rates = [float(x) for x in re.findall(r"([\d.]+) requests per second", cal.stdout)]
        check(cal.returncode == 0 and len(rates) == self.tests,
              "calibration run of redis-benchmark: status %d, %r %r" %
              (cal.returncode, cal.stdout[-300:], cal.stderr[-300:]))
        self.n = max(2000, min(2000000, int(secs / sum(1 / r for r in rates))))
        self.client = "redis-benchmark -k %s -c %d -t %s -n %d via HAProxy tcp" % (
            k, CONNS, tests, self.n)
        self.proc = t.spawn(base + ["-n", str(self.n)], shim=False, name="redis-benchmark")

    def result(self):
        rc, _ = self.proc.wait_exit(PERSIST_S * 3 + 20)
        out = "\n".join(self.proc.out_lines())
        done = [int(m.group(1)) for m in _COMPLETED.finditer(out)]
        secs = [float(m.group(2)) for m in _COMPLETED.finditer(out)]
        errs = [l for l in self.proc.err_lines() if l.strip() and "Keepalive disabled" not in l]
        requests = sum(done)
        failed = 0 if rc == 0 and not errs and done == [self.n] * self.tests else 1
        text = "status %d, %d requests completed (%s s), errors %s" % (
            rc, requests, "+".join("%.2f" % s for s in secs) or "-", errs[:3] or "none")
        if failed:
            last = re.findall(r"(SET|GET): rps=[\d.]+ \(overall: ([\d.]+)\)", out)
            if last:
                text += "; its last progress line: %s at %s req/s" % last[-1]
        return requests, failed, text


def test_matrix_redis(t):
    """redis-server (its SIGTERM: shutdown, exit 0), two pods behind HAProxy
    in mode tcp, redis-benchmark -k 0 through it: no failed request."""
    need("redis-server", "redis-benchmark")
    version = dpkg_version("redis-server")
    lb_case_tcp(t, redis_pod, RedisBenchmark, "redis-server", version)


test_matrix_redis.timeout = TIMEOUT


# ---------------------------------------------------------------- memcached

class McLoad:
    """build/progs/mc_load through HAProxy for LOAD_S (persistent
    connections: PERSIST_S) with CONNS workers."""

    def __init__(self, t, fe, persist):
        path = os.path.join(PROGS, "mc_load")
        check(os.access(path, os.X_OK), "%s not built (make build/progs/mc_load)" % path)
        argv = [path, fe, PERSIST_S if persist else LOAD_S, CONNS]
        argv += ["persist"] if persist else []
        self.client = "mc_load set+get, %d workers, %s, via HAProxy tcp" % (
            CONNS, "persistent connections" if persist else "a connection per exchange")
        self.proc = t.spawn(argv, shim=False, name="mc_load")

    def result(self):
        rc, _ = self.proc.wait_exit(PERSIST_S + 30)
        out = self.proc.out_lines()
        m = re.match(r"requests=(\d+) failed=(\d+) seconds=([\d.]+)$", out[-1] if out else "")
        check(m is not None, "mc_load printed no summary (%s); %s" %
              (self.proc.status_text(), self.proc.tail()))
        requests, failed = int(m.group(1)), int(m.group(2))
        if (rc != 0) != (failed != 0):
            failed = max(failed, 1)
        return requests, failed, "status %d, %d exchanges, %d failed in %ss%s" % (
            rc, requests, failed, m.group(3),
            ("; " + "; ".join(self.proc.err_lines()[:4])) if failed else "")


def test_matrix_memcached(t):
    """memcached (its SIGTERM: leaves its event loop, exit 0), two pods
    behind HAProxy in mode tcp, mc_load (set + get, a connection each)
    through it: no failed exchange."""
    need("memcached")
    version = dpkg_version("memcached")
    lb_case_tcp(t, memcached_pod, McLoad, "memcached", version)


test_matrix_memcached.timeout = TIMEOUT
