"""Process trees behind a real load balancer: a pre-fork server of ours,
shell wrappers that stay (as a child and as PID 1 of a pid namespace), a
daemon that double-forks, a server that runs a helper per request, a
process beside the tree, and a process-group kill. Each load case is
pods.lb_case (two pods behind HAProxy under wrk, SIGTERM to one; its
docstring and pods.py's list what is asserted); nginx, Apache prefork,
gunicorn and busybox httpd (CGI) run it in test_matrix.py (the
compatibility matrix).

Packages: nginx-light, haproxy, wrk, util-linux, iproute2.
"""
import os
import signal
import threading
import time

from harness import (PY, check, comm, descendants, describe, is_gone, need, now, tcp_listeners,
                     try_http, wait_for)
from pods import (DELAY, DRAIN, LB_TIMEOUT, MARGIN, PY_CONNS, daemon_pod, helper_pod, lb_case,
                  nginx_pod, pid1_wrapper_pod, prefork_pod, sh_wrapper_pod, who_holds)


# ---------------------------------------------------------------- 1: our pre-fork

# nginx, Apache prefork, gunicorn and busybox httpd (CGI) run lb_case in
# test_matrix.py (the compatibility matrix), with the pod makers above.

def test_tree_nginx_reuseport(t):
    """nginx with `listen ... reuseport`: the master opens one socket per
    worker and every worker holds them all, accepting from its own only. A
    worker must not shut down a sibling's socket (it would reset the queue
    the sibling is about to take): the same checks as nginx, and the log
    shows the sockets parked, not lost."""
    lb_case(t, lambda t, name: nginx_pod(t, name, " reuseport"))


test_tree_nginx_reuseport.timeout = LB_TIMEOUT


def test_tree_reuseport_sibling_queue(t):
    """tree_prefork with one SO_REUSEPORT socket per worker (as nginx's
    reuseport): each worker holds both and accepts from its own only; the
    second accepts slowly (one connection per 400 ms), so connections wait
    in its socket's queue when the drain begins. The first worker must not
    shut that socket down (it never accepted from it): that would reset the
    queue before its owner took it. Three rounds (which worker drains first
    is a race); every request sent 0.4 s before the drain is answered."""
    conns, rounds = 12, 3
    for rnd in range(rounds):
        port, hport = t.port(), t.port()
        env = t.shim_env(hport, DELAY="1s", DRAIN_TIMEOUT="5s")
        env.update(TREE_PREFORK_REUSEPORT="1", TREE_PREFORK_ACCEPT_MS="400")
        p = t.spawn([t.prog_path("tree_prefork"), port, 2, 3], env=env,
                    name="tree_prefork-reuseport-%d" % rnd)
        p.wait_ready_line()
        t.wait_health(hport, 200, proc=p)
        # Each worker accepts once at least (the shim's thread of a worker
        # starts at its first accept()).
        end = now() + 10
        while now() < end:
            got = [try_http(port, "/", timeout=2.0, http10=True) for _ in range(8)]
            if all(st == 200 for st, _ in got) and len(p.shim_lines()) >= 1:
                break
        time.sleep(0.5)
        t_sig = p.signal(signal.SIGTERM)
        answers = [None] * conns

        def get(i):
            answers[i] = try_http(port, "/", timeout=10.0, http10=True)
        time.sleep(max(0.0, t_sig + 0.6 - now()))
        ths = [threading.Thread(target=get, args=(i,), daemon=True) for i in range(conns)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(15)
        rc, _ = p.wait_exit(15)
        bad = [(i, a) for i, a in enumerate(answers) if a is None or a[0] != 200]
        t.note("round %d: %d of %d answered 200; log: %s" %
               (rnd, conns - len(bad), conns, " | ".join(l.split(": ", 1)[-1]
                                                     for l in p.shim_lines())))
        check(not bad, "round %d: requests sent 0.4 s before the drain not answered: %s; log:"
              " %s" % (rnd, bad[:4], p.shim_lines()))
        check(rc == 0, "round %d: tree_prefork: %s" % (rnd, p.status_text()))


test_tree_reuseport_sibling_queue.timeout = 120


def test_tree_prefork(t):
    """tree_prefork (our pre-fork server: blocking accept() in 2 workers,
    master forwards SIGTERM): the same checks as nginx."""
    def ended(t, a, t_sig, t_gone):
        return [] if "master exit" in a.proc.out_lines() else \
            ["tree_prefork's master did not reach its end: %s" % a.proc.tail()]
    lb_case(t, prefork_pod, after=ended)


test_tree_prefork.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- 2, 3: shell wrappers

def wrapper_after(t, a, t_sig, t_gone):
    """The server ends after the delay, then the shell (or PID 1)."""
    probs = []
    gone_at = getattr(a, "server_gone", None)
    if gone_at is None:
        return ["never saw the server (pid %d) end" % a.server]
    t.note("the server (python3) ended %.2fs after SIGTERM, the shell %.2fs" %
           (gone_at - t_sig, a.owner_gone - t_sig if a.owner_gone else -1))
    if gone_at - t_sig < DELAY - 0.05:
        probs.append("the server ended %.2fs after SIGTERM, before the delay" % (gone_at - t_sig))
    if a.owner_gone is not None and a.owner_gone < gone_at - 0.05:
        probs.append("the shell ended %.2fs before the server" % (gone_at - a.owner_gone))
    return probs


class WatchEnds(threading.Thread):
    """Records when the wrapper's server and the owner end."""

    def __init__(self, t, a, t_sig):
        super().__init__(daemon=True)
        self.a = a
        a.server_gone = a.owner_gone = None
        self.problems = []
        self.start()

    def run(self):
        a, end = self.a, now() + DELAY + DRAIN + MARGIN + 3
        while now() < end and (a.server_gone is None or a.owner_gone is None):
            if a.server_gone is None and is_gone(a.server):
                a.server_gone = now()
            if a.owner_gone is None and is_gone(a.owner):
                a.owner_gone = now()
            time.sleep(0.005)


def test_tree_sh_wrapper(t):
    """`sh -c 'python3 -m http.server PORT --bind ADDR; exit $?'` (a wrapper
    that stays): the shell owns the lifecycle and the health port, readiness
    is the server's; the server gets SIGTERM after delay + drain, then the
    shell exits (143)."""
    lb_case(t, sh_wrapper_pod, conns=PY_CONNS, during=WatchEnds, after=wrapper_after)


test_tree_sh_wrapper.timeout = LB_TIMEOUT


def test_tree_pid1_wrapper(t):
    """The same wrapper as PID 1 of a pid namespace: exits 143 only after
    the server ended (PID 1's exit would kill it)."""
    need("unshare")
    lb_case(t, pid1_wrapper_pod, conns=PY_CONNS, during=WatchEnds, after=wrapper_after)


test_tree_pid1_wrapper.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- 4: daemon

def test_tree_daemon(t):
    """tree_daemon (double fork, parents exit, setsid, no signal handling):
    the survivor owns the health port (never 200 before it listens) and the
    lifecycle; SIGTERM to the pid in its pidfile -> 503 -> it dies by SIGTERM
    after delay + drain. This test is the daemons' subreaper (as tini -s)."""
    def early(t, a):
        t.note("pod a: /readyz before the daemon listened: %s" %
               sorted({"%s %s" % e for e in a.early}))
        return []
    try:
        lb_case(t, daemon_pod, before=early)
    finally:
        for pid in getattr(t, "daemons", []):     # pod b, and a if it is still there
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


test_tree_daemon.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- 5: helpers

def test_tree_helpers(t):
    """tree_helper runs /bin/date per request (fork+exec and posix_spawn):
    the helpers never bind the health port and are never delayed (a
    /bin/sleep 5 helper killed with SIGTERM dies at once); SIGTERM to the
    server drains as usual."""
    def sleeper(t, a):
        probs = []
        got = {}

        def req():
            got["r"] = try_http(a.port, "/sleep", host=a.addr, timeout=10.0, http10=True)
        th = threading.Thread(target=req, daemon=True)
        th.start()
        helper = wait_for(lambda: [p for p in descendants(a.owner) if comm(p) == "sleep"], 5,
                          "the /bin/sleep helper")[0]
        time.sleep(0.1)      # let it start up, shim and all
        ls = tcp_listeners([a.hport])[a.hport]
        if len(ls) != 1 or ls[0].pids != {a.owner}:
            probs.append("with the sleep helper running, health port: %s" %
                         who_holds(ls))
        t0 = now()
        os.kill(helper, signal.SIGTERM)
        while not is_gone(helper) and now() - t0 < 3:
            time.sleep(0.005)
        took = now() - t0
        th.join(5)
        st, body = got.get("r", (None, "no answer"))
        t.note("sleep helper %d: SIGTERM -> gone in %.0f ms; server answered %s %r" %
               (helper, took * 1000, st, body))
        if took > 0.3:
            probs.append("the sleep helper took %.2fs to die of SIGTERM (delay %.1fs): it was"
                         " delayed" % (took, DELAY))
        if (st, body) != (200, "helper %d signal 15" % helper):
            probs.append("the /sleep request: %s %r, expected 'helper %d signal 15'" %
                         (st, body, helper))
        return probs
    lb_case(t, helper_pod, conns=8, before=sleeper)


test_tree_helpers.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- 5b: descriptors of exec'd descendants

# The owner: a child with close_fds and pass_fds, one that does not load the
# shim after close_fds (close_range in the child, then exec), and three
# execs of itself, each printing the tree's memfds it holds.
FDS_OWNER = r"""
import os, subprocess, sys
LIST = "import os; print(sorted(int(x) for x in os.listdir('/proc/self/fd')))"
n = int(os.environ.get("EXECS", "0"))
if n == 0:
    r, w = os.pipe()
    c = subprocess.run([sys.executable, "-c", LIST], close_fds=True, pass_fds=(r,),
                       capture_output=True, text=True)
    print("member", r, c.stdout.strip(), flush=True)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    c = subprocess.run([sys.executable, "-c", LIST], close_fds=True, env=env,
                       capture_output=True, text=True)
    print("plain", c.stdout.strip(), flush=True)
def link(f):
    try:
        return os.readlink("/proc/self/fd/" + f)
    except OSError:
        return ""      # the listing's own directory, closed by now
print("exec", n, sum("lameduck-tree" in link(f) for f in os.listdir("/proc/self/fd")),
      flush=True)
if n < 3:
    os.environ["EXECS"] = str(n + 1)
    os.execv(sys.executable, [sys.executable, "-c", sys.argv[1] if len(sys.argv) > 1 else ""]
             + sys.argv[1:])
print("done", flush=True)
"""


def test_tree_exec_fds(t):
    """A process that serves nothing holds no descriptor of ours. The owner
    (python3, LAMEDUCK_READY=start) runs a child with close_fds=True and
    pass_fds=(r,): the child, a member of the tree, sees 0, 1, 2, r (and its
    own listing's directory), not the shim's stderr copy, /proc directory
    or the tree's memfd. A child without the shim, after close_fds
    (close_range in the child before exec), sees 0, 1, 2 only. An owner
    that execs itself three times holds one memfd of the tree each time, not
    one more per exec."""
    hport = t.port()
    p = t.spawn([PY, "-c", FDS_OWNER, FDS_OWNER], health=hport, READY="start", name="fds")
    p.wait_out("done", 20)
    out = p.out_lines()
    t.note("owner's lines: %s" % " | ".join(out))
    member = [l.split(None, 2) for l in out if l.startswith("member ")]
    check(member, "no member line: %r" % out)
    r = int(member[0][1])
    # The listing's own directory descriptor is the lowest free one: r + 1.
    want = sorted({0, 1, 2, r, r + 1})
    check(member[0][2] == str(want), "member child with pass_fds=(%d,): fds %s, expected %s" %
          (r, member[0][2], want))
    plain = [l.split(None, 1)[1] for l in out if l.startswith("plain ")]
    check(plain == ["[0, 1, 2, 3]"], "child without the shim after close_fds: fds %s, "
          "expected [0, 1, 2, 3] (3: its listing)" % plain)
    execs = [l.split()[1:] for l in out if l.startswith("exec ")]
    check(execs == [[str(i), "1"] for i in range(4)],
          "the tree's memfds held by the owner after each exec (exec, count): %s, expected one "
          "each time" % execs)


# ---------------------------------------------------------------- 6: beside the tree

def test_tree_beside_nginx(t):
    """A process started beside a running nginx tree with the same
    environment (same LD_PRELOAD and LAMEDUCK_HEALTH: a kubectl exec
    session), which itself listens on a TCP port: never binds the health
    port, logs nothing, is not delayed by SIGTERM; nginx stays ready and
    the health port keeps one listener, the master's."""
    need("ss")
    pod = nginx_pod(t, "a")
    side_port = t.port()
    code = ("import socket, time\n"
            "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "s.bind(('127.0.0.1', %d)); s.listen(8)\n"
            "print('started', flush=True); time.sleep(30)\n" % side_port)
    side = t.spawn([PY, "-c", code], env=pod.env(), name="beside")
    side.wait_out("started", 10)
    time.sleep(0.3)     # a lazy health thread would have started by now
    ls = tcp_listeners([pod.hport, side_port])
    check(len(ls[pod.hport]) == 1 and ls[pod.hport][0].pids == {pod.owner},
          "health port with the side process running: %s (nginx master %d, side %d)" %
          (who_holds(ls[pod.hport]), pod.owner, side.pid))
    check(len(ls[side_port]) == 1 and ls[side_port][0].pids == {side.pid},
          "the side process's own port: %s" % who_holds(ls[side_port]))
    st, body = t.health(pod.hport)
    check((st, body) == (200, "ok"), "nginx /readyz with the side process: %s %r" % (st, body))
    t0 = side.signal(signal.SIGTERM)
    rc, end = side.wait_exit(10)
    t.note("side process ended %.0f ms after SIGTERM (%s)" % ((end - t0) * 1000, side.status_text()))
    check(rc == -signal.SIGTERM, "side process: %s, expected death by SIGTERM" % side.status_text())
    check(end - t0 < 0.5, "side process held SIGTERM %.2fs (delay 1s): it acted as an owner" %
          (end - t0))
    check(side.err_lines() == [], "side process wrote to stderr: %r" % side.err_lines())
    st, body = t.health(pod.hport)
    check((st, body) == (200, "ok"), "nginx /readyz after the side process's SIGTERM: %s %r" %
          (st, body))
    check(pod.proc.alive() and not any(is_gone(w) for w in pod.workers),
          "nginx lost processes: %s" % describe([pod.owner] + pod.workers))
    ls = tcp_listeners([pod.hport])[pod.hport]
    check(len(ls) == 1 and ls[0].pids == {pod.owner},
          "health port after the side process ended: %s" % who_holds(ls))


# ---------------------------------------------------------------- 7: process-group kill

def test_tree_killpg_nginx(t):
    """SIGTERM to nginx's whole process group (master and workers, as
    systemd's control-group kill or `kill -- -PGID`): the workers' copies
    join the master's lifecycle (no fast shutdown, no skipped delay: they
    are not a second signal); /readyz 503, the tree serves through the
    delay and is gone after delay + drain."""
    lb_case(t, nginx_pod, group=True)


test_tree_killpg_nginx.timeout = LB_TIMEOUT


def test_tree_killpg_prefork(t):
    """The same process-group kill with tree_prefork (workers with the
    default action for SIGTERM: without the shim they would die at once)."""
    lb_case(t, prefork_pod, group=True)


test_tree_killpg_prefork.timeout = LB_TIMEOUT
