#!/usr/bin/env bash
# Integration tests with the ASan+UBSan build of the shim.
#
#   tests/sanitize/integration.sh SHIM ASAN_RUNTIME [run.py options]
#
# The harness preloads ASAN_RUNTIME first, then SHIM (LDTEST_PRELOAD_FIRST,
# LDTEST_SHIM). Sanitizer reports go to files (log_path), not to stderr, so
# that a report from any process is found: a grandchild, a daemon, a program
# whose stderr nobody reads. A test that passes with a report still fails
# here. Leak detection stays on for our own test programs and is off for
# foreign ones (python3, sh), whose leaks are not ours.
set -euo pipefail
cd "$(dirname "$0")/../.."

(($# >= 2)) || { echo "usage: $0 SHIM ASAN_RUNTIME [run.py options]" >&2; exit 2; }
shim=$(realpath "$1")
runtime=$(realpath "$2")
shift 2
reports=$(dirname "$shim")/reports

# Signals, the health port, the drain, closeall, a process tree.
OWN=(siginfo_handler sigwaitinfo sigtimedwait signalfd_poll signalfd_blocking_read
     signalfd_epoll sigsuspend_nginx_style second_sigterm_skips_delay
     health_endpoints health_keepalive health_malformed_400_close health_request_too_big
     health_metrics_format health_idle_client_cut health_slow_client_cut
     health_70_idle_clients health_default_dual_stack health_port_taken
     drain_in_flight_completes_new_refused drain_epoll_in_flight_no_spin
     drain_queued_connections_handed_over drain_epoll_paused_listener_queued
     drain_epoll_idle_listener_kept_no_wakeup closeall_closefrom closeall_close_range
     closeall_loop closeall_cloexec closeall_dup2
     vfork_child_sigaction_stays_its_own vfork_child_exec_keeps_its_own_action
     fork_without_handlers_child_is_plain forked_child_without_listener_takes_its_own_sigterm
     fork_handler_before_ours_sets_sigterm preloaded_library_calls_before_the_shim)
FOREIGN=(python_http_server health_cloexec tree_sh_wrapper drain_reused_number_keeps_its_lock
	 port_clash_program_wins_under_wrapper)

export LDTEST_SHIM=$shim LDTEST_PRELOAD_FIRST=$runtime

# The options every process of a group gets; $1: its report directory, $2: leaks 0/1.
san_env() {
	export ASAN_OPTIONS="log_path=$1/asan:log_exe_name=1:detect_leaks=$2:halt_on_error=1"
	export UBSAN_OPTIONS="log_path=$1/ubsan:log_exe_name=1:halt_on_error=1:print_stacktrace=1"
}

# Prints every report in $1; returns 1 if there is one.
scan() {
	local f found=0

	for f in "$1"/*; do
		[[ -e "$f" ]] || continue
		found=1
		echo "sanitize: report $(basename "$f") ($2):"
		sed 's/^/    /' "$f"
	done
	return "$found"
}

rm -rf "$reports"
mkdir -p "$reports"

# The check can fail: a heap overflow through the ASan runtime must leave a report.
mkdir -p "$reports/canary"
san_env "$reports/canary" 1
LD_PRELOAD="$runtime:$shim" LAMEDUCK_HEALTH=off python3 -c '
import ctypes
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.memset.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t)
libc.memset(libc.malloc(16), 0, 17)' >/dev/null 2>&1 || true
if scan "$reports/canary" canary >/dev/null; then
	echo "sanitize: no ASan report from a deliberate heap overflow: the check is blind" >&2
	exit 1
fi
rm -rf "$reports/canary"

status=0
for group in own foreign; do
	if [[ $group == own ]]; then
		tests=("${OWN[@]}") leaks=1
	else
		tests=("${FOREIGN[@]}") leaks=0
	fi
	mkdir -p "$reports/$group"
	san_env "$reports/$group" "$leaks"
	echo "sanitize: ${#tests[@]} integration tests ($group programs, detect_leaks=$leaks) with $shim"
	python3 tests/integration/run.py "$@" "${tests[@]}" || status=1
	scan "$reports/$group" "$group programs" || status=1
done
if ((status == 0)); then
	echo "sanitize: integration tests passed, no sanitizer report"
	rm -rf "$reports"
fi
exit "$status"
