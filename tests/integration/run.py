#!/usr/bin/env python3
"""Integration tests: real servers and test programs under build/liblameduck.so.

    python3 tests/integration/run.py [-j N] [-v] [--list] [FILTER ...]

Runs every test_* function of the test_*.py modules next to this file (those
whose name contains one of the FILTERs, if any). A test module is named
test_<topic>.py and holds tests and the helpers only it uses; helpers that
several use are in the modules beside them that are not named test_*
(harness.py, pods.py, matrix.py). Each test runs in a child process of its
own with a time limit; everything it started is killed when it ends, pass
or fail. Prints `PASS name (1.2s)` or `FAIL name: reason`
per test and ends with `N passed, N failed`; exits 1 if any failed. With -j N,
N tests run at once, but those marked `alone` run last, one at a time.
"""
import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

DEFAULT_TIMEOUT = 60.0
RESULT = "@@RESULT "


def discover():
    """test_* functions of the test_*.py modules, in file then definition
    order; a name already taken is qualified with its module."""
    tests, seen = [], set()
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        mod = importlib.import_module(fn[:-3])
        for name, obj in list(vars(mod).items()):    # definition order
            if not (name.startswith("test_") and callable(obj)):
                continue
            if getattr(obj, "__module__", None) != mod.__name__:
                continue    # imported from elsewhere
            short = name[len("test_"):]
            if short in seen:
                short = "%s.%s" % (fn[:-3], short)
            seen.add(short)
            tests.append((short, obj))
    return tests


def run_one(name, token):
    """In the child: run one test, print its result as JSON."""
    tests = dict(discover())
    fn = tests[name]
    ctx = harness.Ctx(name, token)
    t0 = time.monotonic()
    ok, reason, diag = True, "", []
    try:
        fn(ctx)
    except harness.TestFailure as e:
        ok, reason = False, str(e)
    except Exception as e:     # a bug in the test or an unexpected error
        ok, reason = False, "%s: %s" % (type(e).__name__, e)
        diag += traceback.format_exc().rstrip().splitlines()
    finally:
        diag += ctx.diagnostics()    # shown on failure, or with -v
        try:
            left = ctx.cleanup()
        except Exception as e:
            left = []
            diag.append("cleanup: %s" % e)
    if left:
        ctx.note("killed processes left behind: %s" % left)
    res = {"ok": ok, "reason": reason, "elapsed": time.monotonic() - t0,
           "notes": ctx.notes, "diag": diag}
    sys.stdout.write("\n" + RESULT + json.dumps(res) + "\n")
    sys.stdout.flush()


def spawn_one(name, fn, verbose):
    """In the parent: run one test in a child; returns (ok, line, extra lines)."""
    token = "%d-%s" % (os.getpid(), name)
    timeout = getattr(fn, "timeout", DEFAULT_TIMEOUT)
    t0 = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--one", name, "--token", token],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        cwd=harness.ROOT)
    try:
        out, _ = child.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = child.communicate()
    # Whatever the child could not clean up.
    left = harness.kill_with_token(token)
    elapsed = time.monotonic() - t0
    text = out.decode("utf-8", "replace")
    res = None
    other = []
    for line in text.splitlines():
        if line.startswith(RESULT):
            try:
                res = json.loads(line[len(RESULT):])
            except ValueError:
                pass
        elif line.strip():
            other.append(line)
    extra = []
    if timed_out:
        ok, line = False, "FAIL %s: timed out after %.0fs (the test hung; killed)" % (name, timeout)
        extra += other[-30:]
    elif res is None:
        ok = False
        line = "FAIL %s: test process ended without a result (status %s)" % (name, child.returncode)
        extra += other[-30:]
    else:
        ok = res["ok"]
        if ok:
            line = "PASS %s (%.1fs)" % (name, res["elapsed"])
        else:
            line = "FAIL %s: %s" % (name, res["reason"])
        extra += ["note: " + n for n in res["notes"]]
        if not ok or verbose:
            extra += res["diag"] + other[-30:]
    if left:
        extra.append("note: runner killed processes left behind: %s" % left)
    return ok, line, extra, elapsed


def main():
    ap = argparse.ArgumentParser(description="lameduck integration tests")
    ap.add_argument("filters", nargs="*", help="run tests whose name contains one of these")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="tests run at once (default 1)")
    ap.add_argument("-v", "--verbose", action="store_true", help="show notes and output of passing tests")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--token", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.one:
        run_one(args.one, args.token)
        return 0

    tests = [(n, f) for n, f in discover()
             if not args.filters or any(s in n for s in args.filters)]
    if args.list:
        for n, _ in tests:
            print(n)
        return 0
    if not tests:
        print("no test matches %s" % " ".join(args.filters), file=sys.stderr)
        print("0 passed, 0 failed")
        return 1
    if not os.path.exists(harness.SHIM):
        print("warning: %s is missing: run `make` first" % harness.SHIM, file=sys.stderr)

    passed = failed = 0
    lock = threading.Lock()
    # A test marked `alone` (it measures something another test's load would
    # disturb) runs after the others, by itself.
    queue = [t for t in tests if not getattr(t[1], "alone", False)]
    alone = [t for t in tests if getattr(t[1], "alone", False)]

    def worker():
        nonlocal passed, failed
        while True:
            with lock:
                if not queue:
                    return
                name, fn = queue.pop(0)
            ok, line, extra, _ = spawn_one(name, fn, args.verbose)
            with lock:
                if ok:
                    passed += 1
                else:
                    failed += 1
                print(line)
                for e in extra:
                    print("    " + e)
                sys.stdout.flush()

    workers = [threading.Thread(target=worker) for _ in range(max(1, args.jobs))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    queue = alone
    worker()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
