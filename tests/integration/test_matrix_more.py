"""The compatibility matrix, second round (issue 13, README
"Compatibility"): more servers as users run them, each as two pods behind
HAProxy (mode http, health checks on /readyz) under wrk keep-alive, SIGTERM
to pod a 2 s in, with LAMEDUCK_DELAY=2s and LAMEDUCK_DRAIN_TIMEOUT=5s:
pods.lb_case asserts what its docstring lists (no failed request, /readyz
503 at once, serving through the delay, the slow request answered across
the drain, the whole tree gone in time, the owner ending as the program
ends on the signal it was given, one health listener, ...), and each case
records its row with matrix.record() (test_matrix.run_row).

| server | model | slow path |
| --- | --- | --- |
| uWSGI | pre-fork master, 2 workers, --http11-socket | time.sleep 1 s in the WSGI app |
| uvicorn | a supervisor, 2 workers exec'd by multiprocessing's spawn | asyncio.sleep 1 s |
| puma | cluster mode: a master, 2 forked workers of 2 threads | sleep 1 in the Rack app |
| unicorn | a master, 2 forked workers, a request per connection | sleep 1 in the Rack app |
| Twisted | `twistd web --wsgi`: the reactor, the app in a thread pool | time.sleep 1 s |
| aiohttp | web.run_app, one asyncio loop | asyncio.sleep 1 s |
| Tomcat 10 | one JVM, the HTTP/1.1 connector's thread pool | a JSP, Thread.sleep 1 s |
| h2o | one process, 2 threads | proxied to an upstream of 1 s |
| Apache httpd, mpm_event | a parent, children of 16 threads | a CGI script (`sleep 1`) |
| waitress | one process, 4 threads | time.sleep 1 s in the WSGI app |

Each server's own way to stop is what the row shows: the variables it
needs (unicorn: LAMEDUCK_DELIVER=QUIT; Apache: WINCH) and how the
signalled instance's main process ended.

Packages (tests/deps.sh): uwsgi-core, uwsgi-plugin-python3, python3-uvicorn,
puma, unicorn, python3-twisted, python3-aiohttp, tomcat10, h2o, apache2,
python3-waitress.
"""
import os
import re
import shutil
import signal
import socket
import threading
import time

from harness import (PROGS, PY, check, children_of, connect, fail, need, now, try_http,
                     wait_for)
from matrix import dpkg_version
from pods import DELAY, DRAIN, LB_TIMEOUT, Pod, apache_pod, popen_exit
from test_matrix import run_row, version

DELAY2 = 2          # LAMEDUCK_DELAY of these rows, seconds

WSGI_APP = """import time

def application(environ, start_response):
    slow = environ.get("PATH_INFO") == "/slow"
    if slow:
        time.sleep(1.0)
    body = b"slow\\n" if slow else b"%s\\n"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""


def write_wsgi(pod, body):
    """pod.dir/app.py: a WSGI app that answers `body`, and "slow" after
    1 s for /slow."""
    path = os.path.join(pod.dir, "app.py")
    with open(path, "w") as f:
        f.write(WSGI_APP % body)
    pod.body = body
    pod.slow_path, pod.slow_body, pod.slow_s = "/slow", "slow", 1.0
    return path


def workers_of(pod, n, what):
    """Waits for the owner's n children (its workers): pod.workers, and the
    core of the pod (owner and workers)."""
    wait_for(lambda: len(children_of(pod.owner)) >= n, 20, "%s to start %d workers" % (what, n))
    pod.workers = children_of(pod.owner)
    check(len(pod.workers) == n, "pod %s: %s has children %s, expected %d workers" %
          (pod.name, what, pod.workers, n))
    pod.core_fn = lambda: [pod.owner] + pod.workers


# ---------------------------------------------------------------- uWSGI

def uwsgi_pod(t, name):
    """uWSGI (Debian's, the python3 plugin): a master and 2 pre-forked
    workers, each serving one HTTP/1.1 keep-alive connection at a time
    (--http11-socket); --die-on-term makes SIGTERM its stop (without it,
    SIGTERM reloads); the master exits 0."""
    pod = Pod(t, name, "uWSGI", delay=DELAY2)
    app = write_wsgi(pod, "uwsgi")
    pod.proc = t.spawn(["uwsgi", "--plugin", "python3", "--http11-socket",
                        "%s:%d" % (pod.addr, pod.port), "--wsgi-file", app, "--master",
                        "--processes", "2", "--die-on-term", "--disable-logging"],
                       env=pod.env(), cwd=pod.dir, name="uwsgi-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.errors = r"Traceback|[Ee]rror|accept\(\)"
    pod.log_pids = {pod.owner}
    # Its workers are held by the balancer's keep-alive connections (each
    # waits on one up to --socket-timeout, 4 s, for the next request), so
    # a request straight to it waits for one, without the shim too; in the
    # drain the shim makes them let go (test_uwsgi_queued_behind_keepalive).
    pod.direct_timeout = DELAY2 + DRAIN
    pod.wait_ready(20)
    workers_of(pod, 2, "uwsgi")
    pod.exit_check = popen_exit(pod, (0,))
    return pod


def drained_in(a):
    """Seconds the drain took, from the owner's log line; None if none."""
    for l in a.shim_lines():
        m = re.search(r"drained in ([0-9.]+)s", l)
        if m:
            return float(m.group(1))
    return None


def test_matrix_uwsgi(t):
    """uWSGI, a pre-fork master with 2 workers, --http11-socket,
    --die-on-term: the workers' requests finish in the drain, then the
    master stops its workers and exits 0. Each worker serves one connection
    at a time, so the load is 2 connections (with 4 and more, once all
    traffic goes to pod b, HAProxy's extra connections wait in its queue
    for seconds and wrk times out). When the drain begins, both workers wait on HAProxy's idle
    keep-alive connections and the slow request waits in the queue: the
    drain must end with it (about 1 s), not when uWSGI's --socket-timeout
    (4 s) lets the workers go."""
    need("uwsgi")

    def quick(t, a, t_sig, t_gone):
        took = drained_in(a)
        if took is None:
            return ["no 'drained in' line in the log"]
        return [] if took < 2.0 else \
            ["the drain took %.2fs: it waited for uWSGI's workers to let go of idle keep-alive"
             " connections (--socket-timeout)" % took]
    run_row(t, "uWSGI (pre-fork, --http11-socket)", "uWSGI " + dpkg_version("uwsgi-core"), {},
            uwsgi_pod, conns=2, after=quick)


test_matrix_uwsgi.timeout = LB_TIMEOUT


def keepalive_get(s, timeout):
    """One HTTP/1.1 request on s, answered with a Content-Length: (status,
    body), the connection left open; (None, why) if no full answer came."""
    s.sendall(b"GET / HTTP/1.1\r\nHost: pod\r\n\r\n")
    buf, end = b"", now() + timeout
    while now() < end:
        head, sep, body = buf.partition(b"\r\n\r\n")
        m = re.search(rb"Content-Length: *(\d+)", head, re.I) if sep else None
        if m and len(body) >= int(m.group(1)):
            return int(head.split()[1]), body.decode().strip()
        s.settimeout(max(0.01, end - now()))
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            break
        except OSError as e:
            return None, "%s after %r" % (e, buf[:60])
        if not chunk:
            return None, "closed after %r" % buf[:60]
        buf += chunk
    return None, "no answer within %.1fs (got %r)" % (timeout, buf[:60])


def test_uwsgi_queued_behind_keepalive(t):
    """uWSGI's --http11-socket workers serve one connection at a time: after
    an answer, a worker waits in poll() on that keep-alive connection for the
    next request (up to --socket-timeout, 30 s here) and accepts nothing
    else meanwhile. Both workers wait so on idle keep-alive connections (a
    balancer's, which no longer sends on them), and two requests wait in
    the listen queue when the drain begins, taken by the shim for the
    program's next accept(). Those are in flight: the drain must end with
    them answered, not at its timeout with them cut. It does only if the
    shim makes the workers leave their idle connections (shut down for
    reading: end-of-file, they close them and accept)."""
    need("uwsgi")
    pod = Pod(t, "u", "uWSGI")
    app = write_wsgi(pod, "uwsgi")
    p = t.spawn(["uwsgi", "--plugin", "python3", "--http11-socket",
                 "%s:%d" % (pod.addr, pod.port), "--wsgi-file", app, "--master",
                 "--processes", "2", "--die-on-term", "--disable-logging",
                 "--socket-timeout", "30"], env=pod.env(), cwd=pod.dir, name="uwsgi")
    pod.proc, pod.owner = p, p.pid
    pod.wait_ready(20)
    workers_of(pod, 2, "uwsgi")
    # One idle keep-alive connection on each worker.
    idle = []
    for i in range(2):
        s = connect(pod.port, timeout=3)
        t.keep(s)
        got = keepalive_get(s, 3)
        check(got == (200, "uwsgi"), "keep-alive request %d: %r" % (i, got))
        idle.append(s)
    t_sig = p.signal(signal.SIGTERM)
    time.sleep(0.5)
    got = {}

    def queued(i):
        s = connect(pod.port, timeout=3)
        t.keep(s)
        t0 = now()
        got[i] = keepalive_get(s, DELAY + DRAIN + 3) + (now() - t0,)
    ths = [threading.Thread(target=queued, args=(i,), daemon=True) for i in range(2)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(DELAY + DRAIN + 5)
    rc, t_end = p.wait_exit(DELAY + DRAIN + 5)
    log = [l.split(": ", 1)[-1] for l in p.shim_lines()]
    t.note("queued requests: %s; uWSGI %s %.2fs after SIGTERM; log: %s" %
           (got, p.status_text(), t_end - t_sig, " | ".join(log)))
    problems = ["queued request %d: %r" % (i, got.get(i)) for i in range(2)
                if got.get(i, (None,))[:2] != (200, "uwsgi")]
    if any("drain timeout" in l for l in log):
        problems.append("the drain ran into its timeout")
    if rc != 0:
        problems.append("uWSGI: %s" % p.status_text())
    if problems:
        fail("requests queued behind idle keep-alive connections:\n  - %s" %
             "\n  - ".join(problems))


test_uwsgi_queued_behind_keepalive.timeout = 60


# ---------------------------------------------------------------- uvicorn

ASGI_APP = """import asyncio


async def app(scope, receive, send):
    slow = scope["path"] == "/slow"
    if slow:
        await asyncio.sleep(1.0)
    body = b"slow\\n" if slow else b"uvicorn\\n"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
"""


def uvicorn_pod(t, name):
    """uvicorn --workers 2 (Debian's python3-uvicorn): a supervisor that
    binds the socket and starts 2 workers with multiprocessing's spawn
    (exec'd python3, the listener passed over a Unix socket); SIGTERM:
    it stops its workers (each finishes its requests) and exits 0."""
    pod = Pod(t, name, "uvicorn", delay=DELAY2)
    with open(os.path.join(pod.dir, "app.py"), "w") as f:
        f.write(ASGI_APP)
    pod.body = "uvicorn"
    pod.slow_path, pod.slow_body, pod.slow_s = "/slow", "slow", 1.0
    pod.proc = t.spawn([PY, "-m", "uvicorn", "--app-dir", pod.dir, "--host", pod.addr, "--port",
                        pod.port, "--workers", "2", "--lifespan", "off", "--no-access-log",
                        "app:app"], env=pod.env(), cwd=pod.dir, name="uvicorn-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.errors = r"Traceback|ERROR"
    pod.log_pids = {pod.owner}
    pod.wait_ready(20)
    wait_for(lambda: len(spawned(pod.owner)) >= 2, 20, "uvicorn to start 2 workers")
    pod.workers = spawned(pod.owner)
    pod.core_fn = lambda: [pod.owner] + pod.workers
    pod.exit_check = popen_exit(pod, (0,))
    return pod


def spawned(pid):
    """The children of pid that multiprocessing's spawn started (not its
    resource tracker)."""
    out = []
    for c in children_of(pid):
        try:
            with open("/proc/%d/cmdline" % c, "rb") as f:
                if b"spawn_main" in f.read():
                    out.append(c)
        except OSError:
            pass
    return out


def test_matrix_uvicorn(t):
    """uvicorn with --workers 2: the workers are exec'd (they find the tree
    through the environment) and accept from the listener they were sent;
    the supervisor gets SIGTERM after the drain, stops them and exits 0."""
    need(PY)
    run_row(t, "uvicorn --workers 2", "uvicorn " + dpkg_version("python3-uvicorn"), {},
            uvicorn_pod)


test_matrix_uvicorn.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- puma, unicorn

RACK_APP = """app = lambda do |env|
  if env["PATH_INFO"] == "/slow"
    sleep 1
    [200, {"Content-Type" => "text/plain"}, ["slow\\n"]]
  else
    [200, {"Content-Type" => "text/plain"}, ["%s\\n"]]
  end
end
run app
"""


def write_rack(pod, body):
    path = os.path.join(pod.dir, "config.ru")
    with open(path, "w") as f:
        f.write(RACK_APP % body)
    pod.body = body
    pod.slow_path, pod.slow_body, pod.slow_s = "/slow", "slow", 1.0
    return path


def puma_pod(t, name):
    """puma in cluster mode (Debian's puma): a master and 2 forked workers
    of 2 threads each; SIGTERM is its graceful stop (the workers finish
    their requests), after which the master raises SignalException
    (raise_exception_on_sigterm, on by default): Ruby ends it by
    SIGTERM."""
    pod = Pod(t, name, "puma", delay=DELAY2)
    ru = write_rack(pod, "puma")
    pod.proc = t.spawn(["puma", "--workers", "2", "--threads", "2:2", "--bind",
                        "tcp://%s:%d" % (pod.addr, pod.port), "--dir", pod.dir, ru],
                       env=pod.env(), cwd=pod.dir, name="puma-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.errors = r"Error|error:|Exception"
    pod.log_pids = {pod.owner}
    pod.wait_ready(30)
    workers_of(pod, 2, "puma")
    pod.exit_check = popen_exit(pod, (-signal.SIGTERM,))
    return pod


def test_matrix_puma(t):
    """puma, cluster mode with 2 workers: SIGTERM delivered as is after the
    drain (puma's graceful stop); the master ends by SIGTERM once its
    workers stopped."""
    need("puma")
    run_row(t, "puma (cluster mode)",
            version(["puma", "--version"], "puma", r"(puma) version (\S+)"), {}, puma_pod)


test_matrix_puma.timeout = LB_TIMEOUT

UNICORN_CONF = """worker_processes 2
listen "{addr}:{port}"
pid "{d}/unicorn.pid"
timeout 30
"""


def unicorn_pod(t, name):
    """unicorn (Debian's): a master and 2 forked workers, one request per
    connection (it answers Connection: close); SIGTERM is its immediate
    stop and QUIT its graceful one: LAMEDUCK_DELIVER=QUIT; exits 0."""
    pod = Pod(t, name, "unicorn", delay=DELAY2)
    ru = write_rack(pod, "unicorn")
    conf = os.path.join(pod.dir, "unicorn.conf.rb")
    with open(conf, "w") as f:
        f.write(UNICORN_CONF.format(addr=pod.addr, port=pod.port, d=pod.dir))
    pod.proc = t.spawn(["unicorn", "-c", conf, ru], env=pod.env(**UNICORN_VARS), cwd=pod.dir,
                       name="unicorn-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.errors = r"ERROR|Exception"
    pod.log_pids = {pod.owner}
    pod.wait_ready(30)
    workers_of(pod, 2, "unicorn")
    pod.exit_check = popen_exit(pod, (0,))
    return pod


UNICORN_VARS = {"DELIVER": "QUIT"}


def test_matrix_unicorn(t):
    """unicorn with LAMEDUCK_DELIVER=QUIT (its graceful stop; SIGTERM would
    kill the workers at once): the master exits 0 once its workers
    finished."""
    need("unicorn")
    run_row(t, "unicorn", version(["unicorn", "-v"], "unicorn", r"(unicorn) v(\S+)"), UNICORN_VARS,
            unicorn_pod, conns=8)


test_matrix_unicorn.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- Twisted

def twisted_pod(t, name):
    """`twistd3 -n web --wsgi app.application` (Debian's python3-twisted):
    one process, the reactor serving HTTP/1.1 keep-alive, the WSGI app in
    its thread pool; SIGTERM stops the reactor, and twistd then ends
    itself with the signal that stopped it (killed by SIGTERM)."""
    pod = Pod(t, name, "twistd web", delay=DELAY2)
    write_wsgi(pod, "twisted")
    env = pod.env()
    env["PYTHONPATH"] = pod.dir
    pod.proc = t.spawn(["twistd3", "-n", "--pidfile=", "--logfile=-", "web", "--listen",
                        "tcp:%d:interface=%s" % (pod.port, pod.addr), "--wsgi",
                        "app.application"], env=env, cwd=pod.dir, name="twistd-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.errors = r"Traceback|Unhandled"
    pod.log_pids = {pod.owner}
    pod.wait_ready(20)
    pod.exit_check = popen_exit(pod, (-signal.SIGTERM,))
    return pod


def test_matrix_twisted(t):
    """Twisted's `twistd web` serving a WSGI app: SIGTERM stops the reactor
    after the drain; twistd ends by SIGTERM."""
    need("twistd3")
    run_row(t, "Twisted (twistd web, WSGI)", "Twisted " + dpkg_version("python3-twisted"), {},
            twisted_pod)


test_matrix_twisted.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- aiohttp

AIOHTTP_SERVER = """import asyncio
import sys

from aiohttp import web


async def index(request):
    return web.Response(text="aiohttp\\n")


async def slow(request):
    await asyncio.sleep(1.0)
    return web.Response(text="slow\\n")

app = web.Application()
app.router.add_get("/", index)
app.router.add_get("/slow", slow)
web.run_app(app, host=sys.argv[1], port=int(sys.argv[2]), access_log=None,
            print=lambda *a: print("ready", flush=True))
"""


def aiohttp_pod(t, name):
    """aiohttp's web.run_app (Debian's python3-aiohttp): one process, an
    asyncio loop; SIGTERM makes run_app shut down (handlers finish); exits
    0."""
    pod = Pod(t, name, "aiohttp", delay=DELAY2)
    src = os.path.join(pod.dir, "server.py")
    with open(src, "w") as f:
        f.write(AIOHTTP_SERVER)
    pod.body = "aiohttp"
    pod.slow_path, pod.slow_body, pod.slow_s = "/slow", "slow", 1.0
    pod.proc = t.spawn([PY, src, pod.addr, pod.port], env=pod.env(), cwd=pod.dir,
                       name="aiohttp-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.errors = r"Traceback|Error"
    pod.log_pids = {pod.owner}
    pod.proc.wait_ready_line(20)
    pod.wait_ready()
    pod.exit_check = popen_exit(pod, (0,))
    return pod


def test_matrix_aiohttp(t):
    """aiohttp web.run_app: SIGTERM after the drain; run_app's own handler
    shuts the app down; exits 0."""
    need(PY)
    run_row(t, "aiohttp (web.run_app)", "aiohttp " + dpkg_version("python3-aiohttp"), {},
            aiohttp_pod)


test_matrix_aiohttp.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- Tomcat

TOMCAT_SERVER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="{port}" address="{addr}" protocol="HTTP/1.1"
               connectionTimeout="20000" maxKeepAliveRequests="-1" />
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false" />
    </Engine>
  </Service>
</Server>
"""

TOMCAT_SLOW_JSP = """<%@ page contentType="text/plain" %><% Thread.sleep(1000); %>slow
"""

TOMCAT_HOME = "/usr/share/tomcat10"


def tomcat_pod(t, name):
    """Tomcat 10 (Debian's tomcat10), `catalina.sh run` (which execs the
    JVM) with a CATALINA_BASE of its own: the HTTP/1.1 connector, the ROOT
    webapp with a static page and a JSP that sleeps 1 s (compiled before
    the test). The JVM's SIGTERM handler runs Tomcat's shutdown hook, which
    stops the connector and the webapps; exits 143."""
    pod = Pod(t, name, "Tomcat", delay=DELAY2)
    base = pod.dir
    for d in ("conf", "logs", "temp", "work", "webapps/ROOT"):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    for fn in ("web.xml", "catalina.properties", "logging.properties"):
        shutil.copy(os.path.join("/etc/tomcat10", fn), os.path.join(base, "conf", fn))
    with open(os.path.join(base, "conf", "server.xml"), "w") as f:
        f.write(TOMCAT_SERVER_XML.format(port=pod.port, addr=pod.addr))
    with open(os.path.join(base, "webapps/ROOT/index.html"), "w") as f:
        f.write("tomcat\n")
    with open(os.path.join(base, "webapps/ROOT/slow.jsp"), "w") as f:
        f.write(TOMCAT_SLOW_JSP)
    env = pod.env()
    env.update(CATALINA_HOME=TOMCAT_HOME, CATALINA_BASE=base,
               CATALINA_TMPDIR=os.path.join(base, "temp"),
               JAVA_OPTS=" ".join(["-XX:+UseSerialGC", "-Xmx128m", "-XX:TieredStopAtLevel=1",
                                   "-Xshare:auto"]))
    pod.proc = t.spawn([os.path.join(TOMCAT_HOME, "bin/catalina.sh"), "run"], env=env, cwd=base,
                       name="tomcat-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.path, pod.body = "/index.html", "tomcat"
    pod.slow_path, pod.slow_body, pod.slow_s = "/slow.jsp", "slow", 1.0
    pod.errors = r"SEVERE|Exception"
    pod.log_pids = {pod.owner}
    pod.wait_ready(TOMCAT_START)
    # Jasper compiles the JSP at its first request: not in the test's.
    check(try_http(pod.port, pod.slow_path, timeout=30, http10=True) == (200, "slow"),
          "pod %s: %s did not answer" % (name, pod.slow_path))
    pod.exit_check = popen_exit(pod, (143,))
    return pod


TOMCAT_START = 90       # a JVM on a small shared CI machine


def test_matrix_tomcat(t):
    """Tomcat 10 behind HAProxy: the JVM gets SIGTERM after the drain;
    Tomcat's shutdown hook stops it; exits 143."""
    need(os.path.join(TOMCAT_HOME, "bin/catalina.sh"), "java")
    run_row(t, "Tomcat 10", "Tomcat " + dpkg_version("tomcat10"), {}, tomcat_pod)


test_matrix_tomcat.timeout = 2 * TOMCAT_START + LB_TIMEOUT


# ---------------------------------------------------------------- h2o

H2O_CONF = """num-threads: 2
error-log: /dev/stderr
listen:
  host: {addr}
  port: {port}
hosts:
  default:
    paths:
      /slow:
        proxy.reverse.url: http://127.0.0.1:{slow}/slow
      /:
        file.dir: {d}/www
"""

H2O_EXIT = 1.0          # its graceful stop waits for its connections: closed idle before delivery


def h2o_pod(t, name):
    """h2o (Debian's), one process with 2 threads (num-threads: 2), as
    nobody (it drops root); a static file, and /slow proxied to an upstream
    of 1 s. SIGTERM is its graceful stop: it stops accepting, then waits
    for its connections to close; HAProxy keeps its idle keep-alive ones
    open, and h2o closes them when idle for http1-request-timeout (10 s
    after HAProxy's last request on them, ~0.4 s after SIGTERM). Exits
    0."""
    pod = Pod(t, name, "h2o", delay=DELAY2)
    slow = t.port()
    up = t.spawn([os.path.join(PROGS, "slow_epoll"), slow, 1000], shim=False,
                 name="upstream-" + name)
    up.wait_ready_line()
    www = os.path.join(pod.dir, "www")
    os.makedirs(www)
    os.chmod(www, 0o755)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("h2o\n")
    conf = os.path.join(pod.dir, "h2o.conf")
    with open(conf, "w") as f:
        f.write(H2O_CONF.format(d=pod.dir, addr=pod.addr, port=pod.port, slow=slow))
    pod.proc = t.spawn(["h2o", "-c", conf], env=pod.env(), cwd=pod.dir, name="h2o-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.path, pod.body = "/index.html", "h2o"
    pod.slow_path, pod.slow_body, pod.slow_s = "/slow", "done", 1.0
    pod.errors = r"\[error\]|failed to"
    pod.log_pids = {pod.owner}
    pod.extra_exit = H2O_EXIT
    pod.wait_ready(20)
    pod.exit_check = popen_exit(pod, (0,))
    return pod


def test_matrix_h2o(t):
    """h2o with 2 threads: 0 failed, the drain lets the requests in flight
    finish; the idle keep-alive connections HAProxy keeps are closed before
    delivery, so h2o's own graceful stop, which waits for them, ends
    within H2O_EXIT of delivery (it took 7.7 s when they stayed open)."""
    need("h2o")

    def exit_time(t, a, t_sig, t_gone):
        at = [re.search(r"delivering SIG\w+ after ([0-9.]+)s", l) for l in a.shim_lines()]
        at = [float(m.group(1)) for m in at if m]
        if not at:
            return ["no delivery in the log: %r" % a.shim_lines()]
        after_delivery = t_gone - t_sig - at[0]
        t.note("h2o gone %.2fs after SIGTERM, %.2fs after delivery" %
               (t_gone - t_sig, after_delivery))
        if after_delivery > H2O_EXIT:
            return ["h2o gone %.2fs after delivery (bound %.1fs): its idle connections stayed"
                    " open" % (after_delivery, H2O_EXIT)]
        return []
    run_row(t, "h2o (num-threads 2)", version(["h2o", "-v"], "h2o version", r"(h2o) version (\S+)"),
            {}, h2o_pod, after=exit_time)


test_matrix_h2o.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- Apache, mpm_event

def apache_event_pod(t, name):
    """Apache httpd with mpm_event, Debian's default MPM: the parent and
    child processes of threads, keep-alive connections handed between
    the worker threads and a listener thread; otherwise as apache_pod
    (LAMEDUCK_DELIVER=WINCH, its graceful stop; mod_cgi's 1 s script)."""
    pod = apache_pod(t, name, mpm="event", delay=DELAY2)
    return pod


def test_matrix_apache2_event(t):
    """Apache httpd, mpm_event, LAMEDUCK_DELIVER=WINCH: zero failed
    requests, the parent exits 0, the tree is gone in time."""
    need("/usr/sbin/apache2")
    check(os.path.exists("/usr/lib/apache2/modules/mod_mpm_event.so"),
          "apache2's mod_mpm_event.so is missing")
    run_row(t, "Apache httpd (mpm_event)",
            version(["/usr/sbin/apache2", "-v"], "Apache/", r"(Apache/\S+)"),
            {"DELIVER": "WINCH"}, apache_event_pod, conns=8)


test_matrix_apache2_event.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- waitress

def waitress_pod(t, name):
    """waitress-serve (Debian's python3-waitress): one process, an asyncore
    loop and 4 worker threads for the WSGI app; no SIGTERM handler, so
    Python's default action ends it."""
    pod = Pod(t, name, "waitress", delay=DELAY2)
    write_wsgi(pod, "waitress")
    pod.proc = t.spawn(["waitress-serve", "--listen=%s:%d" % (pod.addr, pod.port),
                        "--threads=4", "app:application"], env=pod.env(), cwd=pod.dir,
                       name="waitress-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.errors = r"Traceback|ERROR"
    pod.log_pids = {pod.owner}
    pod.wait_ready(20)
    pod.exit_check = popen_exit(pod, (-signal.SIGTERM,))
    return pod


def test_matrix_waitress(t):
    """waitress-serve with 4 threads: no handler, it dies by SIGTERM after
    the delay and the drain."""
    need("waitress-serve")
    run_row(t, "waitress", "waitress " + dpkg_version("python3-waitress"), {}, waitress_pod)


test_matrix_waitress.timeout = LB_TIMEOUT
