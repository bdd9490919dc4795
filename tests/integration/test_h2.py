"""HTTP/2 cleartext and gRPC behind an L4 balancer (README, "Keep-alive and
L4 balancers", gRPC). Two pods of a Python grpcio server (a generic unary
handler, no signal handling unless said) behind HAProxy in `mode tcp`;
clients keep long-lived channels, each on its own connection (a local
subchannel pool per channel), that HAProxy pins to a pod. Pod a gets
SIGTERM 2 s into the load (LAMEDUCK_DELAY=1s, LAMEDUCK_DRAIN_TIMEOUT=5s).
With the shim's GOAWAY on every h2c connection, each client opens a new
connection, which HAProxy sends to pod b once pod a's /readyz fails, and
closes the old one when its calls end: no call fails and pod a is gone
within the delay + 1.5 s. With LAMEDUCK_RETIRE=off the same case holds
the drain to its timeout with calls pinned to pod a, and calls fail: the
last grpc test shows it, so that the others can fail."""
import json
import os
import re
import signal
import socket
import time

from harness import PY, check, need, now, wait_for
from pods import DELAY, DRAIN, KILL_AT, MARGIN, start_haproxy

GRPC_SERVER = """import signal, sys, time
from concurrent import futures
import grpc

port, mode = int(sys.argv[1]), sys.argv[2]


def call(req, ctx):
    time.sleep(int(req or b"5") / 1000.0)
    return b"ok"


handler = grpc.method_handlers_generic_handler(
    "t.Echo", {"Call": grpc.unary_unary_rpc_method_handler(call)})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=64), handlers=[handler])
server.add_insecure_port("127.0.0.1:%d" % port)
server.start()
if mode == "stop":
    # Its own graceful stop: a GOAWAY of its own after ours, calls finish.
    signal.signal(signal.SIGTERM, lambda s, f: server.stop(5))
print("ready", flush=True)
server.wait_for_termination()
"""

GRPC_CLIENT = """import json, sys, threading, time
import grpc

target, nch, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
sleeps = [s.encode() for s in sys.argv[4].split(",")]
res = {"ok": 0, "failed": 0, "errors": {}}
lock = threading.Lock()


def run(i):
    ch = grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
    call = ch.unary_unary("/t.Echo/Call")
    grpc.channel_ready_future(ch).result(timeout=10)
    with lock:
        print("channel %d" % i, flush=True)
    ms = sleeps[i % len(sleeps)]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            call(ms, timeout=10)
            with lock:
                res["ok"] += 1
        except grpc.RpcError as e:
            with lock:
                res["failed"] += 1
                k = "%s %s" % (e.code().name, e.details())
                res["errors"][k] = res["errors"].get(k, 0) + 1
    ch.close()


ths = [threading.Thread(target=run, args=(i,)) for i in range(nch)]
for th in ths:
    th.start()
for th in ths:
    th.join()
print(json.dumps(res), flush=True)
"""

CHANNELS = 8
SECONDS = 6


def need_grpc():
    need("haproxy")
    ok = os.system("%s -c 'import grpc' 2>/dev/null" % PY) == 0
    check(ok, "python3-grpcio is not installed (tests/deps.sh)")


def grpc_pod(t, name, mode, **variables):
    """A grpcio server under the shim on its own port and health port."""
    d = os.path.join(t.tmp, "grpc")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "server.py")
    with open(path, "w") as f:
        f.write(GRPC_SERVER)
    port, hport = t.port(), t.port()
    env = dict(DELAY="%ds" % DELAY, DRAIN_TIMEOUT="%ds" % DRAIN)
    env.update(variables)
    p = t.spawn([PY, path, port, mode], health=hport, name="grpc-" + name, **env)
    p.wait_ready_line()
    t.wait_health(hport, 200, proc=p)
    p.port, p.hport = port, hport
    return p


def goaways(lines):
    """GOAWAYs sent, from pod a's delivery log line, or None."""
    for line in lines:
        m = re.search(r"(\d+) HTTP/2 sent a GOAWAY", line)
        if m:
            return int(m.group(1))
    return None


def grpc_case(t, mode="plain", sleeps="5", seconds=SECONDS, **variables):
    """The load through HAProxy, SIGTERM to pod a KILL_AT s in. Returns
    (client result, seconds from SIGTERM to pod a gone, pod a's log)."""
    need_grpc()
    a = grpc_pod(t, "a", mode, **variables)
    b = grpc_pod(t, "b", mode, **variables)
    fe, _, hap = start_haproxy(t, "tcp", [("127.0.0.1", p.port, p.hport) for p in (a, b)])
    path = os.path.join(t.tmp, "grpc", "client.py")
    with open(path, "w") as f:
        f.write(GRPC_CLIENT)
    cl = t.spawn([PY, path, "127.0.0.1:%d" % fe, CHANNELS, seconds, sleeps], shim=False,
                 name="grpc-client")
    wait_for(lambda: sum(l.startswith("channel ") for l in cl.out_lines()) == CHANNELS, 10,
             "the client's channels to connect")
    time.sleep(KILL_AT)
    t_sig = now()
    os.kill(a.pid, signal.SIGTERM)
    rc, t_exit = a.wait_exit(DELAY + DRAIN + 5)
    cl.wait_exit(seconds + 20)
    res = json.loads(cl.out_lines()[-1])
    t.note("grpc %s, calls of %s ms: %d ok, %d failed %r; pod a gone %.2fs after SIGTERM "
           "(exit %s); log: %s" % (mode, sleeps, res["ok"], res["failed"], res["errors"],
                                   t_exit - t_sig, rc, " | ".join(a.shim_lines())))
    check(b.alive(), "pod b ended: %s" % b.tail())
    return res, t_exit - t_sig, a.shim_lines()


def check_moved(t, res, gone, lines, extra=0.0):
    check(res["failed"] == 0, "failed calls: %d %r" % (res["failed"], res["errors"]))
    check(res["ok"] > 0, "no call succeeded")
    check(gone <= DELAY + MARGIN + extra,
          "pod a gone %.2fs after SIGTERM, over %.2fs: the pinned connections were not moved" %
          (gone, DELAY + MARGIN + extra))
    g = goaways(lines)
    check(g is not None and g > 0, "no GOAWAY counted in pod a's log: %r" % lines)


def test_h2_grpc_tcp(t):
    """grpcio, no signal handling (dies of SIGTERM), calls of 5 ms."""
    res, gone, lines = grpc_case(t)
    check_moved(t, res, gone, lines)


def test_h2_grpc_tcp_slow_calls(t):
    """The same with calls of 5 ms and of 200 ms on alternate channels."""
    res, gone, lines = grpc_case(t, sleeps="5,200")
    check_moved(t, res, gone, lines, extra=0.2)


def test_h2_grpc_tcp_own_stop(t):
    """grpcio calling server.stop(5) on SIGTERM: its own GOAWAY comes after
    ours, at delivery, and is valid (ours named the highest stream id)."""
    res, gone, lines = grpc_case(t, mode="stop")
    check_moved(t, res, gone, lines)


def test_h2_grpc_tcp_retire_off(t):
    """LAMEDUCK_RETIRE=off, the same case: the channels pinned to pod a
    always have a call in flight, so the drain runs to its timeout and
    delivery cuts calls. This is what the tests above would see without
    the GOAWAY."""
    # The load outlasts the drain timeout, or its own end frees the drain.
    res, gone, lines = grpc_case(t, seconds=int(KILL_AT + DELAY + DRAIN + 3), RETIRE="off")
    check(res["failed"] > 0 or gone > DELAY + MARGIN,
          "with LAMEDUCK_RETIRE=off: %d failed calls, pod a gone %.2fs after SIGTERM: the case "
          "no longer shows the problem the others are meant to catch" % (res["failed"], gone))
    check(goaways(lines) in (None, 0), "GOAWAYs with LAMEDUCK_RETIRE=off: %r" % lines)
