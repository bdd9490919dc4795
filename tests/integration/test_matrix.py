"""The compatibility matrix (issue 6, README "Compatibility"), HTTP part:
real servers, each run as two pods behind HAProxy (mode http, health
checks on /readyz) under wrk keep-alive load, SIGTERM to pod a 2 s in —
pods.lb_case, whose docstring lists what is asserted (no failed
request, /readyz 503 at once, serving through the delay, the slow request
answered across the drain, the whole tree gone in time, the owner ending
the way the program ends on the signal it was given, one health listener
held by the owner, ...).

Once every assertion held, each case records its row with matrix.record():
the server's version, the LAMEDUCK_* variables it needed beyond the test's
DELAY=1s and DRAIN_TIMEOUT=5s, the client, requests sent and failed, and
how pod a's main process ended. `python3 tests/integration/matrix.py`
prints the table.

Every server has a slow path (a request taking 1 s or more, sent straight
to pod a 0.3 s before the drain begins, which must be answered in full):

| server | slow path |
| --- | --- |
| nginx | proxy_pass to an upstream of 1 s |
| lighttpd, Apache, busybox httpd, python3 http.server | a CGI script (`sleep 1`) |
| node | setTimeout 1 s |
| Java | Thread.sleep 1 s in the executor's thread |
| socat | the per-connection responder script sleeps 1 s |
| gunicorn | time.sleep 1 s in the WSGI app |
| Go | time.Sleep 1.5 s in the handler |

A case that fails records its row too, marked FAILED.

Packages: nginx-light, lighttpd, apache2, python3, nodejs,
openjdk-17-jdk-headless, busybox, socat, gunicorn, golang-go, haproxy, wrk.
"""
import os
import re
import shutil
import signal
import subprocess
import threading
import time

from harness import PY, TestFailure, check, fail, need, now, try_http
from matrix import record, version_of
from pods import (DELAY, DRAIN, LB_TIMEOUT, PY_CONNS, Pod, SlowRequest, apache_pod, build_go,
                  busybox_pod, gunicorn_pod, is_static_elf, lb_case, nginx_pod, popen_exit,
                  write_cgi)


CLIENT = "wrk -c%d keep-alive via HAProxy http"


def run_row(t, server, version, variables, make_pod, conns=16, **kw):
    """lb_case, then the row. A case that fails records its row too, its
    exit column saying FAILED and the first problem."""
    got = {}
    try:
        res = lb_case(t, make_pod, conns=conns, into=got, **kw)
    except TestFailure:
        if got:
            probs = got["problems"] or ["?"]
            record(server, version, variables, CLIENT % got["conns"], got["requests"],
                   got["failed"], "%s; FAILED: %s" % (got["exit"], probs[0][:160]),
                   got["delay"])
        raise
    record(server, version, variables, CLIENT % res["conns"], res["requests"], res["failed"],
           res["exit"], res["delay"])
    t.note("matrix row: %s | %s | %s | %d requests, %d failed | %s" %
           (server, version, variables or "-", res["requests"], res["failed"], res["exit"]))
    return res


def version(argv, pick, rx):
    """The part of the program's version line that matters (rx's first
    group), or the whole line."""
    line = version_of(argv, pick)
    m = re.search(rx, line)
    return " ".join(m.groups()) if m else line


# ---------------------------------------------------------------- nginx

def test_matrix_nginx(t):
    """nginx (master + 2 workers as www-data), SIGTERM delivered as is (its
    fast shutdown, harmless once the drain has let the workers' requests
    finish): the tree serves through the delay and is gone after delay +
    drain; one health listener (the master's) all along."""
    need("nginx")
    run_row(t, "nginx", version(["nginx", "-v"], "nginx/", r"(nginx/\S+)"), {}, nginx_pod)


test_matrix_nginx.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- lighttpd

LIGHTTPD_CONF = """server.document-root = "{d}/www"
server.bind = "{addr}"
server.port = {port}
server.username = "www-data"
server.groupname = "www-data"
server.max-keep-alive-requests = 10000
server.modules = ("mod_cgi")
mimetype.assign = (".html" => "text/html")
$HTTP["url"] =~ "^/cgi-bin/" {{
    cgi.assign = ("" => "")
}}
"""


def lighttpd_pod(t, name):
    """lighttpd -D (one process, epoll, as www-data), a static file and a
    1 s CGI script; SIGTERM delivered as SIGINT (its graceful stop); exits
    0."""
    pod = Pod(t, name, "lighttpd")
    www = os.path.join(pod.dir, "www")
    write_cgi(os.path.join(www, "cgi-bin"))
    os.chmod(www, 0o755)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("lighttpd\n")
    pod.slow_path, pod.slow_body, pod.slow_s = "/cgi-bin/slow", "cgi-done", 1.0
    conf = os.path.join(pod.dir, "lighttpd.conf")
    with open(conf, "w") as f:
        f.write(LIGHTTPD_CONF.format(d=pod.dir, addr=pod.addr, port=pod.port))
    pod.proc = t.spawn(["lighttpd", "-D", "-f", conf], env=pod.env(**LIGHTTPD_VARS),
                       name="lighttpd-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.path, pod.body = "/index.html", "lighttpd"
    pod.errors = r"accept|[Ee]rror|failed"
    pod.log_pids = {pod.owner}
    pod.wait_ready()
    pod.extra_exit = 1.0        # graceful stop: idle keep-alive connections close at its next tick
    pod.exit_check = popen_exit(pod, (0,))
    return pod


LIGHTTPD_VARS = {"DELIVER": "INT"}


def test_matrix_lighttpd(t):
    """lighttpd with LAMEDUCK_DELIVER=INT: SIGTERM is its immediate stop,
    SIGINT its graceful one. After the drain both lose no request, but the
    immediate stop with connections still open (HAProxy's idle keep-alive
    ones) makes lighttpd exit 1, without the shim too; the graceful stop
    closes them and exits 0. lighttpd's own log (stderr, with -D) must show
    no error (nor "strange event for server socket": its listener woken by
    the dying socket, see test_matrix_lighttpd_queued), and its stop."""
    need("lighttpd")

    def log_ok(t, a, t_sig, t_gone):
        lines = [l for l in a.proc.err_lines() if not l.startswith("lameduck")]
        t.note("lighttpd's error log: %s" % " | ".join(l.split(") ", 1)[-1] for l in lines))
        bad = [l for l in lines if "error" in l.lower() or "failed" in l.lower() or
               "strange event" in l]
        probs = ["lighttpd logged errors: %r" % bad[:3]] if bad else []
        if not any("shutdown" in l or "stopped" in l for l in lines):
            probs.append("lighttpd never logged its shutdown: %r" % lines[-4:])
        return probs
    run_row(t, "lighttpd", version(["lighttpd", "-v"], "lighttpd/", r"(lighttpd/\S+)"),
            LIGHTTPD_VARS, lighttpd_pod, after=log_ok)


test_matrix_lighttpd.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- Apache

def test_matrix_apache2(t):
    """Apache httpd, mpm_prefork, LAMEDUCK_DELIVER=WINCH (graceful stop:
    SIGTERM is its immediate stop, which kills the children and whatever
    they serve): zero failed requests, the parent exits 0, the tree is gone
    in time."""
    need("/usr/sbin/apache2")
    check(os.path.exists("/usr/lib/apache2/modules/mod_mpm_prefork.so"),
          "apache2's mod_mpm_prefork.so is missing")

    def graceful(t, a, t_sig, t_gone):
        got = [l for l in a.proc.err_lines() if "SIGWINCH" in l]
        return [] if got else ["apache2 never logged SIGWINCH (graceful stop): %r" %
                               a.proc.err_lines()[-6:]]
    run_row(t, "Apache httpd (mpm_prefork)",
            version(["/usr/sbin/apache2", "-v"], "Apache/", r"(Apache/\S+)"),
            {"DELIVER": "WINCH"}, apache_pod, conns=8, after=graceful)


test_matrix_apache2.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- python3 http.server

def python_pod(t, name):
    """`python3 -m http.server --cgi PORT --bind ADDR` (a ThreadingHTTPServer,
    a thread per connection; CGI scripts forked per request, as nobody), a
    static file and a 1 s CGI script; no SIGTERM handler: dies by it."""
    pod = Pod(t, name, "python3 http.server")
    write_cgi(os.path.join(pod.dir, "cgi-bin"))
    with open(os.path.join(pod.dir, "index.html"), "w") as f:
        f.write("python\n")
    pod.slow_path, pod.slow_body, pod.slow_s = "/cgi-bin/slow", "cgi-done", 1.0
    pod.proc = t.spawn([PY, "-m", "http.server", "--cgi", pod.port, "--bind", pod.addr],
                       env=pod.env(), cwd=pod.dir, name="http.server-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.path, pod.body = "/index.html", "python"
    pod.errors = r"Traceback|Error|CGI script exit status"
    pod.log_pids = {pod.owner}
    pod.wait_ready()
    pod.exit_check = popen_exit(pod, (-signal.SIGTERM,))
    return pod


def test_matrix_python_http_server(t):
    """python3 -m http.server: no handler, dies by SIGTERM after delay and
    drain. Its listen backlog is 5 (socketserver's request_queue_size): the
    load stays below it, as in test_tree.py's wrapper cases (a dropped SYN is
    resent a second later, possibly into the drain's RST)."""
    run_row(t, "python3 -m http.server", version_of([PY, "--version"], "Python"), {},
            python_pod, conns=PY_CONNS)


test_matrix_python_http_server.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- node

NODE_SERVER = r"""'use strict';
const http = require('http');
const [port, host] = [Number(process.argv[2]), process.argv[3]];
function send(res, body) {
  res.writeHead(200, {'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body)});
  res.end(body);
}
const server = http.createServer((req, res) => {
  if (req.url === '/slow') setTimeout(() => send(res, 'slow\n'), 1000);
  else send(res, 'node\n');
});
server.listen(port, host, () => console.log('ready'));
// The usual graceful stop: stop listening, let the open requests end
// (node >= 19 closes idle keep-alive connections in close()), exit 0.
process.on('SIGTERM', () => {
  console.log('SIGTERM');
  server.close(() => { console.log('closed'); process.exit(0); });
});
"""


def node_pod(t, name):
    """node, a plain http.createServer script with a SIGTERM handler that
    calls server.close() and exits 0 once it closed; /slow answers after a
    1 s setTimeout."""
    pod = Pod(t, name, "node")
    js = os.path.join(pod.dir, "server.js")
    with open(js, "w") as f:
        f.write(NODE_SERVER)
    pod.proc = t.spawn([shutil.which("node"), js, pod.port, pod.addr], env=pod.env(),
                       name="node-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.body = "node"
    pod.slow_path, pod.slow_body, pod.slow_s = "/slow", "slow", 1.0
    pod.errors = r"Error|Uncaught|EADDR|ECONN"
    pod.log_pids = {pod.owner}
    pod.proc.wait_ready_line(30)
    pod.wait_ready()
    pod.exit_check = popen_exit(pod, (0,))
    return pod


def test_matrix_node(t):
    """node with process.on('SIGTERM', server.close -> exit 0): the handler
    runs only after delay and drain (it logs 'SIGTERM' then), and node
    exits 0."""
    need("node")

    def handler_ran(t, a, t_sig, t_gone):
        got = [tl for tl in a.proc.out if tl[1] == "SIGTERM"]
        if not got:
            return ["node's SIGTERM handler never ran: %s" % a.proc.tail()]
        t.note("node's handler ran %.2fs after SIGTERM" % (got[0][0] - t_sig))
        took = got[0][0] - t_sig
        return [] if took >= DELAY - 0.05 else \
            ["node's SIGTERM handler ran %.2fs after SIGTERM, before the delay" % took]
    run_row(t, "node (SIGTERM handler: server.close)", "node " + version_of(["node", "--version"]),
            {}, node_pod, after=handler_ran)


test_matrix_node.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- Java

JAVA_SERVER = r"""import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;

public class Server {
    static void answer(HttpExchange ex, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain");
        ex.sendResponseHeaders(200, b.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(b);
        }
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        HttpServer server = HttpServer.create(new InetSocketAddress(args[1], port), 128);
        server.createContext("/", ex -> answer(ex, "java\n"));
        server.createContext("/slow", ex -> {
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            answer(ex, "slow\n");
        });
        server.setExecutor(Executors.newFixedThreadPool(16));
        server.start();
        System.out.println("ready");
    }
}
"""

JAVA_OPTS = ["-XX:+UseSerialGC", "-Xmx64m", "-XX:TieredStopAtLevel=1", "-Xshare:auto"]


def java_pod(t, name):
    """`java Server.java` (source-file mode): com.sun.net.httpserver's
    HttpServer with a fixed pool of 16 executor threads; /slow sleeps 1 s.
    No shutdown hook: the JVM's own SIGTERM handler exits 143."""
    pod = Pod(t, name, "java HttpServer")
    src = os.path.join(pod.dir, "Server.java")
    with open(src, "w") as f:
        f.write(JAVA_SERVER)
    pod.proc = t.spawn([shutil.which("java")] + JAVA_OPTS + [src, pod.port, pod.addr],
                       env=pod.env(), name="java-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.body = "java"
    pod.slow_path, pod.slow_body, pod.slow_s = "/slow", "slow", 1.0
    pod.errors = r"Exception|Error"
    pod.log_pids = {pod.owner}
    pod.proc.wait_ready_line(60)       # compiling the source takes seconds on small CI
    pod.wait_ready()
    pod.exit_check = popen_exit(pod, (143,))
    return pod


def test_matrix_java(t):
    """A Java com.sun.net.httpserver server run with `java Server.java`
    (JDK 17): the JVM's SIGTERM handler (runs shutdown hooks, exits 143)
    gets the signal after delay and drain."""
    need("java")
    run_row(t, "Java com.sun.net.httpserver",
            version(["java", "-version"], "version", r'(\w+) version "([^"]+)"'), {}, java_pod)


test_matrix_java.timeout = 120


# ---------------------------------------------------------------- busybox httpd

def test_matrix_busybox_httpd(t):
    """busybox httpd (fork per connection) with a 1 s CGI script: a CGI
    request in flight at SIGTERM and one in flight when the drain begins
    (sent 0.3 s before the delay ends) both get their answer; the tree is
    gone only after them. Skipped (noted) if busybox is statically linked:
    the shim cannot load there."""
    need("busybox")
    bb = os.path.realpath(shutil.which("busybox"))
    if is_static_elf(bb):
        t.note("SKIPPED: %s is statically linked: LD_PRELOAD cannot load the shim into it"
               " (a limit no preload shim can pass; install Debian's `busybox`, not"
               " `busybox-static`)" % bb)
        return
    out = subprocess.run(["busybox", "--list"], capture_output=True, text=True).stdout.split()
    if "httpd" not in out:
        t.note("SKIPPED: this busybox has no httpd applet")
        return
    reqs = []

    def before(t, a):
        reqs.append(SlowRequest(a, now(), "sent 0.2 s before SIGTERM"))
        time.sleep(0.2)
        return []

    def after(t, a, t_sig, t_gone):
        return reqs[0].verdict(t, t_sig, t_gone, None)
    run_row(t, "busybox httpd", version(["busybox"], "BusyBox", r"(BusyBox v\S+)"), {},
            busybox_pod, conns=8, before=before, after=after)


test_matrix_busybox_httpd.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- socat

SOCAT_RESPONDER = r"""#!/bin/sh
# One HTTP request per connection: the request line, the headers up to the
# empty line, then an answer that closes the connection.
cr=$(printf '\r')
read -r method path proto
while IFS= read -r line; do
    line=${line%"$cr"}
    [ -z "$line" ] && break
done
case "$path" in
    /slow) sleep 1; body=slow ;;
    *) body=socat ;;
esac
printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n' $((${#body} + 1))
printf 'Connection: close\r\n\r\n%s\n' "$body"
"""


def socat_pod(t, name):
    """socat TCP-LISTEN:PORT,bind=ADDR,fork,reuseaddr EXEC:responder: a
    socat child forked per connection, which runs a shell script that
    answers one request and closes; /slow sleeps 1 s."""
    pod = Pod(t, name, "socat")
    sh = os.path.join(pod.dir, "respond.sh")
    with open(sh, "w") as f:
        f.write(SOCAT_RESPONDER)
    os.chmod(sh, 0o755)
    pod.proc = t.spawn(["socat", "-d", "TCP-LISTEN:%d,bind=%s,fork,reuseaddr,backlog=128" %
                        (pod.port, pod.addr), "EXEC:%s" % sh], env=pod.env(),
                       name="socat-" + name)
    pod.owner = pod.root = pod.proc.pid
    pod.body = "socat"
    pod.slow_path, pod.slow_body, pod.slow_s = "/slow", "slow", 1.0
    pod.errors = r" [EF] "
    pod.log_pids = {pod.owner}
    pod.wait_ready()
    pod.exit_check = popen_exit(pod, SOCAT_EXIT)
    return pod


SOCAT_EXIT = (143,)


def test_matrix_socat(t):
    """socat with fork (a child per connection, a script per request): the
    children's requests count as in flight; socat's own SIGTERM handler
    ends it after delay and drain."""
    need("socat")
    run_row(t, "socat (fork, EXEC per connection)",
            version(["socat", "-V"], "socat version", r"socat version (\S+)"), {}, socat_pod,
            conns=8)


test_matrix_socat.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- gunicorn

def test_matrix_gunicorn(t):
    """gunicorn, 2 sync workers, 200 ms a request: requests in the workers
    at the drain finish; the arbiter exits 0 after delay + drain."""
    need("/usr/bin/gunicorn")
    run_row(t, "gunicorn (sync workers)",
            version(["/usr/bin/gunicorn", "--version"], "gunicorn", r"\(version (\S+)\)"), {},
            gunicorn_pod, conns=4)


test_matrix_gunicorn.timeout = LB_TIMEOUT


# ---------------------------------------------------------------- Go

GO_SHUTDOWN_SERVER = """package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(1500 * time.Millisecond)
		}
		fmt.Fprintln(w, "go")
	})
	srv := &http.Server{Addr: "127.0.0.1:" + os.Args[1], Handler: mux}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	stopped := make(chan struct{})
	go func() {
		<-term
		fmt.Println("SIGTERM")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Printf("shutdown: %v", err)
		}
		close(stopped)
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatalf("listen: %v", err)
	}
	<-stopped
	fmt.Println("stopped")
}
"""


def go_pod_maker(exe, shutdown):
    def go_pod(t, name):
        """A net/http server built with cgo (Debian's golang-go): listener
        and connections made with raw system calls; /slow sleeps 1.5 s.
        shutdown=False: tests/go/gosrv.go, no signal.Notify (Go's runtime
        re-raises SIGTERM with the default action); True: signal.Notify and
        http.Server.Shutdown, then exit 0."""
        pod = Pod(t, name, "go (cgo)" + (" with Shutdown" if shutdown else ""))
        pod.proc = t.spawn([exe, pod.port], env=pod.env(), name="go-" + name)
        pod.owner = pod.root = pod.proc.pid
        pod.body = "go"
        pod.slow_path, pod.slow_body, pod.slow_s = "/slow", "go", 1.5
        pod.errors = r"Accept error|listen|shutdown:|panic"
        pod.log_pids = {pod.owner}
        pod.wait_ready()
        pod.exit_check = popen_exit(pod, (0,) if shutdown else (-signal.SIGTERM,))
        return pod
    return go_pod


def go_version():
    return version(["go", "version"], "go version", r"go version (go\S+)")


def test_matrix_go_cgo(t):
    """tests/go/gosrv.go (http.ListenAndServe, no signal handling) built with
    cgo: readiness finds its listener by the descriptor scan (Go listens
    with raw system calls), and the drain finds its connections the same
    way (shim/rawconn.c: accepted with raw accept4, they are not in the
    descriptor table): /slow, in flight on one at the drain, is answered
    before Go's default action ends the process. Asserted besides: the
    drain's log line counts that request and HAProxy's connections."""
    exe = build_go(t)

    def counted(t, a, t_sig, t_gone):
        drain = [l.split(": ", 1)[-1] for l in a.shim_lines() if "draining:" in l]
        m = re.search(r"(\d+) requests? in flight, (\d+) connections? open", drain[0]) \
            if drain else None
        if m is None:
            return ["no drain line in the log: %r" % a.shim_lines()]
        if int(m.group(1)) < 1 or int(m.group(2)) < 2:
            return ["the drain did not see Go's connections (%r): /slow was in flight and"
                    " HAProxy held keep-alive connections" % drain[0]]
        return []
    run_row(t, "Go net/http (cgo), no signal handling", go_version(), {},
            go_pod_maker(exe, False), after=counted)


test_matrix_go_cgo.timeout = 180


def test_matrix_go_cgo_shutdown(t):
    """A cgo Go server that handles SIGTERM with signal.Notify and
    http.Server.Shutdown (the usual graceful stop): the shim delivers
    after delay + drain (the drain counts Go's connections, as above), Go's
    Shutdown stops its listener and waits for /slow, and the process exits 0
    only after answering it."""
    src = os.path.join(t.tmp, "goshutdown.go")
    with open(src, "w") as f:
        f.write(GO_SHUTDOWN_SERVER)
    exe = build_go(t, src)

    def handler_ran(t, a, t_sig, t_gone):
        got = [tl for tl in a.proc.out if tl[1] == "SIGTERM"]
        if not got:
            return ["Go's SIGTERM handler never ran: %s" % a.proc.tail()]
        took = got[0][0] - t_sig
        t.note("Go's signal.Notify got SIGTERM %.2fs after it was sent" % took)
        return [] if took >= DELAY - 0.05 else \
            ["Go got SIGTERM %.2fs after it was sent, before the delay" % took]
    run_row(t, "Go net/http (cgo), Shutdown on SIGTERM", go_version(), {},
            go_pod_maker(exe, True), after=handler_ran)


test_matrix_go_cgo_shutdown.timeout = 180


# ---------------------------------------------------------------- lighttpd: a queued connection

LIGHTTPD_QUEUE_CONF = """server.document-root = "{d}/www"
server.bind = "{addr}"
server.port = {port}
server.username = "www-data"
server.groupname = "www-data"
server.errorlog = "{log}"
server.max-connections = 1
server.modules = ("mod_cgi")
mimetype.assign = (".html" => "text/html")
$HTTP["url"] =~ "^/cgi-bin/" {{
    cgi.assign = ("" => "")
}}
"""

LOG_CAP = 32 << 20      # lighttpd's log, when it spins, grows by ~40 MB/s


def test_matrix_lighttpd_queued(t):
    """A connection queued on lighttpd's listener when the drain begins.
    lighttpd (server.max-connections = 1, so that its listener is off while
    a 1 s CGI request holds the one connection: registered in its epoll set
    for EPOLLERR|EPOLLHUP only) gets SIGTERM; a second request is sent 0.3 s
    before the drain and waits in the backlog. The shim takes it at the
    drain, to hand it to lighttpd's next accept(), moves the listener's
    registration to the placeholder and rings it, then shuts the real
    listener down. lighttpd must never see the shut-down socket (EPOLLHUP:
    "strange event for server socket", in a busy loop): both requests are
    answered, no such line, the drain ends with the CGI request (no drain
    timeout) and lighttpd exits 0. (The test stops lighttpd once its log
    passes 32 MB.)"""
    need("lighttpd")
    port, hport = t.port(), t.port()
    d = os.path.join(t.tmp, "lq")
    www = os.path.join(d, "www")
    os.makedirs(www)
    for p in (t.tmp, d, www):
        os.chmod(p, 0o755)
    write_cgi(os.path.join(www, "cgi-bin"))
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("lighttpd\n")
    log = os.path.join(d, "error.log")
    open(log, "w").close()
    shutil.chown(log, "www-data", "www-data")      # lighttpd opens it as www-data
    conf = os.path.join(d, "lighttpd.conf")
    with open(conf, "w") as f:
        f.write(LIGHTTPD_QUEUE_CONF.format(d=d, addr="127.0.0.1", port=port, log=log))
    p = t.spawn(["lighttpd", "-D", "-f", conf], health=hport, DELAY="1s", DRAIN_TIMEOUT="5s",
                DELIVER="INT", name="lighttpd")
    t.wait_health(hport, 200, proc=p)
    got = {}

    def get(key, path):
        t0 = now()
        got[key] = try_http(port, path, timeout=DELAY + DRAIN + 3) + (now() - t0,)
    t_sig = p.signal(signal.SIGTERM)
    slow = threading.Thread(target=get, args=("slow", "/cgi-bin/slow"), daemon=True)
    queued = threading.Thread(target=get, args=("queued", "/index.html"), daemon=True)
    time.sleep(max(0.0, t_sig + DELAY - 0.6 - now()))
    slow.start()
    time.sleep(max(0.0, t_sig + DELAY - 0.3 - now()))
    queued.start()

    def log_lines():
        with open(log, errors="replace") as f:
            return f.read(LOG_CAP + (1 << 20)).splitlines()
    # Until lighttpd ends, its log passes the cap (spinning), or time is up.
    end = t_sig + DELAY + DRAIN + 3
    while p.alive() and now() < end and os.path.getsize(log) < LOG_CAP:
        time.sleep(0.05)
    spun = os.path.getsize(log) >= LOG_CAP
    if p.alive():
        p.kill_group()
    slow.join(5)
    queued.join(5)
    lines = log_lines()
    strange = [l for l in lines if "strange event" in l]
    shim = p.shim_lines()
    t.note("lighttpd's log: %d lines, %d 'strange event' (%s); shim: %s" %
           (len(lines), len(strange), "stopped at the 32 MB cap" if spun else "complete",
            " | ".join(l.split(": ", 1)[-1] for l in shim)))
    t.note("requests: %s" % {k: "%s %r after %.2fs" % v for k, v in got.items()})
    check(any("sockets disabled" in l for l in lines),
          "lighttpd never turned its listener off (the setup failed): %r" % lines[:6])
    check(any("1 queued connection" in l for l in shim),
          "no connection was queued when the drain began (the setup failed): %r" % shim)
    problems = []
    for k in ("slow", "queued"):
        st, body, took = got.get(k, (None, "no answer", 0))
        want = "cgi-done" if k == "slow" else "lighttpd"
        if (st, body) != (200, want):
            problems.append("the %s request: %s %r after %.2fs" % (k, st, body, took))
    if strange:
        problems.append("lighttpd logged %d x %r%s" % (len(strange), strange[0],
                        " and was stopped spinning" if spun else ""))
    if any("drain timeout" in l for l in shim):
        problems.append("the drain ran into its timeout")
    if not spun and p.returncode != 0:
        problems.append("lighttpd: %s" % p.status_text())
    if problems:
        fail("a connection queued at the drain, with lighttpd:\n  - %s" %
             "\n  - ".join(problems))


test_matrix_lighttpd_queued.timeout = 60
