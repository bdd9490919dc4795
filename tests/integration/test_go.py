"""A Go HTTP server built with cgo: Go makes its socket calls with raw
system calls, so readiness must find its listener by the descriptor scan;
its signal handlers go through libc, so the lifecycle still holds."""
import signal

from harness import check, check_ended_by, first_503, try_http
from pods import build_go


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
