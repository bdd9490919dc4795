"""A Go HTTP server built with cgo: Go makes its socket calls with raw
system calls, so readiness must find its listener by the descriptor scan;
its signal handlers go through libc, so the lifecycle still holds."""
import os
import shutil
import signal
import subprocess

from harness import check, try_http
from cases_servers import first_503, check_ended_by

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "go", "gosrv.go")


def build_go(t):
    go = shutil.which("go")
    check(go is not None, "no go toolchain: apt-get install golang-go (tests/deps.sh does)")
    exe = os.path.join(t.tmp, "gosrv")
    env = dict(os.environ, CGO_ENABLED="1", GOCACHE=os.path.join(t.tmp, "gocache"),
               GOPATH=os.path.join(t.tmp, "gopath"), GO111MODULE="off")
    p = subprocess.run([go, "build", "-o", exe, SRC], env=env, capture_output=True, text=True,
                       timeout=300, cwd=t.tmp)
    check(p.returncode == 0, "go build failed: %s" % p.stderr[-2000:])
    ldd = subprocess.run(["ldd", exe], capture_output=True, text=True).stdout
    check("libc.so.6" in ldd, "the cgo build does not link libc: %s" % ldd)
    return exe


def test_go_cgo_server(t):
    """Ready once Go listens (raw socket calls, found by the scan); SIGTERM
    turns /readyz 503 while Go keeps serving; it ends by SIGTERM after the
    delay (Go's runtime handler, installed through libc, gets it)."""
    exe = build_go(t)
    port, hport, delay = t.port(), t.port(), 1.0
    p = t.spawn([exe, str(port)], health=hport, DELAY="1s", name="go-cgo")
    st, body = t.wait_health(hport, 200, proc=p)
    check(body == "ok", "/readyz: %s %r" % (st, body))
    st, body = try_http(port, "/")
    check(st == 200 and body.strip() == "go", "the Go server: %s %r" % (st, body))
    kill_t = p.signal(signal.SIGTERM)
    lat, body = first_503(t, hport, kill_t, 0.5)
    check(body == "lameduck", "/readyz 503 body %r" % body)
    st, body = try_http(port, "/")
    check(st == 200, "the Go server stopped serving in the delay: %s %r" % (st, body))
    check_ended_by(t, p, kill_t, delay, -signal.SIGTERM)


test_go_cgo_server.timeout = 120
