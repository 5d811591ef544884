/*
 * leakscan: a leak-scan benchmark workload for memopt (bench/README.md,
 * "Leak scan").  Builds a live heap of N blocks (default 10,000,000) of
 * 16 to 184 bytes (about 100 on average: about 1 GB for the default N),
 * then exits with all of them live, so that the scan at exit has to
 * classify the whole heap.  Prints nothing.
 *
 * The blocks come in groups of 128, each linked into a structure: even
 * groups into a list (word 0 of each block points to the next block; one
 * list in four is closed into a cycle), odd groups into a binary tree
 * (words 0 and 1 point to the children, heap order).  By group number
 * modulo 10, the group's first block is held
 *   0-6  by a start pointer in the root table (still reachable),
 *   7-8  by nothing (definitely lost, the rest indirectly lost),
 *   9    by a pointer 8 bytes in, in the root table (possibly lost).
 * The root table is one malloc'd block held by a global.  Sizes come from
 * a seeded xorshift generator: every run builds the same heap.
 *
 * Usage: leakscan [-n BLOCKS] [-s SEED]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LS_GROUP 128
#define LS_MIN_SIZE 16
#define LS_SIZE_SPAN 169 /* sizes LS_MIN_SIZE .. LS_MIN_SIZE + 168 */

uintptr_t *leakscan_roots;

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void *block(uint64_t *rng)
{
	size_t size = LS_MIN_SIZE + (size_t)(rng_next(rng) % LS_SIZE_SPAN);
	void *p = malloc(size);

	if (p == NULL) {
		fprintf(stderr, "leakscan: out of memory\n");
		exit(1);
	}
	memset(p, 0, size);
	return p;
}

static void put(void *blk, size_t word, void *value)
{
	((void **)blk)[word] = value;
}

/* Builds group g of n blocks; returns its first block. */
static void *build_group(uint64_t g, size_t n, uint64_t *rng)
{
	void *blk[LS_GROUP];

	for (size_t k = 0; k < n; k++)
		blk[k] = block(rng);
	if (g % 2 == 0) {
		for (size_t k = 0; k + 1 < n; k++)
			put(blk[k], 0, blk[k + 1]);
		if (g % 8 == 0)
			put(blk[n - 1], 0, blk[0]);
	} else {
		for (size_t k = 0; 2 * k + 1 < n; k++) {
			put(blk[k], 0, blk[2 * k + 1]);
			if (2 * k + 2 < n)
				put(blk[k], 1, blk[2 * k + 2]);
		}
	}
	return blk[0];
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno == 0 && end != s && *end == '\0' ? 0 : -1;
}

int main(int argc, char **argv)
{
	uint64_t n = 10000000, seed = 0x9e3779b97f4a7c15ULL, rng;
	uint64_t groups, nroots = 0;
	int opt;

	while ((opt = getopt(argc, argv, "n:s:")) != -1) {
		if ((opt != 'n' && opt != 's') ||
		    parse_u64(optarg, opt == 'n' ? &n : &seed) != 0 ||
		    (opt == 's' && seed == 0)) {
			fprintf(stderr,
				"usage: leakscan [-n BLOCKS] [-s SEED]\n");
			return 2;
		}
	}
	rng = seed;
	groups = (n + LS_GROUP - 1) / LS_GROUP;
	leakscan_roots = calloc(groups + 1, sizeof(*leakscan_roots));
	if (leakscan_roots == NULL) {
		fprintf(stderr, "leakscan: out of memory\n");
		return 1;
	}
	for (uint64_t g = 0; g < groups; g++) {
		uint64_t left = n - g * LS_GROUP;
		size_t len = left < LS_GROUP ? (size_t)left : LS_GROUP;
		void *first = build_group(g, len, &rng);

		if (g % 10 <= 6)
			leakscan_roots[nroots++] = (uintptr_t)first;
		else if (g % 10 == 9)
			leakscan_roots[nroots++] = (uintptr_t)first + 8;
	}
	return 0;
}
