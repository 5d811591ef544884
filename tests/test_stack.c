/*
 * Tests of the tracker's in-process stack table (lib/tracker_stack.c).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "tracker_stack.h"

static uint32_t intern(const uint64_t *ips, uint32_t n, int *fresh)
{
	mo_stackslot_t *slot;
	uint32_t id = mo_stacktab_intern(ips, n, mo_stacktab_hash(ips, n),
					 &slot, fresh);
	if (slot)
		mo_stacktab_publish(slot, id);
	return id;
}

static void setup(void)
{
	cr_assert_eq(mo_stacktab_init(), 0);
}

TestSuite(stack, .init = setup);

Test(stack, hash_is_never_zero_and_depends_on_order)
{
	uint64_t a[] = {1, 2, 3}, b[] = {3, 2, 1};
	cr_assert_neq(mo_stacktab_hash(a, 3), 0);
	cr_assert_neq(mo_stacktab_hash(NULL, 0), 0);
	cr_assert_neq(mo_stacktab_hash(a, 3), mo_stacktab_hash(b, 3));
	cr_assert_neq(mo_stacktab_hash(a, 2), mo_stacktab_hash(a, 3));
}

Test(stack, same_stack_same_id)
{
	uint64_t s1[] = {0x401000, 0x402000, 0x403000};
	uint64_t s2[] = {0x401000, 0x402000, 0x403008};
	int fresh;
	uint32_t id1 = intern(s1, 3, &fresh);
	cr_assert_eq(fresh, 1);
	cr_assert_eq(id1, 1);
	uint32_t id2 = intern(s2, 3, &fresh);
	cr_assert_eq(fresh, 1);
	cr_assert_eq(id2, 2);
	cr_assert_eq(intern(s1, 3, &fresh), 1);
	cr_assert_eq(fresh, 0);
	cr_assert_eq(intern(s2, 3, &fresh), 2);
	cr_assert_eq(fresh, 0);
	cr_assert_eq(intern(s1, 2, &fresh), 3, "a prefix is another stack");
	cr_assert_eq(mo_stacktab_count(), 3);
}

Test(stack, empty_stack_is_a_stack)
{
	int fresh;
	uint32_t id = intern(NULL, 0, &fresh);
	cr_assert_eq(fresh, 1);
	cr_assert_eq(intern(NULL, 0, &fresh), id);
	cr_assert_eq(fresh, 0);
}

Test(stack, unpublished_slot_is_not_reused)
{
	uint64_t s[] = {7, 8, 9};
	mo_stackslot_t *slot;
	int fresh;
	uint64_t h = mo_stacktab_hash(s, 3);
	uint32_t id1 = mo_stacktab_intern(s, 3, h, &slot, &fresh);
	cr_assert_not_null(slot);
	/* Before publication, another thread must not get id1 for it. */
	mo_stackslot_t *slot2;
	uint32_t id2 = mo_stacktab_intern(s, 3, h, &slot2, &fresh);
	cr_assert_eq(fresh, 1);
	cr_assert_neq(id1, id2);
	mo_stacktab_publish(slot, id1);
	mo_stacktab_publish(slot2, id2);
	cr_assert_eq(intern(s, 3, &fresh), id1);
	cr_assert_eq(fresh, 0);
}

Test(stack, reinit_starts_afresh)
{
	uint64_t s[] = {11, 12};
	int fresh;
	intern(s, 2, &fresh);
	intern(s, 1, &fresh);
	cr_assert_eq(mo_stacktab_init(), 0);
	cr_assert_eq(mo_stacktab_count(), 0);
	cr_assert_eq(intern(s, 2, &fresh), 1);
	cr_assert_eq(fresh, 1);
}

static uint32_t intern_ctx(const uint64_t *ips, uint32_t n, uint64_t ctx,
			   int *fresh)
{
	mo_stackslot_t *slot;
	uint32_t id = mo_stacktab_intern_ctx(ips, n, ctx, &slot, fresh);
	if (slot)
		mo_stacktab_publish(slot, id);
	return id;
}

Test(stack, memo_matches_whole_stacks_only)
{
	/* Same innermost frames, depth and context: only an outer frame
	 * differs, so the memo key is the same for all three. */
	uint64_t a[] = {1, 2, 3, 4}, b[] = {1, 2, 3, 5}, c[] = {1, 2, 3, 6};
	int fresh;
	uint32_t ia = intern_ctx(a, 4, 7, &fresh);
	cr_assert_eq(fresh, 1);
	cr_assert_eq(intern_ctx(a, 4, 7, &fresh), ia); /* from the table */
	cr_assert_eq(intern_ctx(a, 4, 7, &fresh), ia); /* from the memo */
	cr_assert_eq(fresh, 0);
	uint32_t ib = intern_ctx(b, 4, 7, &fresh);
	cr_assert_neq(ib, ia);
	cr_assert_eq(intern_ctx(b, 4, 7, &fresh), ib);
	uint32_t ic = intern_ctx(c, 4, 7, &fresh);
	cr_assert(ic != ia && ic != ib);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(intern_ctx(a, 4, 7, &fresh), ia);
		cr_assert_eq(intern_ctx(b, 4, 7, &fresh), ib);
		cr_assert_eq(intern_ctx(c, 4, 7, &fresh), ic);
		cr_assert_eq(intern_ctx(a, 3, 7, &fresh), intern(a, 3, &fresh));
		cr_assert_eq(fresh, 0);
	}
	cr_assert_eq(intern(a, 4, &fresh), ia);
}

Test(stack, memo_forgets_a_previous_table)
{
	uint64_t a[] = {10, 20, 30};
	int fresh;
	intern_ctx(a, 3, 1, &fresh);
	intern_ctx(a, 3, 1, &fresh);
	cr_assert_eq(intern_ctx(a, 3, 1, &fresh), 1);
	cr_assert_eq(mo_stacktab_init(), 0);
	uint64_t b[] = {40};
	cr_assert_eq(intern(b, 1, &fresh), 1); /* id 1 now names b */
	cr_assert_eq(intern_ctx(a, 3, 1, &fresh), 2);
	cr_assert_eq(fresh, 1);
}

#define NSTACKS 2000
#define NTHREADS 4

static uint32_t g_ids[NTHREADS][NSTACKS];

static void make_stack(int i, uint64_t *ips, uint32_t *n)
{
	*n = 1 + (uint32_t)(i % 17);
	for (uint32_t k = 0; k < *n; k++)
		ips[k] = 0x400000 + (uint64_t)i * 64 + k * 0x1000;
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	uint64_t ips[32];
	uint32_t n;
	for (int round = 0; round < 3; round++)
		for (int j = 0; j < NSTACKS; j++) {
			int i = (j * 7 + t * 13) % NSTACKS;
			make_stack(i, ips, &n);
			int fresh;
			uint32_t id = intern(ips, n, &fresh);
			if (round == 2)
				g_ids[t][i] = id;
		}
	return NULL;
}

Test(stack, concurrent_ids_never_name_two_stacks)
{
	pthread_t th[NTHREADS];
	for (int t = 0; t < NTHREADS; t++)
		pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	/* Every id maps back to exactly one stack. */
	static int owner[NTHREADS * NSTACKS * 3 + 2];
	memset(owner, -1, sizeof(owner));
	for (int t = 0; t < NTHREADS; t++)
		for (int i = 0; i < NSTACKS; i++) {
			uint32_t id = g_ids[t][i];
			cr_assert(id > 0 &&
				  id < sizeof(owner) / sizeof(*owner));
			if (owner[id] < 0)
				owner[id] = i;
			cr_assert_eq(owner[id], i,
				     "id %u names stacks %d and %d", id,
				     owner[id], i);
		}
	/* Once settled, every thread sees one id per stack. */
	uint64_t ips[32];
	uint32_t n;
	for (int i = 0; i < NSTACKS; i++) {
		make_stack(i, ips, &n);
		int fresh;
		uint32_t id = intern(ips, n, &fresh);
		cr_assert_eq(fresh, 0);
		cr_assert_eq(owner[id], i);
	}
	cr_assert_geq(mo_stacktab_count(), NSTACKS);
}
