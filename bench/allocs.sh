#!/usr/bin/env bash
# memopt's allocators against glibc malloc, jemalloc, mimalloc and tcmalloc,
# side by side, each on the pattern it is made for (bench/allocbench.c).
# Usage: bench/allocs.sh [--builddir DIR] [--json]
# Prints a table (or one JSON document): nanoseconds per operation, the
# best of 5 repetitions, and memopt's speed-up over the fastest malloc.
# Exit 0 when it ran, 1 on failure, 2 on usage.
set -euo pipefail

builddir=.
json=0
while [ $# -gt 0 ]; do
	case $1 in
	--builddir) builddir=$2; shift 2 ;;
	--json) json=1; shift ;;
	*) echo "usage: $0 [--builddir DIR] [--json]" >&2; exit 2 ;;
	esac
done
prog=$builddir/bench/allocbench
[ -x "$prog" ] || { echo "$0: $prog not found: make bench/allocbench" >&2; exit 1; }
lib=/usr/lib/x86_64-linux-gnu
declare -A preload=([glibc]="" [jemalloc]=$lib/libjemalloc.so.2
	[mimalloc]=$lib/libmimalloc.so.2 [tcmalloc]=$lib/libtcmalloc.so.4)
mallocs=(glibc jemalloc mimalloc tcmalloc)
declare -A target=([fixed]="pool alloc+free: >= 2x the fastest"
	[phases]="arena alloc: >= 2x the fastest" [lifo]="" [mixed]=""
	[prodcons]="cpool: no slower than mimalloc")
declare -A with=([fixed]=mo_pool [phases]=mo_arena [lifo]=mo_stack
	[mixed]="mo_fl best fit" [prodcons]="mo_cpool+tcache")
patterns=(fixed phases lifo mixed prodcons)
declare -A ns

for p in "${patterns[@]}"; do
	for m in "${mallocs[@]}"; do
		if [ -n "${preload[$m]}" ] && [ ! -e "${preload[$m]}" ]; then
			ns[$p,$m]=-
			continue
		fi
		ns[$p,$m]=$(LD_PRELOAD=${preload[$m]} "$prog" malloc "$p" 2>/dev/null)
	done
	ns[$p,memopt]=$("$prog" memopt "$p" 2>/dev/null)
done

# fastest malloc and speed-up per pattern
declare -A best speedup
for p in "${patterns[@]}"; do
	b=
	for m in "${mallocs[@]}"; do
		v=${ns[$p,$m]}
		[ "$v" = - ] && continue
		if [ -z "$b" ] || awk -v a="$v" -v c="${ns[$p,$b]}" 'BEGIN{exit !(a < c)}'; then
			b=$m
		fi
	done
	best[$p]=$b
	speedup[$p]=$(awk -v a="${ns[$p,$b]}" -v c="${ns[$p,memopt]}" 'BEGIN{printf "%.2f", a / c}')
done

if [ $json = 1 ]; then
	printf '{"unit": "ns/op", "patterns": ['
	sep=
	for p in "${patterns[@]}"; do
		printf '%s{"pattern": "%s", "memopt_allocator": "%s"' "$sep" "$p" "${with[$p]}"
		for m in "${mallocs[@]}" memopt; do
			v=${ns[$p,$m]}
			[ "$v" = - ] && v=null
			printf ', "%s": %s' "$m" "$v"
		done
		printf ', "fastest_malloc": "%s", "speedup": %s}' "${best[$p]}" "${speedup[$p]}"
		sep=', '
	done
	printf ']}\n'
	exit 0
fi

echo "allocators: ns per operation, best of 5 (bench/allocbench.c)"
printf '  %-8s %-15s %8s %8s %8s %8s %8s  %s\n' pattern memopt glibc jemalloc \
	mimalloc tcmalloc memopt "speed-up vs fastest"
for p in "${patterns[@]}"; do
	t=${target[$p]}
	verdict=
	if [ "$p" = prodcons ]; then
		if awk -v a="${ns[$p,memopt]}" -v m="${ns[$p,mimalloc]}" 'BEGIN{exit !(a <= m)}'; then
			verdict="PASS ($t)"
		else
			verdict="MISS ($t)"
		fi
	elif [ -n "$t" ]; then
		if awk -v s="${speedup[$p]}" 'BEGIN{exit !(s >= 2)}'; then
			verdict="PASS ($t)"
		else
			verdict="MISS ($t)"
		fi
	fi
	printf '  %-8s %-15s %8s %8s %8s %8s %8s  %sx (%s) %s\n' "$p" "${with[$p]}" \
		"${ns[$p,glibc]}" "${ns[$p,jemalloc]}" "${ns[$p,mimalloc]}" \
		"${ns[$p,tcmalloc]}" "${ns[$p,memopt]}" "${speedup[$p]}" \
		"${best[$p]}" "$verdict"
done
