#!/usr/bin/env python3
"""make bench: the shim's costs, each measured against the same work without
the shim in the same run where a baseline applies. Prints a Markdown table."""
import http.client
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
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


def server(env_extra, shim=True):
    port, hport = free_port(), free_port()
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if shim:
        env.update({"LD_PRELOAD": SHIM, "LAMEDUCK_HEALTH": "127.0.0.1:%d" % hport,
                    "LAMEDUCK_LOG": "off"})
    env.update(env_extra)
    p = subprocess.Popen([PY, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    return p, port, hport


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
    prog = os.path.join(ROOT, "build", "progs", "slow_epoll")
    res = {}
    for close in (False, True):
        runs = {False: [], True: []}
        for _ in range(3):
            for shim in (False, True):
                port, hport = free_port(), free_port()
                env = dict(os.environ)
                env.pop("LD_PRELOAD", None)
                if shim:
                    env.update({"LD_PRELOAD": SHIM, "LAMEDUCK_HEALTH": "127.0.0.1:%d" % hport,
                                "LAMEDUCK_LOG": "off"})
                p = subprocess.Popen([prog, str(port), "0"], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
                try:
                    wait_for(lambda: get(port, "/") == 200)
                    runs[shim].append(wrk_rps(port, 3, close))
                finally:
                    stop(p)
        res[close] = {k: statistics.median([r[0] for r in v]) for k, v in runs.items()}
    return res


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
    print("| figure | value | baseline (no shim) | ratio | reproduce |")
    print("|---|---|---|---|---|")
    print("| kill -TERM to /readyz 503, median (%d trials) | %.2f ms | - | - | `make bench` |"
          % (len(lat), statistics.median(lat)))
    print("| kill -TERM to /readyz 503, p99 | %.2f ms | - | - | `make bench` |" % pct(lat, 99))
    print("| start-up of /bin/true as owner, median of %d | %.2f ms | %.2f ms | %.2f | `make bench` |"
          % (runs, st["owner"], st["none"], st["owner"] / st["none"]))
    print("| start-up of /bin/true, passive, median of %d | %.2f ms | %.2f ms | %.2f | `make bench` |"
          % (runs, st["passive"], st["none"], st["passive"] / st["none"]))
    print("| resident memory of an idle python3 http.server | %d KiB | %d KiB | %.3f (+%d KiB) | `make bench` |"
          % (rss1, rss0, rss1 / rss0, rss1 - rss0))
    if tp:
        for close, label in ((False, "keep-alive (read/write path)"),
                             (True, "a connection per request (accept/close path)")):
            print("| requests/s, our epoll server under wrk -c16, %s, median of 3 | %.0f | %.0f | %.3f | `make bench` |"
                  % (label, tp[close][True], tp[close][False], tp[close][True] / tp[close][False]))
    else:
        print("| throughput under wrk | not measured: wrk is not installed (apt-get install wrk) | | | |")


if __name__ == "__main__":
    main()
