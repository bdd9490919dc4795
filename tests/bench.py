#!/usr/bin/env python3
"""make bench: the shim's costs, each measured against the same work without
the shim in the same run where a baseline applies. Prints a Markdown table."""
import http.client
import os
import platform
import select
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIM = os.path.join(ROOT, "build", "liblameduck.so")
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


def launch(argv_of, env_extra=None, shim=True):
    """argv_of(port) on a free port, under the shim (a free health port,
    log off) or not; returns (process, port, health port)."""
    port, hport = free_port(), free_port()
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if shim:
        env.update({"LD_PRELOAD": SHIM, "LAMEDUCK_HEALTH": "127.0.0.1:%d" % hport,
                    "LAMEDUCK_LOG": "off"})
    env.update(env_extra or {})
    p = subprocess.Popen(argv_of(port), env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    return p, port, hport


def server(env_extra, shim=True):
    """python3 -m http.server."""
    return launch(lambda port: [PY, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                  env_extra, shim)


def stop(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def bench_not_ready():
    """kill -TERM to the first 503 from /readyz."""
    lat = []
    for _ in range(TRIALS):
        p, port, hport = server({"LAMEDUCK_DELAY": "30s"})
        try:
            wait_for(lambda: get(hport) == 200)
            t0 = time.perf_counter()
            os.kill(p.pid, signal.SIGTERM)
            while get(hport, timeout=0.5) != 503:
                pass
            lat.append((time.perf_counter() - t0) * 1000)
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
    times = {"none": [], "owner": [], "passive": []}

    def run(env):
        t0 = time.perf_counter()
        subprocess.run(["/bin/true"], env=env, check=True)
        return time.perf_counter() - t0

    for _ in range(runs):   # interleaved, so that noise hits all three alike
        times["none"].append(run(base))
        times["owner"].append(run(owner))
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


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def bench_rss():
    with_, without = [], []
    for _ in range(5):
        for shim, out in ((False, without), (True, with_)):
            p, port, hport = server({"LAMEDUCK_DELAY": "30s"}, shim=shim)
            try:
                wait_for(lambda: get(port, "/") == 200)
                out.append(rss_kib(p.pid))
            finally:
                stop(p)
    return statistics.median(without), statistics.median(with_)


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
    """Our epoll server (no work per request) under wrk, with and without the
    shim, interleaved: keep-alive (the read/write path) and a connection per
    request (the accept/close path)."""
    res = {}
    for close in (False, True):
        runs = {False: [], True: []}
        for _ in range(3):
            for shim in (False, True):
                p, port, _ = start_prog("slow_epoll", ["0"], {}, shim)
                try:
                    wait_for(lambda: get(port, "/") == 200)
                    runs[shim].append(wrk_rps(port, 3, close))
                finally:
                    stop(p)
        res[close] = {k: statistics.median([r[0] for r in v]) for k, v in runs.items()}
    return res


def start_prog(name, args, env_extra, shim=True):
    """One of our test programs (build/progs), optionally under the shim."""
    prog = os.path.join(ROOT, "build", "progs", name)
    return launch(lambda port: [prog, str(port)] + list(args), env_extra, shim)


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


def bench_drain():
    """slow_threads PORT 300 under the shim, LAMEDUCK_DELAY=200ms: one
    request (300 ms) sent, then SIGTERM at once; when /readyz says draining,
    5 connects to the program's port (each timed to ECONNREFUSED) and 5 to
    a port with no listener (the kernel's own refusal, the baseline); then
    the time from the request's answer (EOF at the client) to the process's
    exit (its pidfd becoming readable)."""
    after, refused, closed_port, bad = [], [], [], 0
    for _ in range(DRAIN_TRIALS):
        p, port, hport = start_prog("slow_threads", ["300"],
                                    {"LAMEDUCK_DELAY": "200ms", "LAMEDUCK_DRAIN_TIMEOUT": "15s"})
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
            for _ in range(REFUSALS):   # interleaved with the baseline
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


def main():
    if not os.path.exists(SHIM):
        sys.exit("build the shim first: make")
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
    lat = bench_not_ready()
    st, runs = bench_startup()
    rss0, rss1 = bench_rss()
    have_wrk = subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True).returncode == 0
    tp = bench_throughput() if have_wrk else None
    hl = bench_health_under_load() if have_wrk else None
    ho = bench_hostile() if have_wrk else None
    dr = bench_drain()
    epoll = "build/progs/slow_epoll PORT 0"
    print("| figure | value | baseline | ratio | how measured |")
    print("|---|---|---|---|---|")
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
                  "shim |" % (label, tp[close][True], tp[close][False], tp[close][True] / tp[close][False],
                              opt, epoll))
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


if __name__ == "__main__":
    main()
