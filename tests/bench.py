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


if __name__ == "__main__":
    main()
