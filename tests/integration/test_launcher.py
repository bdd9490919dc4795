"""The launcher, build/lameduck: values checked with the shim's parser before
anything runs, --check, LD_PRELOAD put first, programs that cannot load the
shim refused (static, Go without cgo, setuid, file capabilities, through #!
scripts too) and run with --force, exit statuses, finding the shim, and a
real server through it.

Each test is a test_*(t) function taking a harness.Ctx, as run.py wants.
The programs the tests need (static, fake Go) are built with gcc into the
test's temporary directory."""
import os
import re
import shutil
import signal
import subprocess

from harness import BUILD, PY, ROOT, SHIM, check

LAUNCHER = os.path.join(BUILD, "lameduck")
MARKER_PROG = r"""
#include <stdio.h>
%s
int main(int argc, char **argv)
{
	FILE *f;

	if (argc > 1 && (f = fopen(argv[1], "w")) != NULL)
		fclose(f);
	puts("ran");
	return 0;
}
"""
# The Go linker's marks, made by gcc: the launcher reads sections and notes.
GO_SECTION = ('__attribute__((used, section(".go.buildinfo"))) '
              'static const char buildinfo[32] = "\\xff Go buildinf:";')
GO_NOTE = ('__asm__(".section .note.go.buildid,\\"a\\",@note\\n.balign 4\\n'
           '.long 4\\n.long 8\\n.long 4\\n.asciz \\"Go\\"\\n.byte 0\\n'
           '.ascii \\"abcdefgh\\"\\n.previous\\n");')
INSTEAD = "--supervise"


# ---------------------------------------------------------------- helpers

def launcher_env(t, **extra):
    """The test's environment without LD_PRELOAD or any LAMEDUCK_*, the
    health port on a free loopback port (so that a process that does load
    the shim never takes :8799), and extra on top (None unsets)."""
    env = t.base_env()
    env["LAMEDUCK_HEALTH"] = "127.0.0.1:%d" % t.port()
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def launch(t, args, env=None, timeout=20):
    """Runs the launcher to its end. Returns (status, stdout, stderr)."""
    check(os.access(LAUNCHER, os.X_OK), "%s not built (make build/lameduck)" % LAUNCHER)
    p = subprocess.run([LAUNCHER] + [str(a) for a in args], cwd=t.tmp,
                       env=env if env is not None else launcher_env(t),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout, start_new_session=True)
    return p.returncode, p.stdout, p.stderr


def expect(t, args, want, env=None, err=(), out=None, what=None):
    """Runs the launcher; checks its status and that stderr holds each of err."""
    rc, o, e = launch(t, args, env)
    what = what or "lameduck %s" % " ".join(str(a) for a in args)
    check(rc == want, "%s: status %s, expected %s; stdout %r, stderr %r" % (what, rc, want, o, e))
    for s in err:
        check(s in e, "%s: stderr lacks %r: %r" % (what, s, e))
    if out is not None:
        check(o == out, "%s: stdout %r, expected %r" % (what, o, out))
    return o, e


def gcc(t, name, source, *flags):
    """Builds source into the test's directory; returns the program's path."""
    src = os.path.join(t.tmp, name + ".c")
    exe = os.path.join(t.tmp, name)
    with open(src, "w") as f:
        f.write(source)
    p = subprocess.run(["gcc", "-O0", "-o", exe, src] + list(flags),
                       capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, "gcc %s %s failed: %s" % (name, " ".join(flags), p.stderr[-2000:]))
    return exe


def marker_prog(t, name, extra="", *flags):
    return gcc(t, name, MARKER_PROG % extra, *flags)


def script(t, name, text):
    path = os.path.join(t.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def copy_exe(t, src, name, mode=0o755):
    dst = os.path.join(t.tmp, name)
    shutil.copyfile(src, dst)
    os.chmod(dst, mode)
    return dst


def refused(t, args, reason, env=None):
    """The launcher refuses with 126, says why and what to do instead, and
    the program never ran."""
    _, e = expect(t, args, 126, env=env, err=(reason, INSTEAD, "--force"), out="")
    check(e.startswith("lameduck: "), "message does not start with 'lameduck: ': %r" % e)
    return e


def shim_real():
    return os.path.realpath(SHIM)


def check_lines(text):
    """--check's output as {VAR: (value, source)}."""
    res = {}
    for line in text.splitlines():
        m = re.fullmatch(r"(LAMEDUCK_[A-Z_]+)=(\S+) \(([^)]*)\)", line) or \
            re.fullmatch(r"(LAMEDUCK_[A-Z_]+) unset \(([^)]*)\)()", line)
        check(m is not None, "--check line %r is neither VAR=value (source) nor VAR unset "
              "(source)" % line)
        if m.group(3) == "" and " unset " in line:
            res[m.group(1)] = (None, m.group(2))
        else:
            res[m.group(1)] = (m.group(2), m.group(3))
    return res


VARS = ["LAMEDUCK_DELAY", "LAMEDUCK_DRAIN_TIMEOUT", "LAMEDUCK_DRAIN", "LAMEDUCK_SIGNALS",
        "LAMEDUCK_DELIVER", "LAMEDUCK_HEALTH", "LAMEDUCK_PORTS", "LAMEDUCK_READY",
        "LAMEDUCK_LOG", "LAMEDUCK_LOG_FORMAT", "LAMEDUCK_RETIRE"]


# ---------------------------------------------------------------- values and usage

def test_launcher_bad_value_refused(t):
    """A bad value, from an option or from the environment, is refused with
    the parser's message and status 2 before the command runs; an option
    overrides a bad variable."""
    mark = os.path.join(t.tmp, "ran")
    cmd = ["--", "/bin/sh", "-c", 'touch "$0"', mark]
    _, e = expect(t, ["--delay", "5x"] + cmd, 2,
                  err=('lameduck: LAMEDUCK_DELAY="5x" is not a duration (try 500ms, 5s, 1m)',
                       "--delay"))
    check(e.count("\n") == 1, "more than one line for a bad value: %r" % e)
    expect(t, cmd, 2, env=launcher_env(t, LAMEDUCK_DRAIN="sometimes"),
           err=('lameduck: LAMEDUCK_DRAIN="sometimes" is not one of always, auto, never',))
    expect(t, ["--signals", "TERM,KILL"] + cmd, 2, err=("LAMEDUCK_SIGNALS",))
    expect(t, ["--health", "localhost:80"] + cmd, 2, err=("LAMEDUCK_HEALTH",))
    expect(t, ["--ready-ports", "0"] + cmd, 2, err=("LAMEDUCK_PORTS",))
    # --force skips the refusal checks, never the values.
    expect(t, ["--force", "--log", "loud"] + cmd, 2, err=("LAMEDUCK_LOG",))
    check(not os.path.exists(mark), "the command ran although a value was bad")

    expect(t, ["--delay", "1s", "--log", "off"] + cmd, 0,
           env=launcher_env(t, LAMEDUCK_DELAY="5x"), what="--delay 1s over LAMEDUCK_DELAY=5x")
    check(os.path.exists(mark), "the command did not run with a good option over a bad variable")


def test_launcher_usage_errors(t):
    """Usage errors are status 2 with one line naming the problem; --help
    and --version are 0."""
    expect(t, [], 2, err=("no command",))
    expect(t, ["--bogus", "true"], 2, err=("--bogus",))
    expect(t, ["--delay"], 2, err=("--delay needs a value",))
    expect(t, ["--check", "true"], 2, err=("--check",))
    o, _ = expect(t, ["--version"], 0)
    with open(os.path.join(ROOT, "shim", "config.h")) as f:
        version = re.search(r'#define\s+LD_VERSION\s+"([^"]+)"', f.read()).group(1)
    check(o == "lameduck %s\n" % version, "--version printed %r, expected lameduck %s" % (o, version))
    o, _ = expect(t, ["--help"], 0)
    for opt in ["--delay", "--drain-timeout", "--drain", "--signals", "--deliver", "--health",
                "--ready-ports", "--ready", "--log", "--log-format", "--retire", "--force", "--check",
                "--version", "LAMEDUCK_LIBRARY", "126", "127"]:
        check(opt in o, "--help does not mention %s" % opt)
    # Without "--", the first word that is not an option is the command, and
    # options after it are the command's.
    o, _ = expect(t, ["--log", "off", "/bin/echo", "--delay", "x"], 0)
    check(o == "--delay x\n", "options after the command were not the command's: %r" % o)


def test_launcher_check(t):
    """--check prints every variable with its effective value and where it
    came from, in a form the parser takes back; 1 and the parser's message
    for a bad environment."""
    o, _ = expect(t, ["--check"], 0, env=launcher_env(t, LAMEDUCK_HEALTH=None))
    got = check_lines(o)
    check(list(got) == VARS, "--check lists %r, expected %r" % (list(got), VARS))
    want = {"LAMEDUCK_DELAY": ("10s", "default"), "LAMEDUCK_DRAIN_TIMEOUT": ("15s", "default"),
            "LAMEDUCK_DRAIN": ("always", "default"), "LAMEDUCK_SIGNALS": ("TERM", "default"),
            "LAMEDUCK_HEALTH": (":8799", "default"), "LAMEDUCK_READY": ("listen", "default"),
            "LAMEDUCK_LOG": ("info", "default"), "LAMEDUCK_LOG_FORMAT": ("text", "default"),
            "LAMEDUCK_RETIRE": ("on", "default"),
            "LAMEDUCK_PORTS": (None, "default: every TCP listener")}
    for k, v in want.items():
        check(got[k] == v, "--check with no variables: %s=%s (%s), expected %s (%s)" %
              (k, got[k][0], got[k][1], v[0], v[1]))
    check(got["LAMEDUCK_DELAY"] == ("10s", "default"), "default delay: %r" % (got["LAMEDUCK_DELAY"],))

    env = launcher_env(t, LAMEDUCK_DELAY="1m30s", LAMEDUCK_SIGNALS="SIGINT,TERM",
                       LAMEDUCK_DELIVER="TERM:QUIT", LAMEDUCK_PORTS="8080,443",
                       LAMEDUCK_DRAIN_TIMEOUT="1s500ms", LAMEDUCK_LOG_FORMAT="json")
    o, _ = expect(t, ["--check", "--health", "[::1]:9000", "--ready", "start", "--retire", "off"],
                  0, env=env)
    got = check_lines(o)
    want = {"LAMEDUCK_DELAY": ("1m30s", "environment"),
            "LAMEDUCK_DRAIN_TIMEOUT": ("1s500ms", "environment"),
            "LAMEDUCK_SIGNALS": ("INT,TERM", "environment"),
            "LAMEDUCK_DELIVER": ("INT:INT,TERM:QUIT", "environment"),
            "LAMEDUCK_PORTS": ("8080,443", "environment"),
            "LAMEDUCK_HEALTH": ("[::1]:9000", "option"),
            "LAMEDUCK_READY": ("start", "option"),
            "LAMEDUCK_LOG_FORMAT": ("json", "environment"),
            "LAMEDUCK_RETIRE": ("off", "option"),
            "LAMEDUCK_DRAIN": ("always", "default")}
    for k, v in want.items():
        check(got[k] == v, "--check: %s=%s (%s), expected %s (%s)" % (k, got[k][0], got[k][1], v[0], v[1]))

    # Every value it prints, fed back, gives the same configuration; an
    # unset variable stays unset (an empty value is refused).
    for env in (env, launcher_env(t, LAMEDUCK_DELAY="59m59s999ms", LAMEDUCK_DRAIN_TIMEOUT="1001")):
        o, _ = expect(t, ["--check"], 0, env=env)
        got = check_lines(o)
        back = launcher_env(t)
        for k, (v, _) in got.items():
            if v is not None:
                back[k] = v
        o2, _ = expect(t, ["--check"], 0, env=back, what="--check of its own output")
        again = check_lines(o2)
        for k in VARS:
            check(again[k][0] == got[k][0], "%s=%s read back as %s" % (k, got[k][0], again[k][0]))

    o, e = expect(t, ["--check"], 1, env=launcher_env(t, LAMEDUCK_SIGNALS="TERM,KILL"),
                  err=('lameduck: LAMEDUCK_SIGNALS="TERM,KILL": "KILL" can not be a lame-duck signal',))
    check(o == "", "--check printed a configuration for a bad environment: %r" % o)
    expect(t, ["--check"], 1, env=launcher_env(t, LAMEDUCK_DELAY=""), err=("LAMEDUCK_DELAY", "empty"))
    expect(t, ["--check", "--delay", "2h"], 1, err=("longer than the maximum 1h",))


# ---------------------------------------------------------------- LD_PRELOAD

def test_launcher_preload_prepended(t):
    """The shim goes first in an existing LD_PRELOAD, after sanitizer
    runtimes, and never twice."""
    other = gcc(t, "libother.so", "int other_lib_marker(void) { return 1; }\n", "-shared", "-fPIC")
    asan = gcc(t, "libasan.so.8", "int fake_asan_marker(void) { return 1; }\n", "-shared", "-fPIC")
    shim = shim_real()
    echo = ["--log", "off", "/bin/sh", "-c", 'echo "$LD_PRELOAD"']
    cases = [
        (None, shim),
        (other, shim + ":" + other),
        ("%s %s" % (other, other), shim + ":" + other + " " + other),
        (asan + ":" + other, asan + ":" + shim + ":" + other),
        (shim + ":" + other, shim + ":" + other),
        (other + ":" + shim, other + ":" + shim),
        (other + ":" + SHIM, other + ":" + SHIM),
    ]
    for before, after in cases:
        o, e = expect(t, echo, 0, env=launcher_env(t, LD_PRELOAD=before),
                      what="LD_PRELOAD=%r" % before)
        check(o.strip() == after, "LD_PRELOAD=%r became %r, expected %r" % (before, o.strip(), after))


def test_launcher_finds_shim(t):
    """LAMEDUCK_LIBRARY if set (it must exist), else beside the launcher,
    else ../lib from it; not found is status 2 naming the places."""
    o, _ = expect(t, ["--log", "off", "/bin/sh", "-c", 'echo "$LD_PRELOAD"'], 0,
                  env=launcher_env(t, LAMEDUCK_LIBRARY=os.path.relpath(SHIM, t.tmp)))
    check(o.strip() == shim_real(), "LAMEDUCK_LIBRARY relative: LD_PRELOAD=%r" % o.strip())
    expect(t, ["true"], 2, env=launcher_env(t, LAMEDUCK_LIBRARY="/nonexistent/liblameduck.so"),
           err=("LAMEDUCK_LIBRARY", "/nonexistent/liblameduck.so", "No such file"))

    bindir = os.path.join(t.tmp, "prefix", "bin")
    libdir = os.path.join(t.tmp, "prefix", "lib")
    os.makedirs(bindir)
    os.makedirs(libdir)
    exe = copy_exe(t, LAUNCHER, os.path.join("prefix", "bin", "lameduck"))
    p = subprocess.run([exe, "true"], env=launcher_env(t), capture_output=True, text=True,
                       timeout=20)
    installed = "/usr/local/lib/liblameduck.so"
    if os.path.exists(installed):
        t.note("%s exists, so a launcher with no shim near it finds that one" % installed)
    else:
        check(p.returncode == 2, "no shim anywhere: status %s, expected 2; %r" % (p.returncode, p.stderr))
        for place in [os.path.join(bindir, "liblameduck.so"), installed]:
            check(place in p.stderr, "the message does not name %s: %r" % (place, p.stderr))
        check("LAMEDUCK_LIBRARY" in p.stderr, "the message does not say how to fix it: %r" % p.stderr)

    shutil.copyfile(SHIM, os.path.join(libdir, "liblameduck.so"))
    p = subprocess.run([exe, "--log", "off", "/bin/sh", "-c", 'echo "$LD_PRELOAD"'],
                       env=launcher_env(t), capture_output=True, text=True, timeout=20)
    check(p.returncode == 0 and p.stdout.strip() == os.path.join(libdir, "liblameduck.so"),
          "shim in ../lib: status %s, LD_PRELOAD=%r, stderr %r" % (p.returncode, p.stdout, p.stderr))


# ---------------------------------------------------------------- refusals

def test_launcher_static_refused(t):
    """A statically linked program is refused with 126 (saying why and what
    to do instead) and runs with --force."""
    mark = os.path.join(t.tmp, "ran")
    exe = marker_prog(t, "static", "", "-static")
    refused(t, [exe, mark], "statically linked")
    check(not os.path.exists(mark), "the refused program ran")
    o, _ = expect(t, ["--force", exe, mark], 0)
    check(o == "ran\n" and os.path.exists(mark), "--force did not run it: %r" % o)
    # A dynamic build of the same program runs, and gets the shim.
    dyn = marker_prog(t, "dynamic")
    o, _ = expect(t, ["--log", "off", dyn], 0)
    check(o == "ran\n", "the dynamic program printed %r" % o)


def test_launcher_go_refused(t):
    """A Go program without cgo (marked by the .go.buildinfo section, or the
    Go build-id note alone) is refused; one that links libc (cgo) runs."""
    exe = marker_prog(t, "go_static", GO_SECTION, "-static")
    refused(t, [exe], "Go without cgo never calls libc")
    note = marker_prog(t, "go_note", GO_NOTE, "-static")
    refused(t, [note], "Go without cgo never calls libc")
    cgo = marker_prog(t, "go_cgo", GO_SECTION)
    o, _ = expect(t, ["--log", "off", cgo], 0, what="a Go-marked program that links libc")
    check(o == "ran\n", "the cgo-like program printed %r" % o)


def test_launcher_real_go_refused(t):
    """A real CGO_ENABLED=0 Go binary, when Debian's golang-go is installed."""
    go = shutil.which("go")
    if go is None:
        t.note("skipped: no go toolchain (golang-go is optional)")
        return
    src = os.path.join(t.tmp, "main.go")
    with open(src, "w") as f:
        f.write('package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("ran") }\n')
    exe = os.path.join(t.tmp, "gohello")
    env = dict(os.environ, CGO_ENABLED="0", GOCACHE=os.path.join(t.tmp, "gocache"),
               GOPATH=os.path.join(t.tmp, "gopath"), GOFLAGS="-mod=mod", GO111MODULE="off")
    p = subprocess.run([go, "build", "-o", exe, src], env=env, capture_output=True, text=True,
                       timeout=300, cwd=t.tmp)
    check(p.returncode == 0, "go build failed: %s" % p.stderr[-2000:])
    refused(t, [exe], "Go without cgo never calls libc")


def test_launcher_setuid_refused(t):
    """setuid and setgid copies of a dynamic program are refused."""
    true = os.path.realpath(shutil.which("true") or "/bin/true")
    suid = copy_exe(t, true, "true-suid", 0o4755)
    refused(t, [suid], "setuid")
    sgid = copy_exe(t, true, "true-sgid", 0o2755)
    refused(t, [sgid], "setgid")
    expect(t, ["--force", suid], 0, what="--force on a setuid program")


def test_launcher_file_caps_refused(t):
    """A program with file capabilities is refused (needs setcap, from
    libcap2-bin)."""
    setcap = shutil.which("setcap") or next(
        (p for p in ("/usr/sbin/setcap", "/sbin/setcap") if os.access(p, os.X_OK)), None)
    if setcap is None:
        t.note("skipped: setcap not installed (package libcap2-bin)")
        return
    true = os.path.realpath(shutil.which("true") or "/bin/true")
    exe = copy_exe(t, true, "true-cap")
    p = subprocess.run([setcap, "cap_net_bind_service+ep", exe], capture_output=True, text=True,
                       timeout=20)
    if p.returncode != 0:
        t.note("skipped: setcap failed here (%s)" % p.stderr.strip())
        return
    refused(t, [exe], "file capabilities")


def test_launcher_scripts(t):
    """A #! script is judged by its interpreter: a dynamic one runs with the
    shim, a static one is refused, also when found by /usr/bin/env."""
    shim = shim_real()
    sh = script(t, "sh-script", '#!/bin/sh\necho "$LD_PRELOAD"\n')
    o, _ = expect(t, ["--log", "off", sh], 0)
    check(o.strip() == shim, "#!/bin/sh script saw LD_PRELOAD=%r" % o.strip())
    env_sh = script(t, "env-script", '#!/usr/bin/env sh\necho "$LD_PRELOAD"\n')
    o, _ = expect(t, ["--log", "off", env_sh], 0)
    check(o.strip() == shim, "#!/usr/bin/env sh script saw LD_PRELOAD=%r" % o.strip())
    bare = script(t, "bare-script", 'echo "bare $LD_PRELOAD"\n')
    o, _ = expect(t, ["--log", "off", bare], 0, what="a script with no #! line (run by /bin/sh)")
    check(o.strip() == "bare " + shim, "bare script printed %r" % o)

    static = marker_prog(t, "static-interp", "", "-static")
    s1 = script(t, "static-script", "#!%s\n" % static)
    refused(t, [s1], "statically linked")
    check(static in launch(t, [s1])[2], "the message does not name the interpreter")
    s2 = script(t, "env-static-script", "#!/usr/bin/env -S FOO=1 static-interp\n")
    env = launcher_env(t, PATH=t.tmp + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
    refused(t, [s2], "statically linked", env=env)
    s3 = script(t, "nested-script", "#!%s\n" % s1)
    refused(t, [s3], "statically linked")
    o, _ = expect(t, ["--force", s1], 0, what="--force on a script with a static interpreter")
    check(o == "ran\n", "--force: %r" % o)


def test_launcher_not_found(t):
    """A missing or non-executable command, or a script whose interpreter is
    missing, is status 127 with a message."""
    expect(t, ["no-such-command-lameduck-test"], 127,
           err=("no-such-command-lameduck-test", "not found"))
    expect(t, ["./no-such-file"], 127, err=("./no-such-file", "No such file"))
    plain = os.path.join(t.tmp, "not-executable")
    with open(plain, "w") as f:
        f.write("#!/bin/sh\necho hi\n")
    os.chmod(plain, 0o644)
    expect(t, [plain], 127, err=(plain, "not executable"))
    expect(t, [t.tmp], 127, err=("not executable",))
    s = script(t, "lost-interp", "#!/nonexistent/interpreter\n")
    expect(t, [s], 127, err=("/nonexistent/interpreter", "not found"))
    s = script(t, "lost-env-interp", "#!/usr/bin/env no-such-interpreter-lameduck\n")
    expect(t, [s], 127, err=("no-such-interpreter-lameduck", "not found"))
    expect(t, ["--force", s], 127, what="--force on a script whose interpreter is missing")


# ---------------------------------------------------------------- a real server

def test_launcher_real_server(t):
    """python3 -m http.server through the launcher: /readyz 200 once it
    listens, 503 `lameduck` right after SIGTERM while it still serves, then
    it ends by SIGTERM about the delay later."""
    port, hport = t.port(), t.port()
    delay = 1.0
    env = t.base_env()
    env["PYTHONUNBUFFERED"] = "1"
    p = t.spawn([LAUNCHER, "--delay", "1s", "--health", "127.0.0.1:%d" % hport, "--",
                 PY, "-m", "http.server", port, "--bind", "127.0.0.1"],
                env=env, name="lameduck http.server")
    t.wait_health(hport, 200, proc=p)
    maps = open("/proc/%d/maps" % p.pid).read()
    check("liblameduck.so" in maps, "the shim is not mapped in the server (pid %d)" % p.pid)
    st, _ = t.health(port, "/")
    check(st == 200, "the server does not answer before SIGTERM: %s" % st)

    kill_t = p.signal(signal.SIGTERM)
    t.wait_health(hport, 503, body="lameduck", timeout=2.0, proc=p)
    st, _ = t.health(port, "/")
    check(st == 200, "the server does not answer during the delay: %s" % st)
    rc, end = p.wait_exit(delay + 10)
    after = end - kill_t
    t.note("ended %.2fs after SIGTERM (delay %.1fs)" % (after, delay))
    check(rc == -signal.SIGTERM, "%s, expected death by SIGTERM; %s" % (p.status_text(), p.tail()))
    check(after >= delay - 0.05, "ended %.2fs after SIGTERM, before the %.1fs delay" % (after, delay))
    check(after <= delay + 3.0, "ended only %.2fs after SIGTERM (delay %.1fs)" % (after, delay))


# ---------------------------------------------------------------- man pages

def test_man_pages(t):
    """man/lameduck.1 and man/liblameduck.7 render without a warning, and
    lameduck(1) documents every option --help lists."""
    pages = [os.path.join(ROOT, "man", p) for p in ("lameduck.1", "liblameduck.7")]
    groff = shutil.which("groff")
    if groff is None:
        t.note("rendering skipped: groff not installed")
    for page in pages:
        check(os.path.exists(page), "%s is missing" % page)
        if groff is not None:
            p = subprocess.run([groff, "-mandoc", "-ww", "-z", page], capture_output=True,
                               text=True, timeout=30)
            check(p.returncode == 0 and not p.stderr.strip(),
                  "%s: groff warns: %s" % (os.path.basename(page), p.stderr.strip()[:1000]))
    _, o, _ = launch(t, ["--help"])
    with open(pages[0]) as f:
        source = f.read().replace("\\-", "-")     # mdoc: .Fl \-delay
    for opt in sorted(set(re.findall(r"--[a-z][a-z-]*", o))):
        check(re.search(r"\bFl %s\b(?!-)" % re.escape(opt[1:]), source),
              "lameduck.1 does not document %s" % opt)


test_launcher_real_server.timeout = 60
test_launcher_real_go_refused.timeout = 600


# ---------------------------------------------------------------- standalone
