#!/usr/bin/env bash
# Installs what `make test` needs when it is missing (Debian/Ubuntu).
# Fast when everything is present; as non-root, prints the apt-get line and stops.
set -euo pipefail

PKGS=(gcc make binutils libc6-dev libbsd-dev libcmocka-dev nginx-light python3 python3-yaml iproute2
      util-linux procps libcap2-bin haproxy wrk)

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$st" == "install ok installed" ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && # The same for the system haproxy the package may start with its default config.
if ((haproxy_was_running == 0)) && pgrep -x haproxy >/dev/null 2>&1; then
	service haproxy stop >/dev/null 2>&1 || true
	pkill -x haproxy 2>/dev/null || true
fi
exit 0

line="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing[*]}"
if ((EUID != 0)); then
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: run as root:  $line" >&2
	exit 1
fi

nginx_was_running=0
pgrep -x nginx >/dev/null 2>&1 && nginx_was_running=1
haproxy_was_running=0
pgrep -x haproxy >/dev/null 2>&1 && haproxy_was_running=1

echo "deps: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Debian's nginx package starts a system nginx on port 80. The tests never use
# port 80 nor that instance, but stop it so it does not linger on the machine.
if ((nginx_was_running == 0)) && pgrep -x nginx >/dev/null 2>&1; then
	service nginx stop >/dev/null 2>&1 || true
	if pgrep -x nginx >/dev/null 2>&1 && [[ -r /run/nginx.pid ]]; then
		kill "$(cat /run/nginx.pid)" 2>/dev/null || true
	fi
fi
# The same for the system haproxy the package may start with its default config.
if ((haproxy_was_running == 0)) && pgrep -x haproxy >/dev/null 2>&1; then
	service haproxy stop >/dev/null 2>&1 || true
	pkill -x haproxy 2>/dev/null || true
fi
exit 0
