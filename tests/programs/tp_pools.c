/*
 * Reports allocator events through libmemopt's profiler hooks exactly as
 * memopt's allocators do, with known figures (see tests/test_pools.c):
 *   pool "nodes": 10 allocations of 48 bytes taking 64 each, 4 freed;
 *   arena "frame": 3 allocations of 20 bytes taking 24, reset, destroyed;
 *   stack "scratch": 3 allocations of 100 bytes taking 132, a rewind that
 *   keeps the first, then that one freed.
 * Without the tracker the hooks are absent and this does nothing.
 */
#include <stdint.h>

#include <memopt/alloc.h>

static char nodes, frame, scratch;

int main(void)
{
	MO_ALLOC_HOOK(created, &nodes, "pool", "nodes");
	MO_ALLOC_HOOK(created, &frame, "arena", "frame");
	for (uintptr_t i = 0; i < 10; i++)
		MO_ALLOC_HOOK(alloc, &nodes, (void *)(0x10000 + 64 * i), 48,
			      64);
	for (uintptr_t i = 0; i < 4; i++)
		MO_ALLOC_HOOK(free, &nodes, (void *)(0x10000 + 64 * i), 48);
	for (uintptr_t i = 0; i < 3; i++)
		MO_ALLOC_HOOK(alloc, &frame, (void *)(0x90000 + 24 * i), 20,
			      24);
	MO_ALLOC_HOOK(reset, &frame);
	MO_ALLOC_HOOK(destroyed, &frame);
	MO_ALLOC_HOOK(created, &scratch, "stack", "scratch");
	for (uintptr_t i = 0; i < 3; i++)
		MO_ALLOC_HOOK(alloc, &scratch, (void *)(0xa0000 + 132 * i), 100,
			      132);
	MO_ALLOC_HOOK(rewind, &scratch, 100, 132, 1);
	MO_ALLOC_HOOK(free, &scratch, (void *)0xa0000, 100);
	return 0;
}
