"""demo/k8s: the Deployment must be one that works. Its LAMEDUCK_* values
are read by the shim's own parser (through `lameduck --check`), the grace
period covers the delay and the drain timeout, the readiness probe asks
/readyz on the health port, the liveness probe stays the program's own, and
LD_PRELOAD points at the copy the init container puts into an emptyDir.
docker is not needed: the Dockerfile is only read.

Each test is a test_*(t) function taking a harness.Ctx, as run.py wants.
YAML is read with python3-yaml; when the Python running the tests lacks it,
Debian's /usr/bin/python3 reads it instead."""
import json
import os
import re
import subprocess

from harness import BUILD, ROOT, check, fail

K8S = os.path.join(ROOT, "demo", "k8s")
DEPLOYMENT = os.path.join(K8S, "deployment.yaml")
SUPERVISE = os.path.join(K8S, "deployment-supervise.yaml")
DOCKERFILE = os.path.join(K8S, "Dockerfile")
LAUNCHER = os.path.join(BUILD, "lameduck")
DEFAULT_HEALTH_PORT = 8799


def load_yaml(path):
    """Every document of a YAML file, as plain Python values."""
    try:
        import yaml
        with open(path) as f:
            return [d for d in yaml.safe_load_all(f) if d is not None]
    except ImportError:
        pass
    code = ("import json, sys, yaml; "
            "print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d is not None]))")
    with open(path) as f:
        p = subprocess.run(["/usr/bin/python3", "-c", code], stdin=f, capture_output=True,
                           text=True, timeout=30)
    check(p.returncode == 0, "cannot read %s as YAML (install python3-yaml): %s" %
          (path, p.stderr.strip()[-500:]))
    return json.loads(p.stdout)


def seconds(shown):
    """A duration as `lameduck --check` shows it (10s, 1.5s, 1m30s, 250ms)."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", shown)
    check(shown == "0s" or (parts and "".join(a + u for a, u in parts) == shown),
          "cannot read the duration %r" % shown)
    unit = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(a) * unit[u] for a, u in parts)


def effective(t, env):
    """The configuration the shim makes of a container's env: runs the
    launcher's --check (the shim's parser) with exactly those LAMEDUCK_*."""
    check(os.access(LAUNCHER, os.X_OK), "%s not built (make build/lameduck)" % LAUNCHER)
    run_env = {k: v for k, v in t.base_env().items() if not k.startswith("LAMEDUCK_")}
    for k, v in env.items():
        if k.startswith("LAMEDUCK_"):
            run_env[k] = v
    p = subprocess.run([LAUNCHER, "--check"], env=run_env, capture_output=True, text=True,
                       timeout=20)
    check(p.returncode == 0, "the Deployment's LAMEDUCK_* are refused by the shim's parser: %s" %
          p.stderr.strip())
    res = {}
    for line in p.stdout.splitlines():
        m = re.fullmatch(r"(LAMEDUCK_[A-Z_]+)=(\S*) \(([^)]*)\)", line)
        check(m is not None, "--check line %r" % line)
        res[m.group(1)] = m.group(2)
    return res


def deployment(path=DEPLOYMENT):
    docs = load_yaml(path)
    deps = [d for d in docs if isinstance(d, dict) and d.get("kind") == "Deployment"]
    check(len(deps) == 1, "%s holds %d Deployments, expected 1" % (path, len(deps)))
    return deps[0]


def env_of(container):
    env = {}
    for e in container.get("env") or []:
        check("value" in e, "env %s has no literal value: the test can only read literal values" %
              e.get("name"))
        env[e["name"]] = str(e["value"])
    return env


def app_container(pod):
    apps = [c for c in pod.get("containers") or [] if "LD_PRELOAD" in env_of(c)]
    check(len(apps) == 1, "%d containers set LD_PRELOAD, expected 1" % len(apps))
    return apps[0]


def port_number(container, port):
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    fail("probe port %r is not a port of container %s" % (port, container.get("name")))


def health_port(shown):
    """The port of LAMEDUCK_HEALTH as --check shows it (:8799, [::1]:8799, off)."""
    check(shown != "off", "LAMEDUCK_HEALTH=off: there is no /readyz for the readiness probe")
    return int(shown.rsplit(":", 1)[1])


def test_k8s_timing(t):
    """LAMEDUCK_DELAY and LAMEDUCK_DRAIN_TIMEOUT parse with the shim's rules,
    and terminationGracePeriodSeconds >= delay + drain timeout."""
    pod = deployment()["spec"]["template"]["spec"]
    cfg = effective(t, env_of(app_container(pod)))
    delay = seconds(cfg["LAMEDUCK_DELAY"])
    drain = seconds(cfg["LAMEDUCK_DRAIN_TIMEOUT"])
    grace = pod.get("terminationGracePeriodSeconds", 30)    # Kubernetes' default
    check(isinstance(grace, int), "terminationGracePeriodSeconds %r is not a number" % grace)
    t.note("delay %gs + drain timeout %gs = %gs; grace period %ds" % (delay, drain, delay + drain, grace))
    check(delay > 0, "LAMEDUCK_DELAY is 0: the pod would get no time to leave the load balancers")
    check(grace >= delay + drain,
          "terminationGracePeriodSeconds %d < delay %gs + drain timeout %gs: the kubelet's "
          "SIGKILL would cut the drain short" % (grace, delay, drain))


def test_k8s_probes(t):
    """The readiness probe asks /readyz on the LAMEDUCK_HEALTH port; the
    liveness probe is not the shim's."""
    pod = deployment()["spec"]["template"]["spec"]
    app = app_container(pod)
    hport = health_port(effective(t, env_of(app))["LAMEDUCK_HEALTH"])
    probe = (app.get("readinessProbe") or {}).get("httpGet")
    check(probe is not None, "the app container has no httpGet readinessProbe")
    check(probe.get("path") == "/readyz", "readinessProbe path %r, expected /readyz" % probe.get("path"))
    got = port_number(app, probe.get("port"))
    check(got == hport, "readinessProbe port %d, but the health port is %d" % (got, hport))
    live = (app.get("livenessProbe") or {}).get("httpGet")
    if live is not None:
        check(port_number(app, live.get("port")) != hport,
              "the liveness probe asks the shim's health port: keep the program's own")


def test_k8s_preload_from_emptydir(t):
    """LD_PRELOAD points into an emptyDir mounted in the app container, where
    an init container copies liblameduck.so."""
    pod = deployment()["spec"]["template"]["spec"]
    app = app_container(pod)
    preload = env_of(app)["LD_PRELOAD"]
    check(":" not in preload and " " not in preload, "LD_PRELOAD %r holds more than the shim" % preload)
    check(os.path.basename(preload) == "liblameduck.so", "LD_PRELOAD %r is not liblameduck.so" % preload)
    empty = {v["name"] for v in pod.get("volumes") or [] if "emptyDir" in v}
    mounts = [m for m in app.get("volumeMounts") or []
              if m["name"] in empty and preload.startswith(m["mountPath"].rstrip("/") + "/")]
    check(mounts, "LD_PRELOAD %r is not inside an emptyDir mounted in the app container" % preload)
    vol = mounts[0]["name"]
    rel = preload[len(mounts[0]["mountPath"].rstrip("/")) + 1:]

    copied = False
    for c in pod.get("initContainers") or []:
        for m in c.get("volumeMounts") or []:
            if m["name"] != vol:
                continue
            dest = m["mountPath"].rstrip("/") + "/" + rel
            argv = (c.get("command") or []) + (c.get("args") or [])
            if argv and argv[-1] in (dest, m["mountPath"], m["mountPath"].rstrip("/") + "/") \
                    and any("liblameduck.so" in a for a in argv[:-1]):
                copied = True
    check(copied, "no init container copies liblameduck.so to %s in volume %s" % (rel, vol))


def test_k8s_dockerfile(t):
    """The init image is built on debian:12 with `make build/liblameduck.so`
    and holds the file the init container copies."""
    with open(DOCKERFILE) as f:
        text = f.read()
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    froms = [l.split()[1] for l in lines if l.upper().startswith("FROM ")]
    check(froms and froms[0] == "debian:12", "the build stage is %r, expected debian:12" % froms[:1])
    check(len(froms) >= 2, "not a multi-stage build: %r" % froms)
    check(any(l.startswith("RUN") and "make build/liblameduck.so" in l for l in lines),
          "no RUN make build/liblameduck.so")
    copies = [l for l in lines if l.upper().startswith("COPY --FROM=")]
    check(copies, "the final image copies nothing from the build stage")
    dest = copies[-1].split()[-1]
    pod = deployment()["spec"]["template"]["spec"]
    srcs = [a for c in pod.get("initContainers") or []
            for a in (c.get("command") or []) + (c.get("args") or []) if "liblameduck.so" in a]
    check(dest in srcs, "the image holds %s, the init container copies %r" % (dest, srcs))


def supervised_container(pod):
    apps = [c for c in pod.get("containers") or [] if "--supervise" in (c.get("command") or [])]
    check(len(apps) == 1, "%d containers run lameduck --supervise, expected 1" % len(apps))
    return apps[0]


def test_k8s_supervise(t):
    """deployment-supervise.yaml: the container's command is the launcher
    with --supervise, from an emptyDir an init container copies it into
    from the image demo/k8s/Dockerfile builds (which holds the static
    launcher); its values parse with the shim's parser (options before `--`
    count too), the grace period covers delay + drain timeout, the
    readiness probe asks /readyz on the health port, and no LD_PRELOAD."""
    pod = deployment(SUPERVISE)["spec"]["template"]["spec"]
    app = supervised_container(pod)
    argv = app["command"] + (app.get("args") or [])
    check("--" in argv and argv.index("--supervise") < argv.index("--"),
          "--supervise must come before `--`: %r" % argv)
    env = env_of(app)
    check("LD_PRELOAD" not in env, "a supervised program needs no LD_PRELOAD: %r" % env)
    # What the launcher reads: the env and the options before `--`.
    opts = argv[1:argv.index("--")]
    run_env = {k: v for k, v in t.base_env().items() if not k.startswith("LAMEDUCK_")}
    run_env.update({k: v for k, v in env.items() if k.startswith("LAMEDUCK_")})
    p = subprocess.run([LAUNCHER] + [o for o in opts if o != "--supervise"] + ["--check"],
                       env=run_env, capture_output=True, text=True, timeout=20)
    check(p.returncode == 0, "the launcher refuses the Deployment's values: %s" % p.stderr.strip())
    cfg = dict(re.fullmatch(r"(LAMEDUCK_[A-Z_]+)=(\S*) \(([^)]*)\)", l).group(1, 2)
               for l in p.stdout.splitlines() if "=" in l)
    delay, drain = seconds(cfg["LAMEDUCK_DELAY"]), seconds(cfg["LAMEDUCK_DRAIN_TIMEOUT"])
    grace = pod.get("terminationGracePeriodSeconds", 30)
    check(delay > 0 and grace >= delay + drain, "grace period %s, delay %gs, drain timeout %gs" %
          (grace, delay, drain))
    probe = (app.get("readinessProbe") or {}).get("httpGet") or {}
    check(probe.get("path") == "/readyz" and
          port_number(app, probe.get("port")) == health_port(cfg["LAMEDUCK_HEALTH"]),
          "readinessProbe %r, health %s" % (probe, cfg["LAMEDUCK_HEALTH"]))
    # The launcher the command names is in an emptyDir an init container fills.
    exe = argv[0]
    empty = {v["name"] for v in pod.get("volumes") or [] if "emptyDir" in v}
    mounts = [m for m in app.get("volumeMounts") or []
              if m["name"] in empty and exe.startswith(m["mountPath"].rstrip("/") + "/")]
    check(mounts, "%s is not inside an emptyDir mounted in the app container" % exe)
    rel = exe[len(mounts[0]["mountPath"].rstrip("/")) + 1:]
    sources = []
    for c in pod.get("initContainers") or []:
        for m in c.get("volumeMounts") or []:
            cargv = (c.get("command") or []) + (c.get("args") or [])
            dest = m["mountPath"].rstrip("/") + "/" + rel
            if m["name"] == mounts[0]["name"] and cargv and cargv[-1] == dest:
                sources += cargv[1:-1]
    check(sources, "no init container copies the launcher to %s" % rel)
    with open(DOCKERFILE) as f:
        copied = [l.split()[-1] for l in f if l.upper().startswith("COPY --FROM=") and
                  "build/lameduck " in l]
    check(any(s in copied for s in sources), "the init image holds %s, the init container "
          "copies %s" % (copied, sources))
    t.note("%s: %s; delay %gs + drain %gs <= grace %ds" % (os.path.basename(SUPERVISE),
           " ".join(argv), delay, drain, grace))
