/*
 * What the allocator suites share: a misuse recorder (the last message
 * as "KIND|NAME|WHAT", and a count), a PRNG, and byte patterns that tell
 * whether a block's contents survived.  Header-only; include it once per
 * test file.
 */
#ifndef MO_ALLOC_TEST_UTIL_H
#define MO_ALLOC_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memopt/alloc.h>

#define MO_T_UNUSED __attribute__((unused))

static MO_T_UNUSED char seen[256];
static MO_T_UNUSED int nseen;

static MO_T_UNUSED void record_misuse(const char *kind, const char *name,
				      const char *what)
{
	snprintf(seen, sizeof(seen), "%s|%s|%s", kind, name ? name : "-", what);
	nseen++;
}

/* Suite init and fini: misuse is recorded instead of aborting. */
static MO_T_UNUSED void setup_handler(void)
{
	seen[0] = 0;
	nseen = 0;
	mo_alloc_set_misuse_handler(record_misuse);
}

static MO_T_UNUSED void teardown_handler(void)
{
	mo_alloc_set_misuse_handler(NULL);
}

/* xorshift64 */
static MO_T_UNUSED uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Fills n bytes with the pattern of id; check() tells if it is intact. */
static MO_T_UNUSED void fill(unsigned char *o, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		o[i] = (unsigned char)(id * 131 + i);
}

static MO_T_UNUSED int check(const unsigned char *o, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (o[i] != (unsigned char)(id * 131 + i))
			return 0;
	return 1;
}

/* A block as [lo, hi): check_disjoint() sorts spans and fails the test
 * if two of them overlap. */
typedef struct span {
	uintptr_t lo, hi;
} span_t;

static MO_T_UNUSED int by_lo(const void *a, const void *b)
{
	const span_t *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static MO_T_UNUSED void check_disjoint(span_t *sp, size_t k)
{
	qsort(sp, k, sizeof(*sp), by_lo);
	for (size_t i = 1; i < k; i++)
		cr_assert_leq(sp[i - 1].hi, sp[i].lo, "blocks overlap");
}

/* qsort() order of pointers. */
static MO_T_UNUSED int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* Profiler hooks that log each call into hook_log, as
 * "created KIND NAME;alloc SIZE RESERVED;free SIZE;reset;destroyed;". */
static MO_T_UNUSED char hook_log[512];

static void hook_logf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static MO_T_UNUSED void hook_logf(const char *fmt, ...)
{
	size_t len = strlen(hook_log);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(hook_log + len, sizeof(hook_log) - len, fmt, ap);
	va_end(ap);
}

static MO_T_UNUSED void log_created(const void *i, const char *kind,
				    const char *name)
{
	(void)i;
	hook_logf("created %s %s;", kind, name);
}

static MO_T_UNUSED void log_destroyed(const void *i)
{
	(void)i;
	hook_logf("destroyed;");
}

static MO_T_UNUSED void log_alloc(const void *i, const void *p, size_t size,
				  size_t res)
{
	(void)i, (void)p;
	hook_logf("alloc %zu %zu;", size, res);
}

static MO_T_UNUSED void log_free(const void *i, const void *p, size_t size)
{
	(void)i, (void)p;
	hook_logf("free %zu;", size);
}

static MO_T_UNUSED void log_reset(const void *i)
{
	(void)i;
	hook_logf("reset;");
}

#endif
