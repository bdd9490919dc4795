#!/usr/bin/env bash
# The lifecycle program (tests/sanitize/lifecycle.c) under a checking tool.
#
#   tests/sanitize/lifecycle.sh tsan PROGRAM SHIM       PROGRAM and SHIM built with -fsanitize=thread
#   tests/sanitize/lifecycle.sh valgrind PROGRAM SHIM   both built plainly: memcheck
#
# Runs it once for each way of taking SIGTERM (handler, sigwaitinfo,
# signalfd). Fails when the program fails or the tool reports anything:
# a ThreadSanitizer warning, a memcheck error or a definite leak.
set -euo pipefail
cd "$(dirname "$0")/../.."

(($# == 3)) || { echo "usage: $0 tsan|valgrind PROGRAM SHIM" >&2; exit 2; }
tool=$1
prog=$(realpath "$2")
shim=$(realpath "$3")
logdir=$(dirname "$prog")
status=0

for mode in handler sigwaitinfo signalfd; do
	# Two ports out of the kernel's ephemeral range, as the integration tests pick them.
	read -r port hport < <(python3 -c 'import sys; sys.path.insert(0, "tests/integration")
import harness; print(harness.free_port(), harness.free_port())')
	log=$logdir/lifecycle-$tool-$mode.log
	export LAMEDUCK_HEALTH=127.0.0.1:$hport LAMEDUCK_DELAY=300ms LAMEDUCK_DRAIN_TIMEOUT=20s
	rc=0
	case $tool in
	tsan)
		# io_sync=0: no happens-before through sockets, so only the
		# shim's own synchronisation orders its thread and the program's.
		TSAN_OPTIONS="io_sync=0 halt_on_error=0 exitcode=66 suppressions=$PWD/tests/sanitize/tsan.supp" \
		    LD_PRELOAD=$shim "$prog" "$port" "$hport" 800 "$mode" >"$log" 2>&1 || rc=$?
		bad=$(grep -c 'WARNING: ThreadSanitizer' "$log" || true)
		;;
	valgrind)
		# The shim also loads into valgrind's launcher, which execs at once.
		LD_PRELOAD=$shim valgrind --error-exitcode=99 --trace-children=no \
		    --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
		    "$prog" "$port" "$hport" 800 "$mode" >"$log" 2>&1 || rc=$?
		bad=$(grep -cE '== (Invalid|Conditional|Syscall param|Mismatched|Source and destination)|definitely lost in' "$log" || true)
		;;
	*)
		echo "$0: $tool: tsan or valgrind" >&2
		exit 2
		;;
	esac
	summary=$(grep '^served=' "$log" || true)
	if ((rc == 0 && bad == 0)); then
		echo "$tool lifecycle $mode: ok: $summary"
		continue
	fi
	status=1
	echo "$tool lifecycle $mode: FAILED (status $rc, $bad report(s)); log $log"
	grep -vE '^lameduck\[' "$log" | sed 's/^/    /'
done
exit "$status"
