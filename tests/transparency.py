#!/usr/bin/env python3
"""Transparency: CPython's own regression tests, without and with the shim.

Runs each module of CPython's test suite (Debian's libpython3.11-testsuite,
for /usr/bin/python3.11) twice: once plainly, once with the shim preloaded
and a health port of its own, so that the test process owns a lifecycle
(README, "Which process acts"). Results are compared case by case through
regrtest's --junit-xml. A case that passes without the shim and fails or
errs with it is a difference: it is run once more, alone, both ways, and
counts unless it passes then with the shim too (a flaky case, reported as
such) or is in ALLOWED (each named in README, "Limits").

    tests/transparency.py            # every module (make transparency)
    tests/transparency.py --ci       # the subset make test runs
    tests/transparency.py test_pty   # some modules

Exit status: 0 when no difference remains, 1 otherwise, 2 on a usage error.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3.11"	# Debian's: the test suite is its own

# The modules of issue 13: signals, sockets, descriptors, processes, threads.
MODULES = [
    "test_signal", "test_eintr", "test_socket", "test_selectors", "test_epoll",
    "test_poll", "test_select", "test_fcntl", "test_os", "test_posix",
    "test_subprocess", "test_threading", "test_socketserver", "test_httpservers",
    "test_wsgiref", "test_faulthandler", "test_pty",
    "test_asyncio.test_events", "test_asyncio.test_subprocess",
    "test_asyncio.test_unix_events", "test_asyncio.test_sock_lowlevel",
    "test_asyncio.test_sendfile",
    "test_multiprocessing_forkserver", "test_concurrent_futures",
]

# make test's subset, about 3 minutes on 2 cores (the slowest first): the
# descriptors children get (test_subprocess holds the pass_fds case),
# signals and interrupted calls, descriptors and processes (test_os,
# test_posix), servers on sockets, the event loops' Unix side.
CI_MODULES = [
    "test_subprocess", "test_signal", "test_eintr", "test_os", "test_posix",
    "test_socketserver", "test_asyncio.test_sock_lowlevel",
    "test_asyncio.test_unix_events", "test_httpservers", "test_select", "test_epoll",
    "test_fcntl", "test_pty", "test_wsgiref",
]

# Differences no preload library can avoid, each named in README "Limits".
# Key: the case's id as regrtest names it; value: why.
ALLOWED = {
}

# Resources: all but big files, sound, a display and minutes of CPU.
# "network" stays on: test_socketserver needs it for loopback sockets (cases
# that need the Internet skip themselves without it).
RESOURCES = "all,-urlfetch,-largefile,-audio,-gui,-cpu,-decimal,-tzdata"

# Cases left out both ways, whatever the shim: they wait for a peer this
# machine may not have, and a hang costs the module's results (regrtest's
# --timeout ends the process).
IGNORE = [
    "*VSOCK*",	# a vsock host side: hangs in a VM with the module loaded
]

PASS, FAIL, SKIP = "pass", "fail", "skip"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environ(shim):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("LAMEDUCK_") or k.startswith("__LAMEDUCK") or k == "LD_PRELOAD":
            del env[k]
    # pyenv and virtualenvs on PATH must not decide which python children get.
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    if shim:
        env["LD_PRELOAD"] = shim
        env["LAMEDUCK_HEALTH"] = "127.0.0.1:%d" % free_port()
    return env


VERBOSE = re.compile(r"^\S+ \((test\.[\w.]+)\) \.\.\. (ok|FAIL|ERROR|skipped|expected failure|"
                     r"unexpected success)")


def parse_log(path):
    """The -v lines, when the XML is missing (the run was cut): what ended."""
    res = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = VERBOSE.match(line)
            if m:
                v = m.group(2)
                res[m.group(1)] = (PASS if v in ("ok", "expected failure") else
                                   SKIP if v == "skipped" else FAIL)
    return res or None


def parse(path, log):
    """Case id -> PASS, FAIL or SKIP, and whether the run was cut."""
    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError):
        return parse_log(log), True
    res = {}
    for tc in tree.iter("testcase"):
        name = tc.get("name")
        if tc.find("failure") is not None or tc.find("error") is not None:
            res[name] = FAIL
        elif tc.find("skipped") is not None:
            res[name] = SKIP
        else:
            res[name] = PASS
    return res, False


def run(module, shim, work, timeout, match=None):
    """One regrtest run of module; returns (results or None, seconds, log path)."""
    tag = "%s.%s%s" % (module, "shim" if shim else "plain", ".again" if match else "")
    xml = os.path.join(work, tag + ".xml")
    log = os.path.join(work, tag + ".log")
    tmp = tempfile.mkdtemp(prefix=tag + ".", dir=work)
    cmd = [PYTHON, "-m", "test", "-v", "-u", RESOURCES, "--timeout", str(timeout),
        "--junit-xml", xml, "--tempdir", tmp]
    for m in match or []:
        cmd += ["-m", m.rsplit(".", 1)[-1]]
    for i in IGNORE:
        cmd += ["-i", i]
    cmd.append(module)
    t0 = time.monotonic()
    with open(log, "wb") as f:
        try:
            subprocess.run(cmd, env=environ(shim), stdout=f, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=tmp, timeout=timeout + 120)
        except subprocess.TimeoutExpired:
            f.write(b"\ntransparency: killed after %d s\n" % (timeout + 120))
    dt = time.monotonic() - t0
    shutil.rmtree(tmp, ignore_errors=True)
    res, cut = parse(xml, log)
    if res is not None and match:
        res = {k: v for k, v in res.items() if k in match}
    return res, dt, log, cut


def compare(plain, shim):
    """Cases that pass plainly and not with the shim (missing counts as failed)."""
    return sorted(k for k, v in plain.items() if v == PASS and shim.get(k) != PASS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("modules", nargs="*", help="modules (default: all of issue 13's)")
    ap.add_argument("--ci", action="store_true", help="the subset make test runs")
    ap.add_argument("--shim", default=os.path.join(ROOT, "build", "liblameduck.so"))
    ap.add_argument("-j", type=int, default=2, help="runs at once (default 2)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds a case may take")
    ap.add_argument("--keep", help="keep logs and XML in this folder")
    a = ap.parse_args()

    if not os.access(PYTHON, os.X_OK):
        print("transparency: %s missing (apt-get install python3.11)" % PYTHON)
        return 2
    probe = subprocess.run([PYTHON, "-c", "import test.test_signal"], capture_output=True)
    if probe.returncode != 0:
        print("transparency: CPython's tests missing (apt-get install libpython3.11-testsuite)")
        return 2
    if not os.path.exists(a.shim):
        print("transparency: %s missing (make)" % a.shim)
        return 2
    shim = os.path.abspath(a.shim)
    # A shell's background job starts with SIGINT ignored, and exec keeps
    # that: the cases that send SIGINT would fail both ways.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    modules = a.modules or (CI_MODULES if a.ci else MODULES)
    work = a.keep or tempfile.mkdtemp(prefix="transparency.")
    os.makedirs(work, exist_ok=True)

    # Both runs of a module side by side, longest modules first is unknown:
    # keep the list's order, which puts the slow ones (multiprocessing) last.
    jobs = [(m, s) for m in modules for s in (None, shim)]
    results, lock = {}, threading.Lock()
    t0 = time.monotonic()

    def worker():
        while True:
            with lock:
                if not jobs:
                    return
                m, s = jobs.pop(0)
            r = run(m, s, work, a.timeout)
            with lock:
                results[(m, bool(s))] = r
                print("  %-36s %-5s %6.1f s  %s%s" % (m, "shim" if s else "plain", r[1],
                    "%d cases" % len(r[0]) if r[0] is not None else "NO RESULTS",
                    " (cut short: from its -v lines)" if r[3] else ""), flush=True)

    print("transparency: %d modules, %s without and with %s (logs: %s)" %
        (len(modules), PYTHON, os.path.relpath(shim, ROOT), work), flush=True)
    threads = [threading.Thread(target=worker) for _ in range(max(1, a.j))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    rows, diffs, flaky, allowed, broken = [], [], [], [], []
    for m in modules:
        plain, dtp, logp, cutp = results[(m, False)]
        withs, dts, logs, cuts = results[(m, True)]
        if plain is None:
            broken.append((m, "no results without the shim", logp))
            continue
        if withs is None:
            broken.append((m, "no results with the shim", logs))
            continue
        if cuts and not cutp:
            broken.append((m, "cut short with the shim only", logs))
        d = compare(plain, withs)
        if d:
            # Once more, alone, both ways: a case that fails both ways now is
            # the machine's, one that passes with the shim now is flaky.
            again_p = run(m, None, work, a.timeout, d)[0]
            again_s = run(m, shim, work, a.timeout, d)[0]
            for k in d:
                if again_s is not None and again_s.get(k) == PASS:
                    flaky.append((m, k))
                elif again_p is not None and again_p.get(k) != PASS:
                    flaky.append((m, k))
                elif k in ALLOWED:
                    allowed.append((m, k))
                else:
                    diffs.append((m, k, withs.get(k, "missing"), logs))
        count = lambda r, v: sum(1 for x in r.values() if x == v)
        rows.append((m, len(plain), count(plain, PASS), count(withs, PASS),
            count(plain, FAIL), count(withs, FAIL), count(plain, SKIP),
            count(withs, SKIP), dtp, dts))

    print()
    print("%-34s %6s %13s %13s %13s %15s" % ("module", "cases", "passed", "failed",
        "skipped", "seconds"))
    print("%-34s %6s %13s %13s %13s %15s" % ("", "", "plain / shim", "plain / shim",
        "plain / shim", "plain / shim"))
    for r in rows:
        print("%-34s %6d %6d / %-4d %6d / %-4d %6d / %-4d %7.1f / %-6.1f" % r)
    tot = [sum(r[i] for r in rows) for i in range(1, 8)]
    print("%-34s %6d %6d / %-4d %6d / %-4d %6d / %-4d" % ("total", *tot))
    print("wall time: %.0f s" % (time.monotonic() - t0))
    for m, k in flaky:
        print("flaky (passed with the shim alone, or failed without it too): %s" % k)
    for m, k in allowed:
        print("allowed (README, Limits): %s: %s" % (k, ALLOWED[k]))
    for m, why, log in broken:
        print("BROKEN %s: %s (%s)" % (m, why, log))
    for m, k, v, log in diffs:
        print("DIFFERENCE %s: passes without the shim, %s with it (%s)" % (k, v, log))
    if diffs or broken:
        print("transparency: %d difference(s), %d module(s) without results" %
            (len(diffs), len(broken)))
        return 1
    print("transparency: no difference")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
