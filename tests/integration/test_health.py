"""The health port: answers, limits, addresses, and the program's priority
over it."""
import os
import re
import signal
import socket
import time

from harness import (PROGS, PY, check, connect, fail, http, listeners, now, read_all, request,
                     try_http, wait_for)


def quiet_server(t, hport, **env):
    """A program that listens and prints nothing more: sig_suspend."""
    port = t.port()
    env.setdefault("DELAY", "30s")
    p = t.prog("sig_suspend", port, health=hport, **env)
    t.start_ready(p, hport)
    return p


def head(hport, path, host="127.0.0.1"):
    r = request(hport, ("HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode(),
                host=host, timeout=2.0)
    check(r.status is not None, "HEAD %s: no HTTP answer (%r)" % (path, r.raw[:80]))
    check(r.body == b"", "HEAD %s: %s with a body %r" % (path, r.status, r.body[:60]))
    return r.status


def test_health_endpoints(t):
    """GET and HEAD of /readyz /healthz /livez /metrics, serving and in lame
    duck; 405 for other methods, 404 for other paths."""
    hport = t.port()
    p = quiet_server(t, hport)
    for path, want in (("/readyz", "ok"), ("/healthz", "ok"), ("/livez", "ok")):
        r = http(hport, path)
        check((r.status, r.text) == (200, want), "GET %s: %s %r" % (path, r.status, r.text))
        check(head(hport, path) == 200, "HEAD %s not 200" % path)
    r = http(hport, "/metrics")
    check(r.status == 200 and "lameduck_" in r.text, "GET /metrics: %s %r" % (r.status, r.text[:80]))
    check(r.headers.get("content-type", "").startswith("text/plain"),
          "/metrics Content-Type %r" % r.headers.get("content-type"))
    check(head(hport, "/metrics") == 200, "HEAD /metrics not 200")
    for method in ("POST", "PUT", "DELETE"):
        r = request(hport, ("%s /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                            "Connection: close\r\n\r\n" % method).encode())
        check(r.status == 405, "%s /readyz: %s, expected 405" % (method, r.status))
    for path in ("/nope", "/", "/readyz/x"):
        r = http(hport, path)
        check(r.status == 404, "GET %s: %s, expected 404" % (path, r.status))

    p.signal(signal.SIGTERM)
    t.wait_health(hport, 503, body="lameduck", timeout=2.0, proc=p)
    r = http(hport, "/healthz")
    check((r.status, r.text) == (503, "lameduck"), "GET /healthz in lame duck: %s %r" % (r.status, r.text))
    check(head(hport, "/readyz") == 503, "HEAD /readyz in lame duck not 503")
    r = http(hport, "/livez")
    check((r.status, r.text) == (200, "ok"), "GET /livez in lame duck: %s %r" % (r.status, r.text))
    r = http(hport, "/metrics")
    check(r.status == 200, "GET /metrics in lame duck: %s" % r.status)
    check(re.search(r"^lameduck_ready 0$", r.text, re.M),
          "/metrics in lame duck lacks `lameduck_ready 0`: %r" % r.text[:400])


def test_health_keepalive(t):
    """HTTP/1.1 keep-alive: two requests on one connection both answered."""
    hport = t.port()
    quiet_server(t, hport)
    s = t.keep(connect(hport))
    s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n"
              b"Connection: close\r\n\r\n")
    raw, closed, err = read_all(s, 3.0)
    check(raw.count(b"HTTP/1.1 200") == 2 or raw.count(b" 200 ") == 2,
          "two pipelined requests, answers: %r" % raw[:300])
    check(closed, "connection not closed after `Connection: close` (%s)" % err)


def test_health_malformed_400_close(t):
    """A malformed request gets 400, then the connection is closed."""
    hport = t.port()
    quiet_server(t, hport)
    for data in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
                 b"GET\r\n\r\n",
                 b"hello world\r\n\r\n"):
        r = request(hport, data, timeout=3.0)
        check(r.status == 400, "%r: answer %r, expected 400" % (data[:20], r.raw[:80]))
        check(r.closed and r.elapsed < 1.0, "%r: connection not closed promptly after 400 "
              "(closed=%s after %.2fs)" % (data[:20], r.closed, r.elapsed))
    st, body = try_http(hport, "/livez")
    check(st == 200, "health port after malformed requests: %s %r" % (st, body))


def test_health_request_too_big(t):
    """A request over 8 KiB is refused (400 or 431), then closed."""
    hport = t.port()
    quiet_server(t, hport)
    big = b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
    try:
        r = request(hport, big, timeout=3.0)
    except OSError as e:
        fail("connection failed before any answer: %s" % e)
    check(r.status in (400, 431), "a 9 KiB request got %r, expected 400 or 431" % r.raw[:80])
    check(r.closed and r.elapsed < 1.5, "not closed promptly after refusing (closed=%s, %.2fs)" %
          (r.closed, r.elapsed))
    st, body = try_http(hport, "/livez")
    check(st == 200, "health port after a big request: %s %r" % (st, body))


def metrics_lines(text):
    """[(name, labels, value)], checking the text format on the way."""
    out = []
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)( -?\d+)?$')
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            check(not ln or ln.startswith("# HELP ") or ln.startswith("# TYPE "),
                  "bad comment line in /metrics: %r" % ln)
            continue
        m = line_re.match(ln)
        check(m, "not a Prometheus sample line: %r" % ln)
        try:
            float(m.group(3))
        except ValueError:
            fail("bad sample value in %r" % ln)
        out.append((m.group(1), m.group(2) or "", m.group(3)))
    return out


def test_health_metrics_format(t):
    """/metrics is Prometheus text: lameduck_* samples, ready 1 and a
    state while serving."""
    hport = t.port()
    quiet_server(t, hport)
    r = http(hport, "/metrics")
    check(r.status == 200, "/metrics: %s" % r.status)
    samples = metrics_lines(r.text)
    check(samples, "no samples in /metrics")
    bad = [s[0] for s in samples if not s[0].startswith("lameduck_")]
    check(not bad, "metrics not named lameduck_*: %r" % bad)
    check(("lameduck_ready", "", "1") in samples, "no `lameduck_ready 1` while serving: %r" % r.text[:300])
    state = [s for s in samples if "state" in s[0]]
    check(state, "no state metric: %r" % sorted({s[0] for s in samples}))
    check(any("serving" in s[1] and float(s[2]) == 1 for s in state),
          "no state sample says serving: %r" % state)


def test_health_metrics_spec_families(t):
    """/metrics has what the README lists: state, ready, listeners, connections
    active and accepted, in flight, signals received, seconds in each phase,
    build info."""
    hport = t.port()
    quiet_server(t, hport)
    names = {s[0] for s in metrics_lines(http(hport, "/metrics").text)}
    want = {"state": r"state", "ready": r"ready", "listeners": r"listener",
            "connections active": r"(conn\w*active|active\w*conn)",
            "connections accepted": r"accept", "in flight": r"(in_?flight)",
            "signals received": r"signal", "seconds in each phase": r"(phase|seconds)",
            "build info": r"build_info"}
    missing = [k for k, rx in want.items() if not any(re.search(rx, n) for n in names)]
    check(not missing, "missing from /metrics: %s (have %s)" % (", ".join(missing), sorted(names)))


def test_health_idle_client_cut(t):
    """A client that sends nothing is cut after about 2 s; another client
    is answered promptly meanwhile."""
    hport = t.port()
    quiet_server(t, hport)
    idle = t.keep(connect(hport))
    t0 = now()
    time.sleep(0.5)
    r = http(hport, "/livez", timeout=2.0)
    check(r.status == 200 and r.elapsed < 1.0, "/livez while another client idles: %s in %.2fs" %
          (r.status, r.elapsed))
    raw, closed, err = read_all(idle, 6.0 - (now() - t0))
    cut = now() - t0
    t.note("idle client cut after %.2fs" % cut)
    check(closed, "idle client not cut after %.1fs (%s)" % (cut, err))
    check(raw == b"", "idle client was sent %r" % raw[:80])
    check(1.5 <= cut <= 4.0, "idle client cut after %.2fs, expected about 2s" % cut)


def test_health_slow_client_cut(t):
    """A client trickling a header line every 0.4 s is still cut (2 s per
    request, not per byte)."""
    hport = t.port()
    quiet_server(t, hport)
    s = t.keep(connect(hport))
    t0 = now()
    s.sendall(b"GET /readyz HTTP/1.1\r\n")
    cut = None
    while now() - t0 < 6.0:
        try:
            s.sendall(b"X-Slow: 1\r\n")
        except OSError:
            cut = now() - t0
            break
        s.settimeout(0.4)
        try:
            if s.recv(4096) == b"":
                cut = now() - t0
                break
        except socket.timeout:
            pass
        except OSError:
            cut = now() - t0
            break
    check(cut is not None, "a slow client trickling headers is never cut (6s)")
    t.note("slow client cut after %.2fs" % cut)
    check(cut <= 4.0, "slow client cut only after %.2fs" % cut)


def sock_state(s):
    """'open', or 'closed' (EOF or reset)."""
    s.setblocking(False)
    try:
        data = s.recv(1)
        return "closed" if data == b"" else "open"
    except BlockingIOError:
        return "open"
    except OSError:
        return "closed"


def test_health_70_idle_clients(t):
    """70 idle clients: at most 64 held, the rest refused at once; a new
    request is answered within a few seconds once the idle ones are cut."""
    hport = t.port()
    quiet_server(t, hport)
    socks = []
    for _ in range(70):
        try:
            socks.append(t.keep(connect(hport, timeout=2.0)))
        except OSError:
            pass        # refused outright: fine
    refused_at_connect = 70 - len(socks)
    wait_for(lambda: refused_at_connect + sum(sock_state(s) == "closed" for s in socks) >= 6, 3.0,
             "the clients over 64 to be refused")
    held = sum(sock_state(s) == "open" for s in socks)
    t.note("%d of 70 idle clients held" % held)
    check(held <= 64, "%d idle clients held, at most 64 allowed" % held)
    # Full: a new client is refused at once, not left hanging.
    r = None
    try:
        r = request(hport, b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=2.0)
    except OSError:
        pass
    if r is not None:
        check(r.closed and r.elapsed < 1.5, "a client over the limit was left hanging (%.2fs, %r)" %
              (r.elapsed, r.raw[:60]))
    wait_for(lambda: all(sock_state(s) == "closed" for s in socks), 8.0, "the idle clients to be cut")
    t0 = now()
    wait_for(lambda: try_http(hport, "/livez", timeout=1.0)[0] == 200, 3.0,
             "/livez to answer after the idle clients were cut")
    t.note("answered %.2fs after the idle clients were cut" % (now() - t0))


def test_health_default_dual_stack(t):
    """LAMEDUCK_HEALTH=:PORT answers on 127.0.0.1 and on ::1."""
    hport = t.port()
    port = t.port()
    p = t.prog("sig_suspend", port, health=":%d" % hport, DELAY="30s")
    p.wait_ready_line()
    t.wait_health(hport, 200, proc=p)
    st, body = try_http(hport, "/readyz", host="::1")
    check((st, body) == (200, "ok"), "/readyz on [::1]:%d: %s %r" % (hport, st, body))
    ls = listeners(hport)
    check(len(ls) == 1, "listeners on the health port: %r" % ls)


def test_health_cloexec(t):
    """The shim's descriptors are close-on-exec: the health socket's fdinfo
    says O_CLOEXEC, and a program that execs (without the shim) inherits
    nothing but 0, 1 and 2 -- and the process tree's shared memfd, which
    exec'd descendants map to take part (README, "Which process acts")."""
    port, hport = t.port(), t.port()
    script = (
        "import os, socket, sys\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('127.0.0.1', %d)); s.listen(16)\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "env = {k: v for k, v in os.environ.items() if k != 'LD_PRELOAD'}\n"
        "os.execve('/bin/ls', ['ls', '-l', '/proc/self/fd/'], env)\n" % port)
    import subprocess
    p = t.spawn([PY, "-c", script], health=hport, DELAY="30s", stdin=subprocess.PIPE, name="exec-ls")
    t.start_ready(p, hport)
    ls = listeners(hport)
    check(len(ls) == 1 and ls[0][1], "health listener: %r" % ls)
    fd = ls[0][1][0][2]
    with open("/proc/%d/fdinfo/%d" % (p.pid, fd)) as f:
        flags = [l for l in f.read().splitlines() if l.startswith("flags:")]
    fl = int(flags[0].split()[1], 8)
    check(fl & 0o2000000, "health socket fd %d flags %o lack O_CLOEXEC" % (fd, fl))
    p.popen.stdin.write(b"go\n")
    p.popen.stdin.flush()
    rc, _ = p.wait_exit(10)
    check(rc == 0, "ls: %s; %s" % (p.status_text(), p.tail()))
    leaked = []
    for line in p.out_lines():
        m = re.search(r"\s(\d+) -> (.*)$", line)
        if m and int(m.group(1)) > 2 and not m.group(2).startswith("/proc/") \
                and not m.group(2).startswith("/memfd:lameduck-tree"):
            leaked.append("%s -> %s" % (m.group(1), m.group(2)))
    check(not leaked, "descriptors that survived exec: %s" % leaked)
    check(any(re.search(r"\s0 -> ", l) for l in p.out_lines()), "ls output unexpected: %r" % p.out_lines())


# ---------------------------------------------------------------- the program wins

def clash(t, health, addr, host_checks, wrapper=False):
    hport = int(addr.rsplit(":", 1)[1])
    if wrapper:
        # A shell that stays (it owns the health port), the program its child.
        p = t.spawn(["sh", "-c", '"$0" 0 "$1"; exit $?', t.prog_path("bind_health"), addr],
                    health=health, name="sh+bind_health", LOG="warn", DELAY="30s")
    else:
        p = t.prog("bind_health", 0, addr, health=health, LOG="warn", DELAY="30s")
    p.wait_ready_line()
    for host in host_checks:
        for _ in range(3):
            st, body = try_http(hport, "/", host=host)
            check((st, body) == (200, "program"), "GET [%s]:%d/ answered %s %r, expected the program's "
                  "200 'program'" % (host, hport, st, body))
    ls = listeners(hport)
    check(len(ls) == 1, "listeners on port %d: %r" % (hport, ls))
    warn = p.shim_lines()
    check(len(warn) == 1, "shim lines on stderr (LAMEDUCK_LOG=warn): %r, expected one warning" % warn)
    check(str(hport) in warn[0], "the warning does not name the port: %r" % warn[0])
    check(p.alive(), "bind_health ended: %s" % p.tail())


def test_port_clash_program_wins_v4any(t):
    """Health on :P (dual stack), the program binds 0.0.0.0:P: the shim gives
    the port up (one warning) and the program starts and serves."""
    hport = t.port()
    clash(t, ":%d" % hport, "0.0.0.0:%d" % hport, ["127.0.0.1"])


def test_port_clash_program_wins_v6any(t):
    """Health on 127.0.0.1:P, the program binds [::]:P (which overlaps every
    IPv4 address): the program wins."""
    hport = t.port()
    clash(t, "127.0.0.1:%d" % hport, "[::]:%d" % hport, ["127.0.0.1", "::1"])


def test_port_clash_program_wins_v6_explicit(t):
    """Health on [::]:P written out (dual stack, as the kernel makes it), the
    program binds 0.0.0.0:P: they overlap, and the program wins."""
    hport = t.port()
    clash(t, "[::]:%d" % hport, "0.0.0.0:%d" % hport, ["127.0.0.1"])


def test_port_clash_program_wins_under_wrapper(t):
    """`sh -c 'bind_health ...; exit $?'`: the shell owns the lifecycle and
    the health port on :P, and its child, the program, binds 0.0.0.0:P. The
    program wins here too: its bind, refused at first, makes the owner give
    the port up (one warning, from the owner), and is made again."""
    hport = t.port()
    clash(t, ":%d" % hport, "0.0.0.0:%d" % hport, ["127.0.0.1"], wrapper=True)


def test_health_port_taken(t):
    """The health port is taken by someone else: one warning line, and the
    program runs on."""
    hport, port = t.port(), t.port()
    squat = t.keep(socket.socket())
    squat.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squat.bind(("127.0.0.1", hport))
    squat.listen(4)
    p = t.prog("sig_siginfo", port, health=hport, LOG="warn", DELAY="500ms")
    p.wait_ready_line()
    p.wait_out(lambda l: l.startswith("lameduck"), 5, stream="err", what="a shim warning")
    warn = p.shim_lines()
    check(len(warn) == 1, "shim lines (LAMEDUCK_LOG=warn): %r, expected one warning" % warn)
    check(str(hport) in warn[0], "the warning does not name the port: %r" % warn[0])
    ls = listeners(hport)
    check(len(ls) == 1, "listeners on the health port: %r" % ls)
    check(p.alive(), "program ended: %s" % p.tail())


def test_shim_thread_blocks_every_signal(t):
    """The shim's thread blocks every signal (a full set through
    pthread_sigmask: glibc keeps its internal 32 and 33 open), so it never
    takes one meant for the program. sig_siginfo has one thread of its own."""
    port, hport = t.port(), t.port()
    p = t.prog("sig_siginfo", port, health=hport, DELAY="30s")
    t.start_ready(p, hport)
    tids = sorted(int(x) for x in os.listdir("/proc/%d/task" % p.pid))
    others = [tid for tid in tids if tid != p.pid]
    check(others, "no thread besides the program's own: where does the health port run?")
    want = 0
    for sig in list(range(1, 32)) + list(range(34, 65)):
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            want |= 1 << (sig - 1)
    for tid in others:
        with open("/proc/%d/task/%d/status" % (p.pid, tid)) as f:
            blk = [l for l in f.read().splitlines() if l.startswith("SigBlk:")][0].split()[1]
        mask = int(blk, 16)
        missing = [s for s in range(1, 65) if (want >> (s - 1)) & 1 and not (mask >> (s - 1)) & 1]
        check(not missing, "thread %d (not the program's) leaves signals %s unblocked (SigBlk %s)" %
              (tid, missing, blk))


def test_first_descriptor_unchanged(t):
    """The shim's descriptors stay out of the program's way: the first
    descriptor the program opens has the same number as without the shim."""
    code = "import os; print(os.open('/dev/null', os.O_RDONLY), flush=True)"
    bare = t.spawn([PY, "-c", code], shim=False, name="bare")
    bare.wait_exit(10)
    hport = t.port()
    shim = t.spawn([PY, "-c", code], health=hport, READY="start", name="shimmed")
    shim.wait_exit(10)
    check(bare.out_lines() and shim.out_lines() == bare.out_lines(),
          "first descriptor %r under the shim, %r without" % (shim.out_lines(), bare.out_lines()))


def test_no_log_when_stderr_is_socket(t):
    """inetd-style: stderr is a socket (the client); the shim writes nothing
    there."""
    import subprocess
    hport, port = t.port(), t.port()
    a, b = socket.socketpair()
    t.keep(a)
    t.keep(b)
    env = t.shim_env(hport, DELAY="300ms", LOG="debug")
    prog = os.path.join(PROGS, "sig_siginfo")
    child = subprocess.Popen([prog, str(port)], env=env, stdout=subprocess.PIPE, stderr=b.fileno(),
                             stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        check(child.stdout.readline().strip() == b"ready", "sig_siginfo did not start")
        t.wait_health(hport, 200)
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=10)
        check(child.returncode == 0, "sig_siginfo: status %s, %r" % (child.returncode, out))
        b.close()
        a.settimeout(1.0)
        got = b""
        try:
            while True:
                chunk = a.recv(4096)
                if not chunk:
                    break
                got += chunk
        except socket.timeout:
            pass
        check(got == b"", "the shim wrote to a socket on fd 2: %r" % got[:200])
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
