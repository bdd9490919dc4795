"""Servers under test as pods, behind a real load balancer, for the test
modules (harness.py has the machinery below: processes, HTTP, `ss`,
/proc): the pod makers (nginx, Apache prefork, gunicorn, busybox httpd,
our own tree_* programs, shell wrappers, a double-forking daemon), the
nginx configuration, Go builds, HAProxy and wrk, and lb_case, the load
case of test_tree.py and test_matrix.py.

Every load case runs two instances ("pods") of the server, each with its
own port and its own health port, behind HAProxy (mode http, health checks
on each pod's /readyz, `inter 200ms fall 2 rise 1`, retries 0) under wrk
keep-alive load for 6 s; 2 s in, pod a gets SIGTERM (LAMEDUCK_DELAY=1s, or
the pod's own delay, LAMEDUCK_DRAIN_TIMEOUT=5s). Asserted for every case:

- no failed request: no wrk socket error, no non-2xx answer (HAProxy logs
  the failed ones, quoted in the failure);
- /readyz of pod a turns 503 at once (`lameduck`) and stays so; pod a keeps
  serving requests sent straight to it during the delay (each answered
  within 1.5 s, or within the pod's direct_timeout: a server whose workers
  serve one connection at a time is held by the balancer's), and the processes
  that make up the server (master and workers) are all still there near
  the end of the delay (no fast shutdown, no skipped delay);
- where the server has a slow path (1 s: nginx proxying to a slow
  upstream, CGI scripts, a sleep in the app, our programs' /slow), a
  request for it sent straight to pod a 0.3 s before the drain begins gets
  its full answer, and the lifecycle owner ends only after it (in a
  container the main process's end kills the rest of the tree);
- the whole process tree of pod a (every process seen in it from SIGTERM
  on) is gone after the delay and by delay + drain timeout + margin, the
  drain did not run into its timeout, and the owner ended the way the
  program ends on the signal it was given;
- the program's own output shows no error it saw (accept() failing, a
  traceback);
- all along, each pod's health port has exactly one LISTEN socket, held by
  the owner's pid alone (`ss -ltnp`, sampled every ~150 ms; a child caught
  between fork and closing the shim's descriptors is noted, not failed);
- the shim's log lines all come from the owner;
- pod b is still up, ready and in HAProxy's rotation.

Measured figures go to notes. Packages: nginx-light, apache2, gunicorn,
busybox (the dynamically linked one), haproxy, wrk, util-linux, iproute2.
"""
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from harness import (PROGS, PY, SHIM, check, children_of, comm, descendants, describe, fail,
                     is_gone, need, now, proc_status, tcp_listeners, try_http, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))

DELAY = 1.0          # LAMEDUCK_DELAY
DRAIN = 5.0          # LAMEDUCK_DRAIN_TIMEOUT
MARGIN = 1.5         # CI is small and noisy
READY_503_BOUND = 0.5
TRANSIENT_S = 0.5    # a forked child may hold the health socket this long
WRK_SECONDS = 6
KILL_AT = 2.0        # seconds into the wrk run
LB_TIMEOUT = 60      # per load-balanced test (runner's limit)

LAMEDUCK = {"DELAY": "1s", "DRAIN_TIMEOUT": "5s"}

# python3 -m http.server listens with a backlog of 5: with more connections
# at once than that, a SYN is dropped and HAProxy resends it a second later,
# by which time the drain may have stopped the listener (RST: a 503). That
# is the backlog's doing, which no shim can see, so the load stays below it.
PY_CONNS = 4


# ---------------------------------------------------------------- processes

class Tree:
    """Every process seen in a tree from its root since tracking began
    (re-scanned from each live process: per-connection children and CGI
    scripts that come and go are tracked too)."""

    def __init__(self, root):
        self.root = root
        self.pids = [root]
        self.rescan()

    def rescan(self):
        for p in list(self.pids):
            if not is_gone(p):
                for c in descendants(p):
                    if c not in self.pids:
                        self.pids.append(c)

    def alive(self):
        return [p for p in self.pids if not is_gone(p)]


def set_subreaper():
    """Orphans of this test's descendants come to this process (as to tini
    -s or a container's init), so a daemon's exit status can be read."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    check(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0,
          "prctl(PR_SET_CHILD_SUBREAPER): errno %d" % ctypes.get_errno())


def status_text(st):
    if os.WIFSIGNALED(st):
        return "killed by %s" % signal.Signals(os.WTERMSIG(st)).name
    if os.WIFEXITED(st):
        return "exit status %d" % os.WEXITSTATUS(st)
    return "status 0x%x" % st


def is_static_elf(path):
    """True if the ELF file has no PT_INTERP (statically linked)."""
    with open(path, "rb") as f:
        hdr = f.read(64)
        if hdr[:4] != b"\x7fELF" or hdr[4] != 2 or hdr[5] != 1:
            return False     # not a 64-bit little-endian ELF: do not guess
        phoff = int.from_bytes(hdr[32:40], "little")
        phentsize = int.from_bytes(hdr[54:56], "little")
        phnum = int.from_bytes(hdr[56:58], "little")
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    for i in range(phnum):
        if int.from_bytes(ph[i * phentsize:i * phentsize + 4], "little") == 3:   # PT_INTERP
            return False
    return True


GO_SRC = os.path.join(HERE, "..", "go", "gosrv.go")


def build_go(t, src=GO_SRC):
    """Builds a Go program (tests/go/gosrv.go unless src) with cgo (Debian's
    golang-go) into the test's directory, checks that it links libc, and
    returns its path."""
    go = shutil.which("go")
    check(go is not None, "no go toolchain: apt-get install golang-go (tests/deps.sh does)")
    exe = os.path.join(t.tmp, os.path.basename(src)[:-len(".go")])
    env = dict(os.environ, CGO_ENABLED="1", GOCACHE=os.path.join(t.tmp, "gocache"),
               GOPATH=os.path.join(t.tmp, "gopath"), GO111MODULE="off")
    p = subprocess.run([go, "build", "-o", exe, src], env=env, capture_output=True, text=True,
                       timeout=300, cwd=t.tmp)
    check(p.returncode == 0, "go build failed: %s" % p.stderr[-2000:])
    ldd = subprocess.run(["ldd", exe], capture_output=True, text=True).stdout
    check("libc.so.6" in ldd, "the cgo build does not link libc: %s" % ldd)
    return exe


# ---------------------------------------------------------------- health port

def who_holds(listeners):
    """The listeners (harness.Listener) and their holders, in words."""
    return "; ".join("%s held by %s" % (ls.local, describe(sorted(ls.pids)) or "nobody")
                     for ls in listeners) or "none"


class HealthSampler(threading.Thread):
    """Samples the pods' health ports with `ss -ltnp` every ~150 ms: while a
    pod's owner lives (before and after the sample), exactly one LISTEN
    socket, held by the owner's pid alone; once the owner is gone, none held
    by anyone.

    A forked child holds every descriptor of its parent from the fork until
    it closes the shim's own (no O_CLOFORK on Linux): a fork-per-connection
    server under load shows such children now and then, and one that the
    scheduler has not run yet since its fork (two small cores under load)
    holds them a while. Another holder counts only if it still holds the
    socket TRANSIENT_S later (re-sampled every 30 ms); the transient ones
    are counted (`transient`) and reported in a note. forks=False: the
    servers never fork, so any other holder counts at once."""

    def __init__(self, pods, forks=True):
        super().__init__(daemon=True)
        self.pods, self.forks = pods, forks
        self.stop = threading.Event()
        self.samples = 0
        self.bad = []       # (pod name, offset, text)
        self.transient = []
        self.t0 = now()
        self.start()

    def _extra_holders(self, p, got):
        """Holders of the pod's health socket other than the owner, if the
        owner still holds it and it is the only socket; else None."""
        if len(got) != 1 or p.owner not in got[0].pids:
            return None
        return got[0].pids - {p.owner}

    def _lets_go(self, p, extra):
        """True if the extra holders let go of the health socket within
        TRANSIENT_S (a child not yet scheduled after its fork, on a loaded
        machine, holds it until it runs) while the owner keeps it."""
        end = now() + TRANSIENT_S
        while now() < end:
            time.sleep(0.03)
            again = self._extra_holders(p, tcp_listeners([p.hport])[p.hport])
            if again is None or not p.owner_alive():
                return False
            if not (extra & again):
                return True
        return False

    def run(self):
        while not self.stop.is_set():
            before = {p.name: p.owner_alive() for p in self.pods}
            try:
                ls = tcp_listeners([p.hport for p in self.pods])
            except (OSError, subprocess.SubprocessError) as e:
                self.bad.append(("-", now() - self.t0, "ss failed: %s" % e))
                return
            after = {p.name: p.owner_alive() for p in self.pods}
            self.samples += 1
            for p in self.pods:
                got = ls[p.hport]
                if before[p.name] and after[p.name]:
                    if len(got) == 1 and got[0].pids == {p.owner}:
                        continue
                    extra = self._extra_holders(p, got)
                    if extra and self.forks and self._lets_go(p, extra):
                        self.transient.append((p.name, now() - self.t0, who_holds(got)))
                        continue
                    self.bad.append((p.name, now() - self.t0, "%d listener(s) on health port"
                                     " %d, owner pid %d: %s" % (len(got), p.hport, p.owner,
                                     who_holds(got))))
                elif not before[p.name] and not after[p.name] and got:
                    held = [pid for sock in got for pid in sock.pids]
                    if held:
                        self.bad.append((p.name, now() - self.t0, "health port %d still held"
                                         " after the owner (pid %d) ended: %s" %
                                         (p.hport, p.owner, who_holds(got))))
            self.stop.wait(0.15)

    def finish(self):
        self.stop.set()
        self.join(10)
        return self.bad


# ---------------------------------------------------------------- pods

class Pod:
    """One instance of a server: what was started, which pid owns the
    lifecycle (gets SIGTERM, holds the health port), whose tree is the pod,
    and how it must end."""

    def __init__(self, t, name, kind, delay=DELAY):
        self.t, self.name, self.kind = t, name, kind
        self.addr = "127.0.0.1"
        self.port, self.hport = t.port(), t.port()
        self.dir = os.path.join(t.tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(t.tmp, 0o755)          # workers run as www-data
        os.chmod(self.dir, 0o755)
        self.proc = None
        self.owner = None
        self.root = None
        self.delay = delay              # LAMEDUCK_DELAY, whole seconds
        self.path = "/"
        self.body = None                # expected body of `path`, if fixed
        self.extra_exit = 0.0           # the program's own shutdown time
        self.slow_path = None           # a request that takes slow_s seconds, answered
        self.slow_body = None           #   slow_body: one is sent 0.3 s before the drain
        self.slow_s = 0.0
        self.log_pids = set()           # pids whose log lines are expected (the owner's)
        self.core_fn = None             # pids that must live through the delay
        self.errors = None              # regex: lines of the program's own output that
                                        #   show an error it saw (accept() failing)
        self.direct_timeout = 1.5       # for a request straight to it during the delay

    def env(self, **kw):
        e = dict(LAMEDUCK, DELAY="%ds" % self.delay)
        e.update(kw)
        return self.t.shim_env(self.hport, **e)

    def owner_alive(self):
        return self.owner is not None and not is_gone(self.owner)

    def core(self):
        """Pids that make up the running server (master and workers)."""
        return self.core_fn() if self.core_fn else [self.owner]

    def wait_ready(self, timeout=10.0):
        """/readyz 200 and the server itself answering `path` 200."""
        last = {}

        def probe():
            if self.proc is not None and not self.proc.alive() and self.proc_must_live:
                fail("pod %s (%s) exited (%s) while starting; %s" %
                     (self.name, self.kind, self.proc.status_text(), self.proc.tail()))
            last["readyz"] = self.t.health(self.hport, timeout=1.0)
            last["server"] = try_http(self.port, self.path, host=self.addr, timeout=2.0,
                                      http10=True)
            st, body = last["server"]
            return last["readyz"][0] == 200 and st == 200 and \
                (self.body is None or body == self.body.strip())
        end = now() + timeout
        while not probe():
            if now() > end:
                ls = tcp_listeners([self.hport])[self.hport]
                fail("pod %s (%s) not ready after %.0fs: /readyz %s %r; %s %s %r; health port"
                     " %d: %s; log: %s" %
                     (self.name, self.kind, timeout, last["readyz"][0], last["readyz"][1],
                      self.path, last["server"][0], last["server"][1], self.hport,
                      who_holds(ls), " | ".join(self.shim_lines()) or "(none)"))
            time.sleep(0.05)

    proc_must_live = True

    def shim_lines(self):
        return self.proc.shim_lines() if self.proc else []

    def error_lines(self):
        if self.proc is None or self.errors is None:
            return []
        rx = re.compile(self.errors)
        return [l for l in self.proc.out_lines() + self.proc.err_lines()
                if rx.search(l) and not l.startswith("lameduck")]

    def exit_check(self):
        """(ok, text) of how the owner ended; set per kind."""
        raise NotImplementedError


def popen_exit(pod, accept):
    """The owner is the process the test started: its status must be one of
    `accept` (returncode values: -15 for death by SIGTERM)."""
    def check_it():
        rc, _ = pod.proc.wait_exit(10)
        return rc in accept, pod.proc.status_text()
    return check_it


# ---- nginx

NGINX_CONF = """daemon off;
{procs}
pid {d}/nginx.pid;
error_log stderr notice;
events {{ worker_connections {conns}; }}
http {{
    access_log off;
{http}    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen {addr}:{port}{listen_opts};
{locations}    }}
}}
"""


def write_nginx_conf(d, port, addr="127.0.0.1", user="www-data", conns=512, listen_opts="",
                     slow=None, master=True, root=None, http=""):
    """d/nginx.conf, its path: nginx in the foreground, a master and 2
    workers as `user` (master=False: one process), with `conns` connections
    each, its files in d, its log on stderr; `/` answers "nginx" (root: the
    files of that folder instead), and /slow (if slow, a port) is proxied
    to 127.0.0.1:slow. http: more directives for the http block."""
    conf = os.path.join(d, "nginx.conf")
    procs = ("master_process on;\nworker_processes 2;\nuser %s;" % user if master
             else "master_process off;")
    if root:
        locations = "        root %s;\n" % root
    else:
        locations = '        location / { return 200 "nginx\\n"; }\n'
    if slow:
        locations += "        location /slow { proxy_pass http://127.0.0.1:%d; }\n" % slow
    http = "".join("    %s\n" % line for line in http.splitlines())
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(d=d, addr=addr, port=port, conns=conns, procs=procs,
                                  listen_opts=listen_opts, locations=locations, http=http))
    return conf


def nginx_pod(t, name, listen_opts=""):
    """nginx, a master and 2 workers (as www-data, Debian's default), SIGTERM
    delivered as is (nginx's fast shutdown). /slow is proxied to an upstream
    of 1 s a request (slow_epoll, without the shim)."""
    pod = Pod(t, name, "nginx")
    slow = t.port()
    up = t.spawn([os.path.join(PROGS, "slow_epoll"), slow, 1000], shim=False,
                 name="upstream-" + name)
    up.wait_ready_line()
    pod.slow_path, pod.slow_body, pod.slow_s = "/slow", "done", 1.0
    conf = write_nginx_conf(pod.dir, pod.port, pod.addr, listen_opts=listen_opts, slow=slow)
    pod.proc = t.spawn(["nginx", "-p", pod.dir, "-c", conf, "-e", "stderr"], env=pod.env(),
                       name="nginx-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.body = "nginx"
    pod.log_pids = {pod.owner}
    pod.errors = r"\[(alert|crit|emerg)\]|accept4?\(\) failed"
    pod.core_fn = lambda: [pod.owner] + pod.workers
    pod.wait_ready()
    # Ready as soon as one worker serves; the second may still be starting.
    wait_for(lambda: len(children_of(pod.owner)) >= 2, 10, "nginx to start its 2 workers")
    pod.workers = children_of(pod.owner)
    check(len(pod.workers) == 2, "pod %s: nginx has %d children, expected 2 workers: %s" %
          (name, len(pod.workers), describe(pod.workers)))
    pod.exit_check = popen_exit(pod, (0,))
    return pod


# ---- our pre-fork server

def prefork_pod(t, name):
    """tree_prefork: master + 2 workers, blocking accept(), 3 ms a request
    (1 s for /slow);
    the master's handler forwards SIGTERM to the workers and exits 0."""
    pod = Pod(t, name, "tree_prefork")
    pod.proc = t.spawn([t.prog_path("tree_prefork"), pod.port, 2, 3, pod.addr],
                       env=pod.env(), name="tree_prefork-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.body = "prefork"
    pod.errors = r"accept: |ended before SIGTERM"
    pod.slow_path, pod.slow_body, pod.slow_s = "/slow", "prefork", 1.0
    pod.log_pids = {pod.owner}
    pod.proc.wait_ready_line()
    pod.workers = [int(l.split()[1]) for l in pod.proc.out_lines() if l.startswith("worker ")]
    check(len(pod.workers) == 2, "pod %s: tree_prefork printed workers %r" % (name, pod.workers))
    pod.core_fn = lambda: [pod.owner] + pod.workers
    pod.wait_ready()
    pod.exit_check = popen_exit(pod, (0,))
    return pod


# ---- Apache prefork

APACHE_CONF = """ServerRoot {d}
ServerName localhost
Listen {addr}:{port}
PidFile {d}/apache2.pid
DefaultRuntimeDir {d}/run
ErrorLog /dev/stderr
LogLevel notice
LoadModule mpm_{mpm}_module /usr/lib/apache2/modules/mod_mpm_{mpm}.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so
LoadModule cgi_module /usr/lib/apache2/modules/mod_cgi.so
User www-data
Group www-data
{mpm_conf}KeepAlive On
KeepAliveTimeout 2
MaxKeepAliveRequests 0
DocumentRoot {d}/www
<Directory {d}/www>
    Require all granted
</Directory>
ScriptAlias /cgi-bin/ {d}/cgi-bin/
<Directory {d}/cgi-bin>
    Require all granted
</Directory>
"""


APACHE_MPM = {
    "prefork": "StartServers 6\nMinSpareServers 4\nMaxSpareServers 16\nServerLimit 32\n"
               "MaxRequestWorkers 32\n",
    "event": "StartServers 2\nServerLimit 4\nThreadsPerChild 16\nMaxRequestWorkers 64\n"
             "MinSpareThreads 8\nMaxSpareThreads 48\n",
}


def apache_pod(t, name, mpm="prefork", delay=DELAY):
    """Apache httpd, mpm_prefork (or `mpm`), in the foreground
    (-DFOREGROUND), children as www-data; LAMEDUCK_DELIVER=WINCH (its
    graceful stop); mod_cgi runs /cgi-bin/slow (1 s)."""
    pod = Pod(t, name, "apache2" if mpm == "prefork" else "apache2 " + mpm, delay=delay)
    os.makedirs(os.path.join(pod.dir, "run"))
    write_cgi(os.path.join(pod.dir, "cgi-bin"))
    pod.slow_path, pod.slow_body, pod.slow_s = "/cgi-bin/slow", "cgi-done", 1.0
    www = os.path.join(pod.dir, "www")
    os.makedirs(www)
    os.chmod(www, 0o755)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("apache\n")
    conf = os.path.join(pod.dir, "apache2.conf")
    with open(conf, "w") as f:
        f.write(APACHE_CONF.format(d=pod.dir, addr=pod.addr, port=pod.port, mpm=mpm,
                                   mpm_conf=APACHE_MPM[mpm]))
    pod.proc = t.spawn(["/usr/sbin/apache2", "-f", conf, "-DFOREGROUND"],
                       env=pod.env(DELIVER="WINCH"), name="apache2-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.path, pod.body = "/index.html", "apache"
    pod.errors = r"AH02179|apr_socket_accept|:(error|crit|alert|emerg)\]"
    pod.log_pids = {pod.owner}
    pod.extra_exit = 1.0        # graceful stop: idle keep-alive children close
    pod.wait_ready()
    kids = wait_for(lambda: len(children_of(pod.owner)) >= 2 and children_of(pod.owner), 10,
                    "apache2 to start its children")
    check(len(kids) >= 2, "pod %s: apache2 has children %s" % (name, describe(kids)))
    # Children come and go with the spare-server management: only the
    # parent must live through the delay; serving is checked by requests.
    pod.exit_check = popen_exit(pod, (0,))
    return pod


# ---- gunicorn

GUNICORN_APP = """import time

def app(environ, start_response):
    slow = environ.get("PATH_INFO") == "/slow"
    time.sleep(1.0 if slow else 0.2)
    body = b"slow\\n" if slow else b"gunicorn\\n"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""


def gunicorn_pod(t, name):
    """gunicorn (Debian's), 2 sync workers, a WSGI app of 200 ms a request
    (1 s for /slow);
    SIGTERM delivered as is (its graceful shutdown); the arbiter exits 0."""
    pod = Pod(t, name, "gunicorn")
    with open(os.path.join(pod.dir, "slowapp.py"), "w") as f:
        f.write(GUNICORN_APP)
    pod.proc = t.spawn(["/usr/bin/gunicorn", "--chdir", pod.dir, "--bind",
                        "%s:%d" % (pod.addr, pod.port), "--workers", "2", "--worker-class",
                        "sync", "--graceful-timeout", "10", "--log-level", "info", "slowapp:app"],
                       env=pod.env(), cwd=pod.dir, name="gunicorn-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.body = "gunicorn"
    pod.errors = r"\[(ERROR|CRITICAL)\]|Traceback|Invalid argument"
    pod.slow_path, pod.slow_body, pod.slow_s = "/slow", "slow", 1.0
    pod.work = 0.2
    pod.log_pids = {pod.owner}
    pod.wait_ready()
    wait_for(lambda: len(children_of(pod.owner)) == 2, 10, "gunicorn to have 2 workers")
    pod.workers = children_of(pod.owner)
    pod.core_fn = lambda: [pod.owner] + pod.workers
    pod.exit_check = popen_exit(pod, (0,))
    return pod


# ---- busybox httpd

CGI_SLOW = """#!/bin/sh
sleep 1
printf 'Content-Type: text/plain\\r\\n\\r\\ncgi-done\\n'
"""


def write_cgi(d):
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    cgi = os.path.join(d, "slow")
    with open(cgi, "w") as f:
        f.write(CGI_SLOW)
    os.chmod(cgi, 0o755)


def busybox_pod(t, name):
    """busybox httpd -f (fork per connection), a static file and a CGI
    script that takes 1 s; no handler: dies by SIGTERM."""
    pod = Pod(t, name, "busybox httpd")
    www = os.path.join(pod.dir, "www")
    write_cgi(os.path.join(www, "cgi-bin"))
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("busybox\n")
    pod.slow_path, pod.slow_body, pod.slow_s = "/cgi-bin/slow", "cgi-done", 1.0
    pod.proc = t.spawn(["busybox", "httpd", "-f", "-p", "%s:%d" % (pod.addr, pod.port), "-h", www],
                       env=pod.env(), name="busybox-httpd-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.path, pod.body = "/index.html", "busybox"
    pod.log_pids = {pod.owner}
    pod.wait_ready()
    pod.exit_check = popen_exit(pod, (-signal.SIGTERM,))
    return pod


# ---- a shell wrapper that stays

def wrapper_cmd(pod):
    return "%s -m http.server %d --bind %s; exit $?" % (PY, pod.port, pod.addr)


def wrapper_server(pod, whose):
    """The wrapper's one child, the server (python3): pod.server, and the
    core of the pod (the wrapper and the server)."""
    kids = children_of(pod.owner)
    check(len(kids) == 1 and comm(kids[0]).startswith("python"),
          "pod %s: %s children are %s, expected python3 alone" % (pod.name, whose, describe(kids)))
    pod.server = kids[0]
    pod.core_fn = lambda: [pod.owner, pod.server]


def sh_wrapper_pod(t, name):
    """`sh -c 'python3 -m http.server ...; exit $?'` (dash forks and
    waits): the shell owns the lifecycle and the health port; readiness is
    the server's listener."""
    pod = Pod(t, name, "sh wrapper")
    with open(os.path.join(pod.dir, "index.html"), "w") as f:
        f.write("wrapped\n")
    pod.proc = t.spawn(["/bin/sh", "-c", wrapper_cmd(pod)], env=pod.env(), cwd=pod.dir,
                       name="sh-http.server-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.path, pod.body = "/index.html", "wrapped"
    pod.errors = r"Traceback|Error"
    pod.log_pids = {pod.owner}
    pod.wait_ready()
    wrapper_server(pod, "the shell's")
    # The shell exits after the server, 143 by `exit $?` (or dies by the
    # delivered SIGTERM itself once the server is gone).
    pod.exit_check = popen_exit(pod, (143, -signal.SIGTERM))
    return pod


def pid1_wrapper_pod(t, name):
    """The same wrapper as PID 1 of a pid namespace:
    `unshare --pid --fork --kill-child env LD_PRELOAD=... sh -c '...; exit $?'`
    (unshare itself does not load the shim)."""
    pod = Pod(t, name, "sh wrapper as PID 1")
    with open(os.path.join(pod.dir, "index.html"), "w") as f:
        f.write("wrapped\n")
    env = pod.env()
    del env["LD_PRELOAD"]
    pod.proc = t.spawn(["unshare", "--pid", "--fork", "--kill-child", "env", "LD_PRELOAD=" + SHIM,
                        "/bin/sh", "-c", wrapper_cmd(pod)], env=env, cwd=pod.dir,
                       name="unshare-sh-" + name)
    pod.root = pod.proc.pid
    pod.path, pod.body = "/index.html", "wrapped"
    pod.errors = r"Traceback|Error"
    kids = wait_for(lambda: children_of(pod.root), 10, "unshare to fork")
    check(len(kids) == 1, "unshare has children %s" % describe(kids))
    pod.owner = kids[0]
    nspid = (proc_status(pod.owner, "NSpid") or "").split()
    check(nspid[-1:] == ["1"], "the shell is not PID 1 in its namespace (NSpid %r)" % nspid)
    pod.log_pids = {pod.owner, 1}
    pod.wait_ready()
    wrapper_server(pod, "PID 1's")
    pod.exit_check = popen_exit(pod, (143,))
    return pod


# ---- a daemon that double-forks

def daemon_pod(t, name):
    """tree_daemon: fork (parent exits 0), setsid, fork (leader exits 0),
    pidfile, listen after 500 ms, serve keep-alive with 3 ms a request; no
    signal handling. The survivor owns the health port and the lifecycle."""
    set_subreaper()
    pod = Pod(t, name, "tree_daemon")
    pidfile = os.path.join(pod.dir, "daemon.pid")
    pod.proc = t.spawn([t.prog_path("tree_daemon"), pod.port, 3, pidfile, 500, pod.addr],
                       env=pod.env(), name="tree_daemon-" + name)
    pod.proc_must_live = False
    pod.body = "daemon"
    pod.errors = r"accept: "
    pod.slow_path, pod.slow_body, pod.slow_s = "/slow", "daemon", 1.0

    def read_pid():
        try:
            with open(pidfile) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0
    pod.owner = pod.root = wait_for(read_pid, 10, "the daemon's pidfile")
    # Before it listens (500 ms): never ready.
    early = []
    while not pod.proc.out_lines()[-1:] == ["ready"] and now() - pod.proc.started < 5:
        early.append(t.health(pod.hport, timeout=0.5))
        time.sleep(0.05)
    check(all(st != 200 for st, _ in early),
          "pod %s: /readyz 200 before the daemon listened: %r" % (name, early))
    if not hasattr(t, "daemons"):
        t.daemons = []
    t.daemons.append(pod.owner)
    pod.wait_ready()
    # (Not wait_exit: the survivor keeps the output pipes open.)
    check(pod.proc.done.wait(5) and pod.proc.returncode == 0,
          "pod %s: the daemon's first process: %s" % (name, pod.proc.status_text()))
    stages = [int(l.split()[1]) for l in pod.proc.out_lines() if l.startswith("pid ")]
    check(len(stages) == 3 and stages[2] == pod.owner,
          "pod %s: stages %r, pidfile %d" % (name, stages, pod.owner))
    # The session leader in between is an orphan now, ours as subreaper.
    try:
        os.waitpid(stages[1], 0)
    except ChildProcessError:
        pass
    pod.log_pids = set(stages)
    pod.early = early

    def check_it():
        try:
            pid, st = os.waitpid(pod.owner, 0)
        except ChildProcessError:
            return False, "not our child to wait for (subreaper?)"
        return os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGTERM, status_text(st)
    pod.exit_check = check_it
    return pod


# ---- a server that runs a helper per request

def helper_pod(t, name):
    """tree_helper: runs /bin/date per request (fork+exec and posix_spawn in
    turn) and answers with its output; no handler: dies by SIGTERM."""
    pod = Pod(t, name, "tree_helper")
    pod.proc = t.spawn([os.path.join(PROGS, "tree_helper"), pod.port, pod.addr], env=pod.env(),
                       name="tree_helper-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.log_pids = {pod.owner}
    pod.slow_path, pod.slow_body, pod.slow_s = "/slow", "slept", 1.0
    pod.errors = r"accept: "
    pod.proc.wait_ready_line()
    pod.wait_ready()
    pod.exit_check = popen_exit(pod, (-signal.SIGTERM,))
    return pod


# ---------------------------------------------------------------- load balancer

HAPROXY_CFG = """\
global
    maxconn 2000
    nbthread 1
    stats socket {d}/stats.sock mode 600 level admin
    log stdout format raw local0

defaults
    mode {mode}
    log global
    option {mode}log
    option dontlog-normal
    timeout connect 2s
    timeout client 20s
    timeout server 20s
    timeout check 1s
    retries 0

frontend fe
    bind 127.0.0.1:{fe}
    default_backend be

backend be
    balance roundrobin
    option httpchk GET /readyz
    default-server inter 200ms fall 2 rise 1
{servers}
"""


def start_haproxy(t, mode, servers, d=None, name="haproxy"):
    """HAProxy in `mode` (http or tcp) in front of servers [(address, port,
    health port)], named s1, s2, ...: round robin, each checked with GET
    /readyz on its health port (at 127.0.0.1) every 200 ms (down after 2
    failures, up after 1), no retries; sessions that do not end normally
    are logged to its stdout. Waits until s1 and s2 are UP. Returns (the
    frontend's port, the stats socket's path, the process)."""
    need("haproxy")
    d = d or t.tmp
    os.makedirs(d, exist_ok=True)
    fe = t.port()
    lines = ["    server s%d %s:%d check addr 127.0.0.1 port %d" % (i + 1, addr, int(port), int(hp))
             for i, (addr, port, hp) in enumerate(servers)]
    cfg = os.path.join(d, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(HAPROXY_CFG.format(d=d, mode=mode, fe=fe, servers="\n".join(lines)))
    sock = os.path.join(d, "stats.sock")
    proc = t.spawn(["haproxy", "-f", cfg, "-db"], shim=False, name=name)
    wait_haproxy(sock, "UP")
    return fe, sock, proc


def haproxy_stat(sock_path):
    """{server name: row} of backend `be` from HAProxy's `show stat`."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        s.connect(sock_path)
        s.sendall(b"show stat\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    lines = data.decode().splitlines()
    cols = lines[0].lstrip("# ").split(",")
    rows = {}
    for ln in lines[1:]:
        row = dict(zip(cols, ln.split(",")))
        if row.get("pxname") == "be":
            rows[row["svname"]] = row
    return rows


def wait_haproxy(sock, s1_status, timeout=10.0):
    def probe():
        try:
            rows = haproxy_stat(sock)
            if rows["s1"]["status"].startswith(s1_status) and rows["s2"]["status"].startswith("UP"):
                return now()
        except (OSError, KeyError, IndexError):
            pass
        return None
    return wait_for(probe, timeout, "HAProxy to see s1 %s and s2 UP" % s1_status, interval=0.02)


def parse_wrk(out):
    m = re.search(r"(\d+) requests in ", out)
    check(m is not None, "no summary in wrk's output:\n%s" % out)
    res = {"requests": int(m.group(1)), "connect": 0, "read": 0, "write": 0, "timeout": 0,
           "non2xx": 0}
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res.update(connect=int(m.group(1)), read=int(m.group(2)),
                   write=int(m.group(3)), timeout=int(m.group(4)))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["non2xx"] = int(m.group(1))
    return res



def haproxy_errors(hap):
    """HAProxy's log lines of failed requests (option dontlog-normal), less
    wrk's own probe connection at its start (closed without a request)."""
    return [l for l in hap.out_lines()
            if " 200 " not in l and not ("<BADREQ>" in l and " CR-- " in l) and "is DOWN" not in l
            and "is UP" not in l]


class DelayProber:
    """From SIGTERM until shortly before the delay ends, each in a thread of
    its own: server(), a request straight to the pod (not through the
    balancer), every ~50 ms, and readyz(), its /readyz, every ~10 ms. Each
    returns a pair (status or ok, body or text); .server and .readyz hold
    (offset from the signal, first, second)."""

    def __init__(self, t_sig, until, server, readyz):
        self.server, self.readyz = [], []
        self.threads = [threading.Thread(target=self.run, args=(fn, into, pause, t_sig, until),
                                         daemon=True)
                        for fn, into, pause in ((server, self.server, 0.05),
                                                (readyz, self.readyz, 0.01))]
        for th in self.threads:
            th.start()

    @staticmethod
    def run(fn, into, pause, t_sig, until):
        while now() < t_sig + until:
            t0 = now() - t_sig
            first, second = fn()
            into.append((t0, first, second))
            time.sleep(pause)

    def join(self, timeout):
        for th in self.threads:
            th.join(timeout)


class SlowRequest(threading.Thread):
    """A request for the pod's slow path, straight to it, sent at t_start."""

    def __init__(self, pod, t_start, what):
        super().__init__(daemon=True)
        self.pod, self.t_start, self.what = pod, t_start, what
        self.st = self.body = self.t_sent = self.t_end = None
        self.start()

    def run(self):
        time.sleep(max(0.0, self.t_start - now()))
        self.t_sent = now()
        self.st, self.body = try_http(self.pod.port, self.pod.slow_path, host=self.pod.addr,
                                      timeout=self.pod.slow_s + DRAIN + 2, http10=True)
        self.t_end = now()

    def verdict(self, t, t_sig, t_gone, t_owner):
        self.join(self.pod.slow_s + DRAIN + 5)
        if self.t_end is None:
            return ["%s %s (%s): no answer" % (self.pod.slow_path, self.what, self.pod.kind)]
        t.note("%s %s: %s %r, sent %.2fs and answered %.2fs after SIGTERM" %
               (self.pod.slow_path, self.what, self.st, self.body, self.t_sent - t_sig,
                self.t_end - t_sig))
        probs = []
        if (self.st, self.body) != (200, self.pod.slow_body):
            probs.append("%s %s: got %s %r after %.2fs, expected 200 %r" %
                         (self.pod.slow_path, self.what, self.st, self.body,
                          self.t_end - self.t_sent, self.pod.slow_body))
        elif t_owner is not None and t_owner < self.t_end - 0.05:
            # In a container the main process's end ends the container: the
            # runtime kills what is left, the request included.
            probs.append("the owner (pid %d) ended %.2fs before the answer to %s %s (which"
                         " its tree finished alone: in a container, it would have been cut)" %
                         (self.pod.owner, self.t_end - t_owner, self.pod.slow_path, self.what))
        return probs


def first_503_of(readyz):
    """The first 503 among DelayProber.readyz samples: (offset, body), or None."""
    return next(((o, body) for o, st, body in readyz if st == 503), None)


def readyz_problems(readyz, first503):
    """What is wrong with pod a's /readyz from SIGTERM on (DelayProber.readyz
    samples; first503 from first_503_of): it must turn 503, within
    READY_503_BOUND, with the body `lameduck`, and never turn 200 again."""
    problems = []
    if first503 is None:
        problems.append("/readyz never answered 503 during the delay: %s" %
                        ["%.2fs: %s %r" % e for e in readyz[:4]])
    else:
        if first503[0] > READY_503_BOUND:
            problems.append("/readyz turned 503 only %.0f ms after SIGTERM" % (first503[0] * 1000))
        if first503[1] != "lameduck":
            problems.append("/readyz 503 body %r, expected 'lameduck'" % first503[1])
        late200 = [e for e in readyz if e[0] > first503[0] and e[1] == 200]
        if late200:
            problems.append("/readyz back to 200 after the 503: %s" %
                            ["%.2fs" % e[0] for e in late200[:4]])
    return problems


def other_pod_problems(t, b, rows):
    """Pod b (the one not signalled) must still run, be ready and be UP in
    HAProxy (rows: haproxy_stat)."""
    problems = []
    if b.proc is not None and b.proc_must_live and not b.proc.alive():
        problems.append("pod b ended: %s" % b.proc.status_text())
    st, body = t.health(b.hport)
    if st != 200:
        problems.append("pod b's /readyz: %s %r" % (st, body))
    if not rows["s2"]["status"].startswith("UP"):
        problems.append("HAProxy s2 is %s" % rows["s2"]["status"])
    return problems


def log_pid_problems(pod):
    bad = []
    for l in pod.shim_lines():
        m = re.match(r"lameduck\[(\d+)\]", l)
        if m is None:
            bad.append(l)
        elif int(m.group(1)) not in pod.log_pids:
            bad.append(l)
    return bad


def lb_case(t, make_pod, conns=16, group=False, before=None, during=None, after=None, into=None,
            mode="http", seconds=WRK_SECONDS):
    """Two pods from make_pod behind HAProxy under wrk; SIGTERM to pod a's
    owner (group=True: to its whole process group) 2 s into the run. See the
    module's docstring for what is asserted. before(t, a) runs just before
    the signal, during(t, a, t_sig) in a thread from the signal on, after(t,
    a, t_sig, t_gone) once the tree is gone; each returns a list of
    problems (or a thread with a .problems list, for during). Returns wrk's
    figures (parse_wrk) with `failed` (socket errors + non-2xx), `conns`,
    `delay` and `exit` (how pod a's owner ended, e.g. "exit status 0"); `into`, a
    dict, gets them too, and `problems`, before the case fails or passes.
    mode: HAProxy's, http (L7) or tcp (L4: established connections stay on
    their pod); seconds: wrk's run."""
    need("haproxy", "wrk", "ss")
    a = make_pod(t, "a")
    b = make_pod(t, "b")
    delay = a.delay
    fe, sock, hap = start_haproxy(t, mode, [(p.addr, p.port, p.hport) for p in (a, b)])
    sampler = HealthSampler([a, b])

    wrk = t.spawn(["wrk", "-t2", "-c%d" % conns, "-d%ds" % seconds, "--timeout", "3s",
                   "http://127.0.0.1:%d%s" % (fe, a.path)], shim=False, name="wrk")
    time.sleep(KILL_AT)
    check(wrk.alive(), "wrk ended early: %s" % wrk.tail())
    check(int(haproxy_stat(sock)["s1"]["stot"]) > 0, "pod a got no traffic before SIGTERM")
    problems = []
    if before:
        problems += before(t, a)
    tree = Tree(a.root)
    core = a.core()
    t.note("pod a (%s) at SIGTERM: %s" % (a.kind, describe(tree.alive())))

    wall_sig = time.strftime("%H:%M:%S") + ("%.3f" % (time.time() % 1))[1:]
    if group:
        pgid = os.getpgid(a.owner)
        t_sig = now()
        os.killpg(pgid, signal.SIGTERM)
    else:
        t_sig = now()
        os.kill(a.owner, signal.SIGTERM)
    prober = DelayProber(t_sig, delay - 0.2,
                         lambda: try_http(a.port, a.path, host=a.addr, timeout=a.direct_timeout,
                                          http10=True),
                         lambda: try_http(a.hport, "/readyz", timeout=1.5, http10=True))
    slow = SlowRequest(a, t_sig + delay - 0.3, "sent 0.3 s before the drain began") \
        if a.slow_path else None
    dur = during(t, a, t_sig) if during else None

    # Who of the server's processes still lives near the end of the delay.
    early_dead = None
    hard = delay + DRAIN + MARGIN + a.extra_exit
    t_gone = t_owner = None
    while now() < t_sig + hard + 3:
        if t_owner is None and is_gone(a.owner):
            t_owner = now()
        tree.rescan()
        if early_dead is None and now() >= t_sig + delay - 0.15:
            early_dead = [p for p in core if is_gone(p)]
        if not tree.alive():
            t_gone = now()
            t_owner = t_owner or t_gone
            break
        time.sleep(0.02)
    if early_dead is None:
        early_dead = [p for p in core if is_gone(p)]
    prober.join(a.direct_timeout + 3.5)
    if dur is not None:
        dur.join(15)
    rc_ok, rc_text = a.exit_check()
    wrk.wait_exit(seconds + 15)
    out = "\n".join(wrk.out_lines())
    res = parse_wrk(out)
    bad_ss = sampler.finish()
    rows = haproxy_stat(sock)
    log = a.shim_lines()

    # ---- figures
    first503 = first_503_of(prober.readyz)
    t.note("pod a: /readyz 503 %s after SIGTERM; owner gone %s, tree gone %s after SIGTERM (delay"
           " %.1fs, drain timeout %.1fs); owner %s" %
           ("%.0f ms" % (first503[0] * 1000) if first503 else "never",
            "%.2fs" % (t_owner - t_sig) if t_owner else "NOT",
            "%.2fs" % (t_gone - t_sig) if t_gone else "NOT",
            delay, DRAIN, rc_text))
    t.note("wrk -c%d: %d requests; errors connect %d, read %d, write %d, timeout %d; non-2xx %d" %
           (conns, res["requests"], res["connect"], res["read"], res["write"], res["timeout"],
            res["non2xx"]))
    t.note("HAProxy: s1 %s sessions (econ %s, eresp %s), s2 %s; health port samples %d" %
           (rows["s1"]["stot"], rows["s1"]["econ"], rows["s1"]["eresp"], rows["s2"]["stot"],
            sampler.samples))
    if sampler.transient:
        t.note("health port: %d sample(s) with a transient extra holder (a child between fork"
               " and closing the shim's descriptors), e.g. %s" %
               (len(sampler.transient), "%s %.2fs: %s" % sampler.transient[0]))
    t.note("pod a's log: %s" % " | ".join(l.split(": ", 1)[-1] for l in log))

    # ---- client-visible
    if res["requests"] < 50:
        problems.append("only %d requests through HAProxy" % res["requests"])
    errs = res["connect"] + res["read"] + res["write"] + res["timeout"]
    if errs or res["non2xx"]:
        problems.append("wrk saw failed requests: socket errors connect %d, read %d, write %d, "
                        "timeout %d; non-2xx %d (HAProxy s1 econ %s eresp %s, s2 econ %s eresp"
                        " %s); HAProxy's log of them (SIGTERM at %s): %s" %
                        (res["connect"], res["read"], res["write"], res["timeout"], res["non2xx"],
                         rows["s1"]["econ"], rows["s1"]["eresp"], rows["s2"]["econ"],
                         rows["s2"]["eresp"], wall_sig,
                         haproxy_errors(hap)[:6] or "none logged (a connection the server"
                         " closed under a request HAProxy had sent shows as eresp and a read"
                         " error at the client)"))
    bad = [e for e in prober.server if e[1] != 200 or (a.body and e[2] != a.body.strip())]
    if len(prober.server) < (3 if a.direct_timeout < delay else 1):
        problems.append("only %d direct requests made during the delay" % len(prober.server))
    if bad:
        problems.append("pod a stopped serving during the delay: %s" %
                        ["%.2fs: %s %r" % (o, st, b_[:60]) for o, st, b_ in bad[:4]])
    # ---- lifecycle
    problems += readyz_problems(prober.readyz, first503)
    if early_dead:
        problems.append("server processes gone before the delay ended (%.1fs): %s" %
                        (delay, describe(early_dead)))
    if t_gone is None:
        problems.append("pod a's tree still there %.1fs after SIGTERM: %s" %
                        (hard + 3, describe(tree.alive())))
    else:
        took = t_gone - t_sig
        if took < delay - 0.05:
            problems.append("pod a's tree was gone %.2fs after SIGTERM, before the %.1fs delay" %
                            (took, delay))
        if took > hard:
            problems.append("pod a's tree was gone only %.2fs after SIGTERM (bound: delay %.1f"
                            " + drain timeout %.1f + %.1f)" % (took, delay, DRAIN,
                                                               MARGIN + a.extra_exit))
    if not rc_ok:
        problems.append("pod a's owner (pid %d): %s" % (a.owner, rc_text))
    if any("drain timeout after" in l for l in log):
        problems.append("the drain ran into its timeout")
    if dur is not None:
        problems += dur.problems
    if slow is not None:
        problems += slow.verdict(t, t_sig, t_gone, t_owner)
    if after:
        problems += after(t, a, t_sig, t_gone)
    errs = a.error_lines() + b.error_lines()
    if errs:
        problems.append("the program saw errors (%d lines): %s" % (len(errs), errs[:3]))
    # ---- one owner, one health listener
    if bad_ss:
        problems.append("health port samples: %s" % ["%s %.2fs: %s" % e for e in bad_ss[:4]])
    stray = log_pid_problems(a) + log_pid_problems(b)
    if stray:
        problems.append("log lines not from an owner (owners %s / %s): %s" %
                        (sorted(a.log_pids), sorted(b.log_pids), stray[:4]))
    # ---- the other pod
    problems += other_pod_problems(t, b, rows)

    res["failed"] = res["connect"] + res["read"] + res["write"] + res["timeout"] + res["non2xx"]
    res["conns"] = conns
    res["exit"] = rc_text
    res["delay"] = delay
    if into is not None:
        into.update(res, problems=list(problems))
    if problems:
        fail("%s:\n  - %s\npod a's log:\n    %s" % (a.kind, "\n  - ".join(problems),
                                                     "\n    ".join(log) or "(none)"))
    return res


