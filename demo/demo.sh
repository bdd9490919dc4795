#!/usr/bin/env bash
# make demo's two steps.
#   demo.sh deps   installs what the demo lacks (apt-get, as root; otherwise
#                  prints the one apt-get line to run, and fails)
#   demo.sh run    runs the demo (demo/run.py) with Debian's python3
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(gcc make libc6-dev libbsd-dev haproxy nginx-light python3 util-linux)

deps() {
	local missing=() p st line
	for p in "${PKGS[@]}"; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[[ "$st" == "install ok installed" ]] || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0

	line="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing[*]}"
	if ((EUID != 0)); then
		echo "demo: missing packages: ${missing[*]}" >&2
		echo "demo: run as root:  $line" >&2
		exit 1
	fi
	# Debian's haproxy and nginx packages start a system instance; the demo
	# uses neither, so one that the install starts is stopped again.
	local had_haproxy=0 had_nginx=0
	[[ -e /run/haproxy.pid ]] && had_haproxy=1
	[[ -e /run/nginx.pid ]] && had_nginx=1
	echo "demo: installing ${missing[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
	if ((had_haproxy == 0)) && [[ -e /run/haproxy.pid ]]; then
		service haproxy stop >/dev/null 2>&1 || true
	fi
	if ((had_nginx == 0)) && [[ -e /run/nginx.pid ]]; then
		service nginx stop >/dev/null 2>&1 || true
		[[ -r /run/nginx.pid ]] && kill "$(cat /run/nginx.pid)" 2>/dev/null || true
	fi
	return 0
}

case "${1:-}" in
deps) deps ;;
run) shift; exec /usr/bin/python3 demo/run.py "$@" ;;
*) echo "usage: demo/demo.sh deps | run [--server legacy|nginx|both]" >&2; exit 2 ;;
esac
