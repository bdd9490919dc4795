"""The drain, end to end, against real servers: requests in flight finish,
new connections are refused at once, queued connections are handed over,
the drain timeout holds, LAMEDUCK_DRAIN=never|auto, programs that close or
overwrite every descriptor, and keep-alive behind a real load balancer
(HAProxy in http and tcp mode) under load (wrk).

Measured figures go to notes (`t.note`), which the runner always prints.
"""
import fcntl
import os
import resource
import re
import signal
import socket
import subprocess
import time

from harness import (PY, Request, check, connect_outcome, ended_by_term, listeners, log_of, need,
                     now, proc_stat, start_prog, try_http, wait_for, wait_state)
from pods import haproxy_stat, parse_wrk, start_haproxy, wait_haproxy

# CI is small and noisy: generous bounds, the measured figure in a note.
REFUSE_BOUND = 0.25       # a connect during the drain is refused within this
END_AFTER_BOUND = 0.5     # the process ends this soon after the last answer
CPU_BOUND = 0.05          # share of one CPU the process may use while it waits


# ---------------------------------------------------------------- helpers

def cpu_ticks(pid):
    """utime+stime of the whole process in clock ticks; None once it is gone."""
    st = proc_stat(pid)
    if st is None or st[0] in ("Z", "X"):
        return None
    return int(st[11]) + int(st[12])


# ---------------------------------------------------------------- 1, 5b

def in_flight_then_refused(t, drain=None):
    port = t.port()
    extra = {"DRAIN": drain} if drain else {}
    p, hport = start_prog(t, "slow_threads", port, 2000, DELAY="500ms",
                          DRAIN_TIMEOUT="15s", **extra)
    req = Request(port)
    req.wait_sent()
    time.sleep(0.1)
    t_sig = p.signal(signal.SIGTERM)
    wait_state(t, p, hport, "draining")
    check(req.t_end is None, "the slow request ended before the drain began: %s" % req.error)

    # Every attempt during the drain must be refused, and fast.
    times = []
    for _ in range(5):
        outcome, dt = connect_outcome(port)
        check(outcome == "refused", "connect during the drain: %s after %.1f ms" %
              (outcome, dt * 1000))
        times.append(dt)
        time.sleep(0.05)
    check(req.t_end is None and p.alive(), "the drain ended before the refusal checks were done")
    t.note("connect during the drain refused in %.2f ms at most (%.2f ms at least, %d tries)" %
           (max(times) * 1000, min(times) * 1000, len(times)))
    check(max(times) < REFUSE_BOUND, "a refusal took %.1f ms (bound %.0f ms)" %
          (max(times) * 1000, REFUSE_BOUND * 1000))

    req.expect(b"done\n", "request started before SIGTERM")
    t_exit = ended_by_term(p, 10)
    after = t_exit - req.t_end
    t.note("ended %.1f ms after the request's answer, %.2fs after SIGTERM" %
           (after * 1000, t_exit - t_sig))
    check(after < END_AFTER_BOUND, "ended %.0f ms after the answer (bound %.0f ms)" %
          (after * 1000, END_AFTER_BOUND * 1000))
    check(t_exit - t_sig < 5, "ended %.2fs after SIGTERM: closer to the 15s drain timeout"
          " than to the answer" % (t_exit - t_sig))
    log = log_of(p)
    check("draining" in log and "drained in" in log and "drain timeout" not in log,
          "the log does not say it drained in time:\n%s" % log)


def test_drain_in_flight_completes_new_refused(t):
    """slow_threads (2 s a request), delay 500 ms: a request started before
    SIGTERM gets its full answer; connects during the drain are refused at
    once (RST); the process dies by SIGTERM right after the answer, long
    before the 15 s drain timeout, and never sees an accept() error."""
    in_flight_then_refused(t)


def test_drain_auto_without_handler(t):
    """LAMEDUCK_DRAIN=auto, a program with no SIGTERM handler (it would die
    by the default action): drains like always."""
    in_flight_then_refused(t, "auto")


# ---------------------------------------------------------------- 2

def test_drain_epoll_in_flight_no_spin(t):
    """slow_epoll (1.5 s a request): 3 keep-alive requests in flight at the
    drain all get 200; the event loop does not spin on the stopped listener
    while the drain waits; the process ends as soon as they are answered
    (the connections left idle do not count)."""
    port = t.port()
    p, hport = start_prog(t, "slow_epoll", port, 1500, DELAY="500ms", DRAIN_TIMEOUT="15s")
    reqs = [Request(port, keepalive=True) for _ in range(3)]
    for r in reqs:
        r.wait_sent()
    time.sleep(0.05)
    p.signal(signal.SIGTERM)
    t_drain = wait_state(t, p, hport, "draining")
    check(all(r.t_end is None for r in reqs), "a request ended before the drain began")

    hz = os.sysconf("SC_CLK_TCK")
    first = cpu_ticks(p.pid)
    t_first = now()
    check(first is not None, "the process was gone before the first CPU sample")
    last, t_last = first, t_first
    while p.alive() and now() < t_first + 10:
        c = cpu_ticks(p.pid)
        if c is None:
            break
        last, t_last = c, now()
        time.sleep(0.02)
    elapsed, cpu = t_last - t_first, (last - first) / hz
    t.note("drain wait %.2fs: %.2fs CPU (%.1f%%, bound %.0f%%)" %
           (elapsed, cpu, 100 * cpu / max(elapsed, 1e-9), 100 * CPU_BOUND))
    check(elapsed > 0.5, "the drain wait lasted only %.2fs: nothing measured" % elapsed)
    check(cpu <= CPU_BOUND * elapsed, "%.2fs of CPU over %.2fs of drain: the process spins" %
          (cpu, elapsed))

    for i, r in enumerate(reqs):
        r.expect(b"done\n", "request %d" % i)
        check(r.t_end > t_drain, "request %d was answered before the drain" % i)
    t_exit = ended_by_term(p, 10)
    after = t_exit - max(r.t_end for r in reqs)
    t.note("ended %.1f ms after the last answer" % (after * 1000))
    check(after < END_AFTER_BOUND, "ended %.0f ms after the last answer; log:\n%s" %
          (after * 1000, log_of(p)))
    check("drain timeout" not in log_of(p), "the drain timed out:\n%s" % log_of(p))


# ---------------------------------------------------------------- 3

def test_drain_queued_connections_handed_over(t):
    """iterative (400 ms a request, one at a time): 4 concurrent requests,
    SIGTERM at once, delay 200 ms, so that most of them still wait in the
    listen queue when the drain starts. All 4 get 200 (none reset) and the
    process ends after the last."""
    port = t.port()
    p, hport = start_prog(t, "iterative", port, 400, DELAY="200ms", DRAIN_TIMEOUT="15s")
    reqs = [Request(port) for _ in range(4)]
    for r in reqs:
        r.wait_sent()
    time.sleep(0.05)
    p.signal(signal.SIGTERM)
    for i, r in enumerate(reqs):
        r.expect(b"done\n", "request %d" % i)
    t_exit = ended_by_term(p, 10)
    after = t_exit - max(r.t_end for r in reqs)
    log = log_of(p)
    m = re.search(r"(\d+) queued connection", log)
    t.note("%s queued connections handed over; ended %.1f ms after the last answer" %
           (m.group(1) if m else "?", after * 1000))
    check(after < END_AFTER_BOUND, "ended %.0f ms after the last answer" % (after * 1000))
    check(m is not None, "no 'queued connection' count in the log:\n%s" % log)
    check(int(m.group(1)) >= 1, "no connection was queued when the drain began, so this"
          " proved nothing:\n%s" % log)


def epoll_listener_lines(p):
    return [l for l in p.err_lines() if l.startswith("epoll_pause:")]


def test_drain_epoll_paused_listener_queued(t):
    """epoll_pause (one connection at a time, 1 s a request; its listener
    stays in its epoll set with no events while a connection is open, as
    lighttpd's at server.max-connections): one request in flight and one
    waiting in the listen queue when the drain begins. Both get 200, the
    log says 1 queued connection was handed over, and the program's epoll
    set never reports the listener with EPOLLHUP or EPOLLERR, nor wakes it
    with nothing to accept: the drain moved the registration to the
    placeholder before shutting the socket down, and the placeholder's
    doorbell woke it for the queued one once it resumed its listener."""
    port = t.port()
    p, hport = start_prog(t, "epoll_pause", port, 1000, DELAY="300ms", DRAIN_TIMEOUT="10s")
    first = Request(port)
    first.wait_sent()
    time.sleep(0.1)
    queued = Request(port)
    queued.wait_sent()
    time.sleep(0.05)
    p.signal(signal.SIGTERM)
    first.expect(b"done\n", "the request in flight")
    queued.expect(b"done\n", "the queued request")
    ended_by_term(p, 10)
    log = log_of(p)
    t.note("answered %.2fs and %.2fs after they were sent" %
           (first.t_end - first.t_sent, queued.t_end - queued.t_sent))
    check(re.search(r"\b1 queued connection handed", log),
          "the second request was not queued at the drain (the setup failed):\n%s" % log)
    check(queued.t_end > first.t_end, "the queued request was answered first")
    check(not epoll_listener_lines(p), "the program's epoll set saw the stopped listener: %s" %
          epoll_listener_lines(p))
    check("drain timeout" not in log, "the drain timed out:\n%s" % log)


# The program accepts one connection, then stops accepting (its listener
# keeps a queue the drain takes and rings the placeholder for), and when
# told (a line on stdin), puts a file on the listener's number and takes a
# POSIX record lock on it, as a program that reuses numbers may.
LOCKER = r"""
import fcntl, os, signal, socket, sys
got = []
signal.signal(signal.SIGTERM, lambda s, f: got.append(s))
ls = socket.socket()
ls.bind(("127.0.0.1", int(sys.argv[1])))
ls.listen(16)
print("ready", flush=True)
c, _ = ls.accept()
sys.stdin.readline()
f = os.open(sys.argv[2], os.O_RDWR | os.O_CREAT, 0o644)
os.dup2(f, ls.fileno())
os.close(f)
fcntl.lockf(ls.fileno(), fcntl.LOCK_EX)
print("locked", flush=True)
while not got:
    signal.pause()
print("delivered", flush=True)
sys.stdin.readline()
"""


def accept_queue(port):
    """Connections waiting in the listen queue of 127.0.0.1:port (ss's Recv-Q)."""
    ls = listeners(port)
    return ls[0].queue if ls else None


def tell(p):
    p.popen.stdin.write(b"go\n")
    p.popen.stdin.flush()


def lock_held(path):
    """Does another process hold a POSIX record lock on path?"""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def test_drain_reused_number_keeps_its_lock(t):
    """A program whose listener had queued connections at the drain (the
    placeholder holds a doorbell for them) closes that number's placeholder
    by putting a file there, and locks the file (fcntl record lock). The
    drain ends at its timeout with the queue never taken, and takes the
    doorbell out: the program's lock is still held after, since the shim
    never touched the number (closing any descriptor of a file drops the
    process's locks on it)."""
    port, hport = t.port(), t.port()
    path = os.path.join(t.tmp, "locked")
    p = t.spawn([PY, "-c", LOCKER, port, path], health=hport, stdin=subprocess.PIPE,
                name="locker", DELAY="0s", DRAIN_TIMEOUT="2s")
    t.start_ready(p, hport)
    first = socket.create_connection(("127.0.0.1", port))
    queued = []
    try:
        wait_for(lambda: accept_queue(port) == 0, 5, "the program to accept its one connection")
        queued = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        wait_for(lambda: accept_queue(port) == 3, 5, "3 connections in the listen queue")
        p.signal(signal.SIGTERM)
        t.wait_health(hport, 503, body="draining", timeout=5, proc=p)
        tell(p)
        t_locked, _ = p.wait_out("locked", 5)
        check(lock_held(path), "the program's lock is not held right after it took it (setup)")
        p.wait_out("delivered", 10)
        t_cut, _ = p.wait_out(lambda l: "drain timeout" in l, 1, stream="err",
                              what="the drain's timeout line")
        check(t_locked < t_cut, "the program took its lock only after the drain ended (a slow "
              "machine?): the doorbell was out before, so this proved nothing")
        log = log_of(p)
        check(re.search(r"\b3 queued connections handed", log),
              "the 3 connections were not queued at the drain (the setup failed):\n%s" % log)
        check(lock_held(path), "the program lost its record lock on the file it put on its old "
              "listener's number during the drain; log:\n%s" % log)
    finally:
        for c in [first] + queued:
            c.close()
        if p.alive():
            tell(p)


def epoll_idle_listener(t, mode):
    port = t.port()
    p, hport = start_prog(t, "epoll_pause", port, 1000, mode, DELAY="300ms",
                          DRAIN_TIMEOUT="10s")
    req = Request(port)
    req.wait_sent()
    time.sleep(0.05)
    p.signal(signal.SIGTERM)
    req.expect(b"done\n", "the request in flight")
    ended_by_term(p, 10)
    check(not epoll_listener_lines(p), "the program's epoll set saw the stopped listener: %s" %
          epoll_listener_lines(p))
    check("drain timeout" not in log_of(p), "the drain timed out:\n%s" % log_of(p))


def test_drain_epoll_idle_listener_no_wakeup(t):
    """epoll_pause open (its listener always registered for EPOLLIN, as
    memcached's), idle at the drain while a 1 s request is in flight: the
    program is never woken for its listener (no EPOLLHUP, no accept4()
    that finds nothing) from the drain to its end."""
    epoll_idle_listener(t, "open")


def test_drain_epoll_idle_listener_kept_no_wakeup(t):
    """The same, with a copy of the listener held by a child without the
    shim (an empty environment): the shut-down socket outlives the swap of
    the program's number (as a CGI child's stray copy or a pre-fork
    sibling's makes it), and still never reaches the program's epoll set."""
    epoll_idle_listener(t, "open,child")


# ---------------------------------------------------------------- 4

def drain_timeout(t, prog, delay_ms, payload):
    port = t.port()
    p, hport = start_prog(t, prog, port, delay_ms, DELAY="500ms", DRAIN_TIMEOUT="1s")
    c = t.keep(socket.create_connection(("127.0.0.1", port), timeout=10))
    c.sendall(payload)
    time.sleep(0.2)
    t_sig = p.signal(signal.SIGTERM)
    t_exit = ended_by_term(p, 10)
    took = t_exit - t_sig
    t.note("%s ended %.2fs after SIGTERM (delay 0.5s + drain timeout 1s)" % (prog, took))
    check(took <= 0.5 + 1 + 0.5, "ended %.2fs after SIGTERM (bound 2.0s)" % took)
    check(took >= 1.4, "ended %.2fs after SIGTERM: it did not wait for the held request" % took)
    check("drain timeout" in log_of(p), "the log does not say the drain timed out:\n%s" % log_of(p))


def test_drain_timeout_half_request(t):
    """slow_epoll with half a request held open (read by the program, never
    answered), drain timeout 1 s: gone by delay + 1 s + 0.5 s."""
    drain_timeout(t, "slow_epoll", 100, b"GET / HTTP/1.1\r\nHost: x\r\n")


def test_drain_timeout_slow_request(t):
    """slow_threads with a 60 s request, drain timeout 1 s: gone by
    delay + 1 s + 0.5 s."""
    drain_timeout(t, "slow_threads", 60000, b"GET / HTTP/1.0\r\n\r\n")


# ---------------------------------------------------------------- 5

def test_drain_never(t):
    """LAMEDUCK_DRAIN=never: SIGTERM is delivered right after the delay even
    with a request in flight, which is cut."""
    port = t.port()
    p, hport = start_prog(t, "slow_threads", port, 2000, DELAY="500ms", DRAIN_TIMEOUT="15s",
                          DRAIN="never")
    req = Request(port)
    req.wait_sent()
    time.sleep(0.1)
    t_sig = p.signal(signal.SIGTERM)
    t_exit = ended_by_term(p, 10)
    took = t_exit - t_sig
    t.note("ended %.2fs after SIGTERM (delay 0.5s)" % took)
    check(0.45 <= took < 1.0, "ended %.2fs after SIGTERM, expected right after the 500 ms delay" % took)
    req.join(10)
    check(not req.is_alive() and req.status is None and req.error is not None,
          "the request in flight got %s %r: it should have been cut" % (req.status, req.body))
    check("draining" not in log_of(p), "it drained with LAMEDUCK_DRAIN=never:\n%s" % log_of(p))


# ---------------------------------------------------------------- 6

def closeall(t, mode):
    """closeall listens, the health port answers, then it closes (or
    overwrites) every descriptor from 3 up and listens again: the health port
    keeps answering, again and again, and the lifecycle still runs."""
    port, hport = t.port(), t.port()
    out = os.path.join(t.tmp, "dup2.out")
    args = [port, mode] + ([out] if mode.startswith("dup2") else [])
    p = t.prog("closeall", *args, health=hport, stdin=subprocess.PIPE,
               DELAY="300ms", DRAIN_TIMEOUT="5s")
    p.wait_out("listening", 10)
    t.wait_health(hport, 200, proc=p)
    p.popen.stdin.write(b"go\n")
    p.popen.stdin.flush()
    if mode == "dup2":
        _, res = p.wait_out(lambda l: l.startswith("writes="), 10)
        check(res == "writes=1098 failed=0",
              "dup2: %s: writes through the dup2()ed descriptors failed" % res)
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if mode == "dup2each":
        # Every number below the limit but the file's own (4, after the listener's 3).
        _, res = p.wait_out(lambda l: l.startswith("writes="), 10)
        check(res == "writes=%d failed=0" % (limit - 4),
              "dup2each under a file limit of %d: %s; log:\n%s" % (limit, res, log_of(p)))
    p.wait_out("ready", 10)
    # Several answers in a row: one would not prove that the health thread
    # survived (a thread parked in accept() on a dead descriptor answers one
    # more client, then never again).
    for i in range(6):
        st, body = t.health(hport)
        check((st, body) == (200, "ok"), "%s: /readyz try %d after the close: %s %r; log:\n%s" %
              (mode, i + 1, st, body, log_of(p)))
        time.sleep(0.05)
    st, body = try_http(port, "/")
    check((st, body) == (200, "ok"), "%s: the program itself: %s %r" % (mode, st, body))
    st, body = t.health(hport, "/livez")
    check((st, body) == (200, "ok"), "%s: /livez: %s %r" % (mode, st, body))
    p.signal(signal.SIGTERM)
    t.wait_health(hport, 503, timeout=3, proc=p)
    ended_by_term(p, 10, mode + ": ")
    check(any("SIGTERM" in l for l in p.shim_lines()),
          "%s: the shim's log went silent after the close: %r" % (mode, p.err_lines()))
    if mode.startswith("dup2"):
        last = 1100 if mode == "dup2" else limit - 1
        want = "".join("fd=%d\n" % n for n in range(3, last + 1) if mode == "dup2" or n != 4)
        with open(out, errors="replace") as f:
            got = f.read()
        strays = [l for l in got.splitlines() if not l.startswith("fd=")]
        check(got == want, "dup2: the file holds %d bytes, expected %d; lines not ours: %r" %
              (len(got), len(want), strays[:5]))


def test_closeall_dup2_under_low_file_limit(t):
    """Under `ulimit -n 512` the shim's descriptors sit just below the limit;
    a program that dup2()s onto each of those numbers (and closes it again)
    succeeds as it does without the shim: ours move out of the way, within
    the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))    # this test's own process
    closeall(t, "dup2each")


def test_closeall_closefrom(t):
    """A daemon calls closefrom(3) after the shim started."""
    closeall(t, "closefrom")


def test_closeall_close_range(t):
    """close_range(3, ~0U, 0)."""
    closeall(t, "close_range")


def test_closeall_loop(t):
    """close() on every number from 3 to the soft RLIMIT_NOFILE."""
    closeall(t, "loop")


def test_closeall_cloexec(t):
    """close_range(3, ~0U, CLOSE_RANGE_CLOEXEC): closes nothing."""
    closeall(t, "cloexec")


def test_closeall_dup2(t):
    """dup2() of a file onto every number from 3 to 1100, a write through
    each: the writes land in the file, not in the shim's sockets, and the
    health port keeps answering."""
    closeall(t, "dup2")


# ---------------------------------------------------------------- 7

WRK_CONNS = 16


def behind_haproxy(t, mode, delay=1.0, drain_timeout=2.0):
    """Two slow_epoll (2 ms a request, keep-alive) behind HAProxy, wrk with
    keep-alive through it for 6 s, SIGTERM to s1 after 2 s. Returns (wrk's
    figures, wrk's output, s1's log)."""
    need("wrk")
    p1, p2 = t.port(), t.port()
    env = dict(DELAY="%dms" % (delay * 1000), DRAIN_TIMEOUT="%dms" % (drain_timeout * 1000))
    s1, h1 = start_prog(t, "slow_epoll", p1, 2, **env)
    s2, h2 = start_prog(t, "slow_epoll", p2, 2, **env)
    fe, sock, _ = start_haproxy(t, mode, [("127.0.0.1", p1, h1), ("127.0.0.1", p2, h2)])

    wrk = t.spawn(["wrk", "-t2", "-c%d" % WRK_CONNS, "-d6s", "--timeout", "3s",
                   "http://127.0.0.1:%d/" % fe], shim=False, name="wrk")
    time.sleep(2)
    check(wrk.alive(), "wrk ended early: %s" % wrk.tail())
    check(int(haproxy_stat(sock)["s1"]["stot"]) > 0, "%s: s1 got no traffic before SIGTERM" % mode)
    t_sig = s1.signal(signal.SIGTERM)
    t_down = wait_haproxy(sock, "DOWN", timeout=5)
    t_exit = ended_by_term(s1, 10, mode + ": ")
    wrk.wait_exit(20)
    out = "\n".join(wrk.out_lines())
    res = parse_wrk(out)
    rows = haproxy_stat(sock)
    t.note("%s: HAProxy marked s1 down %.0f ms after SIGTERM; s1 ended %.2fs after SIGTERM" %
           (mode, (t_down - t_sig) * 1000, t_exit - t_sig))
    t.note("%s: wrk %d requests; errors connect %d, read %d, write %d, timeout %d; non-2xx %d" %
           (mode, res["requests"], res["connect"], res["read"], res["write"], res["timeout"],
            res["non2xx"]))
    t.note("%s: HAProxy sessions s1 %s (econ %s, eresp %s), s2 %s; s1's drain: %s" %
           (mode, rows["s1"]["stot"], rows["s1"]["econ"], rows["s1"]["eresp"], rows["s2"]["stot"],
            " | ".join(l.split(": ", 1)[-1] for l in s1.shim_lines()
                       if "drain" in l or "delivering" in l)))

    check(t_exit - t_sig <= delay + drain_timeout + 1.0,
          "%s: s1 ended %.2fs after SIGTERM (delay %.1fs + drain timeout %.1fs)" %
          (mode, t_exit - t_sig, delay, drain_timeout))
    check(s2.alive(), "%s: s2 died (%s); log:\n%s" % (mode, s2.status_text(), log_of(s2)))
    check(res["requests"] > 1000, "%s: only %d requests:\n%s" % (mode, res["requests"], out))
    # Either mode: nothing refused, nothing hung, no error answer.
    check(res["connect"] == 0 and res["timeout"] == 0 and res["non2xx"] == 0,
          "%s: wrk saw errors:\n%s\ns1's log:\n%s" % (mode, out, log_of(s1)))
    return res, out, log_of(s1)


def test_drain_keepalive_haproxy_http(t):
    """HAProxy mode http, health checks on /readyz (inter 200ms fall 2),
    retries 0, wrk with keep-alive: SIGTERM to one backend under load costs
    nothing: no socket error, no non-2xx answer, and it dies by SIGTERM."""
    res, out, _ = behind_haproxy(t, "http")
    check(res["read"] == 0 and res["write"] == 0, "http: wrk saw socket errors:\n%s" % out)


test_drain_keepalive_haproxy_http.timeout = 90


def test_drain_keepalive_haproxy_tcp(t):
    """HAProxy mode tcp (an L4 balancer, like kube-proxy): flows already
    established keep going to the dying backend. Asserted: nothing refused,
    nothing hung, no error answer, death by SIGTERM by delay + drain timeout;
    connections cut under wrk when the process exits are at most those s1
    had open when its drain began (an L4 balancer cannot move an established
    keep-alive flow). The count is in the notes."""
    res, out, log = behind_haproxy(t, "tcp")
    broken = res["read"] + res["write"]
    m = re.search(r"(\d+) connections? open", log)
    check(m is not None, "tcp: no drain line in s1's log:\n%s" % log)
    check(broken <= int(m.group(1)),
          "tcp: %d read/write errors, more than the %s connections s1 had open when its"
          " drain began:\n%s" % (broken, m.group(1), out))


test_drain_keepalive_haproxy_tcp.timeout = 90
