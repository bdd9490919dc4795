"""Delivery: the test programs of tests/progs get the lame-duck signal once,
after the delay, through the mechanism they use, exactly as the kernel would
have given it to them without the shim."""
import os
import signal
import time

from harness import BUILD, PROGS, PY, check, fail, fields, now, wait_for

DELAY = 1.0     # seconds; short, but long enough to see "not before"


def lameduck_then_delivery(t, p, hport, delay=DELAY, sig=signal.SIGTERM):
    """Sends sig to a ready program; checks /readyz turns 503 `lameduck`,
    the program has seen nothing at delay/2, and its result line comes
    after the delay. Returns (fields of the result line, kill time, line time)."""
    kill_t = p.signal(sig)

    def lame():
        st, body = t.health(hport, timeout=1.0)
        return (st, body) if st == 503 else None
    st, body = wait_for(lame, 2.0, "/readyz 503 after %s" % sig.name)
    check(body == "lameduck", "/readyz after %s: 503 %r, expected body 'lameduck'" % (sig.name, body))

    half = kill_t + delay / 2
    if now() < half:
        time.sleep(half - now())
    check(p.alive(), "%s ended %.2fs after %s, before the %.1fs delay was over (%s); %s" %
          (p.name, (p.exit_time or now()) - kill_t, sig.name, delay, p.status_text(), p.tail()))
    early = [l for l in p.out_lines() if l != "ready"]
    check(not early, "%s printed %r at %.2fs, before the %.1fs delay was over: the signal came early" %
          (p.name, early, now() - kill_t, delay))

    line_t, line = p.wait_out(lambda l: l != "ready", delay + 10, what="its result line")
    after = line_t - kill_t
    t.note("%s reported %.2fs after %s (delay %.1fs)" % (p.name, after, sig.name, delay))
    check(after >= delay - 0.05, "%s got the signal %.2fs after it was sent, before the %.1fs delay" %
          (p.name, after, delay))
    check(after <= delay + 2.0, "%s got the signal only %.2fs after it was sent (delay %.1fs)" %
          (p.name, after, delay))
    rc, _ = p.wait_exit(5)
    check(rc == 0, "%s failed its own checks (%s): %r; stderr %r" %
          (p.name, p.status_text(), line, p.err_lines()[-5:]))
    return fields(line), kill_t, line_t


def run_prog(t, prog, *args, delay=DELAY, deliver=None, sig=signal.SIGTERM, **env):
    port, hport = t.port(), t.port()
    if deliver:
        env["DELIVER"] = deliver
    p = t.prog(prog, port, *args, health=hport, DELAY="%dms" % int(delay * 1000), **env)
    t.start_ready(p, hport)
    f, _, _ = lameduck_then_delivery(t, p, hport, delay, sig)
    return f


def check_sender(t, f, what="si_pid"):
    check(f.get("pid") == str(t.runner_pid),
          "%s is %s, expected the sender's pid %d" % (what, f.get("pid"), t.runner_pid))


def test_forked_child_without_listener_takes_its_own_sigterm(t):
    """A child forked after the program listened closes its copy of the
    listener: it serves nothing, so SIGTERM sent to it from outside is its
    own (death by SIGTERM at once), not the pod's: the owner (delay 5 s)
    stays ready and logs no SIGTERM."""
    port, hport = t.port(), t.port()
    p = t.prog("sig_vfork", port, "fork_closed", health=hport, DELAY="5s")
    t.start_ready(p, hport)
    _, line = p.wait_out(lambda l: l.startswith("child "), 5, what="the child's pid")
    os.kill(int(line.split()[1]), signal.SIGTERM)
    _, end = p.wait_out(lambda l: l.startswith("child_status="), 3,
                        what="the child's end (SIGTERM must end it at once)")
    check(end == "child_status=signal:%d" % signal.SIGTERM, "the child ended with %s" % end)
    st, body = t.health(hport, timeout=1.0)
    check(st == 200, "the owner's /readyz is %s %r after its child's SIGTERM" % (st, body))
    check(not any("SIGTERM" in l for l in p.shim_lines()),
          "the owner took the child's SIGTERM: %r" % p.shim_lines())


def test_fork_handler_before_ours_sets_sigterm(t):
    """A library preloaded after the shim (tests/preload/early.c with
    EARLY_ATFORK) registers its fork child handler before the shim's, and
    that handler installs a SIGTERM handler. In the forked child the query
    reads that handler, and SIGTERM to the child runs it (exit 42)."""
    port, hport = t.port(), t.port()
    env = t.shim_env(hport, DELAY="5s")
    env["LD_PRELOAD"] += ":" + os.path.join(BUILD, "preload", "early.so")
    env["EARLY_ATFORK"] = "1"
    p = t.prog("sig_vfork", port, "fork", env=env)
    t.start_ready(p, hport)
    _, line = p.wait_out(lambda l: l.startswith("child "), 5, what="the child's pid")
    check(line.endswith("query=HANDLER"), "the forked child's query of SIGTERM: %r, expected the "
          "handler its fork handler installed" % line)
    os.kill(int(line.split()[1]), signal.SIGTERM)
    _, end = p.wait_out(lambda l: l.startswith("child_status="), 5, what="the child's end")
    check(end == "child_status=exit:42", "the child ended with %s, expected its handler's "
          "exit 42" % end)


# ---------------------------------------------------------------- handlers

def test_siginfo_handler(t):
    """SA_SIGINFO|SA_RESTART|SA_ONSTACK handler with sa_mask {USR1}: the
    query reads back what was installed; delivery after the delay, once, on
    the alternate stack, with sa_mask applied and the sender's pid."""
    f = run_prog(t, "sig_siginfo")
    check(f["signo"] == "15", "si_signo %s, expected 15" % f["signo"])
    check_sender(t, f)
    check(f["code"] in ("0", "-1"), "si_code %s, expected SI_USER (0) or SI_QUEUE (-1)" % f["code"])
    check(f["count"] == "1", "handler ran %s times" % f["count"])


def test_deliver_rewrite_int(t):
    """LAMEDUCK_DELIVER=INT: the program that handles SIGINT gets SIGINT
    (from the original sender) for our SIGTERM."""
    f = run_prog(t, "sig_siginfo", "INT", deliver="INT")
    check(f["signo"] == "2", "si_signo %s, expected 2 (SIGINT)" % f["signo"])
    check_sender(t, f)
    check(f["count"] == "1", "handler ran %s times" % f["count"])


def resethand(t, mode, want):
    f = run_prog(t, "sig_resethand", mode)
    check(f["handler_after"] == want, "%s: after delivery sigaction() reports %s, expected %s" %
          (mode, f["handler_after"], want))
    check(f["count"] == "1", "%s: handler ran %s times" % (mode, f["count"]))
    if mode == "sigaction":
        check_sender(t, f)


def test_resethand_sigaction(t):
    """SA_RESETHAND: SIG_DFL after delivery, as the kernel does it."""
    resethand(t, "sigaction", "DFL")


def test_resethand_sysv_signal(t):
    """sysv_signal() is one-shot (glibc's internal __sigaction path)."""
    resethand(t, "sysv", "DFL")


def test_resethand_bsd_signal(t):
    """glibc's signal() is BSD: the handler stays."""
    resethand(t, "signal", "HANDLER")


# ---------------------------------------------------------------- children the fork handlers never see

def test_vfork_child_sigaction_stays_its_own(t):
    """A vfork() child shares its parent's memory until it execs or exits:
    its signal(SIGTERM, SIG_DFL) must go to its own kernel actions, not to
    the parent's table. The parent's query still reads its handler, and
    SIGTERM runs that handler once, after the delay (it died of SIGTERM
    when the child's SIG_DFL landed in the parent's table)."""
    f = run_prog(t, "sig_vfork", "vfork")
    check(f["handler_after"] == "HANDLER" and f["count"] == "1", "got %r" % f)


def test_vfork_child_exec_keeps_its_own_action(t):
    """The program ignores SIGTERM; a vfork() child sets SIGTERM back to
    SIG_DFL and execs: the new image starts with SIGTERM not ignored, as
    without the shim (the exec wrapper put the parent's SIG_IGN back). A
    second child that changes nothing execs with SIGTERM still ignored."""
    port, hport = t.port(), t.port()
    p = t.prog("sig_vfork", port, "vfork_exec", health=hport)
    p.wait_out("done", 10)
    ign = [l for l in p.out_lines() if l.startswith("SigIgn:")]
    check(len(ign) == 2, "expected two SigIgn lines from the children, got %r" % p.out_lines())
    masks = [int(l.split()[1], 16) for l in ign]
    bit = 1 << (signal.SIGTERM - 1)
    check(not masks[0] & bit, "the child that set SIG_DFL exec'd with SIGTERM ignored (%s)" %
          ign[0])
    check(masks[1] & bit, "the child that changed nothing exec'd without the program's "
          "SIG_IGN (%s)" % ign[1])


def test_fork_without_handlers_child_is_plain(t):
    """A _Fork() child (glibc 2.34: no atfork handlers run) holds a copy of
    the owner's state. SIGTERM to it must end it at once with the default
    action, as without the shim (it swallowed the signal and put its copy
    of the lifecycle in lame duck), and the parent must stay ready."""
    port, hport = t.port(), t.port()
    p = t.prog("sig_vfork", port, "_Fork", health=hport, DELAY="5s")
    t.start_ready(p, hport)
    _, line = p.wait_out(lambda l: l.startswith("child "), 5, what="the child's pid")
    child = int(line.split()[1])
    t0 = now()
    os.kill(child, signal.SIGTERM)
    t1, line = p.wait_out(lambda l: l.startswith("child_status="), 3,
                          what="the child's end (SIGTERM must end it at once)")
    check(line == "child_status=signal:%d" % signal.SIGTERM,
          "the _Fork child ended with %s, expected death by SIGTERM" % line)
    t.note("the _Fork child died of SIGTERM %.0f ms after it was sent" % ((t1 - t0) * 1000))
    st, body = t.health(hport, timeout=1.0)
    check(st == 200, "the parent's /readyz is %s %r after its child's SIGTERM, expected 200" %
          (st, body))
    check(not any("SIGTERM" in l for l in p.err_lines()),
          "a lameduck line about SIGTERM: %r" % [l for l in p.err_lines() if "SIGTERM" in l])


def test_sigsuspend_nginx_style(t):
    """SIGTERM blocked, plain handler, `while (!flag) sigsuspend(&empty)`:
    the handler must run on the thread in sigsuspend."""
    f = run_prog(t, "sig_suspend")
    check(f["signo"] == "15" and f["count"] == "1", "got %r" % f)


# ---------------------------------------------------------------- blocked and waited for

def waited(t, mode):
    f = run_prog(t, "sig_waitinfo", mode)
    check(f["signo"] == "15", "%s returned signal %s" % (mode, f["signo"]))
    check(f["count"] == "1", "%s: SIGTERM arrived %s times" % (mode, f["count"]))
    if mode != "sigwait":
        check_sender(t, f)


def test_sigwaitinfo(t):
    waited(t, "sigwaitinfo")


def test_sigtimedwait(t):
    waited(t, "sigtimedwait")


def test_sigwait(t):
    waited(t, "sigwait")


def signalfd(t, mode):
    f = run_prog(t, "sig_signalfd", mode)
    check(f["signo"] == "15", "signalfd gave signal %s" % f["signo"])
    check(f["count"] == "1", "signalfd: SIGTERM arrived %s times" % f["count"])
    check_sender(t, f, "ssi_pid")


def test_signalfd_poll(t):
    signalfd(t, "poll")


def test_signalfd_blocking_read(t):
    signalfd(t, "read")


def test_signalfd_epoll(t):
    signalfd(t, "epoll")


# ---------------------------------------------------------------- the rules

def test_second_sigterm_skips_delay(t):
    """A second SIGTERM during a 30 s delay delivers at once, exactly once."""
    port, hport = t.port(), t.port()
    p = t.prog("sig_siginfo", port, health=hport, DELAY="30s")
    t.start_ready(p, hport)
    p.signal(signal.SIGTERM)
    t.wait_health(hport, 503, body="lameduck", timeout=2.0, proc=p)
    check(p.out_lines() == ["ready"], "delivered before the second signal: %r" % p.out_lines())
    second = p.signal(signal.SIGTERM)
    line_t, line = p.wait_out(lambda l: l != "ready", 10, what="its result line")
    t.note("delivered %.2fs after the second SIGTERM" % (line_t - second))
    check(line_t - second < 3.0, "delivery %.1fs after the second SIGTERM" % (line_t - second))
    rc, _ = p.wait_exit(5)
    f = fields(line)
    check(f.get("count") == "1", "handler ran %s times: the second SIGTERM must not be delivered too" %
          f.get("count"))
    check(rc == 0, "sig_siginfo failed its checks: %r %r" % (line, p.err_lines()[-3:]))
    check_sender(t, f)


def test_sigterm_while_starting(t):
    """A program that has not listened yet (starting) gets SIGTERM at once."""
    hport = t.port()
    p = t.spawn([PY, "-c", "import time; print('started', flush=True); time.sleep(30)"],
                health=hport, DELAY="10s", READY="listen", name="sleeper")
    p.wait_out("started", 10)
    t.wait_health(hport, 503, body="starting", proc=p)
    kill_t = p.signal(signal.SIGTERM)
    rc, end = p.wait_exit(5)
    t.note("ended %.2fs after SIGTERM" % (end - kill_t))
    check(rc == -signal.SIGTERM, "%s, expected death by SIGTERM" % p.status_text())
    check(end - kill_t < 1.5, "ended %.2fs after SIGTERM: a signal while starting must pass at once" %
          (end - kill_t))


def ignored(t, how):
    port, hport = t.port(), t.port()
    prog = os.path.join(PROGS, "sig_ignore")
    if how == "install":
        p = t.prog("sig_ignore", port, health=hport, DELAY="1s")
    elif how == "sh-trap":
        p = t.spawn(["/bin/sh", "-c", "trap '' TERM; exec %s %d inherit" % (prog, port)],
                    health=hport, DELAY="1s", name="sig_ignore")
    else:
        fail("unknown mode %r" % how)
    t.start_ready(p, hport)
    kill_t = p.signal(signal.SIGTERM)
    t.wait_health(hport, 503, timeout=2.0, proc=p)
    # The delivery is logged; the program ignores it.
    p.wait_out(lambda l: l.startswith("lameduck") and ("IGN" in l or "ignor" in l), 5, stream="err",
               what="a log line saying the delivered SIGTERM is ignored")
    check(now() - kill_t >= 0.95, "the ignored SIGTERM was delivered %.2fs after it was sent, "
          "before the 1s delay" % (now() - kill_t))
    check(p.alive(), "the program ended (%s) although it ignores SIGTERM; %s" % (p.status_text(), p.tail()))
    n = len(p.out_lines())
    p.signal(signal.SIGUSR1)
    p.wait_out("alive", 5, after=n)
    p.signal(signal.SIGUSR2)
    rc, _ = p.wait_exit(5)
    check(rc == 0, "sig_ignore: %s; %s" % (p.status_text(), p.tail()))


def test_sig_ign_respected(t):
    """SIG_IGN installed by the program: lame duck, then the delivery is
    logged and ignored; the program lives on (SIGUSR1 answered)."""
    ignored(t, "install")


def test_sig_ign_inherited_through_exec(t):
    """`trap '' TERM; exec prog` under the shim: the program inherits
    SIG_IGN (reads it back with sigaction) and it is respected."""
    ignored(t, "sh-trap")


def test_exit_on_own_keeps_status(t):
    """A program that exits by itself during the delay keeps its own status
    and is not held up."""
    port, hport = t.port(), t.port()
    p = t.prog("exit_self", port, 2500, 7, health=hport, DELAY="6s")
    ready_t, _ = p.wait_ready_line()
    t.wait_health(hport, 200, proc=p)
    check(now() - ready_t < 2.0, "too slow to get ready (%.1fs): cannot signal before the "
          "program's own exit" % (now() - ready_t))
    kill_t = p.signal(signal.SIGTERM)
    rc, end = p.wait_exit(10)
    t.note("exited %.2fs after SIGTERM, %.2fs after ready" % (end - kill_t, end - ready_t))
    check(rc == 7, "%s, expected its own exit status 7; %s" % (p.status_text(), p.tail()))
    check(end - kill_t < 4.5, "exit held up: %.2fs after SIGTERM (the program exits 2.5s after "
          "ready; delay 6s)" % (end - kill_t))


def test_log_json(t):
    """LAMEDUCK_LOG_FORMAT=json: every line the shim writes is one JSON object."""
    import json
    port, hport = t.port(), t.port()
    p = t.prog("sig_siginfo", port, health=hport, DELAY="500ms", LOG_FORMAT="json", LOG="debug")
    t.start_ready(p, hport)
    p.signal(signal.SIGTERM)
    p.wait_out(lambda l: l != "ready", 10, what="its result line")
    p.wait_exit(5)
    lines = p.err_lines()
    check(lines, "no log line at all on stderr")
    for l in lines:
        try:
            obj = json.loads(l)
        except ValueError:
            fail("stderr line is not JSON: %r" % l)
        check(isinstance(obj, dict), "not an object: %r" % l)
    check(any("TERM" in json.dumps(json.loads(l)) for l in lines), "no log line mentions SIGTERM: %r" % lines)
