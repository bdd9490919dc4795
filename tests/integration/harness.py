"""Helpers for the integration tests: processes under the shim, a raw HTTP
client with timeouts, polling, `ss` listeners, /proc, clean-up, and the
checks of one server's lifecycle that several test modules make. (Pods
behind a load balancer, and the servers run as pods, are in pods.py.)

Every process a test starts gets its own session (so its whole process
group can be killed) and carries LDTEST_TOKEN=<token> in its environment, so
that anything left behind (a daemon, a PID-1 namespace init, a helper that
left the group) is found in /proc and SIGKILLed when the test ends, pass or
fail. Python stdlib only.
"""
import collections
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
# LDTEST_SHIM: test another build of the shim (a sanitizer build, an installed copy).
SHIM = os.path.abspath(os.environ.get("LDTEST_SHIM") or os.path.join(BUILD, "liblameduck.so"))
# LDTEST_PRELOAD_FIRST: a library put before the shim in LD_PRELOAD (the ASan
# runtime, which must come first when an ASan shim goes into a foreign program).
PRELOAD = ":".join(filter(None, [os.environ.get("LDTEST_PRELOAD_FIRST"), SHIM]))
PROGS = os.path.join(BUILD, "progs")
PY = "/usr/bin/python3"		# never a pyenv shim (a bash script that execs)
TOKEN_VAR = "LDTEST_TOKEN"

# Generous bounds: CI machines are small and noisy.
STARTUP_TIMEOUT = 10.0


def fields(line):
    """The key=value words of a line (our test programs' result lines)."""
    out = {}
    for kv in line.split():
        if "=" in kv:
            k, v = kv.split("=", 1)
            out[k] = v
    return out


class TestFailure(Exception):
    pass


def fail(msg):
    raise TestFailure(msg)


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def now():
    return time.monotonic()


def wait_for(pred, timeout, what="condition", interval=0.015):
    """Polls pred() until it returns a true value, which is returned."""
    end = now() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if now() >= end:
            fail("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(interval)


# ---------------------------------------------------------------- ports

_handed_out = set()
_ports_lock = threading.Lock()


def _local_port_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port):
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        addr = ("::", port)
    except OSError:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        addr = ("0.0.0.0", port)
    try:
        s.bind(addr)
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    """A TCP port free on every address (IPv4 and IPv6), never handed out
    twice in one run, and outside the kernel's ephemeral range, so that no
    client connection of the tests can be sitting on it."""
    lo, hi = _local_port_range()
    span = (20000, lo - 1) if lo > 21000 else (hi + 1, 65535) if hi < 64000 else (1024, 65535)
    with _ports_lock:
        for _ in range(500):
            port = random.randint(*span)
            if port in _handed_out or port in (80, 443, 8799):
                continue
            if _bindable(port):
                _handed_out.add(port)
                return port
    fail("no free port")


# ---------------------------------------------------------------- HTTP

class Resp:
    def __init__(self, status, reason, headers, body, raw, closed, elapsed):
        self.status = status
        self.reason = reason
        self.headers = headers      # lower-case name -> value
        self.body = body            # bytes
        self.raw = raw
        self.closed = closed        # the server closed the connection
        self.elapsed = elapsed

    @property
    def text(self):
        return self.body.decode("utf-8", "replace").strip()

    def __repr__(self):
        return "<%s %r>" % (self.status, self.text[:60])


def _addr(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def connect(port, host="127.0.0.1", timeout=2.0):
    s = socket.socket(_addr(host), socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except OSError:
        s.close()
        raise
    return s


def read_all(s, timeout):
    """Reads until EOF or the timeout. Returns (bytes, closed, error)."""
    end = now() + timeout
    buf = b""
    while True:
        left = end - now()
        if left <= 0:
            return buf, False, "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return buf, False, "timeout"
        except ConnectionResetError:
            return buf, True, "reset"
        except OSError as e:
            return buf, True, str(e)
        if not chunk:
            return buf, True, None
        buf += chunk


def parse_response(raw, head=False):
    """Splits a raw HTTP/1.x response. Returns (status, reason, headers, body)."""
    sep = raw.find(b"\r\n\r\n")
    if sep < 0 or not raw.startswith(b"HTTP/1."):
        return None, None, {}, raw
    lines = raw[:sep].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        return None, None, {}, raw
    headers = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = raw[sep + 4:]
    return status, (parts[2] if len(parts) > 2 else ""), headers, body


def request(port, data, host="127.0.0.1", timeout=2.0):
    """Sends raw bytes, reads to EOF (or timeout). Raises OSError if the
    connection fails; returns a Resp (status None if unparseable)."""
    t0 = now()
    s = connect(port, host, timeout)
    try:
        s.sendall(data)
        raw, closed, _ = read_all(s, max(0.05, timeout - (now() - t0)))
    finally:
        s.close()
    status, reason, headers, body = parse_response(raw)
    return Resp(status, reason, headers, body, raw, closed, now() - t0)


def http(port, path="/", method="GET", host="127.0.0.1", timeout=2.0, extra=b"",
         http10=False):
    """One request, read to the server's close: HTTP/1.1 with Connection:
    close, or HTTP/1.0 (http10: the server closes after it, and never
    answers in chunks, which a CGI script's answer without Content-Length
    would be on HTTP/1.1). Raises OSError on a connection error, when no
    complete answer came within the timeout, or when the body is not the
    Content-Length it announced."""
    hosthdr = ("[%s]" % host) if ":" in host else host
    if http10:
        head = "%s %s HTTP/1.0\r\nHost: %s:%d\r\n" % (method, path, hosthdr, port)
    else:
        head = ("%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n" %
                (method, path, hosthdr, port))
    r = request(port, head.encode() + extra + b"\r\n", host, timeout)
    if r.status is None:
        raise OSError("no HTTP answer within %.1fs (got %r%s)" %
                      (timeout, r.raw[:80], ", connection closed" if r.closed else ""))
    if "content-length" in r.headers and method != "HEAD":
        n = int(r.headers["content-length"])
        if len(r.body) < n:
            raise OSError("short body: %d of %d bytes" % (len(r.body), n))
        if len(r.body) > n:
            raise OSError("%d bytes past the Content-Length of %d" % (len(r.body) - n, n))
    return r


def try_http(port, path="/", method="GET", host="127.0.0.1", timeout=2.0, http10=False):
    """http(), for polling: (status, body text), or (None, error text)."""
    try:
        r = http(port, path, method, host, timeout, http10=http10)
        return r.status, r.text
    except OSError as e:
        return None, "%s: %s" % (type(e).__name__, e)


# ---------------------------------------------------------------- ss

_USERS = re.compile(r'\("([^"]*)",pid=(\d+),fd=(\d+)\)')


class Listener(collections.namedtuple("Listener", "local users queue")):
    """A TCP LISTEN socket: its local address, who holds it [(name, pid,
    fd), ...], and the connections waiting in its queue (Recv-Q)."""

    @property
    def pids(self):
        return {pid for _, pid, _ in self.users}


def tcp_listeners(ports):
    """{port: [Listener, ...]} for each of ports, from one `ss -Hltnp`."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, timeout=10).stdout
    res = {p: [] for p in ports}
    for line in out.splitlines():
        f = line.split()
        if len(f) < 4:
            continue
        port = f[3].rsplit(":", 1)[-1]
        if port.isdigit() and int(port) in res:
            users = [(m.group(1), int(m.group(2)), int(m.group(3))) for m in _USERS.finditer(line)]
            res[int(port)].append(Listener(f[3], users, int(f[1])))
    return res


def listeners(port):
    """The TCP listeners on one port: [Listener, ...]."""
    return tcp_listeners([port])[port]


# ---------------------------------------------------------------- processes

def children_of(pid):
    """Direct children of pid (all threads)."""
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    kids += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return kids


def proc_status(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def proc_stat(pid):
    """The fields of /proc/PID/stat after the command name (the state
    letter first), None once the pid is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    return st[st.rfind(")") + 2:].split()


def pstate(pid):
    """The state letter of /proc/PID/stat, None once the pid is gone."""
    st = proc_stat(pid)
    return st[0] if st else None


def is_gone(pid):
    st = pstate(pid)
    return st is None or st in ("Z", "X")


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "?"


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children_of(p):
            if c not in out:
                out.append(c)
                todo.append(c)
    return out


def describe(pids):
    return ", ".join("%d %s (%s)" % (p, comm(p), pstate(p) or "gone") for p in pids)


def need(*tools):
    for tool in tools:
        check(shutil.which(tool), "%s is not installed (tests/deps.sh installs it)" % tool)


def pids_with_token(token):
    needle = ("%s=%s\0" % (TOKEN_VAR, token)).encode()
    me = os.getpid()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read()
        except OSError:
            continue
        if (needle in env or env.endswith(needle[:-1])):
            found.append(int(d))
    return found


def kill_with_token(token):
    """SIGKILLs every process that carries the token; returns their pids."""
    pids = pids_with_token(token)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


class Proc:
    """A process under test, with its stdout and stderr read line by line
    (each line timestamped) and its exit recorded when it happens."""

    def __init__(self, ctx, argv, env, cwd, stdin, name):
        self.ctx = ctx
        self.argv = argv
        self.name = name or os.path.basename(argv[0])
        self.out = []       # [(t, line)]
        self.err = []
        self.lock = threading.Lock()
        self.started = now()
        self.popen = subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=stdin, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
        self.pid = self.popen.pid
        self.returncode = None
        self.exit_time = None
        self.done = threading.Event()
        self.threads = [
            threading.Thread(target=self._reader, args=(self.popen.stdout, self.out), daemon=True),
            threading.Thread(target=self._reader, args=(self.popen.stderr, self.err), daemon=True),
            threading.Thread(target=self._waiter, daemon=True),
        ]
        for th in self.threads:
            th.start()

    def _reader(self, stream, into):
        for raw in iter(stream.readline, b""):
            t = now()
            with self.lock:
                into.append((t, raw.decode("utf-8", "replace").rstrip("\n")))
        stream.close()

    def _waiter(self):
        rc = self.popen.wait()
        self.exit_time = now()
        self.returncode = rc
        self.done.set()

    # ---- output
    def out_lines(self):
        with self.lock:
            return [l for _, l in self.out]

    def err_lines(self):
        with self.lock:
            return [l for _, l in self.err]

    def shim_lines(self):
        """stderr lines from the shim: `lameduck[PID]: ...` or `lameduck: ...`."""
        return [l for l in self.err_lines() if l.startswith("lameduck[") or l.startswith("lameduck:")]

    def wait_out(self, match, timeout, stream="out", after=0, what=None):
        """Waits for a line (index >= after) that equals `match` (str) or
        satisfies it (callable; `what` then describes it). Returns (t, line)."""
        if what is None:
            what = repr(match) if isinstance(match, str) else "a matching line"
        def first():
            with self.lock:
                lines = (self.out if stream == "out" else self.err)[after:]
                for t, l in lines:
                    if (l == match) if isinstance(match, str) else match(l):
                        return (t, l)
            return None

        def find():
            got = first()
            if got is None and self.done.is_set():
                # Let the readers finish before concluding.
                for th in self.threads[:2]:
                    th.join(2)
                got = first()
                if got is None:
                    fail("%s exited (%s) before printing %s on std%s; %s" %
                         (self.name, self.status_text(), what, stream, self.tail()))
            return got
        return wait_for(find, timeout, "%s to print %s on std%s" % (self.name, what, stream))

    def wait_ready_line(self, timeout=STARTUP_TIMEOUT):
        return self.wait_out("ready", timeout)

    # ---- signals and exit
    def signal(self, sig):
        """Sends sig; returns when it was sent."""
        if not self.alive():
            fail("%s already ended (%s) before it could be sent %s; %s" %
                 (self.name, self.status_text(), signal.Signals(sig).name, self.tail()))
        t = now()
        os.kill(self.pid, sig)
        return t

    def alive(self):
        return not self.done.is_set()

    def wait_exit(self, timeout):
        if not self.done.wait(timeout):
            fail("%s still running %.1fs later; %s" % (self.name, timeout, self.tail()))
        for th in self.threads[:2]:
            th.join(2)
        return self.returncode, self.exit_time

    def status_text(self):
        rc = self.returncode
        if rc is None:
            return "running"
        if rc < 0:
            try:
                return "killed by %s" % signal.Signals(-rc).name
            except ValueError:
                return "killed by signal %d" % -rc
        return "exit status %d" % rc

    def tail(self, n=8):
        out = self.out_lines()[-n:]
        err = self.err_lines()[-n:]
        return "stdout %r, stderr %r" % (out, err)

    def kill_group(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.done.wait(5)


class Ctx:
    """One test's world: its temporary directory, its ports, its processes."""

    def __init__(self, name, token):
        self.name = name
        self.token = token
        self.procs = []
        self.notes = []
        self.tmp = tempfile.mkdtemp(prefix="ldtest-%s-" % name)
        self.runner_pid = os.getpid()
        self.socks = []

    def note(self, msg):
        self.notes.append(msg)

    def port(self):
        return free_port()

    def base_env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("LAMEDUCK_") and k not in ("LD_PRELOAD", TOKEN_VAR)}
        env[TOKEN_VAR] = self.token
        env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        return env

    def shim_env(self, health, **lameduck):
        """The environment of a process under the shim. health: a port (then
        127.0.0.1:port), an address string, or None for LAMEDUCK_HEALTH unset.
        Keyword arguments: DELAY="1s" -> LAMEDUCK_DELAY=1s."""
        env = self.base_env()
        env["LD_PRELOAD"] = PRELOAD
        if health is not None:
            env["LAMEDUCK_HEALTH"] = ("127.0.0.1:%d" % health) if isinstance(health, int) else health
        for k, v in lameduck.items():
            env["LAMEDUCK_" + k] = str(v)
        return env

    def spawn(self, argv, env=None, shim=True, health=None, cwd=None, stdin=subprocess.DEVNULL,
              name=None, **lameduck):
        if env is None:
            env = self.shim_env(health, **lameduck) if shim else self.base_env()
            if not shim:
                for k, v in lameduck.items():
                    env["LAMEDUCK_" + k] = str(v)
        else:
            env = dict(env)
            env[TOKEN_VAR] = self.token
        p = Proc(self, [str(a) for a in argv], env, cwd or self.tmp, stdin, name)
        self.procs.append(p)
        return p

    def prog_path(self, name):
        """Where our test program `name` is built (for this context's libc)."""
        path = os.path.join(PROGS, name)
        check(os.access(path, os.X_OK), "%s not built (make %s)" % (path, os.path.relpath(path, ROOT)))
        return path

    def prog(self, name, *args, **kw):
        return self.spawn([self.prog_path(name)] + [str(a) for a in args], name=name, **kw)

    def py_server(self, port, **kw):
        return self.spawn([PY, "-m", "http.server", port, "--bind", "127.0.0.1"],
                          name="http.server", **kw)

    def keep(self, s):
        self.socks.append(s)
        return s

    # ---- health port
    def health(self, hport, path="/readyz", method="GET", host="127.0.0.1", timeout=2.0):
        return try_http(hport, path, method, host, timeout)

    def wait_health(self, hport, want=200, path="/readyz", timeout=STARTUP_TIMEOUT, proc=None,
                    body=None):
        def probe():
            if proc is not None and not proc.alive():
                fail("%s exited (%s) while waiting for %s %s; %s" %
                     (proc.name, proc.status_text(), path, want, proc.tail()))
            st, b = self.health(hport, path, timeout=1.0)
            if st == want and (body is None or b == body):
                return (st, b)
            return None
        return wait_for(probe, timeout, "%s on health port %d to answer %s%s" %
                        (path, hport, want, "" if body is None else " " + body))

    def start_ready(self, proc, hport, ready_line=True):
        """Waits for the program's 'ready' and for /readyz 200."""
        if ready_line:
            proc.wait_ready_line()
        self.wait_health(hport, 200, proc=proc)

    def cleanup(self):
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        for p in self.procs:
            if p.alive():
                p.kill_group()
        left = []
        for _ in range(3):
            pids = kill_with_token(self.token)
            if not pids:
                break
            left += pids
            time.sleep(0.1)
        for p in self.procs:
            p.done.wait(2)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return sorted(set(left))

    def diagnostics(self):
        lines = []
        for p in self.procs:
            lines.append("%s (pid %d, %s): %s" % (p.name, p.pid, p.status_text(), " ".join(p.argv)))
            for l in p.out_lines()[-15:]:
                lines.append("  out| " + l)
            for l in p.err_lines()[-25:]:
                lines.append("  err| " + l)
        return lines


# ---------------------------------------------------------------- a server's lifecycle

def log_of(p):
    return "\n".join(p.shim_lines())


def start_prog(t, prog, *args, **lameduck):
    """Our test program under the shim with a health port of its own,
    started and ready: (Proc, health port)."""
    hport = t.port()
    p = t.prog(prog, *args, health=hport, **lameduck)
    t.start_ready(p, hport)
    return p, hport


def wait_state(t, p, hport, body, timeout=5.0):
    """Polls /readyz until it answers 503 with this body; returns the time."""
    t.wait_health(hport, 503, timeout=timeout, proc=p, body=body)
    return now()


def ended_by_term(p, timeout, what=""):
    """Waits for p to die by SIGTERM (what: a prefix for the failure);
    returns when it ended."""
    rc, t_exit = p.wait_exit(timeout)
    check(rc != 3, "%s%s exited with status 3: its accept() failed; log:\n%s" %
          (what, p.name, log_of(p)))
    check(rc == -signal.SIGTERM, "%s%s: %s, expected death by SIGTERM; %s; log:\n%s" %
          (what, p.name, p.status_text(), p.tail(), log_of(p)))
    return t_exit


def first_503(t, hport, kill_t, bound):
    """Polls /readyz as fast as it answers until 503. Returns (latency, body)."""
    while now() - kill_t < bound + 2.0:
        st, body = t.health(hport, timeout=1.0)
        if st == 503:
            return now() - kill_t, body
    fail("/readyz never answered 503 within %.1fs of SIGTERM (last: %s %r)" % (bound + 2.0, st, body))


def serve_through_delay(t, p, port, hport, kill_t, delay, path="/", expect_body=None):
    """Until the process ends: GET port/path, /livez and /readyz every ~50 ms.
    Requests started in the delay (less a margin) must all succeed."""
    log = []    # (offset, what, status, body)
    end = kill_t + delay + 6.0
    while p.alive() and now() < end:
        for what, prt, pth in (("server", port, path), ("livez", hport, "/livez"),
                               ("readyz", hport, "/readyz")):
            t0 = now() - kill_t
            st, body = try_http(prt, pth, timeout=1.0)
            log.append((t0, what, st, body))
        time.sleep(0.05)
    in_delay = [e for e in log if e[0] < delay - 0.25]
    served = [e for e in in_delay if e[1] == "server"]
    check(len(served) >= 3, "only %d requests made during the delay" % len(served))
    bad = [e for e in served if e[2] != 200 or (expect_body is not None and e[3] != expect_body)]
    check(not bad, "the server stopped answering during the delay: %s" %
          ["%.2fs: %s %r" % (e[0], e[2], e[3][:60]) for e in bad[:5]])
    # /livez: 200 whenever the health port answers at all before the exit.
    lz = [e for e in log if e[1] == "livez" and e[2] is not None]
    bad = [e for e in lz if e[2] != 200]
    check(not bad, "/livez not 200 while winding down: %s" %
          ["%.2fs: %s %r" % (e[0], e[2], e[3]) for e in bad[:5]])
    check(any(e[0] < delay - 0.25 for e in lz), "/livez never answered during the delay")
    rz = [e for e in log if e[1] == "readyz" and e[2] is not None]
    bad = [e for e in rz if e[2] != 503]
    check(not bad, "/readyz not 503 after SIGTERM: %s" %
          ["%.2fs: %s %r" % (e[0], e[2], e[3]) for e in bad[:5]])
    return log


def check_ended_by(t, p, kill_t, delay, rc_want, slack=1.5, what="SIGTERM"):
    """p ends with rc_want (a negative number: death by that signal) after
    the delay and at most slack seconds after it."""
    rc, end = p.wait_exit(delay + slack + 5)
    took = end - kill_t
    t.note("%s ended %.2fs after %s (%s; delay %.1fs)" % (p.name, took, what, p.status_text(), delay))
    check(rc == rc_want, "%s: %s, expected %s" % (p.name, p.status_text(),
          ("death by %s" % signal.Signals(-rc_want).name) if rc_want < 0 else "status %d" % rc_want))
    check(took >= delay - 0.05, "%s ended %.2fs after %s, before the %.1fs delay" %
          (p.name, took, what, delay))
    check(took <= delay + slack, "%s ended only %.2fs after %s (delay %.1fs, allowed %.1fs more)" %
          (p.name, took, what, delay, slack))


def connect_outcome(port, timeout=2.0):
    """One connection attempt: (outcome, seconds)."""
    s = socket.socket()
    s.settimeout(timeout)
    t0 = now()
    try:
        s.connect(("127.0.0.1", port))
        return "connected", now() - t0
    except ConnectionRefusedError:
        return "refused", now() - t0
    except socket.timeout:
        return "timeout", now() - t0
    except OSError as e:
        return "error %s" % e, now() - t0
    finally:
        s.close()


class Request(threading.Thread):
    """One HTTP request on its own connection, in a thread, timestamped:
    t_sent when the request was written, t_end when the answer was complete
    (keep-alive: Content-Length bytes; otherwise EOF) or the connection
    failed. status/body on success, error otherwise."""

    def __init__(self, port, keepalive=False, timeout=30.0):
        super().__init__(daemon=True)
        self.port, self.keepalive, self.timeout = port, keepalive, timeout
        self.sent = threading.Event()
        self.t_sent = self.t_end = None
        self.status = self.body = self.error = None
        self.raw = b""
        self.start()

    def _complete(self, eof):
        status, _, headers, body = parse_response(self.raw)
        if status is None:
            return False
        if "content-length" in headers:
            n = int(headers["content-length"])
            if len(body) < n:
                return False
            body = body[:n]
        elif not eof:
            return False
        self.status, self.body = status, body
        return True

    def run(self):
        conn = b"" if self.keepalive else b"Connection: close\r\n"
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + conn + b"\r\n")
                self.t_sent = now()
                self.sent.set()
                while True:
                    chunk = s.recv(65536)
                    self.raw += chunk
                    if self._complete(not chunk) and (self.keepalive or not chunk):
                        self.t_end = now()
                        return
                    if not chunk:
                        self.t_end = now()
                        self.error = "EOF after %d bytes %r" % (len(self.raw), self.raw[:80])
                        return
        except OSError as e:
            self.t_end = now()
            self.error = "%s: %s after %d bytes" % (type(e).__name__, e, len(self.raw))
        finally:
            self.sent.set()

    def wait_sent(self):
        check(self.sent.wait(5) and self.t_sent is not None,
              "request to port %d not sent: %s" % (self.port, self.error))

    def expect(self, body, what, timeout=30.0):
        self.join(timeout)
        check(not self.is_alive(), "%s: no answer after %.0fs" % (what, timeout))
        check(self.error is None and self.status == 200 and self.body == body,
              "%s: wanted 200 %r, got status=%s body=%r error=%s" %
              (what, body, self.status, self.body, self.error))
