#!/usr/bin/env bash
# Installs what `make test` needs when it is missing (Debian/Ubuntu).
# Fast when everything is present; as non-root, prints the apt-get line and stops.
set -euo pipefail

PKGS=(gcc make binutils libc6-dev libbsd-dev libcmocka-dev nginx-light python3 python3-yaml iproute2
      util-linux procps libcap2-bin haproxy wrk prometheus golang-go apache2 gunicorn
      busybox clang libclang-rt-14-dev llvm valgrind lighttpd nodejs openjdk-17-jdk-headless
      redis-server redis-tools memcached socat musl-tools debootstrap strace uwsgi-core
      uwsgi-plugin-python3 python3-uvicorn puma unicorn python3-twisted python3-aiohttp tomcat10
      h2o python3-waitress hey python3-grpcio python3-h2 nghttp2-client
      libpython3.11-testsuite)

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$st" == "install ok installed" ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

line="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing[*]}"
if ((EUID != 0)); then
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: run as root:  $line" >&2
	exit 1
fi

# Debian's server packages start system instances (nginx on port 80,
# haproxy, prometheus on 9090, redis on 6379, memcached on 11211). The tests
# never use them: stop the ones that were not running before this install.
services=(nginx haproxy prometheus apache2 lighttpd redis-server memcached h2o)
was_running=()
for svc in "${services[@]}"; do
	pgrep -x "$svc" >/dev/null 2>&1 && was_running+=("$svc")
done

echo "deps: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"

for svc in "${services[@]}"; do
	[[ " ${was_running[*]} " == *" $svc "* ]] && continue
	pgrep -x "$svc" >/dev/null 2>&1 || continue
	service "$svc" stop >/dev/null 2>&1 || true
	if pgrep -x "$svc" >/dev/null 2>&1 && [[ -r "/run/$svc.pid" ]]; then
		kill "$(cat "/run/$svc.pid")" 2>/dev/null || true
	fi
done
exit 0
