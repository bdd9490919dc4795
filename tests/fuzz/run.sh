#!/usr/bin/env bash
# Runs each libFuzzer target for a while and prints one line of figures each.
#
#   tests/fuzz/run.sh SECONDS TARGET...     (TARGET: http, config, signals)
#
# Built by `make fuzz` / `make fuzz-ci` as $FUZZ_DIR/fuzz_TARGET (FUZZ_DIR:
# build/fuzz by default). Each run starts from the seeds in
# tests/fuzz/corpus/TARGET and from what earlier runs found
# ($FUZZ_DIR/corpus/TARGET, where new inputs go), with the dictionary
# tests/fuzz/TARGET.dict. A crash, a leak, a sanitizer report or a broken
# property stops the target: its reproducer is kept in
# $FUZZ_DIR/artifacts/TARGET/ and shown here, and the script fails.
# Replay one: build/fuzz/fuzz_TARGET build/fuzz/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/../.."

(($# >= 2)) || { echo "usage: $0 SECONDS TARGET..." >&2; exit 2; }
secs=$1
shift
dir=${FUZZ_DIR:-build/fuzz}
status=0
for t in "$@"; do
	bin=$dir/fuzz_$t
	corpus=$dir/corpus/$t
	artifacts=$dir/artifacts/$t
	log=$dir/fuzz_$t.log
	mkdir -p "$corpus" "$artifacts"
	rc=0
	"$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
	    -dict="tests/fuzz/$t.dict" -artifact_prefix="$artifacts/" \
	    "$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
	last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
	if ((rc == 0)); then
		printf 'fuzz_%-8s %4ss  %10s execs  %7s exec/s  cov %5s  ft %6s  corpus %s\n' \
		    "$t" "$secs" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
		continue
	fi
	status=1
	echo "fuzz_$t: FAILED (status $rc) after ${execs:-?} executions; log $log"
	grep -E 'ERROR|property violated|SUMMARY|runtime error' "$log" | head -5 | sed 's/^/    /'
	for f in $(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log"); do
		echo "    reproducer $f:"
		od -An -c "$f" | head -8 | sed 's/^/      /'
	done
done
exit "$status"
