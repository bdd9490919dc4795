#!/usr/bin/python3
"""make demo: a rolling update on this machine, without lameduck and with it.

HAProxy plays the Service (round robin, no retries, health checks every
200 ms). Three "pods" -- a real, unmodified server, each on a loopback
address of its own -- are replaced one by one the way a Deployment does it
(maxSurge 1, maxUnavailable 0): start the new pod, wait until the balancer
has it UP, SIGTERM an old one, go on. A load client of ours keeps 16
keep-alive connections busy through the balancer the whole time and records
every request. The result is a table and an SVG picture of the rollout.

Only python3's standard library; every process it starts is ended on exit,
on Ctrl-C and on SIGTERM (and, as root, it runs in a PID namespace of its
own, so not even a SIGKILL of the demo leaves one behind).

usage: run.py [--server legacy|nginx|both] [--out DIR]
       run.py --load HOST PORT CONNS T0 MAXSECS OUT.json      (internal)
"""
import argparse
import collections
import fcntl
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from xml.sax.saxutils import escape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
LAUNCHER = os.path.join(BUILD, "lameduck")
SHIM = os.path.join(BUILD, "liblameduck.so")
LEGACY = os.path.join(BUILD, "demo", "legacy_server")

FRONTEND = ("127.0.0.30", 8000)                 # the Service
OLD = ["127.0.0.31", "127.0.0.32", "127.0.0.33"]  # pods of the old ReplicaSet
NEW = ["127.0.0.41", "127.0.0.42", "127.0.0.43"]  # pods of the new one
PORT = 8080                                     # every pod's service port
HEALTH = 8799                                   # every pod's health port (lameduck's)

INTER_MS, FALL, RISE = 200, 2, 1                # HAProxy health checks
DELAY_MS = 1000                                 # LAMEDUCK_DELAY
DRAIN_TIMEOUT = "5s"                            # LAMEDUCK_DRAIN_TIMEOUT
WORK_MS = 4                                     # legacy_server's work per request
CONNS = 16                                      # load client's keep-alive connections
WARM, TAIL = 1.0, 1.0                           # steady load before and after the rollout
MIN_READY = 0.5                                 # the Deployment's minReadySeconds
BUCKET = 0.1                                    # the picture's time resolution
SAMPLE = 0.05                                   # readiness sampling period
RUN_CAP = 25.0                                  # no run lasts longer than this

SERVERS = {
    "legacy": "legacy_server (demo/legacy_server.c: threads, no signal handling, %d ms a request)" % WORK_MS,
    "nginx": "nginx (Debian's nginx-light: master and 1 worker, LAMEDUCK_DELIVER=QUIT)",
}

# ------------------------------------------------------------------ processes


class Procs:
    """Every process the demo starts, each in a session of its own, so that
    killing its process group takes its children (nginx's workers) too."""

    def __init__(self):
        self.procs = []
        self.lock = threading.Lock()

    def spawn(self, argv, log, env=None):
        with open(log, "ab") as f:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                 env=env, start_new_session=True, close_fds=True)
        with self.lock:
            self.procs.append(p)
        return p

    def kill(self, p):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def kill_all(self):
        with self.lock:
            procs, self.procs = self.procs, []
        for p in procs:
            # A process that exited may leave children in its group (nginx's
            # workers after a SIGKILL of the master): the group goes too.
            self.kill(p)


PROCS = Procs()


def on_signal(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


# ------------------------------------------------------------------ probes


def haproxy_cmd(sock, cmd):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(1)
        s.connect(sock)
        s.sendall(cmd.encode() + b"\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data.decode()
            data += chunk


def lb_status(sock):
    """{server: status} of backend `pods`, as HAProxy sees it ("UP", "DOWN", "UP 1/2")."""
    out = haproxy_cmd(sock, "show stat")
    lines = out.splitlines()
    cols = lines[0].lstrip("# ").split(",")
    res = {}
    for ln in lines[1:]:
        row = dict(zip(cols, ln.split(",")))
        if row.get("pxname") == "pods" and row.get("svname") not in ("BACKEND", "FRONTEND"):
            res[row["svname"]] = row.get("status", "?")
    return res


def readyz(addr):
    """The shim's state word from /readyz ("ok", "lameduck", ...), or "off"."""
    try:
        with socket.create_connection((addr, HEALTH), timeout=0.2) as s:
            s.sendall(b"GET /readyz HTTP/1.0\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return "off"
    body = data.partition(b"\r\n\r\n")[2].strip().decode(errors="replace")
    return body or "?"


def port_open(addr, port=PORT):
    try:
        with socket.create_connection((addr, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.01)
    raise RuntimeError("timed out after %.1f s waiting for %s" % (timeout, what))


# ------------------------------------------------------------------ load client


def load_main(host, port, conns, t0, maxsecs, out):
    """Runs CONNS keep-alive HTTP/1.1 clients until stdin closes (or MAXSECS);
    writes per-100 ms counts of good and failed requests to OUT. A request
    fails on any connection error, reset, 2 s timeout or non-2xx status."""
    stop = threading.Event()
    results = []

    def client():
        ok = collections.Counter()
        bad = collections.Counter()
        why = collections.Counter()
        conn = None
        while not stop.is_set():
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=2)
            try:
                conn.request("GET", "/", headers={"Host": "service"})
                r = conn.getresponse()
                r.read()
                b = int((time.monotonic() - t0) / BUCKET)
                if 200 <= r.status < 300:
                    ok[b] += 1
                else:
                    bad[b] += 1
                    why["HTTP %d" % r.status] += 1
                if r.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                b = int((time.monotonic() - t0) / BUCKET)
                bad[b] += 1
                why[type(e).__name__] += 1
                conn.close()
                conn = None
        results.append((ok, bad, why))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(conns)]
    for th in threads:
        th.start()
    watcher = threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True)
    watcher.start()
    stop.wait(maxsecs)
    stop.set()
    for th in threads:
        th.join(5)
    ok, bad, why = collections.Counter(), collections.Counter(), collections.Counter()
    for o, b, w in results:
        ok.update(o)
        bad.update(b)
        why.update(w)
    n = max(list(ok) + list(bad) + [0]) + 1
    with open(out + ".tmp", "w") as f:
        json.dump({"ok": [ok[i] for i in range(n)], "fail": [bad[i] for i in range(n)],
                   "reasons": dict(why)}, f)
    os.rename(out + ".tmp", out)


# ------------------------------------------------------------------ one run

HAPROXY_CFG = """\
global
    maxconn 2000
    nbthread 1
    stats socket {dir}/haproxy.sock mode 600 level admin

defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout check 150ms
    retries 0
    no option redispatch

frontend service
    bind {fe}
    default_backend pods

backend pods
    balance roundrobin
{check}    default-server inter {inter}ms fall {fall} rise {rise}{port}
{servers}
"""

NGINX_CFG = """\
daemon off;
master_process on;
worker_processes 1;
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log notice;
events {{ worker_connections 256; }}
http {{
    access_log off;
    keepalive_requests 100000;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen {addr}:{port};
        location / {{ return 200 "{addr}\\n"; }}
    }}
}}
"""


class Run:
    def __init__(self, server, shim, outdir):
        self.server, self.shim = server, shim
        self.name = "%s-%s" % (server, "lameduck" if shim else "plain")
        self.dir = os.path.join(outdir, "runs", self.name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.pods = ["old%d" % (i + 1) for i in range(3)] + ["new%d" % (i + 1) for i in range(3)]
        self.addr = dict(zip(self.pods, OLD + NEW))
        self.proc = {}
        self.samples = []       # (t, {pod: state}, {pod: lb status})
        self.events = []        # (t, pod, what)
        self.exits = {}         # pod: (t, returncode)
        self.latest_lb = {}
        self.stop = threading.Event()

    def now(self):
        return time.monotonic() - self.t0

    def event(self, pod, what):
        self.events.append((self.now(), pod, what))

    def log(self, msg):
        print("  %5.2fs  %s" % (self.now() - getattr(self, "t_load", 0.0), msg), flush=True)

    # ---- pods

    def pod_argv(self, pod):
        addr = self.addr[pod]
        if self.server == "legacy":
            argv = [LEGACY, "%s:%d" % (addr, PORT), str(WORK_MS)]
        else:
            d = os.path.join(self.dir, pod)
            os.makedirs(d, exist_ok=True)
            conf = os.path.join(d, "nginx.conf")
            with open(conf, "w") as f:
                f.write(NGINX_CFG.format(dir=d, addr=addr, port=PORT))
            argv = [shutil.which("nginx") or "/usr/sbin/nginx", "-p", d, "-c", conf,
                    "-e", os.path.join(d, "error.log")]
        if not self.shim:
            return argv
        ld = [LAUNCHER, "--delay", "%dms" % DELAY_MS, "--drain-timeout", DRAIN_TIMEOUT,
              "--health", "%s:%d" % (addr, HEALTH)]
        if self.server == "nginx":
            ld += ["--deliver", "QUIT"]     # nginx's TERM is its fast shutdown
        return ld + ["--"] + argv

    def start_pod(self, pod):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("LAMEDUCK_") and k != "LD_PRELOAD"}
        p = PROCS.spawn(self.pod_argv(pod), os.path.join(self.dir, pod + ".log"), env=env)
        self.proc[pod] = p
        self.event(pod, "start")

        def reap():
            rc = p.wait()
            self.exits[pod] = (self.now(), rc)
        threading.Thread(target=reap, daemon=True).start()
        return p

    def pod_state(self, pod):
        """What the pod itself says: the shim's /readyz word, or, without
        the shim, "ok" while the process lives and its port accepts."""
        p = self.proc.get(pod)
        if p is None or p.poll() is not None:
            return "off"
        if self.shim:
            return readyz(self.addr[pod])
        return "ok" if port_open(self.addr[pod]) else "starting"

    def wait_lb(self, pod, up, timeout=5.0):
        def cond():
            st = self.latest_lb.get(pod, "")
            return st.startswith("UP") == up and not st.startswith("MAINT")
        wait_for(cond, timeout, "HAProxy to see %s %s" % (pod, "UP" if up else "DOWN"))

    # ---- sampler

    def sampler(self):
        sock = os.path.join(self.dir, "haproxy.sock")
        nxt = time.monotonic()
        while not self.stop.is_set():
            t = self.now()
            try:
                lb = lb_status(sock)
            except (OSError, IndexError):
                lb = {}
            self.latest_lb = lb
            st = {pod: self.pod_state(pod) for pod in self.pods}
            self.samples.append((t, st, lb))
            nxt += SAMPLE
            self.stop.wait(max(0.0, nxt - time.monotonic()))

    # ---- the run

    def haproxy_cfg(self):
        servers = "\n".join("    server %s %s:%d check" % (pod, self.addr[pod], PORT)
                            for pod in self.pods)
        if self.shim:
            check = ("    option httpchk\n"
                     "    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host pod\n"
                     "    http-check expect status 200\n")
            port = " port %d" % HEALTH
        else:
            # A naive deployment: the server has no health endpoint, so the
            # balancer checks that its port accepts a connection.
            check, port = "", ""
        return HAPROXY_CFG.format(dir=self.dir, fe="%s:%d" % FRONTEND, check=check,
                                  inter=INTER_MS, fall=FALL, rise=RISE, port=port,
                                  servers=servers)

    def run(self):
        print("\n== %s, %s" % (SERVERS[self.server],
                                "WITH lameduck (delay %d ms)" % DELAY_MS if self.shim
                                else "without lameduck"), flush=True)
        self.t0 = time.monotonic()
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(self.haproxy_cfg())
        for pod in self.pods[:3]:
            self.start_pod(pod)
        self.haproxy = PROCS.spawn(["haproxy", "-db", "-f", cfg], os.path.join(self.dir, "haproxy.log"))
        sock = os.path.join(self.dir, "haproxy.sock")
        wait_for(lambda: os.path.exists(sock), 5, "HAProxy's stats socket")
        sampler = threading.Thread(target=self.sampler, daemon=True)
        sampler.start()
        try:
            for pod in self.pods[:3]:
                self.wait_lb(pod, True)
            for pod in self.pods[3:]:
                self.wait_lb(pod, False)
            self.load_out = os.path.join(self.dir, "load.json")
            self.t_load = self.now()
            self.log("HAProxy has old1-3 UP; load: %d keep-alive connections to %s:%d"
                     % (CONNS, FRONTEND[0], FRONTEND[1]))
            self.load = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--load", FRONTEND[0], str(FRONTEND[1]),
                 str(CONNS), repr(self.t0 + self.t_load), str(RUN_CAP), self.load_out],
                stdin=subprocess.PIPE, start_new_session=True)
            with PROCS.lock:
                PROCS.procs.append(self.load)
            time.sleep(WARM)
            self.rollout()
            time.sleep(TAIL)
        finally:
            if getattr(self, "load", None) is not None:
                try:
                    self.load.stdin.close()
                    self.load.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            self.t_end = self.now()
            self.stop.set()
            sampler.join(2)
            PROCS.kill_all()
        with open(self.load_out) as f:
            self.result = json.load(f)
        self.rebase(self.t_load)
        self.report_logs()
        return self

    def report_logs(self):
        """Shows what the shim said in the first old pod, and any alert the
        servers logged (nginx's error.log)."""
        if self.shim:
            with open(os.path.join(self.dir, "old1.log"), errors="replace") as f:
                lines = [ln.rstrip() for ln in f if ln.startswith("lameduck")]
            print("  old1's stderr:" if lines else "  old1 logged nothing", flush=True)
            for ln in lines:
                print("           " + ln)
        if self.server != "nginx":
            return
        for pod in self.pods:
            path = os.path.join(self.dir, pod, "error.log")
            try:
                with open(path, errors="replace") as f:
                    bad = [ln.rstrip() for ln in f if "[alert]" in ln or "[emerg]" in ln or "[crit]" in ln]
            except OSError:
                continue
            if bad:
                print("  %s: nginx logged %d alert%s, e.g. %s" % (
                    pod, len(bad), "" if len(bad) == 1 else "s", bad[0].split("] ", 1)[-1]))

    def rebase(self, z):
        """Makes the start of the load time 0 (what came before is setup)."""
        before = [s for s in self.samples if s[0] < z]
        after = [(s[0] - z,) + s[1:] for s in self.samples if s[0] >= z]
        self.samples = ([(0.0,) + before[-1][1:]] if before else []) + after
        self.events = [(max(t - z, 0.0), pod, what) for t, pod, what in self.events]
        self.exits = {pod: (t - z, rc) for pod, (t, rc) in self.exits.items()}
        self.t_roll0 -= z
        self.t_roll1 -= z
        self.t_end -= z

    def rollout(self):
        self.t_roll0 = self.now()
        self.event(None, "rollout")
        for i in range(3):
            old, new = self.pods[i], self.pods[3 + i]
            self.start_pod(new)
            self.wait_lb(new, True)
            self.event(new, "UP")
            time.sleep(MIN_READY)
            self.log("%s (%s) UP in HAProxy for %.1f s; SIGTERM to %s (%s)"
                     % (new, self.addr[new], MIN_READY, old, self.addr[old]))
            self.proc[old].send_signal(signal.SIGTERM)
            self.event(old, "TERM")
        limit = DELAY_MS / 1000 + 5 + 3
        for i in range(3):
            old = self.pods[i]
            try:
                wait_for(lambda: old in self.exits, limit, "%s to exit" % old)
            except RuntimeError:
                self.log("%s still runs %.0f s after SIGTERM: killing it" % (old, limit))
                PROCS.kill(self.proc[old])
                wait_for(lambda: old in self.exits, 5, "%s to exit" % old)
            t, rc = self.exits[old]
            how = ("killed by %s" % signal.Signals(-rc).name) if rc < 0 else "exit status %d" % rc
            print("  %5.2fs  %s exited: %s" % (t - self.t_load, old, how), flush=True)
            self.events.append((t, old, "exit"))
        self.t_roll1 = max(self.exits[p][0] for p in self.pods[:3])

    # ---- figures

    def figures(self):
        ok, fail = sum(self.result["ok"]), sum(self.result["fail"])
        total = ok + fail
        return {"requests": total, "failed": fail,
                "pct": 100.0 * fail / total if total else 0.0,
                "rollout": self.t_roll1 - self.t_roll0,
                "reasons": self.result["reasons"]}


# ------------------------------------------------------------------ SVG

COLOURS = {
    "ok": ("#2ca25f", "ready"),
    "starting": ("#a6cee3", "starting"),
    "lameduck": ("#fdae61", "lame duck: not ready, still serving"),
    "draining": ("#9e7bb5", "draining"),
    "delivered": ("#636363", "signal delivered"),
}
LB_UP = "#2166ac"
BAR = "#b3c6dd"
RED = "#d7301f"


def svg(runs, path):
    W, left, right = 1000, 150, 20
    cw = W - left - right
    tmax = max(r.t_end for r in runs)
    tmax = (int(tmax * 2) + 1) / 2.0
    x = lambda t: left + cw * t / tmax
    ch, strip, gap = 110, 11, 19
    ph = 40 + ch + 26 + 6 * gap + 34
    legend_h = 70
    H = 70 + ph * len(runs) + legend_h
    o = []
    o.append('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
             'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11">' % (W, H, W, H))
    o.append('<rect width="100%" height="100%" fill="white"/>')
    o.append('<text x="%d" y="24" font-size="16" font-weight="bold">Rolling update of 3 pods behind HAProxy, '
             'without and with lameduck</text>' % 10)
    o.append('<text x="10" y="44" fill="#444">Bars: requests per 100 ms through the balancer '
             '(%d keep-alive connections); red: failed requests (connection error, reset, timeout or non-2xx), &#9660; over every 100 ms with any. '
             '</text>' % CONNS)
    o.append('<text x="10" y="58" fill="#444">Strips: each pod as it reports itself (lameduck\'s /readyz; '
             'without lameduck: process alive and port open), and below it, in blue, when HAProxy has it UP.</text>')
    ymax = {}
    for r in runs:
        m = max([a + b for a, b in zip(r.result["ok"], r.result["fail"])] + [1])
        ymax[r.server] = max(ymax.get(r.server, 0), m)
    y0 = 70
    for r in runs:
        f = r.figures()
        title = "%s, %s: %d requests, %d failed (%.2f%%), rollout %.2f s" % (
            r.server if r.server != "legacy" else "legacy_server",
            "WITH lameduck" if r.shim else "without lameduck",
            f["requests"], f["failed"], f["pct"], f["rollout"])
        colour = RED if f["failed"] else "#1a7f37"
        o.append('<text x="10" y="%d" font-size="13" font-weight="bold" fill="%s">%s</text>'
                 % (y0 + 22, colour, escape(title)))
        top = y0 + 36
        base = top + ch
        ym = ymax[r.server]
        step = nice_step(ym / 4)
        v = 0
        while v <= ym:
            yy = base - ch * v / ym
            o.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e5e5e5"/>' % (left, W - right, yy, yy))
            o.append('<text x="%d" y="%.1f" text-anchor="end" fill="#666">%d</text>' % (left - 4, yy + 4, v))
            v += step
        o.append('<text x="%d" y="%d" text-anchor="middle" fill="#444" transform="rotate(-90 %d %d)">'
                 'requests / 100 ms</text>' % (left - 40, top + ch / 2, left - 40, top + ch / 2))
        # rollout span
        o.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#fff7bc" opacity="0.6"/>'
                 % (x(r.t_roll0), top, x(r.t_roll1) - x(r.t_roll0), ch))
        bw = cw * BUCKET / tmax
        for i, (a, b) in enumerate(zip(r.result["ok"], r.result["fail"])):
            t = i * BUCKET
            if t >= tmax or a + b == 0:
                continue
            h = ch * (a + b) / ym
            o.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>'
                     % (x(t) + 0.5, base - h, bw - 1, h, BAR))
            if b:
                hb = max(ch * b / ym, 1.5)
                o.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%d failed</title></rect>'
                         % (x(t) + 0.5, base - hb, bw - 1, hb, RED, b))
                o.append('<path d="M%.1f %d l-4 -6 h8 z" fill="%s"/>' % (x(t) + bw / 2, top - 1, RED))
        for t, pod, what in r.events:
            if what == "TERM":
                o.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#333" stroke-dasharray="3,2"/>'
                         % (x(t), x(t), top, base + 26 + 6 * gap))
                o.append('<text x="%.1f" y="%d" font-size="9" fill="#333">TERM %s</text>'
                         % (x(t) + 2, top + 10, pod))
        o.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#999"/>' % (left, W - right, base, base))
        # strips
        sy = base + 14
        for k, pod in enumerate(r.pods):
            yy = sy + k * gap
            o.append('<text x="%d" y="%d" text-anchor="end">%s %s</text>'
                     % (left - 6, yy + strip - 1, pod, r.addr[pod]))
            o.append('<rect x="%d" y="%d" width="%d" height="%d" fill="#f2f2f2"/>' % (left, yy, cw, strip))
            for t1, t2, st in spans(r.samples, lambda s: s[1].get(pod, "off"), r.t_end):
                if st == "off":
                    continue
                c = COLOURS.get(st, ("#000", st))[0]
                o.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s %s %.2f-%.2f s</title></rect>'
                         % (x(t1), yy, max(x(t2) - x(t1), 0.5), strip, c, pod, st, t1, t2))
            for t1, t2, st in spans(r.samples, lambda s: s[2].get(pod, "").startswith("UP"), r.t_end):
                if st:
                    o.append('<rect x="%.1f" y="%d" width="%.1f" height="3" fill="%s"/>'
                             % (x(t1), yy + strip + 1, max(x(t2) - x(t1), 0.5), LB_UP))
        # time axis
        ay = sy + 6 * gap + 2
        t = 0.0
        while t <= tmax + 1e-9:
            o.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#999"/>' % (x(t), x(t), ay, ay + 4))
            o.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#666">%gs</text>' % (x(t), ay + 15, t))
            t += 0.5
        y0 += ph
    # legend
    ly = y0 + 10
    lx = 10
    items = [(BAR, "requests"), (RED, "failed")] + [COLOURS[k] for k in
                                                    ("starting", "ok", "lameduck", "draining", "delivered")]
    items += [(LB_UP, "UP in HAProxy"), ("#fff7bc", "rollout: first new pod started to last old pod exited")]
    for c, label in items:
        o.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>' % (lx, ly, c))
        o.append('<text x="%d" y="%d">%s</text>' % (lx + 16, ly + 10, escape(label)))
        lx += 30 + 6.2 * len(label)
        if lx > W - 200:
            lx, ly = 10, ly + 20
    o.append('<text x="10" y="%d" fill="#444">HAProxy: roundrobin, retries 0, no redispatch, checks every %d ms, '
             'fall %d, rise %d. LAMEDUCK_DELAY=%dms (sizing: delay &#8805; %d ms &#215; %d = %d ms, plus margin).</text>'
             % (ly + 34, INTER_MS, FALL, RISE, DELAY_MS, INTER_MS, FALL, INTER_MS * FALL))
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def nice_step(v):
    for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if s >= v:
            return s
    return 10000


def spans(samples, key, t_end):
    """Runs of equal key(sample) over time: (t1, t2, value)."""
    out = []
    for i, s in enumerate(samples):
        v = key(s)
        t2 = samples[i + 1][0] if i + 1 < len(samples) else t_end
        if out and out[-1][2] == v:
            out[-1][1] = t2
        else:
            out.append([s[0], t2, v])
    return [tuple(s) for s in out]


# ------------------------------------------------------------------ main


def preflight(servers):
    missing = [p for p in (SHIM, LAUNCHER, LEGACY) if not os.access(p, os.X_OK)]
    if missing:
        sys.exit("demo: not built: %s (run `make demo`)" % ", ".join(missing))
    need = ["haproxy"] + (["nginx"] if "nginx" in servers else [])
    for prog in need:
        if not (shutil.which(prog) or os.access("/usr/sbin/" + prog, os.X_OK)):
            sys.exit("demo: %s is not installed (run `make demo` as root, or "
                     "apt-get install haproxy nginx-light)" % prog)
    busy = []
    for addr, port in [FRONTEND] + [(a, p) for a in OLD + NEW for p in (PORT, HEALTH)]:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((addr, port))
            except OSError as e:
                busy.append("%s:%d (%s)" % (addr, port, e.strerror))
    if busy:
        sys.exit("demo: addresses in use, is another demo running? %s" % ", ".join(busy))


def in_own_pid_namespace():
    """As root, re-runs this script as PID 1 of a PID namespace of its own
    (unshare --kill-child): when it ends, however it ends, the kernel ends
    every process it started."""
    if os.getpid() == 1 or os.geteuid() != 0 or os.environ.get("LAMEDUCK_DEMO_NS"):
        return
    unshare = shutil.which("unshare")
    if unshare is None:
        return
    env = dict(os.environ, LAMEDUCK_DEMO_NS="1")
    argv = [unshare, "--pid", "--fork", "--kill-child", sys.executable] + sys.argv
    # unshare ignores SIGINT and SIGTERM while its child runs; the child
    # (this script, again) gets Ctrl-C from the terminal and cleans up.
    os.execve(unshare, argv, env)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        a = sys.argv[2:]
        load_main(a[0], int(a[1]), int(a[2]), float(a[3]), float(a[4]), a[5])
        return 0
    ap = argparse.ArgumentParser(description="the lameduck rolling-update demo")
    ap.add_argument("--server", choices=["legacy", "nginx", "both"], default="both")
    ap.add_argument("--out", default=os.path.join(BUILD, "demo"))
    args = ap.parse_args()
    servers = ["legacy", "nginx"] if args.server == "both" else [args.server]
    preflight(servers)
    in_own_pid_namespace()
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    os.makedirs(args.out, exist_ok=True)
    lock = open(os.path.join(args.out, ".lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        sys.exit("demo: another demo runs in this tree (%s is locked)" % lock.name)

    print("Service: HAProxy on %s:%d, mode http, balance roundrobin, retries 0, no redispatch,\n"
          "         health checks every %d ms, fall %d, rise %d (lameduck runs: GET /readyz on each pod's\n"
          "         port %d; runs without: a TCP connect to the service port, all a server without\n"
          "         a health endpoint offers)."
          % (FRONTEND[0], FRONTEND[1], INTER_MS, FALL, RISE, HEALTH))
    print("Sizing:  LAMEDUCK_DELAY >= check interval x fall + margin = %d ms x %d = %d ms + margin;\n"
          "         the demo uses LAMEDUCK_DELAY=%dms, LAMEDUCK_DRAIN_TIMEOUT=%s."
          % (INTER_MS, FALL, INTER_MS * FALL, DELAY_MS, DRAIN_TIMEOUT))
    print("Pods:    old %s, new %s, port %d.\n"
          "Rollout: as a Deployment with maxSurge 1, maxUnavailable 0, minReadySeconds %g: start a\n"
          "         new pod, wait until HAProxy has it UP (and %g s more), SIGTERM an old one; again."
          % (", ".join(OLD), ", ".join(NEW), PORT, MIN_READY, MIN_READY))
    runs = []
    try:
        for server in servers:
            for shim in (False, True):
                runs.append(Run(server, shim, args.out).run())
    except KeyboardInterrupt:
        print("\ndemo: interrupted; every process it started is ended.", file=sys.stderr)
        return 130
    except RuntimeError as e:
        print("\ndemo: %s; logs in %s" % (e, os.path.join(args.out, "runs")), file=sys.stderr)
        return 1
    finally:
        PROCS.kill_all()

    print("\n| server | lameduck | requests | failed | failed % | rollout time |")
    print("|---|---|---:|---:|---:|---:|")
    for r in runs:
        f = r.figures()
        print("| %s | %s | %d | %d | %.2f %% | %.2f s |"
              % ("legacy_server" if r.server == "legacy" else "nginx", "with" if r.shim else "without",
                 f["requests"], f["failed"], f["pct"], f["rollout"]))
    for r in runs:
        f = r.figures()
        if f["reasons"]:
            print("  %s %s lameduck, failures: %s" % (
                r.server, "with" if r.shim else "without",
                ", ".join("%s x%d" % kv for kv in sorted(f["reasons"].items(), key=lambda kv: -kv[1]))))
    path = os.path.join(args.out, "rollout.svg")
    svg(runs, path)
    print("\nPicture of the rollout: %s" % path)
    bad = [r for r in runs if r.shim and r.figures()["failed"]]
    if bad:
        print("demo: FAILED requests with lameduck in: %s" % ", ".join(r.name for r in bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
