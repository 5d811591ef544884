/*
 * tp_crash: crash_alloc() makes 1000 calls malloc(32), keeps every block,
 * then crash_now() writes through a NULL pointer: the process dies of
 * SIGSEGV.  Core dumps are disabled first (setrlimit, no heap use) so that
 * the crash leaves no file behind.  No stdio, no other heap activity.
 *
 * Expected: 1000 allocations, 0 frees, 32000 bytes allocated, peak 32000,
 * live at the end (leaked) 1000 blocks, 32000 bytes; killed by signal 11.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

/* Makefile.am asks for -O0, but a user's CFLAGS (-O2 by default) come last:
 * functions stay real frames and pointers escape at any level. */
#define NOINLINE __attribute__((noinline, noclone))
#define ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")
#define TP_BLOCKS 1000

static void *blocks[TP_BLOCKS];

static NOINLINE void crash_alloc(void)
{
	for (int i = 0; i < TP_BLOCKS; i++) {
		blocks[i] = malloc(32);
		if (blocks[i] == NULL)
			_exit(10);
		ESCAPE(blocks[i]);
	}
}

static NOINLINE void crash_now(void)
{
	volatile int *volatile null_ptr = NULL; /* a real store at any -O */

	*null_ptr = 1;
}

int main(void)
{
	struct rlimit no_core = {0, 0};

	setrlimit(RLIMIT_CORE, &no_core);
	crash_alloc();
	crash_now();
	return 0;
}
