#!/usr/bin/env bash
# check-layers.sh [OBJDIR SO]: the shim's house, read from its object files.
#  (a) no object refers to a name the shim interposes (the exports of SO):
#      the shim's own code reaches libc through ld_real or the system call,
#      never through a wrapper, ours or another preloaded library's;
#  (b) every object has a floor in the table below, and every call between
#      two objects goes to the same floor or one below (README, "Layout");
#  (c) the calls between objects form no circle.
# Without arguments, build/obj and build/liblameduck.so, made first. With --graph, prints the calls between objects (caller -> callee: names).
set -euo pipefail

graph=0
if [[ "${1:-}" == "--graph" ]]; then
	graph=1
	shift
fi
root=$(cd "$(dirname "$0")/.." && pwd)
objdir=${1:-$root/build/obj}
so=${2:-$root/build/liblameduck.so}
# With no arguments, the objects of today's sources (make builds them).
if (($# == 0)); then
	make -s -C "$root" build/liblameduck.so >/dev/null
fi

# The floors, lowest first. A file calls only files on its own floor or lower.
floor_of() {
	case "$1" in
	real|fdtab|config|lifecycle|http|log|report|compat|procfs|retire|h2) echo 1 ;;	# ground
	rawconn|drain|tree|health|sigtable|conns) echo 2 ;;		# machinery
	owner|shim) echo 3 ;;						# the owner
	sockets|descriptors|io|process|signals) echo 4 ;;		# what the program calls
	*) echo 0 ;;
	esac
}

fail=0
bad() { echo "check-layers: FAIL: $*" >&2; fail=1; }

for t in nm objdump tsort; do
	command -v "$t" >/dev/null || { echo "check-layers: $t not found" >&2; exit 1; }
done
shopt -s nullglob
objs=("$objdir"/*.o)
((${#objs[@]} > 0)) || { echo "check-layers: no object files in $objdir" >&2; exit 1; }
[[ -r "$so" ]] || { echo "check-layers: $so: no such file" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$so" | awk 'NF >= 3 {print $3}' | sed 's/@.*//' |
    grep -vxE '_init|_fini|_edata|_end|__bss_start' | sort -u >"$tmp/interposed"
[[ -s "$tmp/interposed" ]] || { echo "check-layers: $so exports nothing" >&2; exit 1; }

: >"$tmp/defs"
for o in "${objs[@]}"; do
	b=$(basename "$o" .o)
	nm -g --defined-only "$o" | awk -v f="$b" 'NF >= 3 {print $3, f}' >>"$tmp/defs"
	if [[ $(floor_of "$b") == 0 ]]; then
		bad "$b.o has no floor: give shim/$b.c one in tests/check-layers.sh and README's Layout"
	fi
done
sort -u "$tmp/defs" -o "$tmp/defs"

# (a) Relocations name every symbol an object uses, calls inside the same
# file included (those go through the PLT too, to whichever wrapper is first).
for o in "${objs[@]}"; do
	b=$(basename "$o" .o)
	objdump -r "$o" | awk 'NF == 3 && $1 ~ /^[0-9a-f]+$/ {print $3}' |
	    sed -E 's/[-+]0x[0-9a-f]+$//' | sort -u >"$tmp/uses.$b"
	hits=$(comm -12 "$tmp/uses.$b" "$tmp/interposed" | tr '\n' ' ')
	if [[ -n "$hits" ]]; then
		bad "shim/$b.c refers to names the shim interposes: $hits(call ld_real.* or the system call)"
	fi
done

# (b) and (c): calls from one object to another.
: >"$tmp/edges"
for o in "${objs[@]}"; do
	b=$(basename "$o" .o)
	nm -u "$o" | awk '{print $NF}' | sort -u >"$tmp/undef.$b"
	join "$tmp/undef.$b" "$tmp/defs" | awk -v f="$b" '$2 != f {print f, $2, $1}' >>"$tmp/edges"
done
if ((graph)); then
	awk '{k = $1 " -> " $2; s[k] = s[k] " " $3} END {for (k in s) print k ":" s[k]}' \
	    "$tmp/edges" | sort
fi
while read -r from to names; do
	ff=$(floor_of "$from")
	ft=$(floor_of "$to")
	if ((ff != 0 && ft != 0 && ft > ff)); then
		bad "shim/$from.c (floor $ff) calls up into shim/$to.c (floor $ft): $names"
	fi
done < <(awk '{k = $1 " " $2; s[k] = s[k] " " $3} END {for (k in s) print k s[k]}' "$tmp/edges" | sort)
awk '{print $1, $2}' "$tmp/edges" | sort -u >"$tmp/pairs"
if ! tsort "$tmp/pairs" >/dev/null 2>"$tmp/tsort"; then
	bad "the calls between the shim's files go round in a circle:"
	grep -v "input contains a loop" "$tmp/tsort" | sed "s/^tsort: /    /" | awk '!seen[$0]++' | head -20 >&2
fi

if ((fail)); then
	exit 1
fi
echo "check-layers: OK (${#objs[@]} files on 4 floors, $(wc -l <"$tmp/pairs") calls between files," \
    "no circle, no interposed name called from inside)"
