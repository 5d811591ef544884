/*
 * What the allocators share (lib/alloc/alloc.c): size arithmetic, misuse
 * reports and the profiler hooks' default.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <memopt/alloc.h>

Test(alloc, size_arithmetic)
{
	size_t r = 7;

	cr_expect_eq(mo_size_add(1, 2, &r), 0);
	cr_expect_eq(r, 3);
	cr_expect_eq(mo_size_add(SIZE_MAX, 1, &r), -EOVERFLOW);
	cr_expect_eq(r, 3, "unchanged on overflow");
	cr_expect_eq(mo_size_mul(1u << 20, 1u << 11, &r), 0);
	cr_expect_eq(r, (size_t)1 << 31);
	cr_expect_eq(mo_size_mul(SIZE_MAX / 2 + 1, 2, &r), -EOVERFLOW);
	cr_expect_eq(mo_size_mul(0, SIZE_MAX, &r), 0);
	cr_expect_eq(r, 0);
	cr_expect_eq(mo_size_align(13, 8, &r), 0);
	cr_expect_eq(r, 16);
	cr_expect_eq(mo_size_align(16, 16, &r), 0);
	cr_expect_eq(r, 16);
	cr_expect_eq(mo_size_align(SIZE_MAX - 2, 8, &r), -EOVERFLOW);
	cr_expect_eq(mo_size_align(8, 12, &r), -EOVERFLOW, "not a power of 2");
	cr_expect(mo_is_pow2(1) && mo_is_pow2(4096) && !mo_is_pow2(0) &&
		  !mo_is_pow2(12));
}

static char seen[128];

static void record_misuse(const char *kind, const char *name, const char *what)
{
	snprintf(seen, sizeof(seen), "%s|%s|%s", kind, name, what);
}

Test(alloc, misuse_handler)
{
	cr_assert_null(mo_alloc_set_misuse_handler(record_misuse));
	mo_alloc_misuse("pool", "nodes", "double free of 0x1000");
	cr_expect_str_eq(seen, "pool|nodes|double free of 0x1000");
	cr_assert_eq(mo_alloc_set_misuse_handler(NULL), record_misuse);
}

Test(alloc, misuse_aborts_by_default, .signal = SIGABRT)
{
	mo_alloc_misuse("arena", "frame", "rewind to a foreign mark");
}

Test(alloc, no_hooks_without_the_tracker)
{
	cr_expect_null(mo_alloc_hooks);
}
