"""/metrics in every lifecycle state a scrape can see (serving, lame duck,
draining), checked by Prometheus's own linter (`promtool check metrics`,
Debian package `prometheus`) and for the families the README lists (Health port), with values
that agree with what the test did: requests made, signals sent, state."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from harness import Request, check, ended_by_term, http, now, wait_for

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
STATES = ("starting", "serving", "lameduck", "draining", "delivered")

# README, Health port: "state, ready, listeners and connections accepted ...,
# connections active, connections retired ..., in flight, signals received,
# seconds in each phase, build info".
FAMILIES = {
    "lameduck_state": "gauge",
    "lameduck_ready": "gauge",
    "lameduck_listeners": "gauge",
    "lameduck_connections_active": "gauge",
    "lameduck_connections_accepted_total": "counter",
    "lameduck_connections_retired_total": "counter",
    "lameduck_in_flight": "gauge",
    "lameduck_signals_received_total": "counter",
    "lameduck_phase_seconds": "gauge",
    "lameduck_build_info": "gauge",
}


# ---------------------------------------------------------------- helpers

def promtool(text):
    """Runs `promtool check metrics` on the text: (exit status, its output)."""
    check(os.access(PROMTOOL, os.X_OK),
          "promtool not found: apt-get install --no-install-recommends prometheus (or make deps)")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=20)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace").strip()


def lint(text, where):
    """Fails on any problem promtool reports, lint warnings included."""
    rc, out = promtool(text)
    check(rc == 0 and out == "", "promtool check metrics on /metrics %s: exit %d:\n%s\n--- the "
          "scrape:\n%s" % (where, rc, out, text))


class Scrape:
    """One GET /metrics, parsed: families (name -> type), help (name ->
    text), samples ((name, labels dict) -> float)."""

    LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$')
    LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

    def __init__(self, hport, where):
        self.where = where
        r = http(hport, "/metrics", timeout=3.0)
        check(r.status == 200, "/metrics %s: %s %r" % (where, r.status, r.text[:200]))
        ctype = r.headers.get("content-type", "")
        check(ctype.startswith("text/plain") and "version=0.0.4" in ctype,
              "/metrics %s: Content-Type %r, expected text/plain; version=0.0.4" % (where, ctype))
        self.text = r.body.decode("utf-8")
        self.types, self.help, self.samples = {}, {}, {}
        for ln in self.text.splitlines():
            if ln.startswith("# TYPE "):
                name, typ = ln[7:].split(" ", 1)
                self.types[name] = typ
            elif ln.startswith("# HELP "):
                name, txt = ln[7:].split(" ", 1)
                self.help[name] = txt
            elif ln and not ln.startswith("#"):
                m = self.LINE.match(ln)
                check(m, "/metrics %s: not a sample line: %r" % (where, ln))
                labels = tuple(sorted(self.LABEL.findall(m.group(2) or "")))
                key = (m.group(1), labels)
                check(key not in self.samples, "/metrics %s: sample twice: %r" % (where, ln))
                self.samples[key] = float(m.group(3))

    def v(self, name, **labels):
        key = (name, tuple(sorted(labels.items())))
        check(key in self.samples, "/metrics %s: no sample %s%s; have %s" %
              (self.where, name, labels or "", sorted(self.samples)))
        return self.samples[key]

    def labelled(self, name, label):
        """{label value: sample value} for a family with one label."""
        return {dict(k[1]).get(label): val for k, val in self.samples.items() if k[0] == name}

    def check_shape(self):
        """Every family the README lists, with its type and a HELP; the state
        and phase families over exactly the five states; one state set."""
        for name, typ in FAMILIES.items():
            check(self.types.get(name) == typ, "/metrics %s: %s has TYPE %r, expected %s" %
                  (self.where, name, self.types.get(name), typ))
            check(self.help.get(name), "/metrics %s: %s has no HELP" % (self.where, name))
            check(any(k[0] == name for k in self.samples),
                  "/metrics %s: family %s has no sample" % (self.where, name))
        extra = sorted({k[0] for k in self.samples} - set(FAMILIES))
        check(not extra, "/metrics %s: samples of no family the README lists: %s" % (self.where, extra))
        st = self.labelled("lameduck_state", "state")
        check(set(st) == set(STATES), "/metrics %s: lameduck_state over %s, expected %s" %
              (self.where, sorted(st), list(STATES)))
        check(sorted(st.values()) == [0, 0, 0, 0, 1],
              "/metrics %s: lameduck_state is not one-hot: %r" % (self.where, st))
        ph = self.labelled("lameduck_phase_seconds", "phase")
        check(set(ph) == set(STATES), "/metrics %s: lameduck_phase_seconds over %s, expected %s" %
              (self.where, sorted(ph), list(STATES)))
        check(all(x >= 0 for x in ph.values()),
              "/metrics %s: a negative phase duration: %r" % (self.where, ph))
        bi = [dict(k[1]) for k in self.samples if k[0] == "lameduck_build_info"]
        check(len(bi) == 1 and re.match(r"^\d+\.\d+\.\d+", bi[0].get("version", "")) and
              self.samples[("lameduck_build_info", tuple(sorted(bi[0].items())))] == 1,
              "/metrics %s: lameduck_build_info should be one sample, value 1, with a version "
              "label: %r" % (self.where, bi))

    def state(self):
        return [s for s, x in self.labelled("lameduck_state", "state").items() if x == 1][0]

    def phase(self, st):
        return self.v("lameduck_phase_seconds", phase=st)


def scrape(t, hport, where):
    s = Scrape(hport, where)
    lint(s.text, where)
    s.check_shape()
    t.note("/metrics %s: promtool clean; state %s, ready %g, listeners %g, active %g, accepted %g, "
           "in flight %g, signals %g" %
           (where, s.state(), s.v("lameduck_ready"), s.v("lameduck_listeners"),
            s.v("lameduck_connections_active"), s.v("lameduck_connections_accepted_total"),
            s.v("lameduck_in_flight"), s.v("lameduck_signals_received_total")))
    return s


def expect(s, **want):
    """want: short metric name -> value (lameduck_ prefix added)."""
    for short, val in want.items():
        name = "lameduck_" + short
        got = s.v(name)
        check(got == val, "/metrics %s: %s is %g, expected %g" % (s.where, name, got, val))


def get_ok(port, what):
    r = http(port, "/", timeout=5.0)
    check(r.status == 200 and r.text == "done", "%s: %s %r" % (what, r.status, r.text))


# ---------------------------------------------------------------- tests

def test_metrics_promtool_selftest(t):
    """The check itself: promtool passes a well-formed family and fails a
    lint problem (a counter without _total), so a clean result means
    something."""
    good = ("# HELP x_total Things.\n# TYPE x_total counter\nx_total 1\n")
    bad = ("# HELP x Things.\n# TYPE x counter\nx 1\n")
    rc, out = promtool(good)
    check(rc == 0 and out == "", "promtool on a clean family: exit %d %r" % (rc, out))
    rc, out = promtool(bad)
    check(rc != 0 and out, "promtool on a counter without _total: exit %d %r (expected a "
          "non-zero exit and a message)" % (rc, out))


def test_metrics_serving_and_lameduck(t):
    """slow_epoll under the shim (delay 30 s): /metrics while serving and in
    lame duck after SIGTERM is promtool-clean, has every family the README
    lists, and counts what happened: ready 1 and state serving while
    serving; 3 requests -> accepted_total 3; after SIGTERM ready 0, state
    lameduck, signals_received_total 1, and 2 more requests served and
    counted (5); the serving phase stops growing and lameduck's grows."""
    port, hport = t.port(), t.port()
    p = t.prog("slow_epoll", port, 0, health=hport, DELAY="30s", DRAIN_TIMEOUT="5s")
    t.start_ready(p, hport)

    s = scrape(t, hport, "while serving, before any request")
    check(s.state() == "serving", "state %s while /readyz is 200" % s.state())
    expect(s, ready=1, listeners=1, connections_accepted_total=0, connections_active=0,
           signals_received_total=0, in_flight=0)

    for i in range(3):
        get_ok(port, "request %d while serving" % (i + 1))
    # The program closes each connection after its answer; let the close land.
    wait_for(lambda: Scrape(hport, "serving").v("lameduck_connections_active") == 0, 3.0,
             "lameduck_connections_active to fall back to 0 after 3 requests")
    s = scrape(t, hport, "while serving, after 3 requests")
    check(s.state() == "serving", "state %s while serving" % s.state())
    expect(s, ready=1, listeners=1, connections_accepted_total=3, connections_active=0,
           signals_received_total=0, in_flight=0)
    check(s.phase("serving") > 0, "lameduck_phase_seconds{phase=\"serving\"} is %g while serving"
          % s.phase("serving"))
    check(s.phase("lameduck") == 0 and s.phase("draining") == 0 and s.phase("delivered") == 0,
          "phases not entered yet have a duration: %r" % s.labelled("lameduck_phase_seconds", "phase"))

    t_sig = p.signal(signal.SIGTERM)
    t.wait_health(hport, 503, body="lameduck", timeout=3.0, proc=p)
    s1 = scrape(t, hport, "in lame duck")
    check(s1.state() == "lameduck", "state %s after SIGTERM (delay 30s)" % s1.state())
    expect(s1, ready=0, listeners=1, connections_accepted_total=3, connections_active=0,
           signals_received_total=1, in_flight=0)
    # It keeps serving in lame duck, and counts it.
    for i in range(2):
        get_ok(port, "request %d in lame duck" % (i + 1))
    time.sleep(0.3)
    s2 = scrape(t, hport, "in lame duck, after 2 more requests")
    expect(s2, ready=0, connections_accepted_total=5, signals_received_total=1)
    check(s2.state() == "lameduck", "state %s in lame duck" % s2.state())
    check(s2.phase("serving") == s1.phase("serving"),
          "the serving phase still grows in lame duck: %g then %g" %
          (s1.phase("serving"), s2.phase("serving")))
    check(s2.phase("lameduck") >= s1.phase("lameduck") + 0.2,
          "the lameduck phase did not grow over 0.3 s: %g then %g" %
          (s1.phase("lameduck"), s2.phase("lameduck")))
    check(s2.phase("lameduck") <= now() - t_sig + 0.05,
          "lameduck_phase_seconds{phase=\"lameduck\"} %g, but SIGTERM was %.3fs ago" %
          (s2.phase("lameduck"), now() - t_sig))

    p.signal(signal.SIGTERM)    # the second one skips the rest of the delay
    ended_by_term(p, 10)


def test_metrics_tree_wrapper(t):
    """Under a wrapper that stays (sh -c '...; exit $?'), the listener and
    the accepts are in the wrapped server, a member of the tree: /metrics
    counts them as readiness does (1 listener, 1 accepted), not the
    owner's own (0)."""
    port, hport = t.port(), t.port()
    p = t.spawn(["sh", "-c", '"$0" -m http.server %s --bind 127.0.0.1; exit $?' % port,
                 sys.executable], health=hport, name="sh -c http.server")
    t.start_ready(p, hport, ready_line=False)
    s = scrape(t, hport, "under sh -c, before any request")
    expect(s, ready=1, listeners=1, connections_accepted_total=0)
    r = http(port, "/", timeout=5.0)
    check(r.status == 200, "http.server under sh -c: %s" % r.status)
    s = scrape(t, hport, "under sh -c, after one request")
    expect(s, ready=1, listeners=1, connections_accepted_total=1)


def test_metrics_draining(t):
    """slow_threads (1.5 s a request), delay 200 ms: with one request in
    flight at SIGTERM, /metrics during the drain is promtool-clean and says
    state draining, ready 0, in flight 1, 1 connection active and accepted,
    signals_received_total 1, no listener counted (they are stopped), a
    lameduck phase of about the delay; the request still gets its answer."""
    port, hport = t.port(), t.port()
    p = t.prog("slow_threads", port, 1500, health=hport, DELAY="200ms", DRAIN_TIMEOUT="15s")
    t.start_ready(p, hport)
    s = scrape(t, hport, "while serving (slow_threads)")
    expect(s, ready=1, listeners=1, connections_accepted_total=0)

    req = Request(port, timeout=20)
    check(req.sent.wait(5) and req.error is None, "slow request not sent: %s" % req.error)
    time.sleep(0.1)
    p.signal(signal.SIGTERM)
    t.wait_health(hport, 503, body="draining", timeout=3.0, proc=p)
    check(req.t_end is None, "the slow request ended before the drain began: %s %r %s" %
          (req.status, req.body, req.error))
    s = scrape(t, hport, "while draining")
    check(req.t_end is None, "the slow request ended before the drain scrape was done")
    check(s.state() == "draining", "state %s while /readyz says draining" % s.state())
    expect(s, ready=0, in_flight=1, connections_active=1, connections_accepted_total=1,
           signals_received_total=1, listeners=0)
    lame = s.phase("lameduck")
    check(0.15 <= lame <= 1.0, "lameduck_phase_seconds{phase=\"lameduck\"} %g with a 200 ms delay"
          % lame)
    check(s.phase("serving") > 0 and s.phase("draining") >= 0,
          "phase durations while draining: %r" % s.labelled("lameduck_phase_seconds", "phase"))

    req.join(10)
    check(req.error is None and req.status == 200 and req.body == b"done\n",
          "the request in flight at the drain: status %s body %r error %s" %
          (req.status, req.body, req.error))
    ended_by_term(p, 10)
