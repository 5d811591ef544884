/*
 * A profiler-hook recorder for the allocator tests: counts each hook call
 * and the bytes the allocator reports live.
 */
#ifndef MO_TEST_HOOK_REC_H
#define MO_TEST_HOOK_REC_H

#include <string.h>

#include <memopt/alloc.h>

static struct hook_rec {
	int created, destroyed, allocs, frees, resets;
	long long live_bytes;
	const void *inst;
	char kind[16], name[32];
} rec;

static void rec_created(const void *inst, const char *kind, const char *name)
{
	rec.created++;
	rec.inst = inst;
	strncpy(rec.kind, kind, sizeof(rec.kind) - 1);
	strncpy(rec.name, name ? name : "", sizeof(rec.name) - 1);
}

static void rec_destroyed(const void *inst)
{
	(void)inst;
	rec.destroyed++;
}

static void rec_alloc(const void *inst, const void *p, size_t size,
		      size_t reserved)
{
	(void)inst;
	(void)p;
	(void)reserved;
	rec.allocs++;
	rec.live_bytes += (long long)size;
}

static void rec_free(const void *inst, const void *p, size_t size)
{
	(void)inst;
	(void)p;
	rec.frees++;
	rec.live_bytes -= (long long)size;
}

static void rec_reset(const void *inst)
{
	(void)inst;
	rec.resets++;
}

static const mo_alloc_hooks_t rec_hooks = {.created = rec_created,
					   .destroyed = rec_destroyed,
					   .alloc = rec_alloc,
					   .free = rec_free,
					   .reset = rec_reset};

/* Starts recording (the tests run one per process). */
static inline void rec_start(void)
{
	memset(&rec, 0, sizeof(rec));
	mo_alloc_hooks = &rec_hooks;
}

static inline void rec_stop(void)
{
	mo_alloc_hooks = NULL;
}

#endif /* MO_TEST_HOOK_REC_H */
