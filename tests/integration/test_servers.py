"""Real servers under the shim: Python's http.server, nginx, PID 1, exec
chains, processes beside the tree, bad configuration, readiness rules."""
import os
import re
import signal
import time

from harness import (BUILD, PY, check, check_ended_by, children_of, fail, fields, first_503,
                     listeners, now, proc_status, serve_through_delay, try_http, wait_for)
from pods import write_nginx_conf


# ---------------------------------------------------------------- Python http.server

def test_python_http_server(t):
    """Default action: /readyz 200 once listening; SIGTERM -> 503 lameduck
    (target 10 ms), /livez 200, the server keeps answering through the 2 s
    delay, then dies by SIGTERM."""
    port, hport, delay = t.port(), t.port(), 2.0
    p = t.py_server(port, health=hport, DELAY="2s")
    st, body = t.wait_health(hport, 200, proc=p)
    check(body == "ok", "/readyz 200 body %r, expected 'ok'" % body)
    st, body = t.health(hport, "/livez")
    check((st, body) == (200, "ok"), "/livez: %s %r" % (st, body))
    st, body = try_http(port, "/")
    check(st == 200, "the server itself: %s %r" % (st, body))

    kill_t = p.signal(signal.SIGTERM)
    lat, body = first_503(t, hport, kill_t, 0.5)
    t.note("/readyz 503 %.1f ms after SIGTERM (spec target 10 ms)" % (lat * 1000))
    check(body == "lameduck", "/readyz 503 body %r, expected 'lameduck'" % body)
    check(lat <= 0.5, "/readyz turned 503 only %.0f ms after SIGTERM" % (lat * 1000))
    serve_through_delay(t, p, port, hport, kill_t, delay)
    check_ended_by(t, p, kill_t, delay, -signal.SIGTERM)


def test_python_exec_chain(t):
    """`sh -c 'exec python3 -m http.server'`: ownership follows the pid
    through exec; exactly one health listener, owned by that pid."""
    port, hport, delay = t.port(), t.port(), 1.0
    p = t.spawn(["/bin/sh", "-c", "exec %s -m http.server %d --bind 127.0.0.1" % (PY, port)],
                health=hport, DELAY="1s", name="sh-exec-http.server")
    t.wait_health(hport, 200, proc=p)
    ls = listeners(hport)
    check(len(ls) == 1, "%d listeners on the health port: %r" % (len(ls), ls))
    pids = {u[1] for u in ls[0][1]}
    check(pids == {p.pid}, "health port owned by %r, expected pid %d" % (ls[0][1], p.pid))
    kill_t = p.signal(signal.SIGTERM)
    lat, body = first_503(t, hport, kill_t, 0.5)
    check(body == "lameduck", "/readyz 503 body %r" % body)
    check_ended_by(t, p, kill_t, delay, -signal.SIGTERM)


def test_process_beside_tree(t):
    """A process started beside the server with the same environment (a
    kubectl exec session) never binds the health port, logs nothing, and
    SIGTERM kills it at once; the server is not affected."""
    port, hport = t.port(), t.port()
    env = t.shim_env(hport, DELAY="5s")
    srv = t.spawn([PY, "-m", "http.server", port, "--bind", "127.0.0.1"], env=env, name="http.server")
    t.wait_health(hport, 200, proc=srv)
    side = t.spawn([PY, "-c", "import time; print('started', flush=True); time.sleep(20)"],
                   env=env, name="beside")
    side.wait_out("started", 10)
    ls = listeners(hport)
    check(len(ls) == 1, "%d listeners on the health port with the side process running: %r" % (len(ls), ls))
    check({u[1] for u in ls[0][1]} == {srv.pid},
          "health port owned by %r, expected the server (pid %d)" % (ls[0][1], srv.pid))
    kill_t = side.signal(signal.SIGTERM)
    rc, end = side.wait_exit(10)
    t.note("side process ended %.2fs after SIGTERM" % (end - kill_t))
    check(rc == -signal.SIGTERM, "side process: %s, expected death by SIGTERM" % side.status_text())
    check(end - kill_t < 1.5, "side process held SIGTERM for %.2fs (delay 5s): it is not the owner" %
          (end - kill_t))
    check(side.err_lines() == [], "side process wrote to stderr: %r" % side.err_lines())
    st, body = t.health(hport)
    check((st, body) == (200, "ok"), "server's /readyz after the side process's SIGTERM: %s %r" % (st, body))
    check(srv.alive(), "the server ended: %s" % srv.status_text())


def test_bad_variable(t):
    """LAMEDUCK_DELAY=5x: one line on stderr, the program runs unchanged
    (SIGTERM kills it at once), no health port."""
    port, hport = t.port(), t.port()
    p = t.py_server(port, health=hport, DELAY="5x")
    wait_for(lambda: listeners(port) or (not p.alive() and fail("server ended: %s" % p.tail())),
             10, "the server to listen")
    want = ('lameduck: LAMEDUCK_DELAY="5x" is not a duration (try 500ms, 5s, 1m); '
            'lameduck is off for this process')
    p.wait_out(lambda l: "lameduck" in l, 5, stream="err", what="the bad-value line")
    check(listeners(hport) == [], "health port bound: %r" % listeners(hport))
    st, body = t.health(hport, timeout=1.0)
    check(st is None, "health port answered: %s %r" % (st, body))
    kill_t = p.signal(signal.SIGTERM)
    rc, end = p.wait_exit(5)
    check(rc == -signal.SIGTERM, "%s, expected death by SIGTERM" % p.status_text())
    check(end - kill_t < 1.5, "SIGTERM took %.2fs: the shim must be off" % (end - kill_t))
    err = p.err_lines()
    check(err == [want], "stderr is %r, expected exactly [%r]" % (err, want))


def test_ready_start(t):
    """LAMEDUCK_READY=start: ready at once for a program that never listens;
    SIGTERM still waits the delay."""
    hport = t.port()
    p = t.spawn([PY, "-c", "import time; time.sleep(30)"], health=hport, READY="start", DELAY="1s",
                name="sleeper")

    def answer():
        if not p.alive():
            fail("program ended: %s" % p.tail())
        st, body = t.health(hport, timeout=1.0)
        return (st, body) if st is not None else None
    st, body = wait_for(answer, 10, "the health port to answer")
    check((st, body) == (200, "ok"), "first /readyz answer %s %r, expected 200 ok" % (st, body))
    kill_t = p.signal(signal.SIGTERM)
    check_ended_by(t, p, kill_t, 1.0, -signal.SIGTERM)


def test_ports_other_port_stays_starting(t):
    """LAMEDUCK_PORTS=B while the program listens on A: 503 starting."""
    a, b, hport = t.port(), t.port(), t.port()
    p = t.py_server(a, health=hport, PORTS=str(b))
    wait_for(lambda: listeners(a) or (not p.alive() and fail("server ended: %s" % p.tail())),
             10, "the server to listen on %d" % a)
    end = now() + 1.0
    while now() < end:
        st, body = t.health(hport, timeout=1.0)
        check((st, body) == (503, "starting"), "/readyz %s %r with LAMEDUCK_PORTS=%d and the program on %d" %
              (st, body, b, a))
        time.sleep(0.05)


def test_ports_own_port_ready(t):
    """LAMEDUCK_PORTS=A and the program listens on A: ready."""
    a, hport = t.port(), t.port()
    p = t.py_server(a, health=hport, PORTS=str(a))
    t.wait_health(hport, 200, proc=p)


# ---------------------------------------------------------------- start-up

def test_preloaded_library_calls_before_the_shim(t):
    """A library preloaded after the shim (tests/preload/early.c) has its
    constructor run before the shim's, and calls dup, dup2, dup3, the
    send/recv family, readv, writev, sendfile, accept, accept4, fork and the
    exec family there, before the shim has resolved libc: each works as
    without the shim (it crashed on the first dup), and then the program
    runs its lifecycle as usual."""
    port, hport = t.port(), t.port()
    early = os.path.join(BUILD, "preload", "early.so")
    check(os.access(early, os.R_OK), "%s is not built (make)" % early)
    env = t.shim_env(hport, DELAY="300ms")
    env["LD_PRELOAD"] = env["LD_PRELOAD"] + ":" + early
    p = t.prog("slow_epoll", port, 0, env=env)
    t.start_ready(p, hport)
    lines = [l for l in p.err_lines() if l.startswith("early:")]
    check(lines, "early.so printed nothing; stderr %r" % p.err_lines()[-5:])
    f = fields(lines[0][len("early:"):])
    check(f.get("threads") == "1", "the shim's constructor had run first (%s): the test proves "
          "nothing in this order" % lines[0])
    check(f.get("ok") == "1", "calls before the shim's constructor: %s" % lines[0])
    kill_t = p.signal(signal.SIGTERM)
    lat, body = first_503(t, hport, kill_t, 0.5)
    check(body == "lameduck", "/readyz 503 body %r" % body)
    check_ended_by(t, p, kill_t, 0.3, -signal.SIGTERM)


# ---------------------------------------------------------------- PID 1

def test_pid1_exits_128_plus_signal(t):
    """As PID 1 (unshare --pid --fork env LD_PRELOAD=... python3), where the
    kernel ignores default-action signals, SIGTERM ends it with status 143
    after the delay."""
    pid1(t, lambda port: [PY, "-m", "http.server", port, "--bind", "127.0.0.1"])


def pid1(t, argv_for):
    """argv_for(port) as PID 1 of a new pid namespace, under this context's
    shim: ready, then SIGTERM from outside -> /readyz 503, and exit 143
    after the delay (no handler: the kernel would have ignored it)."""
    port, hport, delay = t.port(), t.port(), 1.0
    env = t.base_env()
    env.update({"LAMEDUCK_HEALTH": "127.0.0.1:%d" % hport, "LAMEDUCK_DELAY": "1s"})
    preload = t.shim_env(hport)["LD_PRELOAD"]
    p = t.spawn(["unshare", "--pid", "--fork", "--kill-child", "env", "LD_PRELOAD=" + preload] +
                [str(a) for a in argv_for(port)], env=env, name="unshare")
    t.wait_health(hport, 200, proc=p)
    kids = children_of(p.pid)
    check(len(kids) == 1, "unshare has children %r" % kids)
    child = kids[0]
    nspid = (proc_status(child, "NSpid") or "").split()
    check(nspid[-1:] == ["1"], "the server is not PID 1 in its namespace (NSpid %r)" % nspid)
    kill_t = time.monotonic()
    os.kill(child, signal.SIGTERM)
    lat, body = first_503(t, hport, kill_t, 0.5)
    check(body == "lameduck", "/readyz 503 body %r" % body)
    check_ended_by(t, p, kill_t, delay, 143)


# ---------------------------------------------------------------- nginx

def nginx(t, deliver, want_sig):
    port, hport, delay = t.port(), t.port(), 2.0
    conf = write_nginx_conf(t.tmp, port, user="root", conns=64)
    env = {"DELAY": "2s"}
    if deliver:
        env["DELIVER"] = deliver
    p = t.spawn(["nginx", "-p", t.tmp, "-c", conf, "-e", "stderr"], health=hport, name="nginx", **env)
    t.wait_health(hport, 200, proc=p)
    wait_for(lambda: try_http(port)[0] == 200, 10, "nginx to answer")
    kill_t = p.signal(signal.SIGTERM)
    lat, body = first_503(t, hport, kill_t, 0.5)
    t.note("/readyz 503 %.1f ms after SIGTERM" % (lat * 1000))
    check(body == "lameduck", "/readyz 503 body %r" % body)
    serve_through_delay(t, p, port, hport, kill_t, delay, expect_body="nginx")
    check_ended_by(t, p, kill_t, delay, 0, slack=4.0)
    # nginx logs the signal it got and its sender: "signal 3 (SIGQUIT) received from PID".
    got = [l for l in p.err_lines() if "signal %d (%s) received" % (want_sig, signal.Signals(want_sig).name) in l]
    check(got, "nginx never logged receiving %s: %r" % (signal.Signals(want_sig).name, p.err_lines()[-10:]))
    check(any("from %d" % t.runner_pid in l for l in got),
          "nginx logged %r: expected the original sender, pid %d" % (got[0], t.runner_pid))
    # The shim's work on the listeners must not trouble nginx's own shutdown.
    bad = [l for l in p.err_lines() if re.search(r"\[(alert|crit|emerg|error)\]", l)]
    check(not bad, "nginx logged errors: %r" % bad[:5])


def test_nginx_deliver_quit(t):
    """nginx, LAMEDUCK_DELIVER=QUIT: serves through the delay, then a
    graceful QUIT; the master exits 0."""
    nginx(t, "QUIT", signal.SIGQUIT)


def test_nginx_sigterm(t):
    """nginx, SIGTERM delivered: the master (in sigsuspend) wakes, stops the
    workers and exits 0 after the delay."""
    nginx(t, None, signal.SIGTERM)

