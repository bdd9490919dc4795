"""`lameduck --supervise` (issue 14): programs no preload can enter (a Go
server built with CGO_ENABLED=0, a static C server of ours) and a dynamically
linked one, run as the supervisor's child, get the lifecycle from outside:
the health port, /readyz 503 at SIGTERM, the delay, a drain that waits for
the requests in flight, then the signal.

- Behind HAProxy (pods.lb_case: mode http, checks on /readyz, wrk keep-alive,
  SIGTERM to pod a): the Go server with no signal handling, the Go server
  that calls srv.Shutdown, the static C server (with LAMEDUCK_STOP_LISTENERS
  =on, with pidfd_getfd and without it under tests/progs/no_pidfd.c, as in a
  container without CAP_SYS_PTRACE), nginx (which must log no accept4()
  alert), python3 -m http.server, and the static server sent SIGTERM as a
  process group (the program must not get it first): no failed request,
  /readyz 503 within 0.5 s, a 1 s request sent just before the drain
  answered, the pod gone by delay + drain timeout + margin, the
  supervisor's status the child's; during the drain, a new connection to
  the pod's own port is accepted by default (the log says the listeners
  stay open) and refused with `on` where the supervisor can stop the
  listener (no pidfd_getfd: accepted, and the log says why).
- One server alone: the drain by default, with `on` with and without
  pidfd_getfd, and --stop-listeners on, step by step (/livez and /metrics in
  it); programs that do not take a listener shut down from outside well,
  left alone by default: an epoll loop that exits on accept errors,
  Python's serve_forever (it must not spin), a Go server behind an
  entrypoint script; a connection queued at the drain, by default and
  with `on`.
- As PID 1 of a pid namespace (unshare) and as a subreaper: an orphan is
  reaped; the exit status is the child's (128+signal as PID 1, the same
  death by the signal otherwise; SIGKILL and an exit of its own too).
- Signals the supervisor does not manage reach the child at once; SIGTERM
  only after the delay, at once while starting or when sent twice;
  LAMEDUCK_DELIVER rewrites it. The launcher is static and its refusal
  of static and Go programs points at --supervise.

The programs: build/supervise/ (`make supervise-progs`, the Makefile's last
block) and build/progs/ (`make`). Packages: golang-go, libc6-dev (libc.a),
haproxy, wrk, nginx-light, util-linux (unshare), iproute2; all in tests/deps.sh.
"""
import os
import re
import signal
import socket
import subprocess
import threading
import time

from harness import (BUILD, PROGS, PY, check, children_of, connect_outcome, descendants,
                     describe, first_503, listeners, need, now, parse_response, proc_stat,
                     proc_status, pstate, read_all, try_http, wait_for, wait_state)
from pods import (DRAIN, LB_TIMEOUT, PY_CONNS, Pod, is_static_elf, lb_case, popen_exit,
                  write_nginx_conf)

# LDTEST_LAUNCHER: another build of the launcher (make sanitize-supervise's).
LAUNCHER = os.path.abspath(os.environ.get("LDTEST_LAUNCHER") or os.path.join(BUILD, "lameduck"))
SUP = os.path.join(BUILD, "supervise")
NO_PIDFD = os.path.join(PROGS, "no_pidfd")
STATIC = os.path.join(SUP, "sup_http_static")
GO_PLAIN = os.path.join(SUP, "gosrv_nocgo")
GO_SHUTDOWN = os.path.join(SUP, "goshutdown_nocgo")

READY_503_BOUND = 0.5     # generous: the issue asks for a few ms; the figure goes to a note
REFUSE_BOUND = 0.25       # a refused connect takes this long at most
END_AFTER_BOUND = 0.5     # the supervisor ends this soon after the last answer
SPIN_BOUND = 0.2          # share of a CPU a program may use while the drain waits (idle: ~0)

# The program's own line when its listener was shut down from outside.
STOPPED = "accept stopped"


# ---------------------------------------------------------------- helpers

def built(path):
    check(os.access(path, os.X_OK), "%s not built (make supervise-progs; make)" % path)
    return path


def sup_argv(prog_argv, wrap=False, opts=()):
    """The supervisor's command line; wrap: under no_pidfd."""
    argv = [built(LAUNCHER), "--supervise"] + list(opts) + ["--"] + [str(a) for a in prog_argv]
    return ([built(NO_PIDFD)] + argv) if wrap else argv


def sup_env(t, hport, **lameduck):
    """The test's environment with the health port and LAMEDUCK_* set, and
    no LD_PRELOAD: the supervisor needs none."""
    env = t.base_env()
    env["LAMEDUCK_HEALTH"] = "127.0.0.1:%d" % hport
    for k, v in lameduck.items():
        env["LAMEDUCK_" + k] = str(v)
    return env


def supervise(t, prog_argv, hport, wrap=False, opts=(), name=None, **lameduck):
    return t.spawn(sup_argv(prog_argv, wrap, opts), env=sup_env(t, hport, **lameduck),
                   name=name or "supervise-" + os.path.basename(str(prog_argv[0])))


def only_child(sup_pid):
    """The supervisor's one child (the program)."""
    kids = wait_for(lambda: children_of(sup_pid), 10, "the supervisor to start its child")
    check(len(kids) == 1, "the supervisor (pid %d) has children %s, expected one" %
          (sup_pid, describe(kids)))
    return kids[0]


def no_preload_in(pid):
    """The supervisor's child runs as it would alone: no LD_PRELOAD of the
    shim in its environment, no shim in its memory."""
    with open("/proc/%d/environ" % pid, "rb") as f:
        env = f.read().split(b"\0")
    pre = [e for e in env if e.startswith(b"LD_PRELOAD=")]
    check(not any(b"lameduck" in e for e in pre),
          "the child (pid %d) was given the shim: %r" % (pid, pre))
    with open("/proc/%d/maps" % pid) as f:
        check("liblameduck" not in f.read(), "the shim is loaded in the child (pid %d)" % pid)


def log_lines(p):
    """The supervisor's log lines, without their `lameduck[PID]: ` prefix."""
    return [l.split(": ", 1)[-1] for l in p.shim_lines()]


def lines_with(p, rx):
    return [l for l in log_lines(p) if re.search(rx, l)]


def cpu_ticks(pid):
    st = proc_stat(pid)
    if st is None or st[0] in ("Z", "X"):
        return None
    return int(st[11]) + int(st[12])


class Get(threading.Thread):
    """GET path on a connection of its own (Connection: close), in a thread:
    .sent is set once the request is written, .st and .body once answered."""

    def __init__(self, port, path, timeout=15.0):
        super().__init__(daemon=True)
        self.port, self.path, self.timeout = port, path, timeout
        self.sent = threading.Event()
        self.st = self.body = self.error = self.t_end = None
        self.start()

    def run(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout) as s:
                s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" %
                          self.path.encode())
                self.sent.set()
                raw, _, err = read_all(s, self.timeout)
            st, _, _, body = parse_response(raw)
            self.st, self.body = st, body.decode("latin-1").strip()
            if st is None:
                self.error = "no answer (%s): %r" % (err, raw[:80])
        except OSError as e:
            self.error = "%s: %s" % (type(e).__name__, e)
        finally:
            self.t_end = now()
            self.sent.set()

    def expect(self, body, what):
        self.join(self.timeout + 2)
        check(self.t_end is not None, "%s: no answer" % what)
        check((self.st, self.body) == (200, body), "%s: wanted 200 %r, got %s %r (%s)" %
              (what, body, self.st, self.body, self.error))


# ---------------------------------------------------------------- pods

def sup_pod(t, name, kind, prog_argv, body, slow_s=1.0, rc=(-signal.SIGTERM,), wrap=False,
            errors=r"accept: |panic", path="/", opts=(), port=None, **extra):
    """A pod whose owner is the supervisor (it gets SIGTERM, holds the
    health port, logs); its tree is the supervisor and the program. prog_argv
    gets the pod's port where it says PORT (port: the one it listens on
    otherwise)."""
    pod = Pod(t, name, kind)
    if port is not None:
        pod.port = port
    env = pod.env(**extra)
    del env["LD_PRELOAD"]
    argv = [pod.port if a == "PORT" else a for a in prog_argv]
    pod.proc = t.spawn(sup_argv(argv, wrap, opts), env=env, cwd=pod.dir,
                       name="%s-%s" % (kind.replace(" ", "-"), name))
    pod.owner = pod.root = pod.proc.pid
    pod.path, pod.body = path, body
    if slow_s:
        pod.slow_path, pod.slow_body, pod.slow_s = "/slow", body, slow_s
    pod.log_pids = {pod.owner}
    pod.errors = errors
    pod.wait_ready()
    pod.child = only_child(pod.owner)
    no_preload_in(pod.child)
    pod.core_fn = lambda: [pod.owner, pod.child]
    pod.exit_check = popen_exit(pod, rc)
    return pod


class DrainProbe(threading.Thread):
    """From SIGTERM on, in a thread: waits for pod a's /readyz to say
    `draining`, then opens one new connection straight to the pod's port
    (`expect`: "refused" or "connected"). .problems for lb_case."""

    def __init__(self, pod, t_sig, expect):
        super().__init__(daemon=True)
        self.pod, self.t_sig, self.expect = pod, t_sig, expect
        self.problems = []
        self.outcome = None
        self.start()

    def run(self):
        pod = self.pod
        end = self.t_sig + pod.delay + DRAIN + 2
        while True:
            st, body = try_http(pod.hport, "/readyz", timeout=1.0, http10=True)
            if (st, body) == (503, "draining"):
                break
            if body == "delivered" or not pod.owner_alive() or now() > end:
                self.problems.append("never saw /readyz say `draining` (last: %s %r)" %
                                     (st, body))
                return
            time.sleep(0.01)
        t_drain = now()
        self.outcome, dt = connect_outcome(pod.port)
        if self.outcome != self.expect:
            self.problems.append("a new connection to pod a's port %.2fs into the drain: %s"
                                 " after %.1f ms, expected %s" %
                                 (now() - t_drain, self.outcome, dt * 1000, self.expect))
        elif self.outcome == "refused" and dt > REFUSE_BOUND:
            self.problems.append("the refusal took %.0f ms" % (dt * 1000))


def drain_probe(expect):
    def during(t, a, t_sig):
        a.probe = DrainProbe(a, t_sig, expect)
        return a.probe
    return during


def lifecycle_problems(p):
    """The supervisor's log tells the lifecycle as the shim's owner does."""
    probs = []
    for what, rx in (("ready", r"^ready"), ("the lame duck", r"SIGTERM from pid \d+"),
                     ("the drain's start", r"^draining"), ("its end", r"^drained in"),
                     ("the delivery", r"^delivering SIGTERM")):
        if not lines_with(p, rx):
            probs.append("no log line for %s (/%s/)" % (what, rx))
    return probs


def after_check(stopped, why=None):
    """After pod a ended: the log tells the lifecycle; `stopped` (for our
    static server, None for others): its listener was shut down at the
    drain (it said so), or not;
    why: a regex some log line must match (the reason it was not)."""
    def after(t, a, t_sig, t_gone):
        probs = lifecycle_problems(a.proc)
        saw = [l for l in a.proc.err_lines() if STOPPED in l]
        if stopped is None:
            pass
        elif stopped and not saw:
            probs.append("the program never saw its listener stopped (no %r line)" % STOPPED)
        if not stopped and saw:
            probs.append("the program's listener was stopped: %s" % saw[:1])
        if why and not lines_with(a.proc, why):
            probs.append("no log line says why the listeners were not stopped (/%s/)" % why)
        if getattr(a, "probe", None) is not None:
            t.note("pod a, a new connection in the drain: %s" % a.probe.outcome)
        return probs
    return after


STOP_ON = ("--stop-listeners", "on")
KEPT_OPEN = r"left open.*LAMEDUCK_STOP_LISTENERS=off"


def static_pod(wrap=False, opts=STOP_ON):
    def make(t, name):
        pod = sup_pod(t, name, "static C" + (" without pidfd_getfd" if wrap else ""),
                      [built(STATIC), "PORT"], "static", wrap=wrap, opts=opts)
        return pod
    return make


def go_plain_pod(t, name):
    # tests/go/gosrv.go: "go" for every path, 1.5 s for /slow; log.Fatal if Serve returns.
    return sup_pod(t, name, "Go CGO_ENABLED=0", [built(GO_PLAIN), "PORT"], "go", slow_s=1.5,
                   errors=r"accept|panic")


def go_shutdown_pod(t, name):
    return sup_pod(t, name, "Go srv.Shutdown", [built(GO_SHUTDOWN), "PORT"], "go-shutdown",
                   rc=(0,), errors=r"accept|panic|shutdown: ")


def python_pod(t, name):
    """python3 -m http.server (dynamically linked, ThreadingHTTPServer) and
    a file; it has no slow path."""
    pod_dir = os.path.join(t.tmp, name)
    os.makedirs(pod_dir, exist_ok=True)
    with open(os.path.join(pod_dir, "index.html"), "w") as f:
        f.write("dynamic\n")
    return sup_pod(t, name, "python3 http.server",
                   [PY, "-m", "http.server", "PORT", "--bind", "127.0.0.1"], "dynamic",
                   slow_s=None, errors=r"Traceback|Error", path="/index.html")


def nginx_pod(t, name):
    """nginx, a master and 2 workers as www-data (the listener is held by
    the workers too: descendants of the child, another user), /slow proxied
    to an upstream of 1 s a request (slow_epoll, alone); SIGTERM delivered
    as is (its fast shutdown), exit 0."""
    slow = t.port()
    up = t.spawn([t.prog_path("slow_epoll"), slow, 1000], shim=False, name="upstream-" + name)
    up.wait_ready_line()
    pod_dir = os.path.join(t.tmp, name)
    os.makedirs(pod_dir, exist_ok=True)
    os.chmod(t.tmp, 0o755)
    os.chmod(pod_dir, 0o755)
    port = t.port()
    conf = write_nginx_conf(pod_dir, port, slow=slow)
    pod = sup_pod(t, name, "nginx", ["nginx", "-p", pod_dir, "-c", conf, "-e", "stderr"],
                  "nginx", slow_s=None, rc=(0,),
                  errors=r"\[(alert|crit|emerg)\]|accept4?\(\) failed", port=port)
    pod.slow_path, pod.slow_body, pod.slow_s = "/slow", "done", 1.0
    workers = wait_for(lambda: len(children_of(pod.child)) >= 2 and children_of(pod.child), 10,
                       "nginx to start its 2 workers")
    pod.core_fn = lambda: [pod.owner, pod.child] + workers
    return pod


# ---------------------------------------------------------------- behind HAProxy

def test_supervise_go_nocgo_haproxy(t):
    """The Go server with no signal handling, CGO_ENABLED=0 (static: the
    shim cannot load), under --supervise behind HAProxy under wrk: no failed
    request, /readyz 503 within 0.5 s, its /slow (1.5 s) sent 0.3 s before
    the drain answered, gone by delay + drain timeout; the supervisor dies by
    SIGTERM as the child did. Its listener is left open in the drain (the
    default: shut down, Go's Serve would return and log.Fatal end it), which
    a log line says: a new connection during the drain is accepted."""
    check(is_static_elf(built(GO_PLAIN)), "%s is not static: the test proves nothing" % GO_PLAIN)
    lb_case(t, go_plain_pod, during=drain_probe("connected"),
            after=after_check(False, KEPT_OPEN))


test_supervise_go_nocgo_haproxy.timeout = LB_TIMEOUT


def test_supervise_go_shutdown_haproxy(t):
    """The Go server that calls srv.Shutdown on SIGTERM and exits 0: the same
    as above, and the supervisor exits 0 with it."""
    check(is_static_elf(built(GO_SHUTDOWN)), "%s is not static" % GO_SHUTDOWN)
    lb_case(t, go_shutdown_pod, during=drain_probe("connected"),
            after=after_check(False, KEPT_OPEN))


test_supervise_go_shutdown_haproxy.timeout = LB_TIMEOUT


def test_supervise_static_c_haproxy(t):
    """Our static C server (gcc -static, no signal handling, survives
    accept() failing) behind HAProxy, --stop-listeners on: no failed
    request, /readyz 503 within 0.5 s, /slow answered, gone in time, death
    by SIGTERM. The supervisor takes its listener with pidfd_getfd and stops
    it at the drain: a new connection to the pod's port is refused at once,
    and the program saw accept() fail."""
    check(is_static_elf(built(STATIC)), "%s is not static" % STATIC)
    lb_case(t, static_pod(), during=drain_probe("refused"), after=after_check(True))


test_supervise_static_c_haproxy.timeout = LB_TIMEOUT


def test_supervise_static_c_no_pidfd_haproxy(t):
    """The same (on) with pidfd_getfd refused (EPERM, seccomp, as a container
    without CAP_SYS_PTRACE): still no failed request (the balancer moved
    during the delay), the drain waits for /slow; a new connection during
    the drain is accepted, and a log line names pidfd_getfd."""
    lb_case(t, static_pod(wrap=True), during=drain_probe("connected"),
            after=after_check(False, r"pidfd_getfd"))


test_supervise_static_c_no_pidfd_haproxy.timeout = LB_TIMEOUT


def test_supervise_nginx_haproxy(t):
    """nginx (dynamically linked; master and 2 workers as www-data, whose
    copies of the listener are the ones that accept) under --supervise
    behind HAProxy: no failed request, /slow (1 s, proxied) sent just before
    the drain answered, nginx exits 0 and so does the supervisor; new
    connections in the drain are accepted (the default), and nginx logs no
    accept4() error (a listener stopped from outside, which its workers'
    epoll loops keep trying, logs one alert per try: 18 000 in 0.7 s)."""
    need("nginx")
    lb_case(t, nginx_pod, during=drain_probe("connected"), after=after_check(None, KEPT_OPEN))


test_supervise_nginx_haproxy.timeout = LB_TIMEOUT


def test_supervise_killpg_static_c_haproxy(t):
    """SIGTERM to the supervisor's whole process group (`kill -- -PGID`, a
    shell's job control, `timeout`): the program must not get it before the
    supervisor hands it on, so it has to be outside that group. Otherwise as
    the static C pod: no failed request, the program serves through the
    delay, /slow answered, death by SIGTERM after the drain."""
    lb_case(t, static_pod(), group=True, during=drain_probe("refused"), after=after_check(True))


test_supervise_killpg_static_c_haproxy.timeout = LB_TIMEOUT


def test_supervise_python_haproxy(t):
    """A dynamically linked program, python3 -m http.server, under
    --supervise (no preload at all) behind HAProxy (4 connections: its
    listen backlog is 5): no failed request, /readyz 503 within 0.5 s, death
    by SIGTERM after the delay, the child without the shim. (It has no slow
    request, so its drain ends at once: test_supervise_drain_python_no_spin
    has one.)"""
    lb_case(t, python_pod, conns=PY_CONNS, after=after_check(None))


test_supervise_python_haproxy.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- the drain, step by step

def metrics_in_drain(t, hport):
    """While a request is in flight in the drain: /livez 200 `ok`, and
    /metrics says draining, not ready, one signal, the request in flight."""
    st, body = t.health(hport, "/livez")
    check((st, body) == (200, "ok"), "/livez in the drain: %s %r" % (st, body))
    st, body = t.health(hport, "/metrics")
    check(st == 200, "/metrics in the drain: %s %r" % (st, body[:200]))
    got = dict(l.rsplit(" ", 1) for l in body.splitlines() if l and not l.startswith("#"))
    want = {'lameduck_state{state="draining"}': lambda v: v == "1",
            "lameduck_ready": lambda v: v == "0",
            "lameduck_signals_received_total": lambda v: v == "1",
            "lameduck_in_flight": lambda v: int(v) >= 1}
    bad = ["%s %s" % (k, got.get(k, "missing")) for k, ok in want.items()
           if k not in got or not ok(got[k])]
    check(not bad, "/metrics in the drain, with /slow in flight: %s" % bad)


def drain_alone(t, prog_argv, body, wrap=False, stop=None, opts=()):
    """The program under --supervise (delay 300 ms, drain timeout 10 s): a
    1 s /slow in flight at SIGTERM; /readyz 503 `lameduck` within the bound,
    then `draining` while /slow is answered, the program using at most
    SPIN_BOUND of a CPU meanwhile; the supervisor ends by SIGTERM soon after
    the answer, long before the drain timeout. Returns (the supervisor, its
    port, the outcomes of 3 connects made in the drain)."""
    port, hport = t.port(), t.port()
    extra = {"STOP_LISTENERS": stop} if stop else {}
    p = supervise(t, [a if a != "PORT" else port for a in prog_argv], hport, wrap=wrap,
                  opts=opts, DELAY="300ms", DRAIN_TIMEOUT="10s", **extra)
    t.wait_health(hport, 200, proc=p)
    child = only_child(p.pid)
    slow = Get(port, "/slow")
    check(slow.sent.wait(5) and slow.error is None, "/slow not sent: %s" % slow.error)
    t_sig = p.signal(signal.SIGTERM)
    lat, b = first_503(t, hport, t_sig, READY_503_BOUND)
    t.note("/readyz 503 %r %.1f ms after SIGTERM" % (b, lat * 1000))
    check(lat < READY_503_BOUND and b == "lameduck", "/readyz 503 %r only %.0f ms after SIGTERM" %
          (b, lat * 1000))
    t_drain = wait_state(t, p, hport, "draining")
    cpu0 = cpu_ticks(child)
    check(slow.t_end is None and cpu0 is not None, "/slow ended before the drain began: %s %r"
          " %s; the program: %s" % (slow.st, slow.body, slow.error, pstate(child)))
    outcomes = []
    for _ in range(3):
        outcomes.append(connect_outcome(port))
        time.sleep(0.05)
    check(slow.t_end is None and p.alive(), "the drain ended before the connects were made")
    metrics_in_drain(t, hport)
    slow.join(15)
    cpu1, t_cpu1 = cpu_ticks(child), now()
    slow.expect(body, "/slow, in flight at the drain")
    check(slow.t_end > t_drain, "/slow was answered before the drain began")
    if cpu1 is not None:
        cpu = (cpu1 - cpu0) / os.sysconf("SC_CLK_TCK")
        t.note("the program used %.2fs of CPU in %.2fs of drain" % (cpu, t_cpu1 - t_drain))
        check(cpu <= SPIN_BOUND * (t_cpu1 - t_drain), "the program used %.2fs of CPU in %.2fs"
              " of drain: it spins on its stopped listener" % (cpu, t_cpu1 - t_drain))
    rc, t_exit = p.wait_exit(10)
    check(rc == -signal.SIGTERM, "the supervisor: %s, expected death by SIGTERM (as its child);"
          " %s" % (p.status_text(), p.tail()))
    check(pstate(child) is None, "the child (pid %d) is still there: %s" % (child, pstate(child)))
    t.note("supervisor ended %.0f ms after /slow's answer, %.2fs after SIGTERM; connects in the"
           " drain: %s" % ((t_exit - slow.t_end) * 1000, t_exit - t_sig,
                           ", ".join("%s %.1f ms" % (o, d * 1000) for o, d in outcomes)))
    check(t_exit - slow.t_end < END_AFTER_BOUND, "the supervisor ended %.0f ms after the last"
          " answer" % ((t_exit - slow.t_end) * 1000))
    probs = lifecycle_problems(p)
    check(not probs, "; ".join(probs) + "; log:\n" + "\n".join(log_lines(p)))
    check(not lines_with(p, r"^drain timeout after"), "the drain timed out:\n%s" %
          "\n".join(log_lines(p)))
    t.note("log: %s" % " | ".join(log_lines(p)))
    return p, port, outcomes


def test_supervise_drain_stops_listener(t):
    """Static C server, LAMEDUCK_STOP_LISTENERS=on, pidfd_getfd allowed:
    connects during the drain are refused at once (the supervisor shut its
    copy of the listener down), the program says accept() stopped, and no
    log line complains."""
    p, _, outcomes = drain_alone(t, [built(STATIC), "PORT"], "static", stop="on")
    bad = [(o, d) for o, d in outcomes if o != "refused" or d > REFUSE_BOUND]
    check(not bad, "connects during the drain: %s, expected refused within %.0f ms" %
          (["%s %.1f ms" % (o, d * 1000) for o, d in bad], REFUSE_BOUND * 1000))
    check(any(STOPPED in l for l in p.err_lines()), "the program never saw its listener stop")
    check(not lines_with(p, r"pidfd_getfd"), "a log line about pidfd_getfd where it works: %s" %
          lines_with(p, r"pidfd_getfd"))


def test_supervise_drain_without_pidfd_getfd(t):
    """The same (on) under no_pidfd (pidfd_getfd: EPERM): the drain still
    waits for /slow, new connections are accepted (and served) meanwhile,
    and one log line names pidfd_getfd."""
    p, port, outcomes = drain_alone(t, [built(STATIC), "PORT"], "static", wrap=True, stop="on")
    check(all(o == "connected" for o, _ in outcomes), "connects during the drain: %s, expected"
          " connected (the listener cannot be stopped)" % [o for o, _ in outcomes])
    check(not any(STOPPED in l for l in p.err_lines()), "the program's listener was stopped")
    why = lines_with(p, r"pidfd_getfd")
    check(len(why) == 1, "%d log lines name pidfd_getfd, expected one: %s" % (len(why), why))


def test_supervise_drain_keeps_listeners_by_default(t):
    """No LAMEDUCK_STOP_LISTENERS, pidfd_getfd allowed: the listener stays
    open through the drain (connects accepted), the program never sees
    accept() fail, the drain still waits for /slow, and one log line says
    the listeners stay open and why."""
    p, _, outcomes = drain_alone(t, [built(STATIC), "PORT"], "static")
    check(all(o == "connected" for o, _ in outcomes), "connects during the drain: %s, expected"
          " connected (the default)" % [o for o, _ in outcomes])
    check(not any(STOPPED in l for l in p.err_lines()), "the program's listener was stopped")
    why = lines_with(p, KEPT_OPEN)
    check(len(why) == 1, "%d log lines say the listeners stay open, expected one: %s" %
          (len(why), log_lines(p)))


def test_supervise_drain_stop_listeners_option(t):
    """--stop-listeners on, the option, does what the variable does."""
    p, _, outcomes = drain_alone(t, [built(STATIC), "PORT"], "static", opts=STOP_ON)
    check(all(o == "refused" for o, _ in outcomes), "connects during the drain: %s, expected"
          " refused (--stop-listeners on)" % [o for o, _ in outcomes])


def keepalive_get(s, path, timeout=15.0):
    """One GET on a keep-alive connection; returns (status, body, when answered)."""
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    s.settimeout(timeout)
    buf = b""
    while True:
        st, _, headers, body = parse_response(buf)
        if st is not None and len(body) >= int(headers.get("content-length", "0")):
            return st, body.decode("latin-1").strip(), now()
        chunk = s.recv(65536)
        if not chunk:
            return None, buf, now()
        buf += chunk


def test_supervise_drain_sees_request_on_known_connection(t):
    """The drain's looks after its first find the program's connections by
    lookups, not dumps: a keep-alive connection idle when the drain began
    (one answer on it already) that sends a /slow 0.5 s into the drain must
    be seen in flight, so the program gets SIGTERM only after answering it,
    not when the /slow in flight at the drain's start was answered."""
    port, hport = t.port(), t.port()
    p = supervise(t, [built(STATIC), port], hport, DELAY="0s", DRAIN_TIMEOUT="10s")
    t.wait_health(hport, 200, proc=p)
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)
    st, body, _ = keepalive_get(idle, "/")
    check((st, body) == (200, "static"), "the first GET on the keep-alive connection: %s %r" %
          (st, body))
    first = Get(port, "/slow")
    check(first.sent.wait(5) and first.error is None, "/slow not sent: %s" % first.error)
    t_sig = p.signal(signal.SIGTERM)
    wait_state(t, p, hport, "draining")
    time.sleep(0.5)
    check(first.t_end is None and p.alive(), "the drain ended before the second request")
    st, body, t_late = keepalive_get(idle, "/slow")
    first.expect("static", "/slow in flight at the drain's start")
    rc, t_exit = p.wait_exit(10)
    t.note("/slow at the start answered %.2fs, the later one %.2fs, the supervisor gone %.2fs "
           "after SIGTERM" % (first.t_end - t_sig, t_late - t_sig, t_exit - t_sig))
    check((st, body) == (200, "static"), "/slow sent on the idle connection in the drain: %s %r"
          % (st, body))
    check(t_exit >= t_late, "the supervisor delivered before the later /slow was answered")
    check(rc == -signal.SIGTERM, "the supervisor: %s" % p.status_text())
    idle.close()


# A Python server as most are written: http.server's ThreadingHTTPServer and
# serve_forever(), whose selector loop takes any error of accept() in stride.
PY_SLOW = r"""
import http.server, sys, time
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/slow":
            time.sleep(1)
        body = b"python\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def test_supervise_drain_python_no_spin(t):
    """A dynamically linked Python server (ThreadingHTTPServer,
    serve_forever) under --supervise: the drain waits for /slow, and the
    program does not spin meanwhile (at most a fifth of a CPU; waiting, it
    uses next to none). Its listener is left open (the default):
    serve_forever's selector reports a shut-down listener readable for ever,
    and each accept() fails (measured with `on`: 0.33-0.66 s of CPU in a
    0.69 s drain)."""
    _, _, outcomes = drain_alone(t, [PY, "-c", PY_SLOW, "PORT"], "python")
    check(all(o == "connected" for o, _ in outcomes), "connects during the drain: %s" %
          [o for o, _ in outcomes])


# One request at a time (http.server's HTTPServer, HTTP/1.0): while it
# serves one, the next waits in the listen queue.
PY_ONE_AT_A_TIME = PY_SLOW.replace("ThreadingHTTPServer", "HTTPServer").replace(
    'protocol_version = "HTTP/1.1"', 'protocol_version = "HTTP/1.0"')


def queued_connection_answered(t, opts=()):
    """A server that serves one connection at a time (Python's HTTPServer,
    1 s for /slow): one /slow in progress and one waiting in the listen
    queue when the drain begins (delay 0). Both are answered: the queued
    connection was accepted before it was sent, so the program must get it,
    as the shim hands queued connections to the program's next accept()."""
    port, hport = t.port(), t.port()
    p = supervise(t, [PY, "-c", PY_ONE_AT_A_TIME, port], hport, DELAY="0s",
                  DRAIN_TIMEOUT="10s", opts=opts)
    t.wait_health(hport, 200, proc=p)
    first = Get(port, "/slow")
    check(first.sent.wait(5) and first.error is None, "first /slow not sent: %s" % first.error)
    wait_for(lambda: (listeners(port) or [None])[0] is not None and listeners(port)[0].queue == 0,
             5, "the program to take the first connection")
    queued = Get(port, "/slow")
    check(queued.sent.wait(5) and queued.error is None, "second /slow not sent: %s" %
          queued.error)
    wait_for(lambda: listeners(port)[0].queue == 1, 5, "the second connection in the queue")
    p.signal(signal.SIGTERM)
    first.join(15)
    queued.join(15)
    rc, _ = p.wait_exit(10)
    t.note("log: %s" % " | ".join(log_lines(p)))
    first.expect("python", "the request in progress at the drain")
    queued.expect("python", "the request queued at the drain")
    check(rc == -signal.SIGTERM, "the supervisor: %s, expected death by SIGTERM" %
          p.status_text())
    return p


def test_supervise_drain_queued_connection_answered(t):
    """By default (the listener left open): the queued /slow is answered."""
    queued_connection_answered(t)


def test_supervise_drain_queued_connection_answered_stop_on(t):
    """With --stop-listeners on: the listener is shut down only once the
    program has taken the queued connection (then new ones are refused), so
    the queued /slow is answered too, and the log says it waited."""
    p = queued_connection_answered(t, opts=STOP_ON)
    check(lines_with(p, r"once the program has taken the connections queued"),
          "no log line says the stop waited for the queue: %s" % log_lines(p))
    check(not lines_with(p, r"never took"), "a queued connection was reset: %s" % log_lines(p))


def test_supervise_epoll_accept_error_fatal(t):
    """build/progs/slow_epoll (dynamically linked, 1 s a request, no signal
    handling) exits 3 if accept4() fails with anything but EAGAIN, as many
    servers do on an error they do not expect: under --supervise the request
    in flight at the drain is answered all the same and the program dies by
    the delivered SIGTERM, not by its own exit."""
    port, hport = t.port(), t.port()
    p = supervise(t, [t.prog_path("slow_epoll"), port, 1000], hport, DELAY="300ms",
                  DRAIN_TIMEOUT="10s")
    t.wait_health(hport, 200, proc=p)
    no_preload_in(only_child(p.pid))
    req = Get(port, "/")
    check(req.sent.wait(5) and req.error is None, "request not sent: %s" % req.error)
    t_sig = p.signal(signal.SIGTERM)
    req.join(15)
    rc, t_exit = p.wait_exit(10)
    t.note("supervisor: %s %.2fs after SIGTERM; log: %s" %
           (p.status_text(), t_exit - t_sig, " | ".join(log_lines(p))))
    check(rc == -signal.SIGTERM, "the supervisor: %s, expected death by SIGTERM; the request"
          " in flight: %s %r %s; the program's accept errors: %s" %
          (p.status_text(), req.st, req.body, req.error or "",
           [l for l in p.err_lines() if "accept" in l and not l.startswith("lameduck")]))
    req.expect("done", "the request in flight at the drain")


# ---------------------------------------------------------------- PID 1, orphans, status

def orphan_of(p, sup, pids_of_child):
    """The orphan sup_http left (it prints `orphan N`, N in its own pid
    namespace): a child of the supervisor other than the program."""
    _, line = p.wait_out(lambda l: l.startswith("orphan "), 5, what="the orphan's line")
    nsid = line.split()[1]

    def find():
        for c in children_of(sup):
            if c not in pids_of_child and (proc_status(c, "NSpid") or "").split()[-1:] == [nsid]:
                return c
        return None
    return wait_for(find, 5, "the orphan (pid %s in its namespace) among the supervisor's"
                    " children %s" % (nsid, describe(children_of(sup))))


def reaped(t, sup, orphan, what):
    """The orphan ends (it lives 1.5 s) and leaves no zombie: the
    supervisor reaped it."""
    check((proc_status(orphan, "PPid") or "") == str(sup),
          "the orphan's parent is %s, not the supervisor %d (%s)" %
          (proc_status(orphan, "PPid"), sup, what))
    t0 = now()
    wait_for(lambda: pstate(orphan) is None, 6, "the orphan (pid %d) to be reaped by the"
             " supervisor (%s)" % (orphan, what))
    t.note("%s: the orphan was reaped (gone from /proc %.2fs after we found it)" %
           (what, now() - t0))
    zombies = [d for d in descendants(sup) if pstate(d) == "Z"]
    check(not zombies, "zombies under the supervisor: %s" % describe(zombies))


def in_pid_namespace(t, prog_argv, hport, **lameduck):
    """unshare --pid --fork --mount-proc: the supervisor is PID 1 of a new
    pid namespace (as a container's entrypoint). Returns (unshare's Proc,
    the supervisor's pid here)."""
    need("unshare")
    check(os.geteuid() == 0, "unshare --pid needs root (make test runs as root)")
    argv = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"] + sup_argv(prog_argv)
    p = t.spawn(argv, env=sup_env(t, hport, **lameduck), name="unshare-supervise")
    kids = wait_for(lambda: children_of(p.pid), 10, "unshare to fork")
    check(len(kids) == 1, "unshare has children %s" % describe(kids))
    sup = kids[0]
    nspid = wait_for(lambda: (proc_status(sup, "NSpid") or "").split(), 5, "NSpid")
    check(nspid[-1:] == ["1"], "the supervisor is not PID 1 of its namespace (NSpid %r)" % nspid)
    return p, sup


def test_supervise_pid1_reaps_orphan_exits_128_plus_signal(t):
    """The supervisor as PID 1 of a pid namespace: the static server leaves
    an orphan (its child forks a grandchild and exits), which comes to the
    supervisor and is reaped when it ends (no zombie). SIGTERM: the child
    dies by it after the delay; the supervisor, as PID 1, exits 143
    (128+SIGTERM), which unshare passes on."""
    port, hport = t.port(), t.port()
    p, sup = in_pid_namespace(t, [built(STATIC), port, 1500], hport, DELAY="300ms",
                              DRAIN_TIMEOUT="5s")
    t.wait_health(hport, 200, proc=p)
    child = only_child_besides_orphans(sup)
    orphan = orphan_of(p, sup, {child})
    reaped(t, sup, orphan, "as PID 1")
    st, body = try_http(port, "/")
    check((st, body) == (200, "static"), "the server: %s %r" % (st, body))
    t_sig = now()
    os.kill(sup, signal.SIGTERM)
    lat, b = first_503(t, hport, t_sig, READY_503_BOUND)
    check(lat < READY_503_BOUND, "/readyz 503 only %.0f ms after SIGTERM" % (lat * 1000))
    rc, t_exit = p.wait_exit(10)
    t.note("PID 1: /readyz 503 %.1f ms after SIGTERM; unshare %s %.2fs after it; log: %s" %
           (lat * 1000, p.status_text(), t_exit - t_sig, " | ".join(log_lines(p))))
    check(t_exit - t_sig >= 0.3 - 0.05, "ended %.2fs after SIGTERM, before the delay" %
          (t_exit - t_sig))
    check(rc == 128 + signal.SIGTERM, "unshare (the supervisor as PID 1): %s, expected exit"
          " status 143; %s" % (p.status_text(), p.tail()))


def holds_socket(pid):
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"):
                return True
        except OSError:
            pass
    return False


def only_child_besides_orphans(sup):
    """The program among the supervisor's children: the one that holds a
    socket (its listener; the orphan was forked before it listened)."""
    def find():
        progs = [c for c in children_of(sup) if holds_socket(c)]
        return progs[0] if len(progs) == 1 else None
    return wait_for(find, 5, "one child of the supervisor to hold the listener (children: %s)" %
                    describe(children_of(sup)))


def test_supervise_pid1_exit_status_is_the_childs(t):
    """As PID 1, the child exits 7 on SIGTERM (its own handler): the
    supervisor exits 7."""
    port, hport = t.port(), t.port()
    p, sup = in_pid_namespace(t, [built(STATIC), port, 0, 7], hport, DELAY="200ms",
                              DRAIN_TIMEOUT="5s")
    t.wait_health(hport, 200, proc=p)
    os.kill(sup, signal.SIGTERM)
    rc, _ = p.wait_exit(10)
    check(rc == 7, "unshare (the supervisor as PID 1): %s, expected exit status 7 (the"
          " child's); %s" % (p.status_text(), p.tail()))
    check(lines_with(p, r"^delivering SIGTERM"), "no delivery line: %s" % log_lines(p))


def test_supervise_subreaper_orphan_and_signal_death(t):
    """Not PID 1: the supervisor is a child subreaper, so the orphan comes
    to it and is reaped; the child dies by the delivered SIGTERM and the
    supervisor dies by SIGTERM too (its parent sees what it would have seen
    of the program)."""
    port, hport = t.port(), t.port()
    p = supervise(t, [built(STATIC), port, 1500], hport, DELAY="200ms", DRAIN_TIMEOUT="5s")
    t.wait_health(hport, 200, proc=p)
    child = only_child_besides_orphans(p.pid)
    orphan = orphan_of(p, p.pid, {child})
    reaped(t, p.pid, orphan, "as a subreaper")
    p.signal(signal.SIGTERM)
    rc, _ = p.wait_exit(10)
    check(rc == -signal.SIGTERM, "the supervisor: %s, expected death by SIGTERM; %s" %
          (p.status_text(), p.tail()))


# ---------------------------------------------------------------- signals

# Says `armed` once its handlers are in, `got SIGNAME` for each signal it
# gets; exits 5 on argv[2] (TERM); listens argv[3] seconds later (0).
SIGNALS_PROG = r"""
import os, signal, socket, sys, time
last = getattr(signal, "SIG" + (sys.argv[2] if len(sys.argv) > 2 else "TERM"))
def handler(sig, frame):
    print("got %s" % signal.Signals(sig).name, flush=True)
    if sig == last:
        sys.exit(5)
for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT, signal.SIGWINCH,
          signal.SIGTERM):
    signal.signal(s, handler)
print("armed", flush=True)
time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 0)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1])))
ls.listen(16)
print("ready", flush=True)
while True:
    signal.pause()
"""

FORWARDED = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT, signal.SIGWINCH)


def test_supervise_forwards_signals(t):
    """SIGHUP, SIGUSR1, SIGUSR2, SIGINT and SIGWINCH sent to the supervisor
    reach the child's handlers at once, each once; SIGTERM (managed) reaches
    it only after the delay; the child exits 5 from its SIGTERM handler, and
    so does the supervisor."""
    port, hport = t.port(), t.port()
    delay = 1.0
    p = signals_prog(t, port, hport, DELAY="1s", DRAIN_TIMEOUT="5s")
    for sig in FORWARDED:
        n = len(p.out_lines())
        p.signal(sig)
        p.wait_out("got %s" % sig.name, 5, after=n,
                   what="got %s" % sig.name)
    got = [l.split()[1] for l in p.out_lines() if l.startswith("got ")]
    check(got == [s.name for s in FORWARDED], "the child got %s, expected each of %s once" %
          (got, [s.name for s in FORWARDED]))
    n = len(p.out_lines())
    t_sig = p.signal(signal.SIGTERM)
    t_got, _ = p.wait_out("got SIGTERM", delay + 5, after=n)
    t.note("SIGTERM reached the child %.2fs after it was sent (delay %.1fs)" %
           (t_got - t_sig, delay))
    check(t_got - t_sig >= delay - 0.05, "SIGTERM reached the child %.2fs after it was sent,"
          " before the %.1fs delay" % (t_got - t_sig, delay))
    rc, _ = p.wait_exit(5)
    check(rc == 5, "the supervisor: %s, expected exit status 5 (the child's)" % p.status_text())


# ---------------------------------------------------------------- the launcher

def test_supervise_refusal_suggests_it(t):
    """Without --supervise, the launcher still refuses the static and Go
    programs (126) and now points at --supervise."""
    import subprocess
    for exe in (built(STATIC), built(GO_PLAIN)):
        r = subprocess.run([built(LAUNCHER), "--", exe, str(t.port())], env=sup_env(t, t.port()),
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
        check(r.returncode == 126, "lameduck -- %s: status %d, expected 126; %r" %
              (os.path.basename(exe), r.returncode, r.stderr))
        check("--supervise" in r.stderr, "lameduck -- %s: the refusal does not mention"
              " --supervise: %r" % (os.path.basename(exe), r.stderr))


def signals_prog(t, port, hport, *args, ready=True, **lameduck):
    p = supervise(t, [PY, "-c", SIGNALS_PROG, port] + list(args), hport,
                  name="supervise-python-signals", **lameduck)
    if not ready:
        return p
    p.wait_ready_line()
    t.wait_health(hport, 200, proc=p)
    return p


def test_supervise_second_sigterm_skips_the_delay(t):
    """A second SIGTERM during the delay (10 s) goes to the child at once,
    as under the shim; the child's own exit (5) is the supervisor's."""
    port, hport = t.port(), t.port()
    p = signals_prog(t, port, hport, DELAY="10s", DRAIN_TIMEOUT="5s")
    p.signal(signal.SIGTERM)
    t.wait_health(hport, 503, body="lameduck", proc=p, timeout=2)
    check(not any(l.startswith("got ") for l in p.out_lines()),
          "the child got a signal in the delay: %s" % p.out_lines())
    t_second = p.signal(signal.SIGTERM)
    t_got, _ = p.wait_out("got SIGTERM", 5)
    t.note("the second SIGTERM reached the child %.0f ms after it was sent" %
           ((t_got - t_second) * 1000))
    rc, _ = p.wait_exit(5)
    check(rc == 5, "the supervisor: %s, expected exit status 5" % p.status_text())
    check(lines_with(p, r"^another SIGTERM"), "no log line for the second SIGTERM: %s" %
          log_lines(p))


def test_supervise_deliver_rewrite(t):
    """LAMEDUCK_DELIVER=USR2: after the delay the child gets SIGUSR2, not
    SIGTERM (its graceful stop), and exits 5 on it."""
    port, hport = t.port(), t.port()
    p = signals_prog(t, port, hport, "USR2", DELAY="500ms", DRAIN_TIMEOUT="5s", DELIVER="USR2")
    t_sig = p.signal(signal.SIGTERM)
    t_got, _ = p.wait_out("got SIGUSR2", 5)
    rc, _ = p.wait_exit(5)
    got = [l for l in p.out_lines() if l.startswith("got ")]
    check(got == ["got SIGUSR2"], "the child got %s, expected SIGUSR2 alone" % got)
    check(t_got - t_sig >= 0.5 - 0.05, "SIGUSR2 came %.2fs after SIGTERM, before the delay" %
          (t_got - t_sig))
    check(rc == 5, "the supervisor: %s, expected exit status 5" % p.status_text())
    check(lines_with(p, r"^delivering SIGUSR2 for SIGTERM"), "no delivery line for the"
          " rewrite: %s" % log_lines(p))


def test_supervise_child_ends_on_its_own(t):
    """The child ends without a lame-duck signal: killed by SIGKILL from
    outside, the supervisor dies by SIGKILL too; exiting 2 (a usage error),
    the supervisor exits 2. Either way at once, with nothing left behind."""
    port, hport = t.port(), t.port()
    p = supervise(t, [built(STATIC), port], hport, DELAY="5s")
    t.wait_health(hport, 200, proc=p)
    child = only_child(p.pid)
    os.kill(child, signal.SIGKILL)
    rc, _ = p.wait_exit(5)
    check(rc == -signal.SIGKILL, "child killed by SIGKILL: the supervisor %s, expected death by"
          " SIGKILL" % p.status_text())
    check(pstate(child) is None, "the child is still in /proc: %s" % pstate(child))
    q = supervise(t, [built(STATIC)], t.port(), DELAY="5s", name="supervise-usage-error")
    rc, _ = q.wait_exit(5)
    check(rc == 2, "child exiting 2: the supervisor %s, expected exit status 2; %s" %
          (q.status_text(), q.tail()))


def run_plain(t, argv, timeout=10, **popen):
    """Runs argv to its end with the test's environment, no health port;
    returns its return code (negative: killed by that signal)."""
    env = sup_env(t, t.port(), HEALTH="off", READY="start")
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         **popen)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return "still running after %ds" % timeout


def test_supervise_broken_log_pipe_spares_the_child(t):
    """The supervisor's stderr is a pipe nobody reads any more (a log
    collector that died): its log lines raise SIGPIPE on itself, which is
    not a signal for the program. The child runs to its own exit (status 4),
    and so does the supervisor."""
    r, w = os.pipe()
    os.close(r)
    try:
        rc = run_plain(t, [built(LAUNCHER), "--supervise", "--", "sh", "-c", "sleep 0.3; exit 4"],
                       stderr=w)
    finally:
        os.close(w)
    check(rc == 4, "the supervisor with a broken stderr: %s, expected exit status 4 (the "
          "child's); -13 is SIGPIPE passed to the child" % rc)


def test_supervise_sigchld_ignored_by_its_parent(t):
    """Started with SIGCHLD ignored (inherited across exec, as some
    launchers leave it): the kernel would reap the child unseen, and the
    supervisor wait for ever. It exits with the child's status, and the
    program itself still starts with SIGCHLD ignored, as it would alone."""
    def ignore():
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    prog = ("import signal, sys; "
            "sys.exit(3 if signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN else 5)")
    rc = run_plain(t, [built(LAUNCHER), "--supervise", "--", PY, "-c", prog],
                   preexec_fn=ignore)
    check(rc == 3, "the supervisor, SIGCHLD ignored: %s, expected exit status 3 (5: the "
          "program did not inherit SIG_IGN)" % rc)


def test_supervise_orphaned_listener_counts(t):
    """The listener is held by a process whose parent (a subshell of the
    program's) has ended: it is reparented to the supervisor, outside the
    program's own descendants, and still counts: /readyz says 200."""
    port, hport = t.port(), t.port()
    script = "( exec %s %d & ); exec sleep 30" % (built(STATIC), port)
    p = supervise(t, ["sh", "-c", script], hport, DELAY="0s")
    st, body = t.wait_health(hport, 200, proc=p, timeout=10)
    check(body == "ok", "/readyz: %s %r" % (st, body))
    kids = describe(children_of(p.pid))
    t.note("the supervisor's children: %s" % kids)
    check("sup_http_static" in kids, "the server was not reparented to the supervisor: the test"
          " proves nothing")


def test_supervise_unreadable_child_is_said(t):
    """A program with file capabilities under an unprivileged supervisor
    (uid 65534): the kernel makes it non-dumpable, so its /proc/PID/fd may
    not be read and its listener is not seen. The supervisor says so once,
    naming the pid and what would let it read them, instead of staying
    unready in silence."""
    setcap = next((p for p in ("/usr/sbin/setcap", "/sbin/setcap") if os.access(p, os.X_OK)),
                  None)
    check(setcap is not None, "setcap not installed (libcap2-bin, in tests/deps.sh)")
    exe = os.path.join(t.tmp, "sup_http_cap")
    with open(built(STATIC), "rb") as f, open(exe, "wb") as g:
        g.write(f.read())
    os.chmod(exe, 0o755)
    os.chmod(t.tmp, 0o755)
    r = subprocess.run([setcap, "cap_net_bind_service+ep", exe], capture_output=True, text=True,
                       timeout=20)
    check(r.returncode == 0, "setcap: %s" % r.stderr.strip())
    port, hport = t.port(), t.port()
    # setpriv (util-linux): the supervisor as nobody, no capability.
    p = t.spawn(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                 built(LAUNCHER), "--supervise", "--", exe, str(port)],
                env=sup_env(t, hport), name="supervise-cap")
    wait_for(lambda: lines_with(p, r"may not be read"), 10, "the log line about the descriptors")
    said = lines_with(p, r"may not be read")
    check(len(said) == 1 and "CAP_SYS_PTRACE" in said[0], "the log: %s" % log_lines(p))
    st, body = t.health(hport, "/readyz")
    t.note("/readyz %s %r; %s" % (st, body, said[0]))
    time.sleep(0.3)
    check(len(lines_with(p, r"may not be read")) == 1, "said more than once: %s" % log_lines(p))


ENTRYPOINT = """#!/bin/sh
# What many images run: set things up, then exec the server.
export GODEBUG=madvdontneed=1
exec %s "$@"
"""


def test_supervise_go_behind_entrypoint_script(t):
    """The Go server (CGO_ENABLED=0, no signal handling) started through an
    entrypoint shell script that execs it, as many images do: the program
    the supervisor ran is /bin/sh, the one holding the listener at the drain
    is Go. Its listener is left open (the default; Go's Serve would return
    and log.Fatal end it); /slow in flight is answered, death by SIGTERM."""
    script = os.path.join(t.tmp, "entrypoint.sh")
    with open(script, "w") as f:
        f.write(ENTRYPOINT % built(GO_PLAIN))
    os.chmod(script, 0o755)
    p, _, outcomes = drain_alone(t, [script, "PORT"], "go")
    check(all(o == "connected" for o, _ in outcomes), "connects during the drain: %s, expected"
          " connected (a Go program's listener)" % [o for o, _ in outcomes])
    check(lines_with(p, KEPT_OPEN), "no log line says the listeners stay open: %s" %
          log_lines(p))


def test_supervise_sigterm_while_starting(t):
    """SIGTERM before the child listens (it waits 3 s first; delay 5 s):
    nothing can be in flight, so it goes to the child at once, as under the
    shim, and /readyz never said 200."""
    port, hport = t.port(), t.port()
    p = signals_prog(t, port, hport, "TERM", "3", ready=False, DELAY="5s")
    p.wait_out("armed", 5)
    t.wait_health(hport, 503, body="starting", proc=p, timeout=5)
    t_sig = p.signal(signal.SIGTERM)
    t_got, _ = p.wait_out("got SIGTERM", 2)
    t.note("SIGTERM while starting reached the child %.0f ms after it was sent" %
           ((t_got - t_sig) * 1000))
    rc, _ = p.wait_exit(5)
    check(rc == 5, "the supervisor: %s, expected exit status 5" % p.status_text())
    check(lines_with(p, r"while starting"), "no log line for SIGTERM while starting: %s" %
          log_lines(p))


def test_supervise_launcher_is_static(t):
    """The supervisor runs where the programs it is for run: images with no
    C library (distroless/static, scratch), so the launcher links none.
    (The build in the repository: a sanitizer build is dynamic.)"""
    launcher = os.path.join(BUILD, "lameduck")
    check(is_static_elf(built(launcher)), "%s is dynamically linked: it cannot start in an image"
          " without a C library" % launcher)
