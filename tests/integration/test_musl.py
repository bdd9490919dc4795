"""The musl build (`make musl`, issue 6): build/musl/liblameduck.so preloaded
into our test programs linked with musl (build/musl/progs/, whose program
interpreter is musl's /lib/ld-musl-x86_64.so.1), as in an Alpine image.

What the shim needs from its environment is checked first (its only NEEDED
library is musl's libc.so, it exports the interposed functions and nothing
else, and every symbol it imports is one musl exports); then the lifecycle
end to end on a musl server; then cases of the glibc suite (drain, closing
every descriptor, signal delivery, fork) run again, unchanged, with the
musl shim and the musl builds of their programs.

`make test` runs `make musl` first; run alone, each test runs it (under a
lock: tests run in parallel), which needs musl-gcc (Debian's musl-tools).
"""
import fcntl
import os
import re
import signal
import subprocess
import time

import harness
from harness import (BUILD, ROOT, Request, check, connect_outcome, ended_by_term, log_of, now,
                     start_prog, try_http, wait_state)
from pods import LB_TIMEOUT

import test_drain
import test_hostile
import test_servers
import test_signals
import test_tree

MUSL = os.path.join(BUILD, "musl")
MUSL_SHIM = os.path.join(MUSL, "liblameduck.so")
MUSL_PROGS = os.path.join(MUSL, "progs")
MUSL_LOADER = "/lib/ld-musl-x86_64.so.1"
MUSL_LIBC = "/usr/lib/x86_64-linux-musl/libc.so"

# What the musl shim exports: the glibc shim's list without the names musl
# has no such function for (the _chk entry points, fcntl64, sendfile64,
# ssignal, sysv_signal).
EXPORTS = sorted("""
    accept accept4 bind close close_range closefrom dup dup2 dup3 epoll_ctl
    execl execle execlp execv execve execveat execvp execvpe fcntl fexecve fork
    listen read readv recv recvfrom recvmsg send sendfile sendmsg sendto
    sigaction bsd_signal __sysv_signal sigignore siginterrupt signal signalfd
    sigset sigtimedwait sigwait sigwaitinfo write writev
""".split())


def build(t):
    """`make musl` (quick when up to date), one test at a time."""
    os.makedirs(MUSL, exist_ok=True)
    with open(os.path.join(MUSL, ".make.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        r = subprocess.run(["make", "-s", "-C", ROOT, "musl"], capture_output=True, text=True,
                           timeout=300)
    check(r.returncode == 0, "make musl failed (musl-gcc comes with Debian's musl-tools):\n%s%s"
          % (r.stdout[-2000:], r.stderr[-2000:]))


class MuslCtx(harness.Ctx):
    """A test's world with the musl shim and the musl builds of the programs."""

    def shim_env(self, health, **lameduck):
        env = super().shim_env(health, **lameduck)
        env["LD_PRELOAD"] = MUSL_SHIM
        return env

    def prog_path(self, name):
        path = os.path.join(MUSL_PROGS, name)
        check(os.access(path, os.X_OK), "%s not built (make musl; it is not in MUSL_PROG_NAMES?)"
              % path)
        self.musl_used.add(name)
        return path

    def prog(self, name, *args, **kw):
        return self.spawn([self.prog_path(name)] + [str(a) for a in args], name=name + "(musl)",
                          **kw)


def musl(t):
    """The same test context, from now on with the musl shim and programs."""
    build(t)
    t.__class__ = MuslCtx
    t.musl_used = set()
    return t


def ran_musl(m, name):
    """The case really started the musl build of `name`."""
    check(name in m.musl_used, "the case never started build/musl/progs/%s (it ran %s)" %
          (name, sorted(m.musl_used) or "none of them"))


def readelf(*args):
    r = subprocess.run(["readelf", "-W"] + list(args), capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 0, "readelf %s: %s" % (" ".join(args), r.stderr))
    return r.stdout


def dynamic_symbols(path, defined):
    """Names of the dynamic symbols defined (or needed) by path."""
    names = set()
    for line in readelf("--dyn-syms", path).splitlines():
        f = line.split()
        if len(f) < 8 or not f[0].rstrip(":").isdigit() or f[3] == "SECTION":
            continue
        if f[4] == "LOCAL":
            continue
        if (f[6] != "UND") == defined:
            names.add(f[7].split("@")[0])
    names.discard("")
    return names


# ---------------------------------------------------------------- the artifacts

def test_musl_artifacts(t):
    """The musl shim names musl's libc.so as its only NEEDED library (no
    libbsd, no glibc), exports exactly the interposed functions, and needs
    no symbol that musl's libc.so does not export (a missing one would make
    the loader refuse the preload); the programs are dynamically linked
    with musl's loader as their interpreter."""
    build(t)
    dyn = readelf("-d", MUSL_SHIM)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
    check(needed == ["libc.so"], "NEEDED %r, expected only musl's libc.so" % needed)
    exported = sorted(dynamic_symbols(MUSL_SHIM, True))
    extra = sorted(set(exported) - set(EXPORTS))
    missing = sorted(set(EXPORTS) - set(exported))
    check(not extra and not missing, "exports: unexpected %r, missing %r" % (extra, missing))
    check(os.path.exists(MUSL_LIBC), "%s is missing (Debian's musl package)" % MUSL_LIBC)
    libc = dynamic_symbols(MUSL_LIBC, True)
    weak_ok = {"_ITM_deregisterTMCloneTable", "_ITM_registerTMCloneTable", "__cxa_finalize",
               "__deregister_frame_info", "__register_frame_info", "__gmon_start__"}
    unresolved = sorted(dynamic_symbols(MUSL_SHIM, False) - libc - weak_ok)
    check(not unresolved, "the shim needs symbols musl's libc.so lacks: %r" % unresolved)
    for name in os.listdir(MUSL_PROGS):
        path = os.path.join(MUSL_PROGS, name)
        hdr = readelf("-l", path)
        m = re.search(r"Requesting program interpreter: ([^\]]+)\]", hdr)
        check(m is not None and m.group(1) == MUSL_LOADER,
              "%s: interpreter %s, expected %s" % (name, m and m.group(1), MUSL_LOADER))
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf("-d", path))
        check(needed == ["libc.so"], "%s: NEEDED %r, expected musl's libc.so" % (name, needed))
    t.note("NEEDED %s; %d exports; %d imports, all in musl's libc.so; %d programs"
           % (needed, len(exported), len(dynamic_symbols(MUSL_SHIM, False)),
              len(os.listdir(MUSL_PROGS))))


# ---------------------------------------------------------------- the lifecycle

def test_musl_lifecycle(t):
    """slow_threads linked with musl (a blocking accept(), a thread and
    1.5 s a request), LAMEDUCK_DELAY=1s: ready (/readyz 200); SIGTERM makes
    /readyz 503 `lameduck` at once; the server keeps answering through the
    delay (a request before the signal and one during the delay, both still
    in flight when the drain starts, get their full answers across it);
    /readyz says `draining`; new connections are refused then; the process
    dies by SIGTERM right after the last answer, after the delay."""
    t = musl(t)
    port = t.port()
    p, hport = start_prog(t, "slow_threads", port, 1500, DELAY="1s", DRAIN_TIMEOUT="15s")
    with open("/proc/%d/maps" % p.pid) as f:
        maps = f.read()
    check(MUSL_SHIM in maps, "the musl shim is not mapped")
    check(os.path.realpath(MUSL_LOADER) in maps and "libc.so.6" not in maps,
          "the program does not run on musl's libc alone")
    st, body = try_http(hport, "/livez")
    check((st, body) == (200, "ok"), "/livez before SIGTERM: %s %r" % (st, body))

    before = Request(port)
    before.wait_sent()
    time.sleep(0.05)
    t_sig = p.signal(signal.SIGTERM)
    st, body = None, None
    while now() - t_sig < 2.0:
        st, body = t.health(hport, timeout=1.0)
        if st == 503:
            break
    first = now() - t_sig
    t.note("/readyz 503 %r %.1f ms after SIGTERM" % (body, first * 1000))
    check((st, body) == (503, "lameduck"), "/readyz after SIGTERM: %s %r, expected 503 lameduck"
          % (st, body))
    check(first < 0.5, "/readyz turned 503 only %.0f ms after SIGTERM" % (first * 1000))

    time.sleep(0.2)
    during = Request(port)    # accepted and served during the delay
    during.wait_sent()
    st, body = try_http(hport, "/livez")
    check((st, body) == (200, "ok"), "/livez during the delay: %s %r" % (st, body))
    check(p.alive() and before.t_end is None, "the program or its request ended in the delay")

    wait_state(t, p, hport, "draining", timeout=3.0)
    t_drain = now()
    check(t_drain - t_sig >= 1.0 - 0.05, "draining %.2fs after SIGTERM, before the 1 s delay"
          % (t_drain - t_sig))
    check(before.t_end is None and during.t_end is None,
          "a request ended before the drain began: nothing was in flight across it")
    outcome, dt = connect_outcome(port)
    check(outcome == "refused", "connect during the drain: %s after %.1f ms" % (outcome, dt * 1000))

    before.expect(b"done\n", "request sent before SIGTERM")
    during.expect(b"done\n", "request sent during the delay")
    check(before.t_end > t_drain and during.t_end > t_drain, "answered before the drain")
    t_exit = ended_by_term(p, 10)
    after = t_exit - max(before.t_end, during.t_end)
    t.note("drain began %.2fs after SIGTERM; ended %.1f ms after the last answer, %.2fs after"
           " SIGTERM" % (t_drain - t_sig, after * 1000, t_exit - t_sig))
    check(after < test_drain.END_AFTER_BOUND, "ended %.0f ms after the last answer" % (after * 1000))
    log = log_of(p)
    check("SIGTERM" in log and "draining" in log and "drained in" in log and
          "drain timeout" not in log, "the log does not tell the lifecycle:\n%s" % log)
    outcome, _ = connect_outcome(port)
    check(outcome == "refused", "connect after the exit: %s" % outcome)


# ---------------------------------------------------------------- the glibc suite, on musl

def test_musl_drain_epoll_in_flight_no_spin(t):
    """test_drain_epoll_in_flight_no_spin with slow_epoll on musl."""
    test_drain.test_drain_epoll_in_flight_no_spin(musl(t))


def test_musl_drain_queued_connections_handed_over(t):
    """test_drain_queued_connections_handed_over with iterative on musl."""
    test_drain.test_drain_queued_connections_handed_over(musl(t))


def test_musl_drain_timeout_slow_request(t):
    """test_drain_timeout_slow_request with slow_threads on musl."""
    test_drain.test_drain_timeout_slow_request(musl(t))


def test_musl_closeall_loop(t):
    """closeall on musl, close() on every number from 3 to the limit (musl
    has neither closefrom nor close_range)."""
    test_drain.closeall(musl(t), "loop")


def test_musl_closeall_dup2(t):
    """closeall on musl, dup2() onto every number from 3 to 1100."""
    test_drain.closeall(musl(t), "dup2")


def test_musl_siginfo_handler(t):
    """test_siginfo_handler (SA_SIGINFO, sa_mask, the alternate stack, the
    sender's pid) with sig_siginfo on musl."""
    test_signals.test_siginfo_handler(musl(t))


def test_musl_sigsuspend_nginx_style(t):
    """test_sigsuspend_nginx_style with sig_suspend on musl."""
    test_signals.test_sigsuspend_nginx_style(musl(t))


def test_musl_sigwaitinfo(t):
    """sig_waitinfo on musl, sigwaitinfo()."""
    test_signals.waited(musl(t), "sigwaitinfo")


def test_musl_sigwait(t):
    """sig_waitinfo on musl, sigwait()."""
    test_signals.waited(musl(t), "sigwait")


def test_musl_signalfd_epoll(t):
    """sig_signalfd on musl, the signalfd in an epoll set."""
    test_signals.signalfd(musl(t), "epoll")


def test_musl_signalfd_blocking_read(t):
    """sig_signalfd on musl, a blocking read() of the signalfd."""
    test_signals.signalfd(musl(t), "read")


def test_musl_second_sigterm_skips_delay(t):
    """test_second_sigterm_skips_delay with sig_siginfo on musl."""
    test_signals.test_second_sigterm_skips_delay(musl(t))


def test_musl_sigterm_during_fork(t):
    """test_hostile_sigterm_during_fork with storm_fork on musl (musl's
    fork() runs the shim's atfork handlers)."""
    test_hostile.test_hostile_sigterm_during_fork(musl(t))


test_musl_sigterm_during_fork.timeout = 40


def test_musl_fork_storm_conn_child(t):
    """test_hostile_fork_storm_conn_child with storm_fork on musl: a forked
    child counts as a request in flight."""
    test_hostile.test_hostile_fork_storm_conn_child(musl(t))


test_musl_fork_storm_conn_child.timeout = 40


# ---------------------------------------------------------------- trees and PID 1

def test_musl_pid1(t):
    """test_pid1_exits_128_plus_signal with slow_epoll on musl as PID 1 of a
    pid namespace: exit 143 after the delay."""
    m = musl(t)
    test_servers.pid1(m, lambda port: [m.prog_path("slow_epoll"), port, 0])
    ran_musl(m, "slow_epoll")


def test_musl_tree_prefork(t):
    """test_tree_prefork with tree_prefork on musl: the pre-fork tree behind
    HAProxy under wrk (the tree memfd, the workers' reports, the master's
    forwarded SIGTERM), no failed request."""
    m = musl(t)
    test_tree.test_tree_prefork(m)
    ran_musl(m, "tree_prefork")


test_musl_tree_prefork.timeout = LB_TIMEOUT


def test_musl_tree_daemon(t):
    """test_tree_daemon with tree_daemon on musl: the double-forked survivor
    takes over the health port and the lifecycle at its first listen()."""
    m = musl(t)
    test_tree.test_tree_daemon(m)
    ran_musl(m, "tree_daemon")


test_musl_tree_daemon.timeout = LB_TIMEOUT
