/*
 * Test program for the symbolizer (tests/test_symbolize.c).  Built with -O2
 * so that the always_inline functions really are inlined.  Each noinline
 * leaf records its return address; run with an argument, the program prints
 * the load bias of its own executable (a PIE) and the recorded addresses:
 *
 *   bias 0x...
 *   A 0x...   return address inside one_level(), inlined into main()
 *   B 0x...   return address inside inner_two() < outer_two() < main()
 *   C 0x...   return address inside plain(), not inlined
 *
 * The test finds the expected line numbers through the CALL_SITE_* marker
 * comments, so lines may move freely.
 */
#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <stdio.h>

void leaf_a(int x);
void leaf_b(int x);
void leaf_c(int x);
void plain(int x);

static void *ret_a, *ret_b, *ret_c;
volatile int sink_a, sink_b, sink_c, sink_inline;

__attribute__((noinline)) void leaf_a(int x)
{
	ret_a = __builtin_return_address(0);
	sink_a += x;
}

__attribute__((noinline)) void leaf_b(int x)
{
	ret_b = __builtin_return_address(0);
	sink_b -= x;
}

__attribute__((noinline)) void leaf_c(int x)
{
	ret_c = __builtin_return_address(0);
	sink_c ^= x;
}

static inline __attribute__((always_inline)) void one_level(int x)
{
	leaf_a(x + 1); /* CALL_SITE_A */
	sink_inline++;
}

static inline __attribute__((always_inline)) void inner_two(int x)
{
	leaf_b(x + 2); /* CALL_SITE_B_INNER */
	sink_inline++;
}

static inline __attribute__((always_inline)) void outer_two(int x)
{
	inner_two(x * 3); /* CALL_SITE_B_OUTER */
	sink_inline++;
}

__attribute__((noinline)) void plain(int x)
{
	leaf_c(x + 4); /* CALL_SITE_C */
	sink_inline++;
}

static int find_bias(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	*(uintptr_t *)data = (uintptr_t)info->dlpi_addr;
	return 1; /* the first object is the executable */
}

int main(int argc, char **argv)
{
	uintptr_t bias = 0;

	(void)argv;
	one_level(argc); /* CALL_SITE_A_MAIN */
	outer_two(argc); /* CALL_SITE_B_MAIN */
	plain(argc);
	if (argc < 2)
		return 0;
	dl_iterate_phdr(find_bias, &bias);
	printf("bias %#lx\n", (unsigned long)bias);
	printf("A %p\nB %p\nC %p\n", ret_a, ret_b, ret_c);
	return 0;
}
