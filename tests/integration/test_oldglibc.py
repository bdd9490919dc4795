"""The README's minimum glibc, for real: the shim built here, on this
machine's glibc, loads into servers of a Debian 11 root (glibc 2.31) and runs
the whole lifecycle there.

The root is made once with debootstrap from Debian's own packages
(build/rootfs/bullseye; minbase plus python3), in a directory of its own that
is renamed into place only when complete, so an interrupted run is redone.
Later runs reuse it. Each test copies the shim into the root and runs a
program of the root under chroot with LD_PRELOAD, with the root's /proc
mounted in a mount namespace of the program's own (the shim finds listeners
in /proc/self/fd, as it would in any container). The network namespace is
shared, so the test talks to the ports from outside. Needs root and, the
first time, the mirror (LDTEST_DEBIAN_MIRROR, default deb.debian.org): a
root that cannot be made is a failure, not a skip."""
import fcntl
import os
import re
import shutil
import signal
import subprocess
import time

from harness import (BUILD, SHIM, check, check_ended_by, fail, first_503, now, serve_through_delay,
                     try_http)

SUITE = "bullseye"
GLIBC = "2.31"
MIRROR = os.environ.get("LDTEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
ROOTFS = os.path.join(BUILD, "rootfs")
ROOTDIR = os.path.join(ROOTFS, SUITE)
MADE = ".lameduck-made"        # written last, before the rename
DEBOOTSTRAP_TIMEOUT = 1500


def _mounts_under(path):
    """Mount points at or under path, deepest first (mountinfo field 5)."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
            if mp == path or mp.startswith(path + "/"):
                found.append(mp)
    return sorted(found, key=len, reverse=True)


def _remove_stale(path):
    """A root left half made by an interrupted debootstrap: its /proc and
    /sys may still be mounted, so unmount them, then delete without
    crossing into any file system that is still mounted there."""
    for mp in _mounts_under(path):
        subprocess.run(["umount", "-l", mp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    left = _mounts_under(path)
    if left:
        fail("cannot clean the half-made root %s: still mounted: %s" % (path, left))
    subprocess.run(["rm", "-rf", "--one-file-system", path], check=True)


def debian_root(t):
    """The path of the Debian 11 root, made if it is not there yet."""
    if os.path.isfile(os.path.join(ROOTDIR, MADE)):
        with open(os.path.join(ROOTDIR, MADE)) as f:
            t.note("Debian %s root: %s (cached; %s)" % (SUITE, ROOTDIR, f.read().strip()))
        return ROOTDIR
    check(os.geteuid() == 0, "making the Debian %s root needs root (debootstrap, chroot)" % SUITE)
    check(shutil.which("debootstrap") is not None,
          "debootstrap is not installed (tests/deps.sh installs it: `make deps`)")
    os.makedirs(ROOTFS, exist_ok=True)
    # One maker at a time (several test runs may share build/); the others wait.
    with open(os.path.join(ROOTFS, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(os.path.join(ROOTDIR, MADE)):
            t.note("Debian %s root: %s (made by a concurrent run)" % (SUITE, ROOTDIR))
            return ROOTDIR
        # Under the lock, any other directory here is left from an interrupted run.
        for name in os.listdir(ROOTFS):
            if name.startswith(SUITE + ".tmp") or name == SUITE:
                _remove_stale(os.path.join(ROOTFS, name))
        tmp = os.path.join(ROOTFS, "%s.tmp%d" % (SUITE, os.getpid()))
        logpath = os.path.join(ROOTFS, SUITE + ".log")
        argv = ["debootstrap", "--variant=minbase", "--include=python3", SUITE, tmp, MIRROR]
        t0 = time.monotonic()
        with open(logpath, "w") as log:
            try:
                rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    timeout=DEBOOTSTRAP_TIMEOUT).returncode
            except subprocess.TimeoutExpired:
                rc = "timed out after %ds" % DEBOOTSTRAP_TIMEOUT
        took = time.monotonic() - t0
        if rc != 0:
            with open(logpath, errors="replace") as f:
                tail = [l.rstrip() for l in f.readlines()[-12:]]
            _remove_stale(tmp)
            fail("`%s` failed (%s) after %.0fs: could it reach the mirror %s? "
                 "(set LDTEST_DEBIAN_MIRROR for another) last lines of %s:\n      %s" %
                 (" ".join(argv), rc if isinstance(rc, str) else "status %d" % rc, took, MIRROR,
                  logpath, "\n      ".join(tail)))
        size = subprocess.run(["du", "-sh", "--one-file-system", tmp], capture_output=True,
                              text=True).stdout.split()[0]
        made = "made with debootstrap in %.0fs, %s, %s" % (took, size, time.strftime("%Y-%m-%d"))
        with open(os.path.join(tmp, MADE), "w") as f:
            f.write(made + "\n")
        os.rename(tmp, ROOTDIR)
        t.note("Debian %s root: %s (%s)" % (SUITE, ROOTDIR, made))
        return ROOTDIR


def check_glibc(t, root):
    """The root's own glibc is the one the README names."""
    r = subprocess.run(["chroot", root, "/usr/bin/getconf", "GNU_LIBC_VERSION"],
                       capture_output=True, text=True, timeout=30)
    got = r.stdout.strip()
    check(r.returncode == 0 and got == "glibc " + GLIBC,
          "the root's glibc: getconf GNU_LIBC_VERSION said %r (status %d, %r), expected 'glibc %s'" %
          (got, r.returncode, r.stderr.strip(), GLIBC))
    t.note("root's glibc: %s" % got)


class RootShim:
    """The shim built here, copied into the root for one test."""

    def __init__(self, t, root):
        check(not os.environ.get("LDTEST_PRELOAD_FIRST"),
              "a sanitizer build of the shim needs its runtime, which the Debian %s root lacks" % SUITE)
        check(os.path.isfile(SHIM), "%s is missing: run `make` first" % SHIM)
        self.root = root
        self.inside = "/tmp/lameduck-%d/liblameduck.so" % os.getpid()
        self.outside = root + self.inside
        os.makedirs(os.path.dirname(self.outside), exist_ok=True)
        shutil.copy2(SHIM, self.outside)

    def remove(self):
        shutil.rmtree(os.path.dirname(self.outside), ignore_errors=True)

    def spawn(self, t, argv, name, **lameduck):
        """unshare --mount-proc=ROOT/proc chroot ROOT env LD_PRELOAD=...
        LAMEDUCK_...=... argv: each execs the next, so the pid is the
        program's, and only the program loads the shim. The /proc mount
        goes with the program's mount namespace."""
        env = ["LD_PRELOAD=" + self.inside] + ["LAMEDUCK_%s=%s" % kv for kv in lameduck.items()]
        return t.spawn(["unshare", "--mount-proc=%s/proc" % self.root, "chroot", self.root,
                        "/usr/bin/env"] + env + [str(a) for a in argv], shim=False, name=name)

    def check_loaded(self, t, p, want_libs):
        """The program maps our copy and the root's own glibc libraries, and
        the loader said nothing."""
        try:
            with open("/proc/%d/maps" % p.pid) as f:
                files = {l.split(None, 5)[5].strip() for l in f if len(l.split(None, 5)) == 6}
        except OSError as e:
            fail("%s: cannot read its maps: %s" % (p.name, e))
        check(self.outside in files, "%s has not mapped the shim %s; it maps: %s" %
              (p.name, self.outside, sorted(files)))
        names = {os.path.basename(f) for f in files}
        for lib in want_libs:
            check(lib in names, "%s does not map the root's %s; it maps: %s" % (p.name, lib, sorted(names)))
        loader = [l for l in p.err_lines() if "ld.so" in l or "cannot be preloaded" in l
                  or "version `GLIBC" in l]
        check(not loader, "the dynamic loader complained: %r" % loader)


def test_glibc231_http_server(t):
    """Debian 11's python3 -m http.server under the shim built here:
    /readyz 200 when listening, SIGTERM -> 503 lameduck at once, the server
    keeps serving through the 2 s delay, the drain, death by SIGTERM."""
    root = debian_root(t)
    check_glibc(t, root)
    shim = RootShim(t, root)
    try:
        port, hport, delay = t.port(), t.port(), 2.0
        p = shim.spawn(t, ["/usr/bin/python3", "-m", "http.server", port, "--bind", "127.0.0.1"],
                       "bullseye http.server", HEALTH="127.0.0.1:%d" % hport, DELAY="2s",
                       LOG="debug")
        st, body = t.wait_health(hport, 200, proc=p, timeout=20)
        check(body == "ok", "/readyz 200 body %r, expected 'ok'" % body)
        shim.check_loaded(t, p, ["libc-%s.so" % GLIBC, "libpthread-%s.so" % GLIBC,
                                 "libdl-%s.so" % GLIBC])
        p.wait_out(lambda l: l.startswith("lameduck[") and "lameduck " in l and "delay 2s" in l,
                   5, stream="err", what="the shim's start-up line")
        st, body = t.health(hport, "/livez")
        check((st, body) == (200, "ok"), "/livez: %s %r" % (st, body))
        st, body = try_http(port, "/")
        check(st == 200, "the server itself: %s %r" % (st, body[:80]))

        kill_t = p.signal(signal.SIGTERM)
        lat, body = first_503(t, hport, kill_t, 0.5)
        t.note("/readyz 503 %.1f ms after SIGTERM" % (lat * 1000))
        check(body == "lameduck", "/readyz 503 body %r, expected 'lameduck'" % body)
        log = serve_through_delay(t, p, port, hport, kill_t, 2.0)
        served = [e for e in log if e[1] == "server" and e[0] < delay and e[2] == 200]
        t.note("%d requests served during the %.0fs delay" % (len(served), delay))
        check_ended_by(t, p, kill_t, delay, -signal.SIGTERM)
        for l in p.shim_lines():
            t.note("shim: %s" % l)
        shim_log = " ".join(p.shim_lines())
        check("drain" in shim_log, "the shim's log says nothing of the drain: %r" % p.shim_lines())
    finally:
        shim.remove()


test_glibc231_http_server.timeout = DEBOOTSTRAP_TIMEOUT + 120


def test_glibc231_program_without_libpthread(t):
    """Debian 11's sleep links libc.so.6 alone, and so does the shim: on
    glibc 2.31 it loads libdl and libpthread itself for dlsym and
    pthread_create (shim/real.c), which the maps must show. With
    LAMEDUCK_READY=start: /readyz 200, SIGTERM -> 503 lameduck, the program
    lives through the 1 s delay, then dies by SIGTERM."""
    root = debian_root(t)
    sleep = os.path.join(root, "bin", "sleep")
    r = subprocess.run(["readelf", "-d", sleep], capture_output=True, text=True)
    needed = re.findall(r"\(NEEDED\).*\[(.*)\]", r.stdout)
    check(needed == ["libc.so.6"], "the root's /bin/sleep NEEDs %r, expected libc.so.6 alone" % needed)
    shim = RootShim(t, root)
    try:
        hport, delay = t.port(), 1.0
        p = shim.spawn(t, ["/bin/sleep", "60"], "bullseye sleep", HEALTH="127.0.0.1:%d" % hport,
                       DELAY="1s", READY="start")
        t.wait_health(hport, 200, proc=p, timeout=20)
        shim.check_loaded(t, p, ["libc-%s.so" % GLIBC, "libpthread-%s.so" % GLIBC,
                                 "libdl-%s.so" % GLIBC])
        kill_t = p.signal(signal.SIGTERM)
        lat, body = first_503(t, hport, kill_t, 0.5)
        check(body == "lameduck", "/readyz 503 body %r, expected 'lameduck'" % body)
        while now() < kill_t + delay - 0.2:
            check(p.alive(), "sleep ended %.2fs after SIGTERM, within the delay" % (now() - kill_t))
            st, body = t.health(hport, "/livez", timeout=0.5)
            check(st == 200, "/livez during the delay: %s %r" % (st, body))
            time.sleep(0.05)
        check_ended_by(t, p, kill_t, delay, -signal.SIGTERM)
    finally:
        shim.remove()


test_glibc231_program_without_libpthread.timeout = DEBOOTSTRAP_TIMEOUT + 120


CLOSE_SCRIPT = r"""
import ctypes, errno, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
def closed(fds):
    n = 0
    for fd in fds:
        try:
            os.fstat(fd)
        except OSError:
            n += 1
    return n
# glibc 2.31 has neither close_range, closefrom nor execveat: dlsym finds
# the shim's wrappers, which must work there (or fail as libc would).
for name in ("close_range", "closefrom", "execveat"):
    print(name, "found" if hasattr(libc, name) else "absent", flush=True)
fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(3)]
libc.close_range.argtypes = (ctypes.c_uint, ctypes.c_uint, ctypes.c_int)
r = libc.close_range(fds[0], 0xFFFFFFFF, 0)
print("close_range", r, ctypes.get_errno() if r else 0, "closed", closed(fds), flush=True)
fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(3)]
libc.closefrom(fds[0])
print("closefrom closed", closed(fds), flush=True)
ctypes.set_errno(0)
r = libc.execveat(-100, b"/nonexistent/lameduck", None, None, 0)
print("execveat", r, errno.errorcode.get(ctypes.get_errno()), flush=True)
print("ready", flush=True)
s.accept()
"""


def test_glibc231_closeall_without_libc_support(t):
    """glibc 2.31 lacks close_range, closefrom and execveat, so the shim's
    wrappers find no real function behind them. Reached through dlsym, as a
    program on 2.31 can only reach them: close_range and closefrom close
    the program's descriptors and spare the shim's (the health port answers
    after them), execveat reaches the kernel (ENOENT for a path that does
    not exist); then the lifecycle runs."""
    root = debian_root(t)
    shim = RootShim(t, root)
    try:
        port, hport, delay = t.port(), t.port(), 1.0
        os.makedirs(os.path.dirname(shim.outside), exist_ok=True)
        with open(os.path.join(os.path.dirname(shim.outside), "closeall.py"), "w") as f:
            f.write(CLOSE_SCRIPT)
        script = os.path.join(os.path.dirname(shim.inside), "closeall.py")
        p = shim.spawn(t, ["/usr/bin/python3", script, port], "bullseye closeall",
                       HEALTH="127.0.0.1:%d" % hport, DELAY="1s")
        p.wait_ready_line(20)
        out = p.out_lines()
        t.note("program: %s" % " | ".join(out))
        for name in ("close_range", "closefrom", "execveat"):
            check("%s found" % name in out, "dlsym did not find the shim's %s: %r" % (name, out))
        check("close_range 0 0 closed 3" in out, "close_range: %r" % out)
        check("closefrom closed 3" in out, "closefrom: %r" % out)
        check("execveat -1 ENOENT" in out, "execveat: %r" % out)
        st, body = t.wait_health(hport, 200, proc=p, timeout=10)
        check(body == "ok", "/readyz after close_range and closefrom: %s %r" % (st, body))
        kill_t = p.signal(signal.SIGTERM)
        lat, body = first_503(t, hport, kill_t, 0.5)
        check(body == "lameduck", "/readyz 503 body %r, expected 'lameduck'" % body)
        check_ended_by(t, p, kill_t, delay, -signal.SIGTERM)
    finally:
        shim.remove()


test_glibc231_closeall_without_libc_support.timeout = DEBOOTSTRAP_TIMEOUT + 120
