#!/usr/bin/env bash
# check-abi.sh SO: the shim must load in other people's images.
#  (a) libc.so.6 is its only NEEDED library;
#  (b) it exports nothing but names libc itself defines (interposed calls);
#  (c) no symbol version is newer than the README's "Minimum glibc: 2.NN".
set -euo pipefail

so=${1:?usage: check-abi.sh path/to/liblameduck.so}
root=$(cd "$(dirname "$0")/.." && pwd)
readme=${CHECK_ABI_README:-$root/README.md}
fail=0

die() { echo "check-abi: FAIL: $*" >&2; exit 1; }
bad() { echo "check-abi: FAIL: $*" >&2; fail=1; }

[[ -r "$so" ]] || die "$so: no such file"
for t in readelf nm objdump; do
	command -v "$t" >/dev/null || die "$t not found (install binutils)"
done

# (a) NEEDED
needed=$(readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p' | sort -u)
echo "check-abi: NEEDED: $(echo $needed)"
if [[ "$needed" != "libc.so.6" ]]; then
	bad "NEEDED must be exactly libc.so.6, got: $(echo $needed)"
fi

# (b) exported names are libc's names
libc=""
for cand in "$(gcc -print-file-name=libc.so.6 2>/dev/null || true)" \
    "$(ldd /bin/sh 2>/dev/null | awk '/libc\.so\.6/ {print $3}')" \
    /lib/x86_64-linux-gnu/libc.so.6 /lib/aarch64-linux-gnu/libc.so.6 /lib64/libc.so.6; do
	if [[ -n "$cand" && "$cand" == /* && -r "$cand" ]]; then
		libc=$(readlink -f "$cand")
		break
	fi
done
[[ -n "$libc" ]] || die "cannot find the system libc.so.6"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$libc" | awk 'NF >= 3 {print $3}' | sed 's/@.*//' | sort -u >"$tmp/libc"
nm -D --defined-only "$so" | awk 'NF >= 3 {print $3}' | sed 's/@.*//' | sort -u >"$tmp/ours"
# The linker defines these in every shared object; they are not exports of ours.
grep -vxE '_init|_fini|_edata|_end|__bss_start' "$tmp/ours" >"$tmp/ours.f" || true
n=$(wc -l <"$tmp/ours.f")
echo "check-abi: exports: $n names, checked against $libc"
extra=$(comm -23 "$tmp/ours.f" "$tmp/libc")
if [[ -n "$extra" ]]; then
	bad "exported names that libc does not define (export only interposed libc names):"
	echo "$extra" | sed 's/^/    /' >&2
fi
if ((n == 0)); then
	bad "the shim exports nothing: it interposes no libc call"
fi

# (c) minimum glibc
[[ -r "$readme" ]] || die "README.md not found at $readme: it must state 'Minimum glibc: 2.NN'"
min=$(sed -n 's/.*Minimum glibc:[[:space:]]*\([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' "$readme" | head -n1)
[[ -n "$min" ]] || die "README.md has no line 'Minimum glibc: 2.NN'"
vers=$(objdump -T "$so" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -u -V)
newest=$(echo "$vers" | tail -n1)
echo "check-abi: minimum glibc (README): $min; versions referenced: $(echo $vers)"
newer=""
for v in $vers; do
	if [[ "$(printf '%s\n%s\n' "$min" "$v" | sort -V | tail -n1)" != "$min" ]]; then
		newer+="$v "
	fi
done
if [[ -n "$newer" ]]; then
	bad "symbol versions newer than the README's minimum glibc $min: $newer"
	objdump -T "$so" | grep -E "GLIBC_($(echo $newer | sed 's/ /|/g; s/\./\\./g'))([^0-9.]|$)" \
	    | awk '{print "    " $(NF-1) " " $NF}' >&2 || true
fi

if ((fail)); then
	exit 1
fi
echo "check-abi: OK ($so: NEEDED libc.so.6 only, $n libc names exported, newest GLIBC_$newest <= $min)"
