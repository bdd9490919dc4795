"""Retiring keep-alive connections behind an L4 balancer (README,
"Keep-alive and L4 balancers"). Two pods behind HAProxy in `mode tcp`
(health checks on /readyz): an established connection stays on its pod
whatever /readyz says. wrk keeps 16 keep-alive connections busy for 6 s;
pod a gets SIGTERM 2 s in (LAMEDUCK_DELAY=1s, LAMEDUCK_DRAIN_TIMEOUT=5s),
so the load outlasts the delay and the drain by seconds. With the
connections retired (the default LAMEDUCK_RETIRE=on), each pinned
connection's next response says "Connection: close", wrk opens a new one,
which HAProxy sends to pod b: wrk sees no failed request, the drain does
not run into its timeout, and the signal is delivered within the delay +
1.5 s (+ the slow request sent just before the drain). Everything else lb_case asserts holds
too (pods.py). Without retiring, the same case loses the requests on the
connections still pinned when the drain times out: the last test shows it,
so that the others can fail."""
import hashlib
import os
import re
import signal
import socket
import time

from harness import TestFailure, check, fail, need, now, wait_for
from pods import DELAY, DRAIN, KILL_AT, MARGIN, Pod, apache_pod, lb_case, nginx_pod, popen_exit
from pods import gunicorn_pod, start_haproxy, write_nginx_conf
from test_matrix import java_pod, lighttpd_pod, node_pod, python_pod
from test_matrix_more import aiohttp_pod, puma_pod, twisted_pod, uvicorn_pod

SLOW_MS = 3     # slow_epoll: each request answered this long after it came


def epoll_pod_maker(**variables):
    def make(t, name):
        """slow_epoll: one process, epoll, HTTP/1.1 keep-alive, no signal
        handling (dies of SIGTERM)."""
        pod = Pod(t, name, "slow_epoll")
        pod.proc = t.spawn([t.prog_path("slow_epoll"), pod.port, SLOW_MS],
                           env=pod.env(**variables), name="slow_epoll-" + name)
        pod.owner = pod.root = pod.proc.pid
        pod.log_pids = {pod.owner}
        pod.proc.wait_ready_line()
        pod.wait_ready()
        pod.exit_check = popen_exit(pod, (-15,))
        return pod
    return make


def retired(log):
    """(by header, closed idle) from pod a's delivery log line, or None."""
    for line in log:
        m = re.search(r'retiring connections: (\d+) closed by .*, (\d+) idle one', line)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def retire_case(t, make_pod, conns=16):
    """lb_case in mode tcp, and: the signal delivered within delay + the
    slow request lb_case sends just before the drain + MARGIN, far from the
    drain timeout the pinned connections would hold it to (what the program
    does after delivery is its own, bounded by lb_case); connections
    retired by their header."""
    def after(t, a, t_sig, t_gone):
        problems = []
        bound = a.delay + a.slow_s + MARGIN
        at = [re.search(r"delivering SIG\w+ .*after ([0-9.]+)s", l) for l in a.shim_lines()]
        at = [float(m.group(1)) for m in at if m]
        if not at:
            problems.append("no delivery in pod a's log")
        elif at[0] > bound:
            problems.append("pod a's signal delivered %.2fs after SIGTERM, over %.2fs (delay, "
                            "slow request, margin): the pinned connections held the drain" %
                            (at[0], bound))
        else:
            t.note("pod a: delivered %.2fs after SIGTERM, gone %.2fs after it" %
                   (at[0], t_gone - t_sig if t_gone else -1))
        r = retired(a.shim_lines())
        if r is None or r[0] == 0:
            problems.append("no connection retired by its response's header: %r" % (r,))
        else:
            t.note("pod a retired %d connection(s) by header, closed %d idle" % r)
        return problems
    res = lb_case(t, make_pod, mode="tcp", after=after, conns=conns)
    check(res["failed"] == 0, "failed requests: %d" % res["failed"])
    return res


def test_retire_tcp_epoll(t):
    """Our single-process epoll server (keep-alive, no signal handling)."""
    retire_case(t, epoll_pod_maker())


def test_retire_tcp_nginx(t):
    """nginx, master and 2 workers: the workers (members of the tree) retire
    their own connections."""
    retire_case(t, nginx_pod)


def test_retire_tcp_node(t):
    """node's http.createServer, server.close() on SIGTERM."""
    retire_case(t, node_pod)


def test_retire_tcp_lighttpd(t):
    """lighttpd (graceful stop on SIGINT, LAMEDUCK_DELIVER=INT)."""
    retire_case(t, lighttpd_pod)


def test_retire_tcp_apache(t):
    """Apache prefork (graceful stop on WINCH)."""
    retire_case(t, apache_pod)


def test_retire_tcp_java(t):
    """Java's com.sun.net.httpserver (the JVM's own SIGTERM handler)."""
    retire_case(t, java_pod)


def python_pod_tcp(t, name):
    """python_pod; through HAProxy mode tcp, wrk's connections reset at the
    end of its run reach http.server as they are, and it prints their
    tracebacks (ConnectionResetError, BrokenPipeError): not errors of the
    test."""
    pod = python_pod(t, name)
    pod.errors = r"CGI script exit status|^\w+Error: (?!\[Errno (104|32)\])"
    return pod


def test_retire_tcp_python_http_server(t):
    """python3 -m http.server: HTTP/1.0, a connection per request already."""
    retire_case(t, python_pod_tcp, conns=4)


def test_retire_tcp_gunicorn(t):
    """gunicorn, sync workers (they close after each response themselves)."""
    retire_case(t, gunicorn_pod, conns=4)


def test_retire_tcp_puma(t):
    """puma in cluster mode (Ruby)."""
    retire_case(t, puma_pod)


def test_retire_tcp_uvicorn(t):
    """uvicorn --workers 2 (ASGI): the workers retire their connections."""
    retire_case(t, uvicorn_pod)


def test_retire_tcp_aiohttp(t):
    """aiohttp's web.run_app."""
    retire_case(t, aiohttp_pod)


def test_retire_tcp_twisted(t):
    """Twisted's twistd web (WSGI)."""
    retire_case(t, twisted_pod)


def test_retire_off_loses_pinned_requests(t):
    """LAMEDUCK_RETIRE=off, the same case: the connections HAProxy pinned to
    pod a keep carrying requests through the delay and the drain, which
    runs to its timeout and ends them under requests: wrk sees failures.
    This is what the tests above would see if retiring did nothing."""
    got = {}
    try:
        # The load must outlast the whole drain timeout, or wrk's own end frees the drain.
        lb_case(t, epoll_pod_maker(RETIRE="off"), mode="tcp", into=got,
                seconds=int(KILL_AT + DELAY + DRAIN + 3))
    except TestFailure:
        pass
    check(got.get("failed", 0) > 0,
          "with LAMEDUCK_RETIRE=off wrk saw %r failed requests: the L4 case no longer shows "
          "the problem the others are meant to catch; problems: %r" %
          (got.get("failed"), got.get("problems", [])[:3]))
    t.note("LAMEDUCK_RETIRE=off: %d of %d requests failed (%s)" %
           (got["failed"], got.get("requests", 0), got.get("exit")))


def read_response(s):
    """One HTTP/1.1 response with a Content-Length from socket s: its head."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        check(chunk, "the connection ended before a response: %r" % data)
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length: *(\d+)", head)
    need_len = int(m.group(1)) if m else 0
    while len(body) < need_len:
        chunk = s.recv(4096)
        check(chunk, "the connection ended inside a body")
        body += chunk
    return head.decode("latin-1")


def test_retire_idle_fin_and_late_request(t):
    """A keep-alive connection idle through the delay stays open (no FIN
    before the delay ends); with nothing in flight, the shim closes it
    politely before delivery: the client reads EOF (a FIN, not a reset).
    The program (slow_epoll, SIGPIPE at its default action) keeps the
    descriptor; LAMEDUCK_DELIVER=WINCH, which it ignores, keeps it running.
    The client then sends a request on its half of the connection: the
    program reads it and answers into the socket the shim half-closed, and
    must get EPIPE, not die of SIGPIPE."""
    port, hport = t.port(), t.port()
    p = t.prog("slow_epoll", port, 0, health=hport, DELAY="600ms", DRAIN_TIMEOUT="3s",
               DELIVER="WINCH")
    t.start_ready(p, hport)
    s = t.keep(socket.create_connection(("127.0.0.1", port), timeout=5))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    head = read_response(s)
    check("close" not in head.lower(), "a response before the signal says close: %r" % head)
    t_sig = p.signal(signal.SIGTERM)
    s.settimeout(0.4)
    try:
        early = s.recv(1)
        fail("the idle connection got %r %.2fs after SIGTERM, during the 0.6s delay" %
             (early, now() - t_sig))
    except socket.timeout:
        pass
    s.settimeout(5)
    try:
        eof = s.recv(1)
    except ConnectionResetError:
        fail("the idle connection was reset, not closed with a FIN")
    t_eof = now() - t_sig
    check(eof == b"", "the idle connection got %r instead of EOF" % eof)
    check(t_eof >= 0.55, "EOF %.2fs after SIGTERM, before the delay ended" % t_eof)
    wait_for(lambda: any("delivering SIGWINCH" in l for l in p.shim_lines()), 5,
             "the delivery of SIGWINCH")
    lines = p.shim_lines()
    check(retired(lines) == (0, 1), "retired (header, idle): %r; log: %r" % (retired(lines), lines))
    t.note("idle connection: EOF %.2fs after SIGTERM (delay 0.6s)" % t_eof)
    # The late request, on the client's half of the connection.
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)
    check(p.alive(), "slow_epoll died after answering into the half-closed connection: %s; %s" %
          (p.status_text(), p.tail()))


def body_intact(t, sendfile):
    """nginx (one process) serves a 3 MiB file, with sendfile on or off (then
    writev), in lame duck (delay 10 s), to a client that reads slowly through
    a small receive buffer, so that nginx's writes are cut short and meet
    EAGAIN: on a connection opened before the signal, the second response
    says "Connection: close" (nginx's own "Connection: keep-alive" made
    "close" too), and both bodies are the file, byte for byte."""
    d = os.path.join(t.tmp, "nginx-" + sendfile)
    os.makedirs(os.path.join(d, "www"))
    data = os.urandom(3 * 1024 * 1024)
    with open(os.path.join(d, "www", "big.bin"), "wb") as f:
        f.write(data)
    port, hport = t.port(), t.port()
    conf = write_nginx_conf(d, port, conns=64, master=False, root=os.path.join(d, "www"),
                            http="sendfile %s;\nkeepalive_timeout 30s;" % sendfile)
    p = t.spawn(["nginx", "-p", d, "-c", conf, "-e", "stderr"], health=hport, DELAY="10s",
                name="nginx-" + sendfile)
    t.wait_health(hport, 200, proc=p)
    s = t.keep(socket.socket())
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    want = hashlib.sha256(data).hexdigest()
    heads = []
    for i in range(2):
        if i == 1:
            p.signal(signal.SIGTERM)
            t.wait_health(hport, 503, timeout=3, proc=p)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = b""
        while b"\r\n\r\n" not in raw:
            chunk = s.recv(4096)
            check(chunk, "response %d ended in its head: %r" % (i + 1, raw))
            raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        n = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        got = hashlib.sha256()
        got.update(body)
        left = n - len(body)
        while left > 0:
            chunk = s.recv(min(left, 1500))
            check(chunk, "response %d ended %d bytes short" % (i + 1, left))
            got.update(chunk)
            left -= len(chunk)
            if left % 65536 < 1500:
                time.sleep(0.002)      # slowly: nginx's writes meet a full buffer
        check(n == len(data) and got.hexdigest() == want,
              "sendfile %s, response %d: %d bytes, sha256 %s, expected %d bytes %s" %
              (sendfile, i + 1, n, got.hexdigest()[:16], len(data), want[:16]))
        heads.append(head.decode("latin-1"))
    check(not re.search(r"(?i)connection: *close", heads[0]),
          "before the signal the response said close: %r" % heads[0])
    closes = re.findall(r"(?im)^connection: *(\S*)\s*$", heads[1])
    check(closes and all(c.lower() == "close" for c in closes),
          "in lame duck, Connection headers %r (expected close only): %r" % (closes, heads[1]))
    s.close()      # as a client does after "Connection: close"
    t.note("sendfile %s: 2 x %d bytes intact; the second head: %r" %
           (sendfile, len(data), heads[1].replace("\r\n", " | ")))


def test_retire_body_intact_sendfile(t):
    body_intact(t, "on")


def test_retire_body_intact_writev(t):
    body_intact(t, "off")


def test_retire_tcp_hey(t):
    """The same with a client that keeps a pool and retries (hey, a Go
    load tester: Go's http.Transport): 0 errors, every answer 200, and pod
    a gone within the delay + 1.5 s, not at the drain timeout."""
    need("haproxy", "hey")
    make = epoll_pod_maker()
    a, b = make(t, "a"), make(t, "b")
    fe, sock, hap = start_haproxy(t, "tcp", [(p.addr, p.port, p.hport) for p in (a, b)])
    hey = t.spawn(["hey", "-z", "6s", "-c", "16", "http://127.0.0.1:%d/" % fe], shim=False,
                  name="hey")
    time.sleep(KILL_AT)
    t_sig = now()
    os.kill(a.owner, signal.SIGTERM)
    rc, t_exit = a.proc.wait_exit(DELAY + DRAIN + 3)
    hey.wait_exit(20)
    out = "\n".join(hey.out_lines())
    codes = dict((int(c), int(n)) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    errors = re.search(r"Error distribution:\n((?:\s+\[\d+\].*\n?)+)", out)
    t.note("hey: %r; pod a gone %.2fs after SIGTERM; log: %s" %
           (codes, t_exit - t_sig, " | ".join(a.shim_lines())))
    check(codes and set(codes) == {200}, "hey saw answers other than 200: %r\n%s" % (codes, out))
    check(errors is None, "hey saw errors:\n%s" % (errors.group(1) if errors else ""))
    check(t_exit - t_sig <= DELAY + MARGIN, "pod a gone %.2fs after SIGTERM (bound %.1fs)" %
          (t_exit - t_sig, DELAY + MARGIN))
    r = retired(a.shim_lines())
    check(r is not None and r[0] > 0, "no connection retired by header: %r" % (r,))
