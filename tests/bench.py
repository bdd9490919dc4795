#!/usr/bin/env python3
"""make bench: the shim's costs, each measured against the same work without
the shim in the same run where a baseline applies. Prints a Markdown table.
`tests/bench.py hotpath` (make bench-hotpath) measures the instructions and
system calls per request alone; `tests/bench.py supervise` the rows of
`lameduck --supervise` alone (with the baselines they are measured against)."""
import http.client
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIM = os.path.join(ROOT, "build", "liblameduck.so")
LAUNCHER = os.path.join(ROOT, "build", "lameduck")
PY = "/usr/bin/python3"
TRIALS = int(os.environ.get("BENCH_TRIALS", "50"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path="/readyz", timeout=1.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        return r.status
    except OSError:
        return None
    finally:
        c.close()


def wait_for(pred, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.002)
    raise TimeoutError("state not reached")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def launch(argv_of, env_extra=None, shim=True, through=None, sup=False):
    """argv_of(port) on a free port, under the shim (a free health port,
    log off) or not; returns (process, port, health port). through: a
    tool that starts the program as its child (strace), itself without
    the shim; through(env) is its argv, which hands the program env.
    sup: under `lameduck --supervise` instead of the shim (the same
    LAMEDUCK_* in its environment); the process returned is the
    supervisor's."""
    port, hport = free_port(), free_port()
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    prog_env = {}
    if shim or sup:
        prog_env.update({"LAMEDUCK_HEALTH": "127.0.0.1:%d" % hport, "LAMEDUCK_LOG": "off"})
    if shim and not sup:
        prog_env["LD_PRELOAD"] = SHIM
    prog_env.update(env_extra or {})
    argv = argv_of(port)
    if sup:
        argv = [LAUNCHER, "--supervise", "--"] + argv
    if through:
        argv = through(prog_env) + argv
    else:
        env.update(prog_env)
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    return p, port, hport


def server(env_extra, shim=True, sup=False):
    """python3 -m http.server."""
    return launch(lambda port: [PY, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                  env_extra, shim, sup=sup)


def stop(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


# How a program runs: alone, under the shim, or under `lameduck --supervise`.
MODE = {"none": {"shim": False}, "shim": {"shim": True}, "sup": {"shim": False, "sup": True}}


def bench_not_ready():
    """kill -TERM to the first 503 from /readyz, under the shim and under
    the supervisor (the signal to the supervisor), one trial of each in
    turn."""
    lat = {"shim": [], "sup": []}
    for _ in range(TRIALS):
        for mode in lat:
            p, port, hport = server({"LAMEDUCK_DELAY": "30s"}, **MODE[mode])
            try:
                wait_for(lambda: get(hport) == 200)
                t0 = time.perf_counter()
                os.kill(p.pid, signal.SIGTERM)
                while get(hport, timeout=0.5) != 503:
                    pass
                lat[mode].append((time.perf_counter() - t0) * 1000)
                os.kill(p.pid, signal.SIGTERM)   # the second one skips the delay
                p.wait(timeout=10)
            finally:
                stop(p)
    return lat


def bench_startup():
    """A short program (/bin/true), as the owner and as a passive process."""
    runs = max(TRIALS * 4, 200)
    hport = free_port()
    base = dict(os.environ)
    base.pop("LD_PRELOAD", None)
    owner = dict(base, LD_PRELOAD=SHIM, LAMEDUCK_HEALTH="127.0.0.1:%d" % hport, LAMEDUCK_LOG="off")
    times = {"none": [], "owner": [], "passive": [], "sup": []}

    def run(env, argv=("/bin/true",)):
        t0 = time.perf_counter()
        subprocess.run(list(argv), env=env, check=True)
        return time.perf_counter() - t0

    for _ in range(runs):   # interleaved, so that noise hits all three alike
        times["none"].append(run(base))
        times["owner"].append(run(owner))
        times["sup"].append(run(base, SUP_TRUE))
    # A passive process: another process holds the lifecycle for this health address.
    holder, _, h2 = server({"LAMEDUCK_DELAY": "30s"})
    try:
        wait_for(lambda: get(h2) == 200)
        passive = dict(owner, LAMEDUCK_HEALTH="127.0.0.1:%d" % h2)
        for _ in range(runs):
            times["passive"].append(run(passive))
    finally:
        stop(holder)
    return {k: statistics.median(v) * 1000 for k, v in times.items()}, runs


SUP_TRUE = (LAUNCHER, "--supervise", "--ready", "start", "--health", "off", "--log", "off",
            "--", "/bin/true")


def bench_ready():
    """build/progs/slow_epoll PORT 0 started (Popen) to the first 200 from
    /readyz, under the shim and under the supervisor; baseline: to the first
    connect() its own port accepts, without lameduck. A GET (or connect)
    every 0.5 ms; one trial of each in turn."""
    times = {"none": [], "shim": [], "sup": []}
    for _ in range(READY_TRIALS):
        for mode in times:
            t0 = time.perf_counter()
            p, port, hport = start_prog("slow_epoll", ["0"], {}, **MODE[mode])
            try:
                while True:
                    if mode == "none":
                        try:
                            socket.create_connection(("127.0.0.1", port), timeout=1).close()
                            break
                        except OSError:
                            pass
                    elif get(hport) == 200:
                        break
                    if time.perf_counter() - t0 > 10:
                        raise TimeoutError("not ready in 10 s")
                    time.sleep(0.0005)
                times[mode].append((time.perf_counter() - t0) * 1000)
            finally:
                stop(p)
    return times


READY_TRIALS = 20


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pss_kib(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def child_of(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return int(f.read().split()[0])


def bench_rss():
    """An idle python3 http.server after its first answer: VmRSS alone,
    under the shim, and under the supervisor (the server's, and the
    supervisor's own VmRSS and PSS). Five of each in turn; medians."""
    out = {k: [] for k in ("none", "shim", "sup_child", "sup_rss", "sup_pss")}
    for _ in range(5):
        for mode in ("none", "shim", "sup"):
            p, port, hport = server({"LAMEDUCK_DELAY": "30s"}, **MODE[mode])
            try:
                wait_for(lambda: get(port, "/") == 200)
                if mode == "sup":
                    wait_for(lambda: get(hport) == 200)
                    out["sup_child"].append(rss_kib(child_of(p.pid)))
                    out["sup_rss"].append(rss_kib(p.pid))
                    out["sup_pss"].append(pss_kib(p.pid))
                else:
                    out[mode].append(rss_kib(p.pid))
            finally:
                stop(p)
    return {k: statistics.median(v) for k, v in out.items()}


def wrk_rps(port, seconds, close):
    cmd = ["wrk", "-t1", "-c16", "-d%ds" % seconds, "--latency"]
    if close:
        cmd += ["-H", "Connection: close"]
    out = subprocess.run(cmd + ["http://127.0.0.1:%d/" % port], capture_output=True,
                         text=True, timeout=seconds + 30).stdout
    rps = p50 = None
    for line in out.splitlines():
        f = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(f[1])
        elif len(f) == 2 and f[0] == "50%":
            p50 = f[1]
    return rps, p50


def bench_throughput():
    """Our epoll server (no work per request) under wrk, alone, under the
    shim and under the supervisor, interleaved: keep-alive (the read/write path) and a connection per
    request (the accept/close path)."""
    res = {}
    for close in (False, True):
        runs = {"none": [], "shim": [], "sup": []}
        for _ in range(3):
            for mode in runs:
                p, port, _ = start_prog("slow_epoll", ["0"], {}, **MODE[mode])
                try:
                    wait_for(lambda: get(port, "/") == 200)
                    runs[mode].append(wrk_rps(port, 3, close))
                finally:
                    stop(p)
        res[close] = {k: statistics.median([r[0] for r in v]) for k, v in runs.items()}
    return res


def start_prog(name, args, env_extra, shim=True, sup=False):
    """One of our test programs (build/progs), optionally under the shim
    or the supervisor."""
    prog = os.path.join(ROOT, "build", "progs", name)
    return launch(lambda port: [prog, str(port)] + list(args), env_extra, shim, sup=sup)


def wrk_cmd(url, conns, seconds):
    return ["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds, "--latency", url]


def wrk_parse(out):
    """Requests/s, p99 in ms, and the count of errors and non-2xx answers."""
    rps = p99 = None
    errors = 0
    for line in out.splitlines():
        f = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(f[1])
        elif len(f) == 2 and f[0] == "99%":
            v = f[1]
            for unit, mul in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
                if v.endswith(unit):
                    p99 = float(v[:-len(unit)]) * mul
                    break
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            errors += int(f[-1])
        elif line.strip().startswith("Socket errors:"):
            errors += sum(int(x.rstrip(",")) for x in f[3::2])
    return rps, p99, errors


HEALTH_SECONDS = 4


def bench_health_under_load():
    """slow_epoll PORT 0 under the shim, `wrk -t1 -c16 -d4s` on its port;
    at the same time (or not, for the baseline) `wrk -t1 -c4 -d4s` on the
    health port's /readyz. Interleaved, 3 of each; medians."""
    runs = {"with": [], "without": [], "health": []}
    for _ in range(3):
        for load_health in (True, False):
            p, port, hport = start_prog("slow_epoll", ["0"], {"LAMEDUCK_DELAY": "30s"})
            try:
                wait_for(lambda: get(port, "/") == 200 and get(hport) == 200)
                procs = [subprocess.Popen(wrk_cmd("http://127.0.0.1:%d/" % port, 16, HEALTH_SECONDS),
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)]
                if load_health:
                    procs.append(subprocess.Popen(
                        wrk_cmd("http://127.0.0.1:%d/readyz" % hport, 4, HEALTH_SECONDS),
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
                outs = [q.communicate(timeout=HEALTH_SECONDS + 30)[0] for q in procs]
                prog = wrk_parse(outs[0])
                runs["with" if load_health else "without"].append(prog[0])
                if load_health:
                    runs["health"].append(wrk_parse(outs[1]))
            finally:
                stop(p)
    h = runs["health"]
    return {"prog_with": statistics.median(runs["with"]),
            "prog_without": statistics.median(runs["without"]),
            "health_rps": statistics.median([x[0] for x in h]),
            "health_p99": statistics.median([x[1] for x in h]),
            "health_errors": sum(x[2] for x in h), "runs": len(h)}


HOSTILE_MODES = ("idle", "slowloris", "garbage", "big", "rate")
HOSTILE_SECONDS = 3
HOSTILE_RUNS = 3


def other_threads_cpu(pid):
    """CPU seconds of a process's threads but its main one (the shim's)."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            if int(tid) == pid:
                continue
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    except (OSError, ValueError):
        pass
    return total / os.sysconf("SC_CLK_TCK")


def bench_hostile():
    """slow_epoll PORT 0 under the shim, `wrk -t1 -c16 -d3s` on its port,
    while tests/progs/storm_health attacks (each mode of it: a thousand idle
    connections, slowloris, garbage, headers over the limit, a request every
    millisecond) the program's own health port ("own"), or the health port
    of another process under the shim on the same machine ("other": the
    same attack's cost to the machine, outside the program), or nothing.
    Interleaved, 3 of each; medians of the program's requests/s, and the CPU
    the program's shim thread and the attacker took in the "own" runs."""
    res = {}
    storm = os.path.join(ROOT, "build", "progs", "storm_health")
    for mode in HOSTILE_MODES:
        runs = {"own": [], "other": [], "none": []}
        cpu = []
        for _ in range(HOSTILE_RUNS):
            for where in ("none", "own", "other"):
                p, port, hport = start_prog("slow_epoll", ["0"], {"LAMEDUCK_DELAY": "30s"})
                other = None
                try:
                    wait_for(lambda: get(port, "/") == 200 and get(hport) == 200)
                    target = hport
                    if where == "other":
                        other, _, target = launch(lambda _port: ["sleep", "60"],
                                                  {"LAMEDUCK_READY": "start"})
                        wait_for(lambda: get(target) == 200)
                    c0, t0 = other_threads_cpu(p.pid), time.monotonic()
                    w = subprocess.Popen(wrk_cmd("http://127.0.0.1:%d/" % port, 16, HOSTILE_SECONDS),
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                    a = None
                    if where != "none":
                        a = subprocess.Popen([storm, str(target), mode,
                                              str(HOSTILE_SECONDS * 1000 - 200)],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    out = w.communicate(timeout=HOSTILE_SECONDS + 30)[0]
                    if a is not None:
                        _, _, ru = os.wait4(a.pid, 0)
                        a.returncode = 0
                        span = time.monotonic() - t0
                        if where == "own":
                            cpu.append(((other_threads_cpu(p.pid) - c0) / span,
                                        (ru.ru_utime + ru.ru_stime) / span))
                    rps, _, errors = wrk_parse(out)
                    runs[where].append((rps, errors))
                finally:
                    stop(p)
                    if other is not None:
                        stop(other)
        res[mode] = {k: (statistics.median(r[0] for r in v), sum(r[1] for r in v))
                     for k, v in runs.items()}
        res[mode]["shim_cpu"] = statistics.median(c[0] for c in cpu)
        res[mode]["attacker_cpu"] = statistics.median(c[1] for c in cpu)
    return res


def get_text(port, path="/readyz", timeout=1.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode("latin-1").strip()
    except OSError:
        return None, ""
    finally:
        c.close()


def connect_refused_ms(port):
    """connect() to ECONNREFUSED, in ms; None if it was not refused."""
    s = socket.socket()
    s.settimeout(2.0)
    t0 = time.perf_counter()
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        return (time.perf_counter() - t0) * 1000
    except OSError:
        return None
    finally:
        s.close()
    return None


DRAIN_TRIALS = 10
REFUSALS = 5


def bench_drain(sup=False):
    """slow_threads PORT 300 under the shim (or the supervisor),
    LAMEDUCK_DELAY=200ms: one request (300 ms) sent, then SIGTERM at once;
    when /readyz says draining, 5 connects to the program's port (each timed
    to ECONNREFUSED) and 5 to a port with no listener (the kernel's own
    refusal, the baseline); then the time from the request's answer (EOF at
    the client) to the process's exit (its pidfd becoming readable; under
    the supervisor, the supervisor's, which ends with its child). Under the
    supervisor LAMEDUCK_STOP_LISTENERS=off and no connects: slow_threads
    takes accept()'s EINVAL on a shut-down listener for a fatal error and
    exits, under the request, as a Go server does."""
    after, refused, closed_port, bad = [], [], [], 0
    for _ in range(DRAIN_TRIALS):
        env = {"LAMEDUCK_DELAY": "200ms", "LAMEDUCK_DRAIN_TIMEOUT": "15s"}
        if sup:
            env["LAMEDUCK_STOP_LISTENERS"] = "off"
        p, port, hport = start_prog("slow_threads", ["300"], env, sup=sup)
        pidfd = os.pidfd_open(p.pid)
        t_end, t_exit, answer = [None], [None], [b""]
        try:
            wait_for(lambda: get(hport) == 200)

            def exit_waiter():
                select.select([pidfd], [], [], 10)
                t_exit[0] = time.perf_counter()

            def client(s):
                try:
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        answer[0] += chunk
                except OSError:
                    pass
                t_end[0] = time.perf_counter()
                s.close()

            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            threads = [threading.Thread(target=client, args=(s,), daemon=True),
                       threading.Thread(target=exit_waiter, daemon=True)]
            for th in threads:
                th.start()
            time.sleep(0.02)        # let the program read it: the request is in flight
            os.kill(p.pid, signal.SIGTERM)
            wait_for(lambda: get_text(hport) == (503, "draining"), timeout=5)
            nolisten = free_port()
            for _ in range(0 if sup else REFUSALS):   # interleaved with the baseline
                refused.append(connect_refused_ms(port))
                closed_port.append(connect_refused_ms(nolisten))
            for th in threads:
                th.join(12)
            p.wait(timeout=5)
            ok = (t_end[0] is not None and t_exit[0] is not None and
                  answer[0].endswith(b"done\n") and p.returncode == -signal.SIGTERM)
            if ok:
                after.append((t_exit[0] - t_end[0]) * 1000)
            else:
                bad += 1
        except (TimeoutError, OSError, subprocess.TimeoutExpired):
            bad += 1
        finally:
            os.close(pidfd)
            stop(p)
    return {"after": after, "refused": [x for x in refused if x is not None],
            "not_refused": sum(1 for x in refused if x is None),
            "closed": [x for x in closed_port if x is not None], "bad": bad}


def cpu_ns(pid):
    """CPU time a process (its main thread) has run, in ns."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0])


SUP_CPU_IDLE = (0, 100)
SUP_CPU_TRIALS = 3
SUP_CPU_WINDOW = 1.5


def bench_sup_cpu(idles=SUP_CPU_IDLE):
    """The supervisor's CPU: slow_threads PORT 2500 under it,
    LAMEDUCK_DELAY=0, LAMEDUCK_STOP_LISTENERS=off (see bench_drain), with 0 or 100 idle connections open beside one
    request (2.5 s) in flight; /proc/PID/schedstat over 1.5 s while it
    serves (before SIGTERM) and over 1.5 s of the drain (from 0.3 s after
    SIGTERM), in % of one core. Median of 3 each. The dumps walk the
    machine's whole TCP established hash, TIME_WAIT sockets included: the
    count then is returned with the figures."""
    res = {}
    for idle in idles:
        serving, draining = [], []
        for _ in range(SUP_CPU_TRIALS):
            p, port, hport = start_prog("slow_threads", ["2500"],
                                        {"LAMEDUCK_DELAY": "0", "LAMEDUCK_DRAIN_TIMEOUT": "15s",
                                         "LAMEDUCK_STOP_LISTENERS": "off"}, sup=True)
            conns = []
            try:
                wait_for(lambda: get(hport) == 200)
                conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(idle)]
                c0, t0 = cpu_ns(p.pid), time.perf_counter()
                time.sleep(SUP_CPU_WINDOW)
                serving.append((cpu_ns(p.pid) - c0) / 1e9 / (time.perf_counter() - t0))
                s = socket.create_connection(("127.0.0.1", port))
                conns.append(s)
                s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
                time.sleep(0.02)
                os.kill(p.pid, signal.SIGTERM)
                time.sleep(0.3)
                check = get_text(hport)
                c0, t0 = cpu_ns(p.pid), time.perf_counter()
                time.sleep(SUP_CPU_WINDOW)
                c1, t1 = cpu_ns(p.pid), time.perf_counter()
                if check != (503, "draining") or get_text(hport) != (503, "draining"):
                    raise RuntimeError("not draining through the window: %r" % (check,))
                draining.append((c1 - c0) / 1e9 / (t1 - t0))
            finally:
                for c in conns:
                    c.close()
                stop(p)
        res[idle] = (statistics.median(serving), statistics.median(draining))
    res["tw"], res["ehash"] = tcp_tables()
    return res


def tcp_tables():
    """Sockets in TIME_WAIT on the machine, and the TCP established hash's
    size: a sock_diag dump of connections walks all of it, whatever the
    network namespace (unless net.ipv4.tcp_child_ehash_entries gave it its
    own)."""
    tw = ehash = None
    try:
        with open("/proc/net/sockstat") as f:
            for line in f:
                if line.startswith("TCP:"):
                    w = line.split()
                    tw = int(w[w.index("tw") + 1])
        with open("/proc/sys/net/ipv4/tcp_ehash_entries") as f:
            ehash = abs(int(f.read()))
    except (OSError, ValueError):
        pass
    return tw, ehash


# ---------------------------------------------------------------- the hot path, counted
#
# Requests/s move by ±10 % from run to run on a small machine; what the
# shim adds to each request does not. nginx (one process: master_process
# off) serves a small static file to a client that makes exactly N requests,
# then 2 N, each run a new nginx; the difference between the two runs is
# N requests' worth, start-up and exit cancelled out. Counted under
# valgrind's callgrind (instructions) and strace -f -c (system calls), with
# and without the shim, for keep-alive (the read/write path) and for a
# connection per request (accept and close).

NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log stderr error;
events {{ worker_connections 64; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    sendfile on;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
    }}
}}
"""
SMALL = b"lameduck\n" * 64       # the static file: 576 bytes
COUNT_N = int(os.environ.get("BENCH_COUNT_N", "4000"))
PATHS = (("keep-alive", False), ("a connection per request", True))


def http_exchange(s, request, close):
    """Sends one request on s and reads its answer whole; the status."""
    s.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("connection closed before the answer")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("connection closed in the body")
        body += chunk
    if close:   # the server closes: read to its end
        while s.recv(65536):
            pass
    return int(head.split(b" ", 2)[1])


def count_requests(port, n, close):
    """Exactly n GET /small on one connection or on n connections."""
    req = b"GET /small HTTP/1.1\r\nHost: bench\r\n%s\r\n" % (b"Connection: close\r\n" if close else b"")
    s = None
    try:
        for _ in range(n):
            if s is None:
                s = socket.create_connection(("127.0.0.1", port), timeout=60)
            if http_exchange(s, req, close) != 200:
                raise OSError("not a 200 answer")
            if close:
                s.close()
                s = None
    finally:
        if s is not None:
            s.close()


def first_request(port, timeout=120.0):
    """Waits for the server's first answer on exactly one connection: the
    connects refused before it cost the server nothing, so every run does
    the same work before its counted requests."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=60)
        except OSError:
            time.sleep(0.02)
            continue
        with s:
            if http_exchange(s, b"GET /small HTTP/1.1\r\nHost: bench\r\n"
                                b"Connection: close\r\n\r\n", True) == 200:
                return
            raise OSError("not a 200 answer")
    raise TimeoutError("nginx never answered")


def nginx_run(tool_argv, n, close, shim, tmp, env_extra=None, through=None):
    """nginx under tool_argv (valgrind ..., whose exec chain keeps the
    process: the shim's environment goes through it) or through (strace:
    see launch), n counted requests after the first, then SIGQUIT (nginx's
    graceful stop; not a signal the shim takes, so both runs stop alike)
    and its exit, the tool's with it."""
    www = os.path.join(tmp, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "small"), "wb") as f:
        f.write(SMALL)

    def argv_of(port):
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(d=tmp, port=port))
        return tool_argv + ["nginx", "-p", tmp, "-c", conf, "-e", "stderr"]

    env = {"LAMEDUCK_DELAY": "0", "LAMEDUCK_DRAIN_TIMEOUT": "1s"}
    env.update(env_extra or {})
    p, port, hport = launch(argv_of, env, shim, through)
    try:
        first_request(port)
        if shim:    # ready: the shim's thread has ended its start-up scans
            wait_for(lambda: get(hport, timeout=10) == 200, timeout=120)
        count_requests(port, n, close)
        # A signal that lands between nginx's check of its flags and its
        # epoll_wait is seen at its next event only (under valgrind, whose
        # signal delivery widens that window, it happens): a second one,
        # in epoll_wait, ends it. A signal handler is a few instructions.
        with open(os.path.join(tmp, "nginx.pid")) as f:
            pid = int(f.read())     # p may be strace, nginx's parent
        for _ in range(30):
            os.kill(pid, signal.SIGQUIT)
            try:
                p.wait(timeout=2)
                break
            except subprocess.TimeoutExpired:
                pass
    finally:
        stop(p)
    if p.returncode != 0:
        raise OSError("nginx ended with status %d" % p.returncode)


def callgrind_functions(path):
    """{(object, function): instructions} of a callgrind output file, each
    function's own (its callees' apart; code inlined into it counts as
    its), and the total."""
    names = {}
    funcs, total = {}, None
    ob = fn = None
    skip = False    # the cost line after calls= is the call's, the callee's
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line[0] == "#":
                continue
            key, eq, value = line.partition("=")
            if eq and key in ("ob", "fn", "cob", "cfn", "fl", "fi", "fe", "cfi", "cfl"):
                # "(id) name" names id; "(id)" alone refers to it again.
                if value.startswith("("):
                    ident, _, name = value[1:].partition(")")
                    name = name.strip()
                    kind = "ob" if key in ("ob", "cob") else "fn" if key in ("fn", "cfn") else "fl"
                    if name:
                        names[kind, ident] = name
                    value = names.get((kind, ident), ident)
                if key == "ob":
                    ob = os.path.basename(value)
                elif key == "fn":
                    fn = value
                continue
            if eq and key == "calls":
                skip = True
                continue
            if line.startswith("totals:") or line.startswith("summary:"):
                total = int(line.split()[1])
                continue
            if eq or ":" in line:
                continue    # headers: version, creator, events, positions ...
            f2 = line.split()
            if skip:
                skip = False
                continue
            if len(f2) >= 2 and fn is not None:
                funcs[ob, fn] = funcs.get((ob, fn), 0) + int(f2[1])
    if total is None:
        raise ValueError("no totals in %s" % path)
    return funcs, total


# The three ways nginx runs: without the shim, with it, and without it but
# with an idle second thread (tests/preload/idle_thread.c), which sets apart
# what glibc's multi-threaded paths cost from the shim's own code.
IDLE_THREAD = os.path.join(ROOT, "build", "preload", "idle_thread.so")
MODES = ("without", "thread", "with")


def mode_env(mode):
    return ({"LD_PRELOAD": IDLE_THREAD} if mode == "thread" else {}), mode == "with"


def instructions(n, close, mode):
    """Instructions nginx executed (every thread: the shim's own too) for
    n requests after the first, by function, and the total."""
    env, shim = mode_env(mode)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        nginx_run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out],
                  n, close, shim, tmp, env)
        return callgrind_functions(out)


def strace_counts(path):
    """{system call: calls} from a strace -c summary."""
    calls = {}
    with open(path) as f:
        for line in f:
            fl = line.split()
            # % time, seconds, usecs/call, calls, [errors], syscall
            if len(fl) >= 5 and fl[0][0].isdigit() and fl[-1] != "total":
                calls[fl[-1]] = int(fl[3])
    return calls


def syscalls(n, close, mode):
    """System calls of nginx (every thread) by name, for n requests after
    the first."""
    env, shim = mode_env(mode)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "strace.out")
        nginx_run([], n, close, shim, tmp, env, lambda e: ["strace", "-f", "-c", "-o", out] +
                  [a for kv in sorted(e.items()) for a in ("-E", "%s=%s" % kv)])
        return strace_counts(out)


def per_request(a, b, n):
    """{key: (b - a) / n}: what one request adds, from counts after n and 2 n."""
    return {k: (b.get(k, 0) - a.get(k, 0)) / n for k in set(a) | set(b)}


def bench_hotpath():
    """Per request, for each path and mode: instructions (total, and by
    function of nginx's run with the shim) and system calls by name."""
    res = {}
    n = COUNT_N
    for label, close in PATHS:
        r = {}
        for mode in MODES:
            (fa, ta), (fb, tb) = instructions(n, close, mode), instructions(2 * n, close, mode)
            r["insns", mode] = (tb - ta) / n
            r["funcs", mode] = per_request(fa, fb, n)
            if mode != "thread":
                r["sys", mode] = per_request(syscalls(n, close, mode), syscalls(2 * n, close, mode), n)
        res[label] = r
    return res


def print_hotpath(hp):
    n = COUNT_N
    how = ("nginx (master_process off) serving a %d-byte file to a client making exactly N and "
           "then 2N requests (N = %d), each run a new nginx: the difference over N; "
           % (len(SMALL), n))
    for label, close in PATHS:
        r = hp[label]
        w, wo, th = r["insns", "with"], r["insns", "without"], r["insns", "thread"]
        print("| instructions per request, nginx, %s | %.0f | %.0f | %.3f (%+.0f, %+.1f %%) | %s"
              "`valgrind --tool=callgrind`, every thread; without the shim but with an idle "
              "second thread (tests/preload/idle_thread.c): %.0f (%+.0f), what glibc's "
              "multi-threaded paths cost once the shim's thread exists; %+.0f is the shim's code |"
              % (label, w, wo, w / wo, w - wo, 100 * (w - wo) / wo, how, th, th - wo, w - th))
        how = "the same way; "
    how = "counted as the instructions are (N and 2N requests, a new nginx each), under "
    for label, close in PATHS:
        r = hp[label]
        sw, swo = r["sys", "with"], r["sys", "without"]
        tw, two = sum(sw.values()), sum(swo.values())
        diff = ["%s %+.2f" % (k, sw.get(k, 0) - swo.get(k, 0)) for k in sorted(set(sw) | set(swo))
                if abs(sw.get(k, 0) - swo.get(k, 0)) >= 0.005]
        calls = ", ".join("%s %.2f" % (k, v) for k, v in sorted(sw.items()) if v >= 0.005)
        print("| system calls per request, nginx, %s | %.2f | %.2f | %s | %s`strace -f -c` (the "
              "shim's environment through -E, so that strace itself runs without it): %s |"
              % (label, tw, two, "differ: " + ", ".join(diff) if diff else "the same calls",
                 how, calls))
        how = "the same way: "


def print_breakdown(hp):
    """Where the shim's instructions go, per request: its own functions
    (exclusive counts, header code inlined in them included), and the
    rest of the process's growth."""
    print()
    print("Instructions per request by function, with the shim (own instructions, "
          "callees apart; 2N minus N requests, over N):")
    print()
    print("| where | %s |" % " | ".join(label for label, _ in PATHS))
    print("|---|%s" % ("---|" * len(PATHS)))
    shim_so = os.path.basename(SHIM)
    rows = {}
    for label, _ in PATHS:
        for (obj, fn), v in hp[label]["funcs", "with"].items():
            if obj == shim_so:
                rows.setdefault(fn, {})[label] = v
    for fn in sorted(rows, key=lambda f: -sum(rows[f].values())):
        if max(abs(v) for v in rows[fn].values()) >= 2:
            print("| %s (liblameduck.so) | %s |" % (fn, " | ".join(
                "%.0f" % rows[fn].get(label, 0) for label, _ in PATHS)))
    own, thread, other = [], [], []
    for label, _ in PATHS:
        r = hp[label]
        mine = sum(v for (obj, _), v in r["funcs", "with"].items() if obj == shim_so)
        own.append("%.0f" % mine)
        thread.append("%+.0f" % (r["insns", "thread"] - r["insns", "without"]))
        other.append("%+.0f" % (r["insns", "with"] - r["insns", "thread"] - mine))
    print("| the shim's code, total | %s |" % " | ".join(own))
    print("| a second thread in the process (glibc: cancellation around blocking calls, "
          "malloc's locks), measured with an idle thread | %s |" % " | ".join(thread))
    print("| the rest (outside the shim's code, beyond the idle thread's cost) | %s |"
          % " | ".join(other))
    print()
    print("Functions outside the shim whose count grows with an idle second thread, per request:")
    print()
    print("| function | %s |" % " | ".join(label for label, _ in PATHS))
    print("|---|%s" % ("---|" * len(PATHS)))
    grow = {}
    for label, _ in PATHS:
        r = hp[label]
        for k in set(r["funcs", "thread"]) | set(r["funcs", "without"]):
            d = r["funcs", "thread"].get(k, 0) - r["funcs", "without"].get(k, 0)
            grow.setdefault(k, {})[label] = d
    for k in sorted(grow, key=lambda k: -sum(grow[k].values())):
        if max(grow[k].values()) >= 5:
            print("| %s (%s) | %s |" % (k[1], k[0], " | ".join(
                "%+.0f" % grow[k].get(label, 0) for label, _ in PATHS)))


def main():
    """tests/bench.py: every figure; tests/bench.py hotpath: the hot path's
    counts alone (instructions and system calls per request)."""
    if sys.argv[1:] not in ([], ["hotpath"], ["supervise"]):
        sys.exit("usage: tests/bench.py [hotpath | supervise]")
    everything = not sys.argv[1:]
    supervise = everything or sys.argv[1:] == ["supervise"]
    if not os.path.exists(SHIM) or not os.path.exists(LAUNCHER):
        sys.exit("build the shim and the launcher first: make")
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    print("# lameduck benchmark, %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    print()
    print("Machine: %s, %d cores, Linux %s, %s" % (cpu, os.cpu_count(), platform.release(),
                                                  platform.libc_ver()[0] + " " + platform.libc_ver()[1]))
    print()
    if supervise:
        scpu = [bench_sup_cpu()]     # first: before the wrk runs leave sockets in TIME_WAIT
        lat = bench_not_ready()
        st, runs = bench_startup()
        ready = bench_ready()
        rss = bench_rss()
        tp = bench_throughput() if have("wrk") else None
        dr = bench_drain()
        sdr = bench_drain(sup=True)
        sdr["tw"] = tcp_tables()[0]
        scpu.append(bench_sup_cpu((0,)))
    if everything:
        hl = bench_health_under_load() if have("wrk") else None
        ho = bench_hostile() if have("wrk") else None
    missing = [t for t in ("nginx", "valgrind", "strace") if not have(t)]
    hp = None if missing or sys.argv[1:] == ["supervise"] else bench_hotpath()
    print("| figure | value | baseline | ratio | how measured |")
    print("|---|---|---|---|---|")
    if everything:
        print_rows(lat["shim"], st, runs, rss["none"], rss["shim"], tp, hl, ho, dr)
    if supervise:
        print_sup_rows(lat, st, runs, ready, rss, tp, dr, sdr, scpu)
    if sys.argv[1:] == ["supervise"]:
        return
    if hp:
        print_hotpath(hp)
    else:
        print("| instructions and system calls per request | not measured: %s not installed "
              "| | | |" % ", ".join(missing))
    if hp:
        print_breakdown(hp)


def have(tool):
    return shutil.which(tool) is not None


def print_rows(lat, st, runs, rss0, rss1, tp, hl, ho, dr):
    epoll = "build/progs/slow_epoll PORT 0"
    how = ("python3 -m http.server under the shim, LAMEDUCK_DELAY=30s: kill -TERM, then GET /readyz "
           "in a loop until 503; a new server each trial")
    print("| kill -TERM to /readyz 503, median (%d trials) | %.2f ms | - | - | %s |"
          % (len(lat), statistics.median(lat), how))
    print("| kill -TERM to /readyz 503, p99 | %.2f ms | - | - | the same trials |" % pct(lat, 99))
    print("| start-up of /bin/true as owner, median of %d | %.2f ms | %.2f ms | %.2f | fork+exec+wait "
          "of /bin/true with LD_PRELOAD and LAMEDUCK_HEALTH set, interleaved with the baseline: "
          "the same without the shim |"
          % (runs, st["owner"], st["none"], st["owner"] / st["none"]))
    print("| start-up of /bin/true, passive, median of %d | %.2f ms | %.2f ms | %.2f | the same while "
          "a python3 http.server under the shim owns that health address; baseline without the shim |"
          % (runs, st["passive"], st["none"], st["passive"] / st["none"]))
    print("| resident memory of an idle python3 http.server | %d KiB | %d KiB | %.3f (+%d KiB) | VmRSS "
          "after its first answer, median of 5 each; baseline without the shim |"
          % (rss1, rss0, rss1 / rss0, rss1 - rss0))
    if tp:
        for close, label, opt in ((False, "keep-alive (read/write path)", ""),
                                  (True, "a connection per request (accept/close path)",
                                   " -H 'Connection: close'")):
            print("| requests/s, our epoll server under wrk -c16, %s, median of 3 | %.0f | %.0f | %.3f | "
                  "`wrk -t1 -c16 -d3s%s` to %s, interleaved with the baseline: the same without the "
                  "shim |" % (label, tp[close]["shim"], tp[close]["none"],
                              tp[close]["shim"] / tp[close]["none"], opt, epoll))
    else:
        print("| throughput under wrk | not measured: wrk is not installed (apt-get install wrk) | | | |")
    if hl:
        both = ("%s under the shim with `wrk -t1 -c16 -d%ds` on its port and at the same time "
                "`wrk -t1 -c4 -d%ds` on http://127.0.0.1:HPORT/readyz; median of %d runs"
                % (epoll, HEALTH_SECONDS, HEALTH_SECONDS, hl["runs"]))
        errs = "" if not hl["health_errors"] else " (%d errors or non-200 answers)" % hl["health_errors"]
        print("| health port /readyz requests/s while the program is under load | %.0f%s | - | - | %s |"
              % (hl["health_rps"], errs, both))
        print("| health port /readyz p99 latency while the program is under load | %.2f ms | - | - | "
              "the same runs (wrk --latency) |" % hl["health_p99"])
        print("| requests/s of the program while /readyz is under load | %.0f | %.0f | %.3f | the same "
              "runs; baseline: the same without the /readyz load, interleaved (2 cores: the two "
              "loads share them) |" % (hl["prog_with"], hl["prog_without"],
                                       hl["prog_with"] / hl["prog_without"]))
    else:
        print("| health port under load | not measured: wrk is not installed (apt-get install wrk) | | | |")
    if ho:
        what = {"idle": "a thousand idle connections", "slowloris": "slowloris (8 clients, a byte "
                "each 300 ms)", "garbage": "garbage bytes (4 clients)", "big": "headers over the "
                "8 KiB limit (2 clients)", "rate": "a GET /readyz every millisecond"}
        for mode in HOSTILE_MODES:
            own, other, none = ho[mode]["own"], ho[mode]["other"], ho[mode]["none"]
            errs = "" if not (own[1] or other[1] or none[1]) else \
                " (wrk errors: %d own, %d other, %d none)" % (own[1], other[1], none[1])
            print("| requests/s of the program while its health port is attacked: %s | %.0f%s | "
                  "%.0f (no attack); %.0f (the same attack on another process) | %.3f; %.3f | "
                  "%s with `wrk -t1 -c16 -d%ds` on its port and `storm_health HPORT %s` for the run; "
                  "baselines, interleaved: no attack, and the attack aimed at the health port of "
                  "another process under the shim; median of %d each; the program's shim thread "
                  "took %.0f %% of a core, the attacker %.0f %% (all share the 2 cores) |"
                  % (what[mode], own[0], errs, none[0], other[0], own[0] / none[0],
                     own[0] / other[0], epoll, HOSTILE_SECONDS, mode, HOSTILE_RUNS,
                     100 * ho[mode]["shim_cpu"], 100 * ho[mode]["attacker_cpu"]))
    else:
        print("| hostile health clients | not measured: wrk is not installed (apt-get install wrk) | | | |")
    howd = ("build/progs/slow_threads PORT 300 under the shim, LAMEDUCK_DELAY=200ms: one request, "
            "kill -TERM at once; %d trials%s" % (DRAIN_TRIALS, "" if not dr["bad"] else
                                                  ", %d of them failed and left out" % dr["bad"]))
    if dr["after"]:
        print("| drain: last in-flight answer to the process's exit, median of %d | %.2f ms (max %.2f) "
              "| - | - | %s; from EOF at the client to the pidfd becoming readable |"
              % (len(dr["after"]), statistics.median(dr["after"]), max(dr["after"]), howd))
    else:
        print("| drain: last in-flight answer to the process's exit | not measured: every trial "
              "failed | - | - | %s |" % howd)
    if dr["refused"] and dr["closed"]:
        r, c = statistics.median(dr["refused"]), statistics.median(dr["closed"])
        nr = "" if not dr["not_refused"] else " (%d connects not refused)" % dr["not_refused"]
        print("| drain: connect() to ECONNREFUSED on the program's port, median of %d | %.3f ms%s "
              "| %.3f ms | %.2f | the same trials: %d connects each once /readyz says draining; "
              "baseline: connect() to a loopback port with no listener, interleaved |"
              % (len(dr["refused"]), r, nr, c, r / c, REFUSALS))
    else:
        print("| drain: connect() to ECONNREFUSED | not measured: no connect was refused "
              "| - | - | %s |" % howd)


def print_sup_rows(lat, st, runs, ready, rss, tp, dr, sdr, scpu):
    """The supervisor's rows (lameduck --supervise), each beside the same
    work alone or under the shim, measured in the same run."""
    sup = "`lameduck --supervise`"
    how = ("python3 -m http.server under %s, LAMEDUCK_DELAY=30s: kill -TERM to the supervisor, "
           "then GET /readyz in a loop until 503; a new server each trial; baseline: the same "
           "under the shim, one trial of each in turn" % sup)
    s, b = lat["sup"], lat["shim"]
    print("| supervisor: kill -TERM to /readyz 503, median (%d trials) | %.2f ms | %.2f ms (shim) "
          "| %.2f | %s |" % (len(s), statistics.median(s), statistics.median(b),
                             statistics.median(s) / statistics.median(b), how))
    print("| supervisor: kill -TERM to /readyz 503, p99 | %.2f ms | %.2f ms (shim) | %.2f | "
          "the same trials |" % (pct(s, 99), pct(b, 99), pct(s, 99) / pct(b, 99)))
    print("| supervisor: start-up of /bin/true, median of %d | %.2f ms | %.2f ms | %.2f | "
          "fork+exec+wait of `lameduck --supervise --ready start --health off --log off -- "
          "/bin/true`, interleaved with the baseline, /bin/true alone (the shim as owner, in "
          "the same loop: %.2f ms) |" % (runs, st["sup"], st["none"], st["sup"] / st["none"],
                                        st["owner"]))
    n = statistics.median(ready["none"])
    for mode, label in (("shim", "the shim"), ("sup", "the supervisor")):
        r = statistics.median(ready[mode])
        print("| start to /readyz 200 under %s, median of %d | %.1f ms (p99 %.1f) | %.1f ms | "
              "%.1f | build/progs/slow_epoll PORT 0 from Popen to its first 200 from /readyz, "
              "polled every 0.5 ms; baseline: to the first connect() its port accepts, without "
              "lameduck; one trial of each in turn |"
              % (label, len(ready[mode]), r, pct(ready[mode], 99), n, r / n))
    shim_cost = rss["shim"] - rss["none"]
    print("| supervisor: its own memory beside an idle python3 http.server | %d KiB RSS, %d KiB "
          "PSS | +%d KiB (the shim in the server) | %.1f | VmRSS and smaps_rollup's Pss of the "
          "supervisor once the server answered; baseline: what the shim adds to the same "
          "server's VmRSS in-process (%d KiB against %d KiB), median of 5 each in turn |"
          % (rss["sup_rss"], rss["sup_pss"], shim_cost, rss["sup_rss"] / max(shim_cost, 1),
             rss["shim"], rss["none"]))
    print("| supervisor: resident memory of the idle python3 http.server it supervises | %d KiB "
          "| %d KiB | %.3f (%+d KiB) | VmRSS of the server, the supervisor's child; baseline: "
          "the same server alone; the same runs |"
          % (rss["sup_child"], rss["none"], rss["sup_child"] / rss["none"],
             rss["sup_child"] - rss["none"]))
    if tp:
        for close, label, opt in ((False, "keep-alive", ""),
                                  (True, "a connection per request", " -H 'Connection: close'")):
            print("| supervisor: requests/s, our epoll server under wrk -c16, %s, median of 3 | "
                  "%.0f | %.0f | %.3f | `wrk -t1 -c16 -d3s%s` to build/progs/slow_epoll PORT 0 "
                  "under %s, interleaved with the baseline (the same alone) and the shim's runs |"
                  % (label, tp[close]["sup"], tp[close]["none"],
                     tp[close]["sup"] / tp[close]["none"], opt, sup))
    if sdr["after"] and dr["after"]:
        a, b = statistics.median(sdr["after"]), statistics.median(dr["after"])
        bad = "" if not sdr["bad"] else ", %d failed and left out" % sdr["bad"]
        print("| supervisor: drain, last in-flight answer to the supervisor's exit, median of %d "
              "| %.2f ms (max %.2f) | %.2f ms (shim) | %.1f | the shim's drain row under %s, "
              "LAMEDUCK_STOP_LISTENERS=off (slow_threads exits when its listener is shut down); "
              "the drain looks at the connections every 20 ms, or ten times what a look costs; %s sockets in TIME_WAIT then%s |"
              % (len(sdr["after"]), a, max(sdr["after"]), b, a / b, sup, sdr["tw"], bad))
    else:
        print("| supervisor: drain | not measured: every trial failed | - | - | |")
    for sc in scpu:
        print_sup_cpu(sc, sup)


def print_sup_cpu(scpu, sup):
    tables = "%s sockets in TIME_WAIT, an established hash of %s buckets" % (scpu["tw"], scpu["ehash"])
    for idle in (k for k in scpu if isinstance(k, int)):
        serving, draining = scpu[idle]
        print("| supervisor: its CPU while draining, %d idle connection%s beside one in flight, "
              "%s sockets in TIME_WAIT | "
              "%.2f %% of a core | %.2f %% (serving) | - | build/progs/slow_threads PORT 2500 "
              "under %s, LAMEDUCK_DELAY=0, LAMEDUCK_STOP_LISTENERS=off: /proc/PID/schedstat of the supervisor over %.1f s of "
              "the drain (the /proc/PID/fd walk and sock_diag dumps every 20 ms or ten times their cost; the machine then "
              "had %s); baseline: over %.1f s while serving; median of %d |"
              % (idle, "" if idle == 1 else "s", scpu["tw"], 100 * draining, 100 * serving, sup,
                 SUP_CPU_WINDOW, tables, SUP_CPU_WINDOW, SUP_CPU_TRIALS))


if __name__ == "__main__":
    main()
