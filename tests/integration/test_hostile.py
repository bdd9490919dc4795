"""Hostile clients of the health port, and signal storms (issue 6, items 3
and 4).

A. slow_epoll (PORT 0: answers at once) under the shim serves wrk
   (`-t1 -c8`) while tests/progs/storm_health attacks the health port for
   the length of the wrk run: a thousand idle connections, slowloris
   clients, garbage (random binary, a TLS ClientHello, NULs, ...), headers
   over the 8 KiB limit, a request every millisecond. Asserted for each:
   - fresh-client GET /readyz and GET /livez, every 100 ms through the
     attack, are all answered 200 `ok` within PROBE_BOUND (the target is
     100 ms; CI is noisy; the measured maximum is in a note);
   - the attack gets what the limits promise (cut after 2 s, at most 64
     clients held, 400/431 then close);
   - the program's descriptors (/proc/PID/fd) come back to their count
     before the attack once the health port has cut its clients;
   - the program never crashes, wrk sees no error, and the lifecycle still
     works after the attack (SIGTERM: /readyz 503, death by SIGTERM);
   - wrk's requests/s during the attack against the same run without it,
     before and after (the ratio to their mean is noted; asserted only
     >= RPS_FLOOR against the slower of the two, since CI machines are
     shared and noisy: the accurate figure belongs in `make bench`).
   Every check is made and the failures are reported together, so that one
   finding does not hide the others. Besides: /metrics every millisecond
   (each one a scan of the process's descriptors) must never take the
   descriptor number the program's next open() would get.

B. Signal storms and odd programs (tests/progs/storm_*.c): a thousand
   SIGTERMs in a tight loop; fork() in a tight loop across the lame duck
   and the delivery, each child checking that it reads the program's
   handler and holds none of the lifecycle's descriptors (and a
   fork-per-connection server's thousand children
   that must not crowd out the one in flight); a handler replaced during the
   delay (by another handler, SIG_DFL, SIG_IGN); threads racing sigaction()
   for SIGTERM, SIGINT and SIGUSR1 while SIGTERM comes; the same tighter;
   and fork() while other threads are inside sigaction(). Each: no crash
   (the exit status expected), no hang (bounded), exactly one delivery.

Measured figures go to notes, which the runner always prints.
"""
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import threading
import time

from harness import PROGS, check, children_of, fields, http, log_of, now, proc_status, wait_for
from pods import parse_wrk

PROBE_TARGET = 0.100    # what the health port should manage under attack
PROBE_BOUND = 0.300     # asserted: generous for CI
PROBE_EVERY = 0.1
RPS_TARGET = 0.95       # reported only
RPS_FLOOR = 0.5         # asserted: CI is noisy
WRK_SECS = 3
ATTACK_MS = 2700        # within the wrk run
FD_RETURN_BOUND = 5.0   # the health port cuts a client 2 s after it came
HEALTH_CUT = 2.0
CUT_BOUND = 2.6         # a client must be gone by then (the cut + CI noise)
MAX_CLIENTS = 64
HEALTH_BACKLOG = 1024    # shim/health.h LD_HEALTH_BACKLOG
PACE_US = 2500          # garbage and big: 400 new connections a second at most
WRK_CONNS = 8


# ---------------------------------------------------------------- helpers

def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def thread_cpu(pid):
    """{tid: utime+stime in seconds} of the process's threads."""
    hz = os.sysconf("SC_CLK_TCK")
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                st = f.read()
        except OSError:
            continue
        fl = st[st.rfind(")") + 2:].split()
        out[int(tid)] = (int(fl[11]) + int(fl[12])) / hz
    return out


def stable_fds(p, timeout=5.0):
    """The process's descriptor count once it has held still for 150 ms."""
    seen = []

    def still():
        seen.append(fd_count(p.pid))
        check(seen[-1] is not None, "%s is gone (%s)" % (p.name, p.status_text()))
        return seen[-1] if len(seen) >= 4 and len(set(seen[-4:])) == 1 else None
    return wait_for(still, timeout, "the descriptor count of %s to settle" % p.name, interval=0.05)


def spawn_wrk(t, port, secs):
    return t.spawn(["wrk", "-t1", "-c%d" % WRK_CONNS, "-d%ds" % secs, "--timeout", "2s",
                    "http://127.0.0.1:%d/" % port], shim=False, name="wrk")


def wrk_result(wrk, secs):
    wrk.wait_exit(secs + 15)
    out = "\n".join(wrk.out_lines())
    res = parse_wrk(out)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    check(m is not None, "no Requests/sec in wrk's output:\n%s" % out)
    res["rps"] = float(m.group(1))
    res["out"] = out
    return res


def wrk_errors(res):
    return res["connect"] + res["read"] + res["write"] + res["timeout"] + res["non2xx"]


class Prober(threading.Thread):
    """Fresh-client GET /readyz and /livez in turn every PROBE_EVERY s until
    stopped; each: (t, path, status, body or error, seconds). Samples the
    program's descriptor count between probes."""

    def __init__(self, hport, pid):
        super().__init__(daemon=True)
        self.hport, self.pid = hport, pid
        self.results = []
        self.fds = []
        self.halt = threading.Event()
        self.start()

    def run(self):
        i = 0
        while not self.halt.is_set():
            path = ("/readyz", "/livez")[i % 2]
            t0 = now()
            try:
                r = http(self.hport, path, timeout=1.0)
                self.results.append((t0, path, r.status, r.text, r.elapsed))
            except OSError as e:
                self.results.append((t0, path, None, "%s: %s" % (type(e).__name__, e),
                                     now() - t0))
            n = fd_count(self.pid)
            if n is not None:
                self.fds.append(n)
            i += 1
            self.halt.wait(PROBE_EVERY)

    def stop(self):
        self.halt.set()
        self.join(5)


def storm_kinds(f, names):
    """{kind: (sent, 400s, 431s, other answers, no answer, longest life ms)}"""
    out = {}
    for k in names:
        check(k in f, "storm_health reported no %r: %r" % (k, f))
        out[k] = tuple(int(x) for x in f[k].split("/"))
    return out


def lifecycle_still_works(t, p, hport, problems):
    """After the attack: SIGTERM turns /readyz 503 `lameduck`, and the
    program (no handler) dies by SIGTERM after the delay and the drain."""
    if not p.alive():
        problems.append("slow_epoll is gone (%s) before the final SIGTERM; log:\n%s" %
                        (p.status_text(), log_of(p)))
        return
    t_sig = p.signal(signal.SIGTERM)
    try:
        t.wait_health(hport, 503, body="lameduck", timeout=2.0, proc=p)
    except Exception as e:
        problems.append("after the attack, /readyz did not turn 503 lameduck on SIGTERM: %s" % e)
    if not p.done.wait(10):
        problems.append("after the attack, slow_epoll still runs 10s after SIGTERM (delay 0.3s,"
                        " drain timeout 2s); log:\n%s" % log_of(p))
        return
    rc, t_exit = p.wait_exit(1)
    if rc != -signal.SIGTERM:
        problems.append("after the attack, slow_epoll ended with %s on SIGTERM, expected death "
                        "by SIGTERM; log:\n%s" % (p.status_text(), log_of(p)))
    else:
        t.note("after the attack: SIGTERM -> death by SIGTERM in %.2fs (delay 0.3s)" %
               (t_exit - t_sig))


def attack(t, mode, judge, n=None, pace_us=None, rps_floor=RPS_FLOOR):
    """The health-port attack `mode` of storm_health during a wrk run
    against slow_epoll, between two wrk runs without it. judge(storm's
    figures, problems) adds the mode's own findings to problems."""
    check(shutil.which("wrk"), "wrk is not installed (tests/deps.sh installs it)")
    port, hport = t.port(), t.port()
    p = t.prog("slow_epoll", port, 0, health=hport, DELAY="300ms", DRAIN_TIMEOUT="2s")
    t.start_ready(p, hport)
    fd0 = stable_fds(p)
    problems = []

    base1 = wrk_result(spawn_wrk(t, port, WRK_SECS), WRK_SECS)

    wrk = spawn_wrk(t, port, WRK_SECS)
    time.sleep(0.1)
    args = [hport, mode, ATTACK_MS] + ([n] if n is not None else []) + \
        ([pace_us] if pace_us is not None else [])
    cpu0 = thread_cpu(p.pid)
    t_start = now()
    storm = t.prog("storm_health", *args, shim=False)
    time.sleep(0.1)
    prober = Prober(hport, p.pid)
    storm.wait_exit(ATTACK_MS / 1000.0 + 10)
    t_end = now()
    cpu1 = thread_cpu(p.pid)
    prober.stop()
    under = wrk_result(wrk, WRK_SECS)
    check(storm.returncode == 0 and storm.out_lines(),
          "storm_health failed (%s): %s" % (storm.status_text(), storm.tail()))
    f = fields(storm.out_lines()[-1])
    t.note("%s: storm_health: %s" % (mode, storm.out_lines()[-1]))
    span = t_end - t_start
    shim_cpu = sum(cpu1[k] - cpu0[k] for k in cpu1 if k in cpu0 and k != p.pid)
    main_cpu = cpu1.get(p.pid, 0) - cpu0.get(p.pid, 0)
    t.note("%s: CPU over the %.1fs attack: the shim's thread %.2fs (%.0f%% of a core), the "
           "program's %.2fs, the attacker's %.2fs" %
           (mode, span, shim_cpu, 100 * shim_cpu / span, main_cpu,
            int(f.get("cpu_ms", 0)) / 1000.0))

    # Descriptors: back to the count before the attack, once the health
    # port has cut what it held.
    fd1, t_back = None, None
    while now() < t_end + FD_RETURN_BOUND:
        fd1 = fd_count(p.pid)
        if fd1 is None or fd1 == fd0:
            t_back = now()
            break
        time.sleep(0.05)
    if fd1 is None:
        problems.append("slow_epoll died during the attack (%s); log:\n%s" %
                        (p.status_text(), log_of(p)))
    elif t_back is None:
        problems.append("descriptors: %d before the attack, still %d %.1fs after it ended "
                        "(a leak)" % (fd0, fd1, FD_RETURN_BOUND))
    else:
        t.note("%s: descriptors %d before, %d during at most, back to %d %.2fs after the "
               "attack ended" % (mode, fd0, max(prober.fds or [fd0]), fd0, t_back - t_end))
    max_fds = max(prober.fds or [fd0])
    if max_fds > fd0 + WRK_CONNS + MAX_CLIENTS + 2:
        problems.append("the program held %d descriptors during the attack: %d before, + %d wrk"
                        " connections + at most %d health clients" %
                        (max_fds, fd0, WRK_CONNS, MAX_CLIENTS))

    base2 = wrk_result(spawn_wrk(t, port, WRK_SECS), WRK_SECS) if p.alive() else None

    # Probes.
    res = prober.results
    bad = [r for r in res if r[2] != 200 or r[3] != "ok"]
    times = sorted(r[4] for r in res if r[2] == 200)
    if times:
        t.note("%s: %d fresh-client probes (/readyz, /livez) during the attack: %d answered 200 "
               "ok, max %.1f ms, median %.1f ms (target %.0f ms, bound %.0f ms)" %
               (mode, len(res), len(res) - len(bad), times[-1] * 1000,
                statistics.median(times) * 1000, PROBE_TARGET * 1000, PROBE_BOUND * 1000))
    if len(res) < 10:
        problems.append("only %d probes during the attack" % len(res))
    if bad:
        t0 = res[0][0]
        problems.append(
            "%d of %d fresh-client probes during the %s attack were not answered 200 ok, from "
            "%.2fs to %.2fs into the probing; first: GET %s -> %s %r after %.1f ms" %
            (len(bad), len(res), mode, bad[0][0] - t0, bad[-1][0] - t0, bad[0][1],
             bad[0][2], bad[0][3][:100], bad[0][4] * 1000))
    slow = [r for r in res if r[2] == 200 and r[4] > PROBE_BOUND]
    if slow:
        problems.append("%d probes answered only after more than %.0f ms (max %.1f ms)" %
                        (len(slow), PROBE_BOUND * 1000, max(r[4] for r in slow) * 1000))

    # wrk: no error, under attack or not.
    for what, r in (("before", base1), ("during the attack", under), ("after", base2)):
        if r is None:
            continue
        if wrk_errors(r) or r["requests"] < 1000:
            problems.append("wrk %s: %d requests, errors connect %d read %d write %d timeout %d, "
                            "non-2xx %d:\n%s" % (what, r["requests"], r["connect"], r["read"],
                                                 r["write"], r["timeout"], r["non2xx"], r["out"]))
    if base2 is not None:
        # Against the mean of the runs before and after (noted), and, for
        # the loose assertion, against the slower of them: a neighbour's
        # load on a shared CI machine can halve one run by itself.
        ref = (base1["rps"] + base2["rps"]) / 2
        ratio = under["rps"] / ref if ref else 0
        lenient = under["rps"] / min(base1["rps"], base2["rps"]) if ref else 0
        t.note("%s: requests/s during the attack %.0f, without it %.0f before and %.0f after: "
               "ratio %.3f to their mean, %.3f to the slower (target >= %.2f, asserted >= %.2f"
               " to the slower)" % (mode, under["rps"], base1["rps"], base2["rps"], ratio,
                                    lenient, RPS_TARGET, rps_floor))
        if lenient < rps_floor:
            problems.append("requests/s during the attack %.0f, %.2f of the slower run without it"
                            " (%.0f before, %.0f after)" %
                            (under["rps"], lenient, base1["rps"], base2["rps"]))

    judge(f, problems)
    lifecycle_still_works(t, p, hport, problems)
    check(not problems, "%s attack:\n  - %s" % (mode, "\n  - ".join(problems)))


# ---------------------------------------------------------------- A: the health port

def test_hostile_health_idle_1000(t):
    """A thousand connections to the health port, opened at once and held
    without a byte: the port takes them all at once (its listen queue holds
    1024, and a burst empties it), holds at most 64 and closes the rest,
    cuts the 64 after 2 s, and answers fresh probes all along."""
    def judge(f, problems):
        conns, closed, still = int(f["conns"]), int(f["closed"]), int(f["still_open"])
        if conns != 1000:
            problems.append("storm_health opened %d connections, not 1000" % conns)
        # Every one reaches the port: with a queue shorter than the attack
        # the kernel drops the overflow's handshakes (and a probe's SYN with
        # them: a second's wait for its retry). Those it held it must have
        # cut by now (2 s < the attack's 2.7 s). A kernel whose somaxconn
        # caps the queue below the attack can only promise the cut ones.
        with open("/proc/sys/net/core/somaxconn") as fh:
            somaxconn = int(fh.read())
        if somaxconn >= HEALTH_BACKLOG and (closed != conns or still):
            problems.append("%d of %d idle connections were closed by the health port, %d "
                            "still open after %.1fs (its queue holds %d: all should be taken "
                            "and cut)" % (closed, conns, still, ATTACK_MS / 1000.0,
                                          HEALTH_BACKLOG))
        elif closed < MAX_CLIENTS:
            problems.append("only %d of %d idle connections were closed by the health port "
                            "(%d still open after %.1fs; somaxconn %d)" %
                            (closed, conns, still, ATTACK_MS / 1000.0, somaxconn))
        if int(f["max_life_ms"]) > CUT_BOUND * 1000:
            problems.append("an idle client was held %s ms (cut after 2 s expected)" %
                            f["max_life_ms"])
    attack(t, "idle", judge, 1000)


test_hostile_health_idle_1000.timeout = 90


def test_hostile_health_slowloris(t):
    """8 slowloris clients, a byte each every 300 ms, reconnecting when cut:
    each is cut 2 s after it began (not after its last byte)."""
    def judge(f, problems):
        if int(f["closed"]) < 8:
            problems.append("only %s slowloris connections were cut in %.1fs (8 expected at 2 s)"
                            % (f["closed"], ATTACK_MS / 1000.0))
        if int(f["max_life_ms"]) > CUT_BOUND * 1000:
            problems.append("a slowloris client was held %s ms (cut at 2 s expected)" %
                            f["max_life_ms"])
        if int(f["min_life_ms"]) < (HEALTH_CUT - 0.3) * 1000:
            problems.append("a slowloris client was cut after %s ms, before the 2 s" %
                            f["min_life_ms"])
    attack(t, "slowloris", judge, 8)


test_hostile_health_slowloris.timeout = 90


def test_hostile_health_garbage(t):
    """8 clients sending garbage, over and over (400 new connections a
    second at most): random binary, a TLS ClientHello, 4 KiB of NULs,
    binary ending in an empty line, a request line with a NUL: each 400
    then close at once. 9000 bytes of empty lines: 431 or 400; 6000 bytes
    of them (which HTTP lets a server skip before a request): answered, or
    cut by the 2 s limit."""
    def judge(f, problems):
        kinds = storm_kinds(f, ["random", "tls", "nul", "crlf", "crlf9k", "binend", "nulline"])
        for k, (sent, s400, s431, other, none, longest) in kinds.items():
            done = s400 + s431 + other + none
            if k == "crlf":
                if other or longest > CUT_BOUND * 1000:
                    problems.append("crlf flood: %d other answers, held %d ms" % (other, longest))
                continue
            if k == "crlf9k":
                if done == 0 or s400 + s431 != done:
                    problems.append("%s: %d completed: %d 400, %d 431, %d other, %d without an "
                                    "answer (431 or 400 expected)" %
                                    (k, done, s400, s431, other, none))
                continue
            if done == 0:
                problems.append("%s: none of %d connections completed" % (k, sent))
            elif s400 != done:
                problems.append("%s: %d sent, %d completed: %d 400, %d 431, %d other, %d without"
                                " an answer (400 then close expected)" %
                                (k, sent, done, s400, s431, other, none))
            elif longest > 1000:
                problems.append("%s: a 400 took %d ms to come with its close" % (k, longest))
    attack(t, "garbage", judge, 8, PACE_US)


test_hostile_health_garbage.timeout = 90


def test_hostile_health_big_headers(t):
    """2 clients sending requests over the 8 KiB limit, over and over (400
    a second at most; one header of 9, 16, 64 or 256 KiB, or 300 headers
    of 40 bytes): each refused with 431 (or 400), then closed, never reset
    before the answer."""
    def judge(f, problems):
        kinds = storm_kinds(f, ["big9k", "big16k", "big64k", "big256k", "many"])
        for k, (sent, s400, s431, other, none, longest) in kinds.items():
            done = s400 + s431 + other + none
            if done == 0:
                problems.append("%s: none of %d connections completed" % (k, sent))
            elif s400 + s431 != done:
                problems.append("%s: %d completed: %d 400, %d 431, %d other, %d without an answer"
                                " (431 or 400 expected)" % (k, done, s400, s431, other, none))
            if longest > CUT_BOUND * 1000:
                problems.append("%s: a connection lasted %d ms" % (k, longest))
    attack(t, "big", judge, 2, PACE_US)


test_hostile_health_big_headers.timeout = 90


ACCEPT_RATE = 2000      # shim/health.h: new health connections a second, at most,
ACCEPT_BURST = 1024     #   with bursts of a full listen queue (LD_HEALTH_BACKLOG)


def test_hostile_health_reconnect_flood(t):
    """8 clients sending oversized requests and reconnecting as fast as they
    can (no pacing: without the shim's accept rate they make well over
    10 000 connections a second here): the health port takes at most its
    rate (2000 a second, bursts of 200; +10 %% for timing), keeps taking
    them at a fair share of it, answers each 431 or 400, and the fresh
    probes all the same (attack() checks them)."""
    secs = ATTACK_MS / 1000.0

    def judge(f, problems):
        conns = int(f["conns"])
        most = (ACCEPT_RATE * secs + ACCEPT_BURST) * 1.1
        t.note("flood: %d connections in %.1fs (the rate allows %.0f)" %
               (conns, secs, ACCEPT_RATE * secs + ACCEPT_BURST))
        if conns > most:
            problems.append("%d connections taken in %.1fs: over the accept rate (%d a second,"
                            " bursts of %d)" % (conns, secs, ACCEPT_RATE, ACCEPT_BURST))
        if conns < 0.15 * ACCEPT_RATE * secs:
            problems.append("only %d connections taken in %.1fs: the port fell far below its"
                            " rate" % (conns, secs))
        kinds = storm_kinds(f, ["big9k", "big16k", "big64k", "big256k", "many"])
        for k, (sent, s400, s431, other, none, longest) in kinds.items():
            if other or none:
                problems.append("%s: %d answers other than 400/431, %d without an answer" %
                                (k, other, none))
    # The flood pushes oversized headers (up to 256 KiB each) over loopback
    # as fast as the port takes them: the machine loses as much throughput
    # when it is aimed at another process (make bench), so the floor here
    # is the machine's, not the shim's.
    attack(t, "big", judge, 8, 0, rps_floor=0.3)


test_hostile_health_reconnect_flood.timeout = 90


def test_hostile_health_request_per_ms(t):
    """A well-formed GET /readyz on a new connection every millisecond, open
    loop: every one answered 200, and the fresh probes too."""
    def judge(f, problems):
        conns, s200 = int(f["conns"]), int(f.get("s200", 0))
        t_note = "rate: %d requests in %.1fs, %d answered 200, %s capped, max latency %s ms" % (
            conns, ATTACK_MS / 1000.0, s200, f["capped"], f["max_latency_ms"])
        if conns < 0.8 * ATTACK_MS:
            problems.append("the attack itself fell behind (%s)" % t_note)
        if int(f["noanswer"]) or s200 != int(f["closed"]):
            problems.append("requests of the attack not answered 200: %s" % f)
    attack(t, "rate", judge)


test_hostile_health_request_per_ms.timeout = 90


# ---------------------------------------------------------------- B: signal storms

def start(t, prog, *args, stdin=subprocess.DEVNULL, **lameduck):
    port, hport = t.port(), t.port()
    p = t.prog(prog, port, *args, health=hport, stdin=stdin, **lameduck)
    t.start_ready(p, hport)
    return p, hport, port


def deliveries(p):
    return [l for l in p.shim_lines() if "delivering" in l]


def test_hostile_sigterm_storm(t):
    """A thousand SIGTERMs in a tight loop, LAMEDUCK_DELAY=1s: the second
    one skips the delay, so the program's handler runs at once, exactly
    once at its wake-up; no crash, no hang; the program then exits by its
    own choice with the count (1). The shim logs the storm in a few lines."""
    p, hport, _ = start(t, "storm_term", DELAY="1s", DRAIN_TIMEOUT="5s")
    sent = 0
    t0 = now()
    # Standard signals do not queue: on a loaded machine the whole storm can
    # land while the first is still pending and count as one. Send the rest
    # once the shim has taken the first (503), as an impatient operator would.
    os.kill(p.pid, signal.SIGTERM)
    sent += 1
    t.wait_health(hport, 503, proc=p)
    for _ in range(999):
        try:
            os.kill(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            break
        sent += 1
    t_storm = now() - t0
    line_t, line = p.wait_out(lambda l: l.startswith("delivered "), 5,
                              what="its 'delivered count=N' line")
    rc, _ = p.wait_exit(5)
    after = line_t - t0
    out = p.out_lines()
    t.note("%d SIGTERMs sent in %.1f ms; the handler ran %.1f ms after the first (delay 1s); "
           "%s; then %s" % (sent, t_storm * 1000, after * 1000, line, out[-1]))
    check(sent == 1000, "the program was gone after %d SIGTERMs (%s); log:\n%s" %
          (sent, p.status_text(), log_of(p)))
    check(line == "delivered count=1", "at its wake-up the program's handler had run: %r" % line)
    check(rc == 1, "%s: expected exit status 1 (its own exit with the count); stdout %r; log:\n%s"
          % (p.status_text(), out, log_of(p)))
    check(after < 0.5, "the handler ran %.2fs after the first SIGTERM: the second did not skip "
          "the 1 s delay; log:\n%s" % (after, log_of(p)))
    log = p.shim_lines()
    check(len(deliveries(p)) == 1, "the shim delivered %d times:\n%s" %
          (len(deliveries(p)), log_of(p)))
    check(any("skipping the rest" in l for l in log),
          "the log does not say the second SIGTERM skipped the delay:\n%s" % log_of(p))
    check(len(log) <= 10, "the shim logged %d lines for the storm (a flood):\n%s" %
          (len(log), "\n".join(log[:15])))


def test_hostile_sigterm_during_fork(t):
    """A program forking in a tight loop through the 1 s delay and the
    delivery, each child checking that sigaction() reads the program's
    handler (one in 64 also that it holds none of the lifecycle's
    descriptors) and ending at once: the handler runs exactly once, in the
    parent; no child runs it or hangs or reads another action; every child
    is reaped by the program itself by its pid (the shim reaps none); no
    zombie is left. A fork() has to straddle the delivery's few
    microseconds to catch a child reading the shim's action, so a run
    catches that one only now and then (about one in 15 here)."""
    p, hport, _ = start(t, "storm_fork", "plain", DELAY="1s", DRAIN_TIMEOUT="5s")
    time.sleep(0.2)
    t_sig = p.signal(signal.SIGTERM)
    t.wait_health(hport, 503, timeout=2.0, proc=p)
    t_reaped, line = p.wait_out(lambda l: l.startswith("reaped "), 15, what="'reaped forks=N'")
    kids = children_of(p.pid)
    states = ["%d %s" % (k, proc_status(k, "State")) for k in kids]
    rc, _ = p.wait_exit(5)
    result = ([l for l in p.out_lines() if l.startswith("count=")] or ["(no count= line)"])[0]
    res = fields(result)
    t.note("%s; %s, %.2fs after SIGTERM (delay 1s + 0.2s more forking)" %
           (result, line, t_reaped - t_sig))
    check(not kids, "children left while the program had reaped its own: %s" % states)
    check(res.get("count") == "1" and res.get("child_runs") == "0",
          "handler runs: parent %s, children %s" % (res.get("count"), res.get("child_runs")))
    check(int(res.get("forks", 0)) >= 100, "only %s forks: the storm proved little" %
          res.get("forks"))
    check(res.get("reap_err") == "0", "waitpid() on %s of the program's own children failed "
          "(someone else reaped them)" % res.get("reap_err"))
    check(res.get("hung") == "0", "%s children hung (SIGKILLed after 2 s)" % res.get("hung"))
    check(res.get("bad_query") == "0",
          "%s children read a SIGTERM action that is not the program's: %s -- a fork() that "
          "straddles the delivery copies the kernel's actions (still the shim's) before the "
          "memory where the shim has already marked them the program's" %
          (res.get("bad_query"), [l for l in p.out_lines() if l.startswith("first bad query")]))
    check(res.get("stray_fds") == "0", "%s children of %s checked held descriptors of the "
          "parent's lifecycle: %s" % (res.get("stray_fds"), int(res.get("forks", 0)) // 64,
                                      [l for l in p.out_lines() if l.startswith("first stray")]))
    if res.get("scan_fds") != "0":
        # Known: the shim scans /proc/self/fd with a descriptor of the
        # lowest free number (test_hostile_metrics_flood_fd_numbers).
        t.note("%s children inherited the shim's scan of /proc/PID/fd, open at the fork: %s" %
               (res.get("scan_fds"), [l for l in p.out_lines() if l.startswith("scan handle")]))
    check(rc == 0, "storm_fork: %s: %r; stderr %r; log:\n%s" %
          (p.status_text(), p.out_lines()[-3:], p.err_lines()[-5:], log_of(p)))
    check(t_reaped - t_sig >= 1.0 + 0.2 - 0.05, "delivered %.2fs after SIGTERM, before the 1 s "
          "delay was over" % (t_reaped - t_sig - 0.2))
    check(len(deliveries(p)) == 1, "the shim delivered %d times:\n%s" %
          (len(deliveries(p)), log_of(p)))


test_hostile_sigterm_during_fork.timeout = 40


def test_hostile_fork_storm_conn_child(t):
    """A fork-per-connection server (it has accepted a connection, so each
    child counts as a request in flight) forks a thousand children that end
    at once, then one that works 1.5 s: SIGTERM (delay 200 ms) must still
    wait for that one -- the thousand ended children must not have crowded
    it out of the shim's table -- so the handler runs after it ended."""
    p, hport, port = start(t, "storm_fork", "conn", 1000, DELAY="200ms", DRAIN_TIMEOUT="5s")
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    p.wait_out("slow child", 20)
    p.signal(signal.SIGTERM)
    _, line = p.wait_out(lambda l: l.startswith("order="), 15, what="its order= line")
    rc, _ = p.wait_exit(5)
    t.note("%s; log: %s" % (line, " | ".join(l.split(": ", 1)[-1] for l in p.shim_lines()
                                             if "draining" in l or "drained" in l)))
    check(rc == 0, "storm_fork: %s; %s" % (p.status_text(), p.tail()))
    res = fields(line)
    check(res["order"] == "child_first",
          "the handler ran at %s ms, before the child in flight ended (%s ms): the drain did not"
          " wait for it after %s forks; log:\n%s" % (res["signal_ms"], res["child_ms"],
                                                     res["quick"], log_of(p)))


test_hostile_fork_storm_conn_child.timeout = 40


def swap(t, mode):
    p, hport, _ = start(t, "storm_swap", mode, 2500, stdin=subprocess.PIPE, DELAY="1s",
                        DRAIN_TIMEOUT="5s")
    t_sig = p.signal(signal.SIGTERM)
    t.wait_health(hport, 503, body="lameduck", timeout=2.0, proc=p)
    p.popen.stdin.write(b"swap\n")
    p.popen.stdin.flush()
    t_swap, line = p.wait_out(lambda l: l.startswith("swapped "), 3, what="its 'swapped' line")
    check(t_swap - t_sig < 0.9, "the swap came %.2fs after SIGTERM, too near the end of the 1 s "
          "delay to prove anything" % (t_swap - t_sig))
    want_q = {"handler": "B", "dfl": "DFL", "ign": "IGN"}[mode]
    check(line == "swapped old=A query=%s" % want_q,
          "%s: the swap read %r, expected old=A query=%s" % (mode, line, want_q))
    return p, t_sig, t_swap


def test_hostile_handler_swapped_during_delay(t):
    """The program replaces its SIGTERM handler A by B during the delay
    (after SIGTERM came): B runs at delivery, once; A never."""
    p, t_sig, t_swap = swap(t, "handler")
    t_res, line = p.wait_out(lambda l: l.startswith("a="), 5, what="its a= b= line")
    rc, _ = p.wait_exit(5)
    t.note("swapped %.2fs after SIGTERM; %s at %.2fs (delay 1s, then 0.3s of the program's)" %
           (t_swap - t_sig, line, t_res - t_sig))
    check(line == "a=0 b=1", "handler runs: %s (B once, A never expected); log:\n%s" %
          (line, log_of(p)))
    check(rc == 0, "storm_swap: %s; %s" % (p.status_text(), p.tail()))
    check(t_res - t_sig >= 1.0 + 0.3 - 0.05, "delivered before the 1 s delay was over (%.2fs)" %
          (t_res - t_sig - 0.3))


def test_hostile_handler_swapped_to_default(t):
    """A handler replaced by SIG_DFL during the delay: the delivery ends the
    process by SIGTERM (the default action), after the delay."""
    p, t_sig, _ = swap(t, "dfl")
    rc, t_exit = p.wait_exit(10)
    t.note("ended %.2fs after SIGTERM (%s)" % (t_exit - t_sig, p.status_text()))
    check(rc == -signal.SIGTERM, "%s, expected death by SIGTERM; %s; log:\n%s" %
          (p.status_text(), p.tail(), log_of(p)))
    check(t_exit - t_sig >= 0.95, "ended %.2fs after SIGTERM, before the 1 s delay" %
          (t_exit - t_sig))


def test_hostile_handler_swapped_to_ignore(t):
    """A handler replaced by SIG_IGN during the delay: the delivery does
    nothing (logged), the program runs on and ends by its own choice."""
    p, t_sig, _ = swap(t, "ign")
    _, line = p.wait_out(lambda l: l.startswith("a="), 8, what="its a= b= line")
    rc, _ = p.wait_exit(5)
    check(line == "a=0 b=0 survived" and rc == 0, "%s (%s); log:\n%s" %
          (line, p.status_text(), log_of(p)))
    check(any("SIG_IGN" in l for l in p.shim_lines()),
          "the log does not say the program ignores SIGTERM:\n%s" % log_of(p))


def sigaction_storm(t, mode, delay):
    p, hport, _ = start(t, "storm_sigaction", mode, DELAY=delay, DRAIN_TIMEOUT="5s")
    time.sleep(0.3)
    t_sig = p.signal(signal.SIGTERM)
    t_res, line = p.wait_out(lambda l: l.startswith("term="), 20, what="its term= line")
    rc, _ = p.wait_exit(5)
    res = fields(line)
    extra = [l for l in p.out_lines() if l.startswith("first ")]
    return p, res, line, rc, t_res - t_sig, extra


def check_sigaction_storm(t, p, res, line, rc, extra, what):
    check(res.get("term") == "1", "%s: SIGTERM handler ran %s times: %s %s; log:\n%s" %
          (what, res.get("term"), line, extra, log_of(p)))
    check(res.get("int") == "0" and res.get("usr1") == "0", "%s: SIGINT or SIGUSR1 handlers ran "
          "(never sent): %s" % (what, line))
    check(res.get("bad") == "0", "%s: %s sigaction() answers were not whole actions the program "
          "installed: %s" % (what, res.get("bad"), extra))
    check(rc == 0, "%s: storm_sigaction %s: %s %s; stderr %r" %
          (what, p.status_text(), line, extra, p.err_lines()[-5:]))
    check(len(deliveries(p)) == 1, "%s: the shim delivered %d times:\n%s" %
          (what, len(deliveries(p)), log_of(p)))


def test_hostile_sigaction_threads(t):
    """4 threads installing handlers for SIGTERM, SIGINT and SIGUSR1 in
    loops (two distinct actions in turn, each read back whole), SIGTERM
    arriving during it, 1 s delay: no crash, no deadlock, exactly one
    SIGTERM delivery, every query consistent."""
    p, res, line, rc, took, extra = sigaction_storm(t, "mixed", "1s")
    t.note("%s; result %.2fs after SIGTERM (delay 1s + 0.3s)" % (line, took))
    check_sigaction_storm(t, p, res, line, rc, extra, "mixed")
    check(took >= 1.0 + 0.3 - 0.05, "delivered before the 1 s delay was over (%.2fs)" % took)


def test_hostile_sigaction_tight(t):
    """6 threads doing nothing but sigaction(SIGTERM) (install and query)
    while SIGTERM comes with no delay, so the shim hands the action over to
    the kernel while they hammer it; three runs. Each: exactly one
    delivery, whole answers, no crash, no hang."""
    for i, delay in enumerate(("0", "0", "300ms")):
        p, res, line, rc, took, extra = sigaction_storm(t, "tight", delay)
        t.note("run %d (delay %s): %s; result %.2fs after SIGTERM" % (i + 1, delay, line, took))
        check_sigaction_storm(t, p, res, line, rc, extra, "run %d (delay %s)" % (i + 1, delay))


test_hostile_sigaction_tight.timeout = 60


def test_hostile_fork_while_sigaction(t):
    """3 threads installing SIGTERM actions in loops while the main thread
    forks, each child setting SIGTERM to SIG_DFL with sigaction() (what a
    child does before exec) and ending at once; SIGTERM arrives meanwhile.
    No child may hang in sigaction() (one whose fork copied a lock another
    thread held would spin there forever with every signal blocked). The
    same program without the shim first, as the control."""
    # The control: the same program without the shim never hangs.
    c = t.spawn([os.path.join(PROGS, "storm_sigaction"), t.port(), "fork"], shim=False,
                name="storm_sigaction-bare")
    c.wait_ready_line()
    time.sleep(1.0)
    c.signal(signal.SIGTERM)
    _, cline = c.wait_out(lambda l: l.startswith("term="), 20, what="its term= line")
    crc, _ = c.wait_exit(5)
    t.note("without the shim: %s (%s)" % (cline, c.status_text()))
    check(crc == 0 and fields(cline).get("hung") == "0",
          "the control without the shim failed (%s): %s %s" %
          (c.status_text(), cline, c.out_lines()[-2:]))

    p, res, line, rc, took, extra = sigaction_storm(t, "fork", "1s")
    t.note("with the shim: %s %s; result %.2fs after SIGTERM" % (line, " ".join(extra), took))
    check(res.get("hung") == "0",
          "%s of %s children hung in sigaction(SIGTERM) after fork() (SIGKILLed after 2 s; %s):"
          " a fork while another thread is inside the shim's sigaction() copies its spin flag "
          "held, and the child spins on it forever with every signal blocked" %
          (res.get("hung"), res.get("forks"), " ".join(extra) or "no detail"))
    check(int(res.get("forks", 0)) >= 50, "only %s forks: the storm proved little" %
          res.get("forks"))
    check_sigaction_storm(t, p, res, line, rc, extra, "fork")


test_hostile_fork_while_sigaction.timeout = 40


def test_hostile_metrics_flood_fd_numbers(t):
    """/metrics requested every millisecond (each one makes the shim scan
    the process's descriptors) while the program opens and closes
    /dev/null in a loop for 2 s: the shim must never take a descriptor
    number the program would get: the health port must not steal a file
    descriptor from the program. The scan must take none; accept()
    of a health client holds the lowest free number for microseconds, which
    no shim thread can avoid (README, limits)."""
    p, hport, _ = start(t, "storm_fdnum", 2000, stdin=subprocess.PIPE, DELAY="1s")
    storm = t.prog("storm_health", hport, "metrics", 2200, shim=False)
    time.sleep(0.1)
    p.popen.stdin.write(b"go\n")
    p.popen.stdin.flush()
    _, line = p.wait_out(lambda l: l.startswith("opens="), 10, what="its opens= line")
    rc, _ = p.wait_exit(5)
    storm.wait_exit(10)
    f = fields(storm.out_lines()[-1]) if storm.out_lines() else {}
    t.note("%s; /metrics: %s answered 200 in %s requests, max latency %s ms" %
           (line, f.get("s200"), f.get("conns"), f.get("max_latency_ms")))
    res = fields(line)
    check(int(f.get("s200", 0)) > 500, "the /metrics flood did not happen: %s" % storm.tail())
    # The scan itself no longer takes a number (its directory is kept open at
    # a high one). What remains is accept(): the kernel gives a new health
    # client the lowest free number for the microseconds before the shim
    # moves it up -- a limit the README states. Before the fix the scan
    # alone took 0.7-1.1 % of the program's numbers. The accept window costs
    # at most about one of the program's open() calls per health connection
    # (measured 0.04-0.5 % of them, 0.5-1 per connection, depending on how
    # fast the machine runs the program's loop): the bound is two per
    # connection answered, or 0.5 %, whichever is larger.
    other, opens = int(res.get("other", -1)), int(res.get("opens", 0))
    bound = max(opens * 0.005, 2 * int(f.get("s200", 0)))
    t.note("open() calls that got another number: %d of %d (%.3f %%)" %
           (other, opens, 100.0 * other / max(opens, 1)))
    # storm_fdnum exits 1 whenever any open() got another number.
    check(rc == (1 if other > 0 else 0) and opens > 0 and 0 <= other <= bound,
          "%s of %s open() calls in the program got descriptor %s instead of %s while /metrics "
          "was scraped: more than the accept() window explains" %
          (res.get("other"), res.get("opens"), res.get("example"), res.get("expected_fd")))


test_hostile_metrics_flood_fd_numbers.alone = True     # a rate, disturbed by other tests
