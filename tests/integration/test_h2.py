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
import subprocess
import threading
import time

from harness import PY, check, need, now, wait_for
from matrix import dpkg_version, record
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
    ok = subprocess.run([PY, "-c", "import grpc"]).returncode == 0
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
    res["exit"] = a.status_text()
    return res, t_exit - t_sig, a.shim_lines()


def check_moved(t, res, gone, lines, extra=0.0):
    check(res["failed"] == 0, "failed calls: %d %r" % (res["failed"], res["errors"]))
    check(res["ok"] > 0, "no call succeeded")
    check(gone <= DELAY + MARGIN + extra,
          "pod a gone %.2fs after SIGTERM, over %.2fs: the pinned connections were not moved" %
          (gone, DELAY + MARGIN + extra))
    g = goaways(lines)
    check(g is not None and g > 0, "no GOAWAY counted in pod a's log: %r" % lines)


def grpc_row(server, res):
    """The compatibility matrix's row (README), once every assertion held."""
    record(server, "grpcio " + dpkg_version("python3-grpcio"), {},
           "%d gRPC channels, calls of 5 ms, via HAProxy tcp" % CHANNELS, res["ok"] + res["failed"],
           res["failed"], res["exit"])


def test_h2_grpc_tcp(t):
    """grpcio, no signal handling (dies of SIGTERM), calls of 5 ms."""
    res, gone, lines = grpc_case(t)
    check_moved(t, res, gone, lines)
    grpc_row("gRPC: grpcio server, no signal handling", res)


def test_h2_grpc_tcp_slow_calls(t):
    """The same with calls of 5 ms and of 200 ms on alternate channels."""
    res, gone, lines = grpc_case(t, sleeps="5,200")
    check_moved(t, res, gone, lines, extra=0.2)


def test_h2_grpc_tcp_own_stop(t):
    """grpcio calling server.stop(5) on SIGTERM: its own GOAWAY comes after
    ours, at delivery, and is valid (ours named the highest stream id)."""
    res, gone, lines = grpc_case(t, mode="stop")
    check_moved(t, res, gone, lines)
    grpc_row("gRPC: grpcio server, server.stop(5) on SIGTERM", res)


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


# ---- the drain counts streams: an h2c client that stays after the GOAWAY

# A gRPC client by hand (hyperframe and hpack, from python3-h2) that keeps
# its connections open after the GOAWAY, as a client may (RFC 9113, 6.8
# only forbids new streams): grpcio's own client closes them when its calls
# end. Two connections, a 5 ms call on each; then, with a slow call
# asked for, that call on the second, sent just before the test's SIGTERM.
# Prints a JSON line for each thing that happens: the GOAWAY, an answer, the
# server's FIN (eof) or a reset, on which connection, when (monotonic).
H2_CLIENT = """import json, select, socket, sys, time
from hpack import Decoder, Encoder
from hyperframe.frame import (DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame,
                              SettingsFrame, WindowUpdateFrame)

port, slow = int(sys.argv[1]), int(sys.argv[2])


def say(**kw):
    kw["t"] = time.monotonic()
    print(json.dumps(kw), flush=True)


class Conn:
    def __init__(self, name):
        self.name, self.sid, self.buf, self.calls = name, 1, b"", {}
        self.enc, self.dec = Encoder(), Decoder()
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.s.sendall(b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n" + SettingsFrame(0).serialize())

    def call(self, ms):
        sid, self.sid = self.sid, self.sid + 2
        h = HeadersFrame(sid, flags=["END_HEADERS"])
        h.data = self.enc.encode([(":method", "POST"), (":scheme", "http"),
                                  (":path", "/t.Echo/Call"), (":authority", "pod"),
                                  ("content-type", "application/grpc"), ("te", "trailers")])
        msg = str(ms).encode()
        d = DataFrame(sid, flags=["END_STREAM"])
        d.data = b"\\0" + len(msg).to_bytes(4, "big") + msg
        self.s.sendall(h.serialize() + d.serialize())     # one segment: a read takes both
        self.calls[sid] = {"headers": {}, "data": b"", "done": False, "ms": ms}
        return sid

    def read(self):
        try:
            b = self.s.recv(65536)
        except ConnectionResetError:
            say(c=self.name, e="reset")
            return False
        if not b:
            say(c=self.name, e="eof")
            return False
        self.buf += b
        while len(self.buf) >= 9:
            f, n = Frame.parse_frame_header(memoryview(self.buf[:9]))
            if len(self.buf) < 9 + n:
                break
            f.parse_body(memoryview(self.buf[9:9 + n]))
            self.buf = self.buf[9 + n:]
            self.frame(f)
        return True

    def frame(self, f):
        if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
            self.s.sendall(SettingsFrame(0, flags=["ACK"]).serialize())
        elif isinstance(f, PingFrame) and "ACK" not in f.flags:
            self.s.sendall(PingFrame(0, opaque_data=f.opaque_data, flags=["ACK"]).serialize())
        elif isinstance(f, GoAwayFrame):
            say(c=self.name, e="goaway", last=f.last_stream_id, code=f.error_code)
        elif isinstance(f, (HeadersFrame, DataFrame)) and f.stream_id in self.calls:
            c = self.calls[f.stream_id]
            if isinstance(f, HeadersFrame):
                c["headers"].update((k.decode() if isinstance(k, bytes) else k,
                                     v.decode() if isinstance(v, bytes) else v)
                                    for k, v in self.dec.decode(f.data))
            elif f.data:
                c["data"] += f.data
                self.s.sendall(WindowUpdateFrame(0, window_increment=len(f.data)).serialize())
            if "END_STREAM" in f.flags:
                c["done"] = True
                say(c=self.name, e="answer", ms=c["ms"], status=c["headers"].get("grpc-status"),
                    body=c["data"][5:].decode("latin-1"))


conns = [Conn("a"), Conn("b")]
for c in conns:
    c.call(5)
while not all(k["done"] for c in conns for k in c.calls.values()):
    ready = select.select([c.s for c in conns], [], [], 10)[0]
    if not ready:
        sys.exit("no answer to the first calls")
    for c in [c for c in conns if c.s in ready]:
        if not c.read():
            sys.exit("connection %s ended before its first answer" % c.name)
print("ready", flush=True)
if slow:
    conns[1].call(slow)
    print("slow sent", flush=True)
live = list(conns)
end = time.monotonic() + 30
while live and time.monotonic() < end:
    ready = select.select([c.s for c in live], [], [], 1)[0]
    for c in [c for c in live if c.s in ready]:
        if not c.read():
            c.s.close()
            live.remove(c)
"""


def h2_client_case(t, slow):
    """Pod a alone (the balancer plays no part in the drain), the client
    above on it, SIGTERM. Returns (events by connection, seconds from
    SIGTERM to pod a gone, pod a's log)."""
    need_grpc()
    check(subprocess.run([PY, "-c", "import hpack, hyperframe"]).returncode == 0,
          "python3-h2 (hpack, hyperframe) is not installed (tests/deps.sh)")
    a = grpc_pod(t, "a", "plain")
    path = os.path.join(t.tmp, "grpc", "h2client.py")
    with open(path, "w") as f:
        f.write(H2_CLIENT)
    cl = t.spawn([PY, path, a.port, slow], shim=False, name="h2-client")
    cl.wait_out("slow sent" if slow else "ready", 15)
    t_sig = a.signal(signal.SIGTERM)
    rc, t_exit = a.wait_exit(DELAY + DRAIN + 5)
    cl.wait_exit(10)
    events = {"a": [], "b": []}
    for line in cl.out_lines():
        if line.startswith("{"):
            ev = json.loads(line)
            ev["t"] -= t_sig
            if ev["t"] >= 0:        # not the first calls' answers
                events[ev["c"]].append(ev)
    t.note("pod a gone %.2fs after SIGTERM (exit %s); client: %s; log: %s" %
           (t_exit - t_sig, rc, events, " | ".join(a.shim_lines())))
    return events, t_exit - t_sig, a.shim_lines()


def idle_closed(lines):
    """Idle connections closed with a FIN before delivery, from the log."""
    for line in lines:
        m = re.search(r"(\d+) idle ones? closed now", line)
        if m:
            return int(m.group(1))
    return 0


def check_goaway_then_fin(events, name, after=None):
    """The connection got our GOAWAY, then (after an answer, if said) the
    server's FIN: never a reset."""
    kinds = [e["e"] for e in events]
    want = ["goaway"] + ([after] if after else []) + ["eof"]
    check(kinds == want, "connection %s: %r, not %r" % (name, kinds, want))
    g = events[0]
    check(g["last"] == 2 ** 31 - 1 and g["code"] == 0, "connection %s: a GOAWAY not ours: %r" %
          (name, g))


def test_h2_idle_client_released(t):
    """An h2c client that keeps its connections open after the GOAWAY, with
    no call on them, does not hold the drain: they are idle, and get the
    FIN before delivery as idle HTTP/1.x connections do. Pod a is gone
    within the delay + 1.5 s, not at the drain timeout."""
    events, gone, lines = h2_client_case(t, 0)
    for name in ("a", "b"):
        check_goaway_then_fin(events[name], name)
    check(idle_closed(lines) == 2, "idle connections closed (FIN): %d, not 2: %r" %
          (idle_closed(lines), lines))
    check(gone <= DELAY + MARGIN, "pod a gone %.2fs after SIGTERM, over %.2fs: the idle h2c "
          "connections held the drain" % (gone, DELAY + MARGIN))


def test_h2_stream_holds_drain(t):
    """The same client with a call of 2.5 s on connection b, sent just
    before SIGTERM: that open stream holds the drain past the delay until
    its answer is out, the client gets the answer in full (grpc-status 0),
    then both connections get the FIN and pod a goes. Connection a, idle,
    holds nothing."""
    slow = int((DELAY + 1.5) * 1000)
    events, gone, lines = h2_client_case(t, slow)
    check_goaway_then_fin(events["a"], "a")
    check_goaway_then_fin(events["b"], "b", after="answer")
    ans = events["b"][1]
    check(ans["ms"] == slow and ans["status"] == "0" and ans["body"] == "ok",
          "connection b: the slow call's answer: %r" % ans)
    check(ans["t"] >= DELAY, "the slow call answered %.2fs after SIGTERM, before the drain" %
          ans["t"])
    check(gone >= ans["t"] and gone - ans["t"] <= MARGIN,
          "pod a gone %.2fs after SIGTERM, the slow call answered at %.2fs: the drain did not "
          "end with the last open stream" % (gone, ans["t"]))
    check(idle_closed(lines) == 2, "idle connections closed (FIN): %d, not 2: %r" %
          (idle_closed(lines), lines))


# ---- byte-exact, with a real HTTP/2 parser (hyperframe, from python3-h2)

FRAME_SERVER = """import random, socket, sys, threading, time

PREFACE = b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n"
SETTINGS = bytes.fromhex("000006040000000000") + bytes.fromhex("000300000064")


def frame(t, flags, sid, payload):
    return len(payload).to_bytes(3, "big") + bytes([t, flags]) + sid.to_bytes(4, "big") + payload


def stream_frames(seed, n):
    r = random.Random(seed)
    out = [SETTINGS]
    for i in range(n):
        k = r.randrange(4)
        if k == 0:
            out.append(frame(6, 1, 0, r.randbytes(8)))          # PING ack
        elif k == 1:
            out.append(frame(8, 0, 0, r.randrange(1, 2 ** 31).to_bytes(4, "big")))   # WINDOW_UPDATE
        else:
            out.append(frame(0, 0, 1, r.randbytes(r.randrange(0, 3000))))   # DATA
    return b"".join(out)


def read_n(c, n):
    got = b""
    while len(got) < n:
        b = c.recv(min(n - len(got), 5))     # a few bytes at a time: a preface cut
        if not b:
            return got
        got += b
    return got


def h2(c, first):
    got = read_n(c, 9 + 17)
    mode = got[-8:]
    if mode.startswith(b"stream"):
        data = stream_frames(int(mode[6:].rstrip(b"\\0")), 400)
        r = random.Random(7)
        i = 0
        while i < len(data):
            n = r.randrange(1, 700)             # writes cut anywhere
            c.sendall(data[i:i + n])
            i += n
            time.sleep(0.002)
        c.close()
        return
    if not first:
        c.sendall(SETTINGS)
    c.sendall(frame(6, 1, 0, mode))             # PING ack, then nothing until EOF
    while c.recv(4096):
        pass
    c.close()


def echo(c, data):
    while data:
        c.sendall(data)
        data = c.recv(4096)
    c.close()


def serve(c, write_first):
    c.settimeout(30)     # non-blocking underneath: sends meet EAGAIN
    c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    if write_first:
        c.sendall(SETTINGS)
    first = c.recv(1)
    if first == b"P":
        first += read_n(c, 23)
    if first == PREFACE:
        h2(c, write_first)
    else:
        echo(c, first)


def loop(ls, write_first):
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c, write_first), daemon=True).start()


socks = []
for port in sys.argv[1:3]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(port)))
    s.listen(64)
    socks.append(s)
threading.Thread(target=loop, args=(socks[1], True), daemon=True).start()
print("ready", flush=True)
loop(socks[0], False)
"""

CLIENT_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")
OUR_GOAWAY = bytes.fromhex("000008070000000000") + bytes.fromhex("7fffffff00000000")


def h2_open(port, mode):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(CLIENT_PREFACE + bytes.fromhex("000008060000000000") + mode.ljust(8, b"\0"))
    return s


PARSE_FRAMES = """import json, sys
from hyperframe.frame import Frame, GoAwayFrame
data = open(sys.argv[1], "rb").read()
out, i = [], 0
while i < len(data):
    if len(data) - i < 9:
        sys.exit("a frame header cut at %d of %d" % (i, len(data)))
    f, length = Frame.parse_frame_header(memoryview(data[i:i + 9]))
    if len(data) - i - 9 < length:
        sys.exit("a frame cut at %d" % i)
    f.parse_body(memoryview(data[i + 9:i + 9 + length]))
    g = isinstance(f, GoAwayFrame)
    out.append([type(f).__name__, i, 9 + length, f.last_stream_id if g else None,
                f.error_code if g else None])
    i += 9 + length
print(json.dumps(out))
"""


def parse_frames(t, data, what):
    """[(type name, raw bytes, last stream id, error code)] of data, parsed
    by hyperframe (Debian's python3-h2, under the system's python3); fails
    on any frame that does not parse or is cut."""
    path = os.path.join(t.tmp, "parse_frames.py")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(PARSE_FRAMES)
    dpath = os.path.join(t.tmp, "frames.bin")
    with open(dpath, "wb") as f:
        f.write(data)
    r = subprocess.run([PY, path, dpath], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "%s: not valid HTTP/2 frames: %s" % (what, r.stderr.strip()[-300:]))
    return [(name, data[i:i + n], last, err) for name, i, n, last, err in json.loads(r.stdout)]


def goaway_between(t, data, expect, what):
    """data must be the frames of expect with exactly one GOAWAY of ours
    between two of them, after the first (SETTINGS)."""
    frames = parse_frames(t, data, what)
    gw = [k for k, (name, raw, last, err) in enumerate(frames) if name == "GoAwayFrame"]
    check(len(gw) == 1, "%s: %d GOAWAY frames (expected 1 of ours)" % (what, len(gw)))
    name, raw, last, err = frames[gw[0]]
    check(raw == OUR_GOAWAY and last == 2 ** 31 - 1 and err == 0,
          "%s: a GOAWAY not ours: %s" % (what, raw.hex()))
    check(gw[0] > 0, "%s: the GOAWAY came before the server's SETTINGS" % what)
    rest = b"".join(raw for k, (n, raw, last, err) in enumerate(frames) if k != gw[0])
    check(rest == expect, "%s: the program's %d bytes came out as %d other bytes" %
          (what, len(expect), len(rest)))
    return gw[0], len(frames)


def load_frame_server(t, **variables):
    need_h2 = subprocess.run([PY, "-c", "import hyperframe"]).returncode == 0
    check(need_h2, "python3-h2 (hyperframe) is not installed (tests/deps.sh)")
    path = os.path.join(t.tmp, "frames.py")
    with open(path, "w") as f:
        f.write(FRAME_SERVER)
    port, port2, hport = t.port(), t.port(), t.port()
    env = dict(DELAY="3s", DRAIN_TIMEOUT="5s")
    env.update(variables)
    p = t.spawn([PY, path, port, port2], health=hport, name="frames", **env)
    p.wait_ready_line()
    t.wait_health(hport, 200, proc=p)
    ns = {}
    exec(compile(FRAME_SERVER.split("\nsocks = []")[0], "frames", "exec"), ns)
    return p, port, port2, hport, ns


def read_all(s, into):
    while True:
        try:
            b = s.recv(1500)
        except OSError:
            return      # closed by the test's end
        if not b:
            return
        into.append(b)
        time.sleep(0.0005)       # slowly: the server's sends meet a full buffer


def test_h2_frames_exact(t):
    """A server of ours (Python, under the shim) streams frames to h2c
    clients in writes cut anywhere, through a 4 KiB send buffer that makes
    them short and meet EAGAIN, while the clients read slowly; SIGTERM
    half-way. What each client receives, parsed by hyperframe, is the
    server's frames with exactly one GOAWAY of ours between two of them.
    Connections idle at the signal (the server blocked reading, one whose
    SETTINGS went before it read anything) get the GOAWAY at once, from the
    shim. Connections that are not HTTP/2 (a TLS ClientHello, binary, a
    near-preface) are echoed byte for byte across the signal."""
    p, port, port2, hport, ns = load_frame_server(t)
    streams = []
    for seed in range(3):
        s = t.keep(h2_open(port, b"stream%d" % seed))
        buf = []
        th = threading.Thread(target=read_all, args=(s, buf), daemon=True)
        th.start()
        streams.append((seed, s, buf, th))
    idle = [t.keep(h2_open(port, b"idle")), t.keep(h2_open(port2, b"idle"))]
    others = [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),
              b"\x00\x01\x02\x03PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(32),
              b"PRI * HTTP/1.1\r\n\r\nnot a preface",
              b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]
    echoes = []
    for msg in others:
        s = t.keep(socket.create_connection(("127.0.0.1", port), timeout=5))
        s.sendall(msg)
        echoes.append((s, msg))
    time.sleep(0.6)
    t_sig = p.signal(signal.SIGTERM)
    t.wait_health(hport, 503, timeout=3, proc=p)
    # Idle at the signal: the GOAWAY comes at once, after what came before.
    for k, s in enumerate(idle):
        want = ns["SETTINGS"] + ns["frame"](6, 1, 0, b"idle".ljust(8, b"\0"))
        got = b""
        s.settimeout(2)
        while len(got) < len(want) + len(OUR_GOAWAY):
            b = s.recv(4096)
            check(b, "idle h2c connection %d ended after %r" % (k, got))
            got += b
        t_got = now() - t_sig
        goaway_between(t, got, want, "idle h2c connection %d" % k)
        check(t_got < 1.0, "idle h2c connection %d: GOAWAY %.2fs after SIGTERM" % (k, t_got))
    for s, msg in echoes:
        s.sendall(b"after the signal")
        want = msg + b"after the signal"
        got = b""
        while len(got) < len(want):
            b = s.recv(4096)
            check(b, "echo connection ended after %r" % got)
            got += b
        check(got == want, "not HTTP/2, changed: sent %r, got %r" % (want, got))
    for seed, s, buf, th in streams:
        th.join(20)
        check(not th.is_alive(), "stream %d did not end" % seed)
        at, n = goaway_between(t, b"".join(buf), ns["stream_frames"](seed, 400),
                               "stream %d" % seed)
        t.note("stream %d: %d frames, our GOAWAY the %dth" % (seed, n, at + 1))
    for s in idle:
        s.close()
    rc, _ = p.wait_exit(DELAY + DRAIN + 5)
    lines = p.shim_lines()
    t.note("log: %s" % " | ".join(lines))
    g = goaways(lines)
    check(g == 5, "GOAWAYs counted: %r (expected 5)" % g)


# ---- an h2c server that is not gRPC: nginx (listen ... http2 on a plain port) under h2load

NGINX_H2 = """daemon off;
worker_processes 2;
user www-data;
pid {d}/nginx.pid;
error_log stderr notice;
events {{ worker_connections 512; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} http2;
        location / {{ return 200 "nginx\\n"; }}
    }}
}}
"""


def nginx_h2_pod(t, name, **variables):
    """nginx, a master and 2 workers, HTTP/2 with prior knowledge on a plain
    port (its own GOAWAY after a million requests, not during the test)."""
    d = os.path.join(t.tmp, name)
    os.makedirs(d, exist_ok=True)
    os.chmod(t.tmp, 0o755)
    os.chmod(d, 0o755)
    port, hport = t.port(), t.port()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_H2.format(d=d, port=port))
    env = dict(DELAY="%ds" % DELAY, DRAIN_TIMEOUT="%ds" % DRAIN)
    env.update(variables)
    p = t.spawn(["nginx", "-p", d, "-c", conf, "-e", "stderr"], health=hport,
                name="nginx-" + name, **env)
    t.wait_health(hport, 200, proc=p)
    p.port, p.hport = port, hport
    return p


def test_h2_nginx_h2load(t):
    """nginx's workers (members of the tree) each send the GOAWAY on their
    own connections, through HAProxy mode tcp; pod a is gone within the
    delay + 1.5 s. No request the server received fails and every answer
    is a 2xx. h2load (8 clients, 4 streams each) itself counts some
    requests failed on each connection told to go, whatever the server
    does (nghttp2 1.52.0, Debian's): requests it queued before reading the
    GOAWAY, which nghttp2 then refuses to send (lib/nghttp2_session.c,
    session_predicate_request_headers_send: REFUSED_STREAM), and the first
    one it tries after it (src/h2load_http2_session.cc submit_request ->
    src/h2load.cc Client::process_request_failure); it never opens a new
    HTTP/2 connection (try_new_connection is called from its HTTP/1 session
    only), so those clients stop. At most its 4 streams + 1 a connection,
    counted as errored too; no option changes that."""
    need("haproxy", "nginx", "h2load")
    a, b = nginx_h2_pod(t, "a"), nginx_h2_pod(t, "b")
    fe, _, hap = start_haproxy(t, "tcp", [("127.0.0.1", p.port, p.hport) for p in (a, b)])
    h2l = t.spawn(["h2load", "-D", SECONDS, "-c", CHANNELS, "-m", 4,
                   "http://127.0.0.1:%d/" % fe], shim=False, name="h2load")
    time.sleep(KILL_AT)
    t_sig = now()
    os.kill(a.pid, signal.SIGTERM)
    rc, t_exit = a.wait_exit(DELAY + DRAIN + 5)
    h2l.wait_exit(SECONDS + 20)
    out = "\n".join(h2l.out_lines())
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    check(m, "no summary from h2load:\n%s" % out)
    total, failed, errored = int(m.group(1)), int(m.group(5)), int(m.group(6))
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    t.note("h2load: %d requests, %d failed, %d errored, status %s; pod a gone %.2fs after "
           "SIGTERM (exit %s); log: %s" % (total, failed, errored, codes.groups() if codes else None,
                                           t_exit - t_sig, rc, " | ".join(a.shim_lines())))
    g = goaways(a.shim_lines())
    check(g is not None and g > 0, "no GOAWAY counted: %r" % a.shim_lines())
    check(total > 0 and failed <= 5 * g and errored == failed,
          "h2load: %d failed, %d errored, %d GOAWAYs:\n%s" % (failed, errored, g, out))
    # h2load may count the answer to a request it started as its run ended
    # in its status codes and not in its total: at least every request done.
    check(codes and int(codes.group(1)) >= total - failed and
          int(codes.group(2)) + int(codes.group(3)) + int(codes.group(4)) == 0,
          "h2load saw answers other than 2xx:\n%s" % out)
    check(rc == 0, "nginx ended with %s" % rc)
    check(t_exit - t_sig <= DELAY + MARGIN, "pod a gone %.2fs after SIGTERM (bound %.1fs)" %
          (t_exit - t_sig, DELAY + MARGIN))
    record("nginx, h2c (listen ... http2 on a plain port)",
           "nginx " + dpkg_version("nginx"), {},
           "h2load -c%d -m4 via HAProxy tcp" % CHANNELS, total, failed, a.status_text())
