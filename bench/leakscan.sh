#!/usr/bin/env bash
# Times memopt's leak scan at exit on bench/leakscan (issue 3's target: a
# heap of 1 GB in 10 million blocks classified in a few seconds) and, where
# valgrind is installed, memcheck's leak check on a heap 10 times smaller.
# Usage: bench/leakscan.sh [--builddir DIR] [-n BLOCKS]
# Prints one table; exit 0 when it ran, 1 if something failed, 2 on usage.
set -euo pipefail

builddir=.
blocks=10000000
while [ $# -gt 0 ]; do
	case $1 in
	--builddir) builddir=$2; shift 2 ;;
	-n) blocks=$2; shift 2 ;;
	*) echo "usage: $0 [--builddir DIR] [-n BLOCKS]" >&2; exit 2 ;;
	esac
done
memopt=$builddir/cli/memopt
prog=$builddir/bench/leakscan
for f in "$memopt" "$prog"; do
	[ -x "$f" ] || { echo "$0: $f not found: build it first" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# wall seconds of a command (median of 3)
wall() {
	local t=()
	for _ in 1 2 3; do
		/usr/bin/time -f %e -o "$tmp/t" "$@" >/dev/null 2>"$tmp/err" ||
			{ cat "$tmp/err" >&2; exit 1; }
		t+=("$(cat "$tmp/t")")
	done
	printf '%s\n' "${t[@]}" | sort -n | sed -n 2p
}

small=$((blocks / 10))
native=$(wall "$prog" -n "$blocks")
noscan=$(wall "$memopt" record -q --no-leak-check -o "$tmp/a.data" "$prog" -n "$blocks")
scan=$(wall "$memopt" record -q -o "$tmp/b.data" "$prog" -n "$blocks")
summary=$("$memopt" report --no-default-suppressions -i "$tmp/b.data" |
	grep -A4 'LEAK SUMMARY' | tail -4 | sed 's/^/    /')
echo "leak scan: bench/leakscan -n $blocks (median of 3 runs)"
printf '  %-44s %8s s\n' "native" "$native" \
	"memopt record --no-leak-check" "$noscan" \
	"memopt record (leak scan at exit)" "$scan"
awk -v a="$scan" -v b="$noscan" -v n="$blocks" 'BEGIN {
	printf "  %-44s %8.2f s (%.0f ns per block)\n", "leak scan (difference)", a - b, (a - b) * 1e9 / n }'
echo "$summary"
if command -v valgrind >/dev/null; then
	vnative=$(wall "$prog" -n "$small")
	vg=$(wall valgrind -q --leak-check=full --run-libc-freeres=no \
		--run-cxx-freeres=no "$prog" -n "$small")
	vmo=$(wall "$memopt" record -q -o "$tmp/c.data" "$prog" -n "$small")
	echo "with $small blocks:"
	printf '  %-44s %8s s\n' "native" "$vnative" \
		"memopt record (leak scan at exit)" "$vmo" \
		"valgrind --leak-check=full" "$vg"
	awk -v a="$vmo" -v b="$vg" -v n="$vnative" 'BEGIN {
		printf "  %-44s %8.2f\n", "added time, memopt / valgrind", (a - n) / (b - n) }'
fi
