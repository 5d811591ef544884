/*
 * tl_arena: lost blocks that glibc malloc's own state points into, for
 * the leak classification tests (tests/test_leaks.c).  Memcheck replaces
 * malloc, so it never sees these pointers; an in-process scan sees them
 * in libc's .data (main_arena) and must not count them as roots.
 *
 * A glibc chunk for a request of n bytes is 16-byte aligned and the next
 * chunk's header starts 8 bytes before the end of the space the request
 * may use; for n % 16 in 1..8 the first word of that header lies inside
 * the requested [p, p + n).  Here:
 *
 *   lost_before_free  L = tl_block(40), then a 2000-byte block F that is
 *                     freed at the end (too big for the tcache: it goes
 *                     to the unsorted bin, whose list head in main_arena
 *                     then points at F's header, 32 bytes into L)
 *                                                 definite 40 B, 1 block
 *   guard             tl_block(16) after F, held in .bss (so F does not
 *                     merge with the top chunk)   still reachable 16 B, 1
 *   lost_before_top   T = tl_block(40), the last block carved from the
 *                     top chunk: main_arena.top points 32 bytes into T
 *                                                 definite 40 B, 1 block
 *
 * Definitely lost 80 bytes in 2 blocks, still reachable 16 bytes in 1
 * block, nothing else; 4 allocations, 1 free.  Prints nothing, exits 0.
 */
#include "tl_common.h"

uintptr_t tl_guard_root;
static uintptr_t to_free;

static TL_NOINLINE void lost_before_free(void)
{
	tl_block(40);
	to_free = (uintptr_t)tl_block(2000);
}

static TL_NOINLINE void guard(void)
{
	tl_guard_root = (uintptr_t)tl_block(16);
}

static TL_NOINLINE void lost_before_top(void)
{
	tl_block(40);
}

static TL_NOINLINE void free_middle(void)
{
	free((void *)to_free);
	to_free = 0;
}

int main(void)
{
	lost_before_free();
	guard();
	lost_before_top();
	free_middle();
	tl_wipe_stack();
	return 0;
}
