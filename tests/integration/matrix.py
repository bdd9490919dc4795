"""Rows of the compatibility matrix (README, "Compatibility").

Each test_matrix_* case puts one real server behind HAProxy under load,
sends SIGTERM to one of its two instances and, once every assertion held,
records what it ran and what the client saw with record(). The rows land in
build/matrix/<server>.json; `python3 tests/integration/matrix.py` prints
them as the README's table (`make matrix` runs the cases, then prints it).
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DIR = os.path.join(ROOT, "build", "matrix")

COLUMNS = ("server", "version", "delay", "variables", "client", "requests", "failed", "exit")


def version_of(argv, pick=None):
    """The first line of `argv`'s output (stdout, else stderr), or the line
    that contains `pick`; '?' if it cannot be run."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return "? (%s)" % e
    lines = [l.strip() for l in (p.stdout + "\n" + p.stderr).splitlines() if l.strip()]
    if pick is not None:
        lines = [l for l in lines if pick in l] or lines
    return lines[0] if lines else "?"


def dpkg_version(pkg):
    """Debian's version of an installed package, '?' if not installed."""
    try:
        p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                           text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return p.stdout.strip() or "?"


def record(server, version, variables, client, requests, failed, exit, delay=1):
    """Writes one row. variables: the LAMEDUCK_* settings beyond the test's
    DELAY/DRAIN_TIMEOUT (a dict, {} if none); client: the load and the
    balancer's mode; failed: requests the client saw fail; exit: how the
    signalled instance's main process ended; delay: LAMEDUCK_DELAY, whole
    seconds."""
    os.makedirs(DIR, exist_ok=True)
    row = dict(server=server, version=version, delay="%ds" % delay, client=client,
               requests=int(requests),
               failed=int(failed), exit=exit,
               variables=" ".join("LAMEDUCK_%s=%s" % kv for kv in sorted(variables.items()))
               or "-")
    slug = "".join(c if c.isalnum() else "-" for c in server.lower())
    with open(os.path.join(DIR, slug + ".json"), "w") as f:
        json.dump(row, f, indent=1)


def table(rows):
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        out.append("| " + " | ".join(str(r.get(c, "1s")).replace("|", "\\|") for c in COLUMNS) +
                   " |")
    return "\n".join(out)


def main():
    if not os.path.isdir(DIR):
        sys.exit("no rows in %s: run `make matrix` (or the test_matrix_* cases) first" % DIR)
    rows = []
    for fn in sorted(os.listdir(DIR)):
        if fn.endswith(".json"):
            with open(os.path.join(DIR, fn)) as f:
                rows.append(json.load(f))
    print(table(rows))


if __name__ == "__main__":
    main()
