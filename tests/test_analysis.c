/*
 * Tests of the address map (suite addrmap) and of the trace analysis
 * (suite analysis), fed with synthetic events built in memory.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addrmap.h"
#include "analysis.h"
#include "symbolize.h"

/* --- addrmap ------------------------------------------------------------- */

Test(addrmap, empty_map)
{
	mo_addrmap_t m;
	size_t pos = 0;

	mo_addrmap_init(&m);
	cr_assert_eq(mo_addrmap_count(&m), 0);
	cr_assert_null(mo_addrmap_get(&m, 0));
	cr_assert_null(mo_addrmap_get(&m, 42));
	cr_assert_eq(mo_addrmap_take(&m, 42, NULL), 0);
	cr_assert_null(mo_addrmap_next(&m, &pos));
	mo_addrmap_free(&m);
}

Test(addrmap, put_get_replace_take)
{
	mo_addrmap_t m;
	mo_addrmap_entry_t old, e;

	mo_addrmap_init(&m);
	cr_assert_eq(mo_addrmap_put(&m, 0x1000, 16, 7, NULL), 0);
	cr_assert_eq(mo_addrmap_put(&m, 0, 3, 1, NULL), 0); /* key 0 works */
	cr_assert_eq(mo_addrmap_count(&m), 2);
	cr_assert_eq(mo_addrmap_get(&m, 0x1000)->size, 16);
	cr_assert_eq(mo_addrmap_get(&m, 0x1000)->aux, 7);
	cr_assert_eq(mo_addrmap_get(&m, 0)->size, 3);

	cr_assert_eq(mo_addrmap_put(&m, 0x1000, 32, 9, &old), 1);
	cr_assert_eq(old.key, 0x1000);
	cr_assert_eq(old.size, 16);
	cr_assert_eq(old.aux, 7);
	cr_assert_eq(mo_addrmap_count(&m), 2);

	mo_addrmap_get(&m, 0)->size = 99; /* in-place update */
	cr_assert_eq(mo_addrmap_take(&m, 0, &e), 1);
	cr_assert_eq(e.size, 99);
	cr_assert_eq(mo_addrmap_take(&m, 0, &e), 0);
	cr_assert_eq(mo_addrmap_take(&m, 0x1000, &e), 1);
	cr_assert_eq(e.size, 32);
	cr_assert_eq(e.aux, 9);
	cr_assert_eq(mo_addrmap_count(&m), 0);
	mo_addrmap_free(&m);
}

Test(addrmap, grows_and_shrinks_to_empty)
{
	const uint64_t n = 1000000, base = 0x7f0000000000ull;
	mo_addrmap_t m;

	mo_addrmap_init(&m);
	for (uint64_t i = 0; i < n; i++)
		cr_assert_eq(
			mo_addrmap_put(&m, base + 16 * i, i, (uint32_t)i, NULL),
			0);
	cr_assert_eq(mo_addrmap_count(&m), n);
	/* Table at most 7/8 full: 24-byte slots, < 56 bytes per entry. */
	cr_assert_leq((m.mask + 1) * sizeof(mo_addrmap_entry_t), 56 * n);
	for (uint64_t i = 0; i < n; i += 2) {
		mo_addrmap_entry_t e;
		cr_assert_eq(mo_addrmap_take(&m, base + 16 * i, &e), 1);
		cr_assert_eq(e.size, i);
	}
	for (uint64_t i = 0; i < n; i++) {
		const mo_addrmap_entry_t *e = mo_addrmap_get(&m, base + 16 * i);
		if (i % 2)
			cr_assert(e && e->aux == (uint32_t)i, "key %lu", i);
		else
			cr_assert_null(e, "key %lu", i);
	}
	for (uint64_t i = 1; i < n; i += 2)
		cr_assert_eq(mo_addrmap_take(&m, base + 16 * i, NULL), 1);
	cr_assert_eq(mo_addrmap_count(&m), 0);
	mo_addrmap_free(&m);
}

Test(addrmap, reserve_keeps_entries)
{
	mo_addrmap_t m;

	mo_addrmap_init(&m);
	cr_assert_eq(mo_addrmap_put(&m, 5, 50, 0, NULL), 0);
	cr_assert_eq(mo_addrmap_reserve(&m, 100000), 0);
	cr_assert_geq(m.limit, 100000);
	cr_assert_eq(mo_addrmap_get(&m, 5)->size, 50);
	mo_addrmap_clear(&m);
	cr_assert_eq(mo_addrmap_count(&m), 0);
	cr_assert_null(mo_addrmap_get(&m, 5));
	mo_addrmap_free(&m);
}

/* A model: keys k(i) for i < MODEL_N, present[i] and values. */
#define MODEL_N 5000

static uint64_t model_key(uint32_t i)
{
	/* Mix dense heap-like addresses with widely strided ones, which
	 * collide in weak hashes. */
	return i % 2 ? 0x55550000ull + 16 * (uint64_t)i : (uint64_t)i << 21;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void check_against_model(const mo_addrmap_t *m, const char *present,
				const uint64_t *sizes)
{
	size_t pos = 0, seen = 0, count = 0;
	const mo_addrmap_entry_t *e;

	for (uint32_t i = 0; i < MODEL_N; i++) {
		e = mo_addrmap_get(m, model_key(i));
		if (present[i]) {
			cr_assert_not_null(e, "key %u missing", i);
			cr_assert_eq(e->size, sizes[i]);
			cr_assert_eq(e->aux, i);
			count++;
		} else {
			cr_assert_null(e, "key %u present", i);
		}
	}
	cr_assert_eq(mo_addrmap_count(m), count);
	while ((e = mo_addrmap_next(m, &pos)) != NULL) {
		uint32_t i = e->aux;
		cr_assert_lt(i, MODEL_N);
		cr_assert_eq(e->key, model_key(i));
		cr_assert(present[i]);
		seen++;
	}
	cr_assert_eq(seen, count);
}

Test(addrmap, randomized_against_model)
{
	static char present[MODEL_N];
	static uint64_t sizes[MODEL_N];
	mo_addrmap_t m, copy;

	mo_addrmap_init(&m);
	for (int round = 0; round < 400000; round++) {
		uint32_t i = (uint32_t)(rng() % MODEL_N);
		uint64_t op = rng() % 10, size = rng();
		mo_addrmap_entry_t e;

		if (op < 5) { /* put */
			int r = mo_addrmap_put(&m, model_key(i), size, i, &e);
			cr_assert_eq(r, present[i] ? 1 : 0);
			if (r == 1)
				cr_assert_eq(e.size, sizes[i]);
			present[i] = 1;
			sizes[i] = size;
		} else if (op < 9) { /* take */
			int r = mo_addrmap_take(&m, model_key(i), &e);
			cr_assert_eq(r, present[i] ? 1 : 0);
			if (r)
				cr_assert_eq(e.size, sizes[i]);
			present[i] = 0;
		} else { /* get */
			mo_addrmap_entry_t *g =
				mo_addrmap_get(&m, model_key(i));
			cr_assert_eq(g != NULL, present[i] != 0);
		}
		if (round % 50000 == 0)
			check_against_model(&m, present, sizes);
	}
	check_against_model(&m, present, sizes);

	cr_assert_eq(mo_addrmap_copy(&copy, &m), 0);
	check_against_model(&copy, present, sizes);
	/* The copy is independent. */
	for (uint32_t i = 0; i < MODEL_N; i++)
		mo_addrmap_take(&copy, model_key(i), NULL);
	cr_assert_eq(mo_addrmap_count(&copy), 0);
	check_against_model(&m, present, sizes);
	mo_addrmap_free(&copy);
	mo_addrmap_free(&m);
}

/* --- analysis: event builders -------------------------------------------- */

static mo_sym_t *sym;
static mo_an_t *an;

static void setup(void)
{
	sym = mo_sym_new();
	cr_assert_not_null(sym);
	an = mo_an_new(sym);
	cr_assert_not_null(an);
}

static void teardown(void)
{
	mo_an_free(an);
	mo_sym_free(sym);
}

TestSuite(analysis, .init = setup, .fini = teardown);

static void feed(const mo_event_t *ev)
{
	cr_assert_eq(mo_an_feed(an, ev), 0);
}

static void ev_start(uint32_t stream, uint32_t pid, uint32_t ppid,
		     uint64_t flags)
{
	mo_event_t ev = {.type = MO_REC_PROC_START, .stream = stream};
	char exe[] = "/bin/prog";
	char a0[] = "prog", a1[] = "--arg";
	mo_str_t argv[2] = {{a0, 4}, {a1, 5}};

	ev.u.start.pid = pid;
	ev.u.start.ppid = ppid;
	ev.u.start.flags = flags;
	ev.u.start.realtime_ns = 1000;
	ev.u.start.exe = (mo_str_t){exe, strlen(exe)};
	ev.u.start.argc = 2;
	ev.u.start.argv = argv;
	feed(&ev);
	/* The analysis must have copied the strings. */
	memset(exe, 'X', strlen(exe));
	memset(a0, 'X', 4);
}

static void ev_alloc(uint32_t stream, uint64_t ptr, uint64_t size,
		     uint64_t stack)
{
	mo_event_t ev = {.type = MO_REC_ALLOC, .stream = stream};

	ev.u.alloc.fn = MO_FN_MALLOC;
	ev.u.alloc.ptr = ptr;
	ev.u.alloc.size = size;
	ev.u.alloc.stack = stack;
	feed(&ev);
}

static void ev_ptr(int type, uint32_t stream, uint64_t ptr)
{
	mo_event_t ev = {.type = type, .stream = stream};

	ev.u.free.ptr = ptr;
	feed(&ev);
}

static void ev_free(uint32_t stream, uint64_t ptr)
{
	ev_ptr(MO_REC_FREE, stream, ptr);
}

static void ev_pre(uint32_t stream, uint64_t ptr)
{
	ev_ptr(MO_REC_REALLOC_PRE, stream, ptr);
}

static void ev_fail(uint32_t stream, uint64_t ptr)
{
	ev_ptr(MO_REC_REALLOC_FAIL, stream, ptr);
}

static void ev_realloc(uint32_t stream, uint64_t old, uint64_t new_ptr,
		       uint64_t size, uint64_t stack)
{
	mo_event_t ev = {.type = MO_REC_REALLOC, .stream = stream};

	ev.u.realloc.fn = MO_FN_REALLOC;
	ev.u.realloc.old_ptr = old;
	ev.u.realloc.new_ptr = new_ptr;
	ev.u.realloc.size = size;
	ev.u.realloc.stack = stack;
	feed(&ev);
}

static void ev_stack(uint32_t stream, uint64_t id, uint32_t n,
		     const uint64_t *ips)
{
	mo_event_t ev = {.type = MO_REC_STACK, .stream = stream};

	ev.u.stack.id = id;
	ev.u.stack.n = n;
	ev.u.stack.ips = ips;
	feed(&ev);
}

/* A one-frame stack whose ip is `ip`. */
static void ev_stack1(uint32_t stream, uint64_t id, uint64_t ip)
{
	ev_stack(stream, id, 1, &ip);
}

static void ev_u1(int type, uint32_t stream, uint64_t v)
{
	mo_event_t ev = {.type = type, .stream = stream};

	switch (type) {
	case MO_REC_TICK:
		ev.u.tick.ns = v;
		break;
	case MO_REC_FORK:
		ev.u.fork.pid = (uint32_t)v;
		break;
	case MO_REC_LOST:
		ev.u.lost.bytes = v;
		break;
	default:
		break;
	}
	feed(&ev);
}

static void ev_tick(uint32_t stream, uint64_t ns)
{
	ev_u1(MO_REC_TICK, stream, ns);
}

static void ev_fork(uint32_t stream, uint32_t child)
{
	ev_u1(MO_REC_FORK, stream, child);
}

static const mo_proc_t *finish_proc(size_t i)
{
	mo_an_finish(an);
	cr_assert_lt(i, mo_an_nprocs(an));
	return mo_an_proc(an, i);
}

/* Global index of the stack whose first frame has runtime address ip. */
static uint32_t gstack(uint64_t ip)
{
	for (uint32_t s = 0; s < 1000; s++) {
		uint32_t n;
		const mo_rawframe_t *f = mo_an_stack(an, s, &n);
		if (n && f[0].address == ip)
			return s;
	}
	cr_assert_fail("no stack with ip %#lx", ip);
	return 0;
}

/* The site of process i for stack `stack` (found through the ranking by
 * allocations, which lists every site allocated from). */
static mo_site_t site_of(size_t i, uint32_t stack)
{
	mo_site_t sites[64];
	size_t n = mo_an_top(an, i, MO_BY_ALLOCATIONS, sites, 64);

	for (size_t k = 0; k < n; k++)
		if (sites[k].stack == stack)
			return sites[k];
	cr_assert_fail("no site for stack %u", stack);
	return sites[0];
}

/* --- analysis: counting ------------------------------------------------- */

Test(analysis, malloc_free_counts)
{
	const mo_proc_t *p;

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0x1111);
	ev_alloc(1, 0x1000, 10, 1);
	ev_alloc(1, 0x2000, 20, 1);
	ev_alloc(1, 0x3000, 30, 1);
	ev_free(1, 0x2000);
	p = finish_proc(0);
	cr_assert_eq(mo_an_nprocs(an), 1);
	cr_assert_eq(p->pid, 100);
	cr_assert_eq(p->ppid, 1);
	cr_assert_eq(p->forked, 0);
	cr_assert_str_eq(p->exe, "/bin/prog");
	cr_assert_eq(p->argc, 2);
	cr_assert_str_eq(p->argv[0], "prog");
	cr_assert_str_eq(p->argv[1], "--arg");
	cr_assert_eq(p->start_realtime_ns, 1000);
	cr_assert_eq(p->allocations, 3);
	cr_assert_eq(p->frees, 1);
	cr_assert_eq(p->bytes_allocated, 60);
	cr_assert_eq(p->live_bytes, 40);
	cr_assert_eq(p->live_blocks, 2);
	cr_assert_eq(p->peak_heap, 60);
	cr_assert_eq(p->unmatched_frees, 0);
	cr_assert_eq(p->double_allocs, 0);
	cr_assert_eq(p->exit_kind, MO_EXIT_UNKNOWN);
	cr_assert_eq(p->ended, 0);
}

Test(analysis, realloc_in_place)
{
	const mo_proc_t *p;

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0x1111);
	ev_alloc(1, 0x1000, 10, 1);
	ev_pre(1, 0x1000);
	ev_realloc(1, 0x1000, 0x1000, 25, 1);
	p = finish_proc(0);
	cr_assert_eq(p->allocations, 2);
	cr_assert_eq(p->frees, 1);
	cr_assert_eq(p->bytes_allocated, 35);
	cr_assert_eq(p->live_bytes, 25);
	cr_assert_eq(p->live_blocks, 1);
	cr_assert_eq(p->peak_heap, 25);
	cr_assert_eq(p->double_allocs, 0);
	cr_assert_eq(p->unmatched_frees, 0);
}

Test(analysis, realloc_moving_with_address_reuse)
{
	const mo_proc_t *p;

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0x1111);
	ev_alloc(1, 0x1000, 10, 1);
	ev_pre(1, 0x1000);
	/* Another thread gets 0x1000 once realloc released it internally,
	 * before the realloc record: not a double allocation. */
	ev_alloc(1, 0x1000, 5, 1);
	ev_realloc(1, 0x1000, 0x2000, 40, 1);
	p = finish_proc(0);
	cr_assert_eq(p->allocations, 3);
	cr_assert_eq(p->frees, 1);
	cr_assert_eq(p->bytes_allocated, 55);
	cr_assert_eq(p->live_bytes, 45);
	cr_assert_eq(p->live_blocks, 2);
	cr_assert_eq(p->double_allocs, 0);
	/* The reused block is the live one at 0x1000. */
	ev_free(1, 0x1000);
	ev_free(1, 0x2000);
	p = finish_proc(0);
	cr_assert_eq(p->frees, 3);
	cr_assert_eq(p->live_bytes, 0);
	cr_assert_eq(p->live_blocks, 0);
	cr_assert_eq(p->unmatched_frees, 0);
}

Test(analysis, realloc_to_zero_frees_only)
{
	const mo_proc_t *p;

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0x1111);
	ev_alloc(1, 0x1000, 10, 1);
	ev_pre(1, 0x1000);
	ev_realloc(1, 0x1000, 0, 0, 1);
	p = finish_proc(0);
	cr_assert_eq(p->allocations, 1);
	cr_assert_eq(p->frees, 1);
	cr_assert_eq(p->bytes_allocated, 10);
	cr_assert_eq(p->live_bytes, 0);
	cr_assert_eq(p->live_blocks, 0);
}

Test(analysis, realloc_failure_restores_block)
{
	const mo_proc_t *p;

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0x1111);
	ev_alloc(1, 0x1000, 10, 1);
	ev_pre(1, 0x1000);
	ev_fail(1, 0x1000);
	p = finish_proc(0);
	cr_assert_eq(p->allocations, 1);
	cr_assert_eq(p->frees, 0);
	cr_assert_eq(p->live_bytes, 10);
	cr_assert_eq(p->live_blocks, 1);
	ev_free(1, 0x1000);
	p = finish_proc(0);
	cr_assert_eq(p->frees, 1);
	cr_assert_eq(p->live_bytes, 0);
	cr_assert_eq(p->unmatched_frees, 0);
}

Test(analysis, realloc_null_is_an_alloc)
{
	const mo_proc_t *p;

	/* realloc(NULL, n) is recorded as an ALLOC with fn REALLOC. */
	mo_event_t ev = {.type = MO_REC_ALLOC, .stream = 1};

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0x1111);
	ev.u.alloc.fn = MO_FN_REALLOC;
	ev.u.alloc.ptr = 0x1000;
	ev.u.alloc.size = 64;
	ev.u.alloc.stack = 1;
	feed(&ev);
	p = finish_proc(0);
	cr_assert_eq(p->allocations, 1);
	cr_assert_eq(p->frees, 0);
	cr_assert_eq(p->bytes_allocated, 64);
	cr_assert_eq(p->live_bytes, 64);
}

Test(analysis, realloc_of_unknown_pointer)
{
	const mo_proc_t *p;

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0x1111);
	ev_pre(1, 0x9000); /* not live: nothing */
	ev_realloc(1, 0x9000, 0x2000, 8, 1);
	ev_fail(1, 0x7000); /* not pending: nothing */
	p = finish_proc(0);
	cr_assert_eq(p->allocations, 1);
	cr_assert_eq(p->frees, 0);
	cr_assert_eq(p->unmatched_frees, 1);
	cr_assert_eq(p->live_bytes, 8);
	cr_assert_eq(p->live_blocks, 1);
}

Test(analysis, unmatched_frees_counted_only)
{
	const mo_proc_t *p;

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0x1111);
	ev_alloc(1, 0x1000, 10, 1);
	ev_free(1, 0x5000);
	ev_free(1, 0x1000);
	ev_free(1, 0x1000); /* double free */
	p = finish_proc(0);
	cr_assert_eq(p->allocations, 1);
	cr_assert_eq(p->frees, 1);
	cr_assert_eq(p->unmatched_frees, 2);
	cr_assert_eq(p->live_bytes, 0);
}

Test(analysis, double_alloc_drops_old_block_uncounted)
{
	const mo_proc_t *p;
	uint32_t a, b;

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0xa0);
	ev_stack1(1, 2, 0xb0);
	ev_alloc(1, 0x1000, 100, 1);
	ev_alloc(1, 0x1000, 150, 2); /* the free of the first was missed */
	p = finish_proc(0);
	cr_assert_eq(p->double_allocs, 1);
	cr_assert_eq(p->allocations, 2);
	cr_assert_eq(p->frees, 0);
	cr_assert_eq(p->bytes_allocated, 250);
	cr_assert_eq(p->live_bytes, 150);
	cr_assert_eq(p->live_blocks, 1);
	cr_assert_eq(p->peak_heap, 150);
	a = gstack(0xa0);
	b = gstack(0xb0);
	cr_assert_eq(site_of(0, a).live_bytes, 0);
	cr_assert_eq(site_of(0, a).peak_bytes, 0);
	cr_assert_eq(site_of(0, b).live_bytes, 150);
	cr_assert_eq(site_of(0, b).peak_bytes, 150);
	cr_assert_eq(site_of(0, b).peak_blocks, 1);
}

/* The same, as a trace file says it: block numbers, and the collector's
 * MO_REC_BDROP of the block whose free was missed. */
Test(analysis, dropped_block_uncounted)
{
	const mo_proc_t *p;

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0xa0);
	ev_stack1(1, 2, 0xb0);
	ev_alloc(1, 1, 100, 1);
	ev_ptr(MO_REC_BDROP, 1, 1);
	ev_alloc(1, 2, 150, 2);
	ev_ptr(MO_REC_BDROP, 1, 7); /* not live: ignored */
	p = finish_proc(0);
	cr_assert_eq(p->double_allocs, 1);
	cr_assert_eq(p->allocations, 2);
	cr_assert_eq(p->frees, 0);
	cr_assert_eq(p->unmatched_frees, 0);
	cr_assert_eq(p->bytes_allocated, 250);
	cr_assert_eq(p->live_bytes, 150);
	cr_assert_eq(p->live_blocks, 1);
	cr_assert_eq(p->peak_heap, 150);
	cr_assert_eq(site_of(0, gstack(0xa0)).live_bytes, 0);
	cr_assert_eq(site_of(0, gstack(0xb0)).live_bytes, 150);
}

Test(analysis, unknown_stack_ids_share_an_empty_stack)
{
	const mo_proc_t *p;
	mo_site_t s[4];
	uint32_t n = 99;

	ev_start(1, 100, 1, 0);
	ev_alloc(1, 0x1000, 10, 77);
	ev_alloc(1, 0x2000, 20, 78);
	p = finish_proc(0);
	cr_assert_eq(p->unknown_stacks, 2);
	cr_assert_eq(p->allocations, 2);
	cr_assert_eq(mo_an_top(an, 0, MO_BY_LIVE, s, 4), 1);
	cr_assert_eq(s[0].live_bytes, 30);
	cr_assert_eq(s[0].live_blocks, 2);
	cr_assert_null(mo_an_stack(an, s[0].stack, &n));
	cr_assert_eq(n, 0);
	/* Out of range stack indices are empty, too. */
	cr_assert_null(mo_an_stack(an, 12345, &n));
	cr_assert_eq(n, 0);
}

/* --- analysis: peak --------------------------------------------------------
 */

Test(analysis, peak_composition_differs_from_end)
{
	const mo_proc_t *p;
	uint32_t a, b, c;
	mo_site_t s[4];

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0xa0);
	ev_stack1(1, 2, 0xb0);
	ev_stack1(1, 3, 0xc0);
	ev_tick(1, 1000);
	ev_alloc(1, 0xa1, 100, 1); /* 100: peak */
	ev_tick(1, 2000);
	ev_alloc(1, 0xb1, 50, 2); /* 150: peak */
	ev_tick(1, 3000);
	ev_free(1, 0xa1); /* 50 */
	ev_tick(1, 4000);
	ev_alloc(1, 0xc1, 200, 3); /* 250: peak (A 0, B 50, C 200) */
	ev_tick(1, 5000);
	ev_free(1, 0xc1);	  /* 50 */
	ev_alloc(1, 0xa2, 60, 1); /* 110 */
	ev_alloc(1, 0xa3, 60, 1); /* 170 */
	ev_alloc(1, 0xb2, 30, 2); /* 200 */
	ev_tick(1, 6000);
	ev_alloc(1, 0xc2, 50, 3); /* 250: equal, not a new peak */
	ev_tick(1, 7000);
	p = finish_proc(0);
	a = gstack(0xa0);
	b = gstack(0xb0);
	c = gstack(0xc0);
	cr_assert_eq(p->peak_heap, 250);
	cr_assert_eq(p->peak_time_ns, 4000);
	cr_assert_eq(p->runtime_ns, 7000);
	cr_assert_eq(p->live_bytes, 250);
	cr_assert_eq(p->live_blocks, 5);

	cr_assert_eq(site_of(0, a).peak_bytes, 0);
	cr_assert_eq(site_of(0, a).peak_blocks, 0);
	cr_assert_eq(site_of(0, b).peak_bytes, 50);
	cr_assert_eq(site_of(0, b).peak_blocks, 1);
	cr_assert_eq(site_of(0, c).peak_bytes, 200);
	cr_assert_eq(site_of(0, c).peak_blocks, 1);
	cr_assert_eq(site_of(0, a).live_bytes, 120);
	cr_assert_eq(site_of(0, a).live_blocks, 2);
	cr_assert_eq(site_of(0, b).live_bytes, 80);
	cr_assert_eq(site_of(0, b).live_blocks, 2);
	cr_assert_eq(site_of(0, c).live_bytes, 50);
	cr_assert_eq(site_of(0, c).live_blocks, 1);

	/* Ranking at the peak leaves A out (0 bytes then). */
	cr_assert_eq(mo_an_top(an, 0, MO_BY_PEAK, s, 4), 2);
	cr_assert_eq(s[0].stack, c);
	cr_assert_eq(s[1].stack, b);
	cr_assert_eq(mo_an_top(an, 0, MO_BY_LIVE, s, 4), 3);
	cr_assert_eq(s[0].stack, a);
	cr_assert_eq(s[1].stack, b);
	cr_assert_eq(s[2].stack, c);
}

Test(analysis, peak_set_by_realloc_and_later_peaks)
{
	const mo_proc_t *p;
	uint32_t a, b;

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0xa0);
	ev_stack1(1, 2, 0xb0);
	ev_tick(1, 10);
	ev_alloc(1, 0x1000, 100, 1); /* 100 */
	ev_alloc(1, 0x2000, 10, 1);  /* 110 */
	ev_tick(1, 20);
	ev_pre(1, 0x1000);
	ev_realloc(1, 0x1000, 0x3000, 300, 2); /* 310: A 10, B 300 */
	ev_tick(1, 30);
	ev_free(1, 0x3000); /* 10 */
	ev_alloc(1, 0x4000, 200, 1);
	ev_alloc(1, 0x5000, 90, 2); /* 300 */
	p = finish_proc(0);
	a = gstack(0xa0);
	b = gstack(0xb0);
	cr_assert_eq(p->peak_heap, 310);
	cr_assert_eq(p->peak_time_ns, 20);
	cr_assert_eq(site_of(0, a).peak_bytes, 10);
	cr_assert_eq(site_of(0, a).peak_blocks, 1);
	cr_assert_eq(site_of(0, b).peak_bytes, 300);
	cr_assert_eq(site_of(0, b).peak_blocks, 1);

	/* A later, higher peak replaces the figures. */
	ev_tick(1, 40);
	ev_alloc(1, 0x6000, 11, 2); /* 311 */
	ev_free(1, 0x6000);
	p = finish_proc(0);
	cr_assert_eq(p->peak_heap, 311);
	cr_assert_eq(p->peak_time_ns, 40);
	cr_assert_eq(site_of(0, a).peak_bytes, 210);
	cr_assert_eq(site_of(0, a).peak_blocks, 2);
	cr_assert_eq(site_of(0, b).peak_bytes, 101);
	cr_assert_eq(site_of(0, b).peak_blocks, 2);
	cr_assert_eq(site_of(0, b).live_bytes, 90);
}

Test(analysis, live_at_exit_grouped_by_stack)
{
	static const uint64_t ips[2] = {0xa0, 0xa8};
	const mo_proc_t *p;
	mo_site_t s[4];

	ev_start(1, 100, 1, 0);
	ev_stack(1, 1, 2, ips);
	ev_stack(1, 5, 2, ips); /* same content, other id: same site */
	ev_stack1(1, 2, 0xb0);
	ev_alloc(1, 0x10, 10, 1);
	ev_alloc(1, 0x20, 20, 5);
	ev_alloc(1, 0x30, 30, 1);
	ev_alloc(1, 0x40, 5, 2);
	ev_free(1, 0x20);
	p = finish_proc(0);
	cr_assert_eq(p->live_bytes, 45);
	cr_assert_eq(p->live_blocks, 3);
	cr_assert_eq(mo_an_nsites(an, 0), 2);
	cr_assert_eq(mo_an_top(an, 0, MO_BY_LIVE, s, 4), 2);
	cr_assert_eq(s[0].stack, gstack(0xa0));
	cr_assert_eq(s[0].live_bytes, 40);
	cr_assert_eq(s[0].live_blocks, 2);
	cr_assert_eq(s[0].allocations, 3);
	cr_assert_eq(s[0].bytes, 60);
	cr_assert_eq(s[1].stack, gstack(0xb0));
	cr_assert_eq(s[1].live_bytes, 5);
	cr_assert_eq(s[1].live_blocks, 1);
}

Test(analysis, top_ranking_ties_and_limit)
{
	const mo_proc_t *p;
	mo_site_t s[8];
	uint32_t g[5];

	ev_start(1, 100, 1, 0);
	for (uint64_t k = 0; k < 5; k++)
		ev_stack1(1, k, 0x100 + k);
	/* allocations per stack: 2, 3, 3, 1, 0 */
	ev_alloc(1, 0x1, 1, 0);
	ev_alloc(1, 0x2, 1, 0);
	ev_alloc(1, 0x3, 1, 1);
	ev_alloc(1, 0x4, 1, 1);
	ev_alloc(1, 0x5, 1, 1);
	ev_alloc(1, 0x6, 1, 2);
	ev_alloc(1, 0x7, 1, 2);
	ev_alloc(1, 0x8, 1, 2);
	ev_alloc(1, 0x9, 1, 3);
	p = finish_proc(0);
	cr_assert_eq(p->allocations, 9);
	for (int k = 0; k < 5; k++)
		g[k] = gstack(0x100 + (uint64_t)k);
	cr_assert_eq(mo_an_top(an, 0, MO_BY_ALLOCATIONS, s, 8), 4);
	cr_assert_eq(s[0].allocations, 3);
	cr_assert_eq(s[1].allocations, 3);
	cr_assert_lt(s[0].stack, s[1].stack);
	cr_assert(s[0].stack == (g[1] < g[2] ? g[1] : g[2]));
	cr_assert_eq(s[2].stack, g[0]);
	cr_assert_eq(s[3].stack, g[3]);
	/* A limit keeps the best ones, in order. */
	cr_assert_eq(mo_an_top(an, 0, MO_BY_ALLOCATIONS, s, 3), 3);
	cr_assert_eq(s[0].allocations, 3);
	cr_assert_eq(s[1].allocations, 3);
	cr_assert_eq(s[2].allocations, 2);
	cr_assert_eq(mo_an_top(an, 0, MO_BY_ALLOCATIONS, s, 0), 0);
	cr_assert_eq(mo_an_top(an, 0, MO_BY_TEMPORARY, s, 8), 0);
	cr_assert_eq(mo_an_top(an, 7, MO_BY_ALLOCATIONS, s, 8), 0);
}

/* --- analysis: temporary allocations (heaptrack's rules) ------------------ */

Test(analysis, temporary_basic)
{
	const mo_proc_t *p;

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0xa0);
	ev_stack1(1, 2, 0xb0);
	ev_alloc(1, 0x10, 8, 1);
	ev_free(1, 0x10); /* temporary */
	ev_alloc(1, 0x10, 8, 1);
	ev_alloc(1, 0x20, 8, 2);
	ev_free(1, 0x20); /* temporary: the last allocation */
	ev_free(1, 0x10); /* not: a free came in between */
	ev_alloc(1, 0x30, 8, 1);
	ev_alloc(1, 0x40, 8, 2);
	ev_free(1, 0x30); /* not: another allocation in between */
	ev_free(1, 0x40); /* not: a free in between */
	p = finish_proc(0);
	cr_assert_eq(p->temporary, 2);
	cr_assert_eq(site_of(0, gstack(0xa0)).temporary, 1);
	cr_assert_eq(site_of(0, gstack(0xb0)).temporary, 1);
}

Test(analysis, temporary_realloc_cases)
{
	const mo_proc_t *p;

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0xa0);
	ev_stack1(1, 2, 0xb0);
	/* heaptrack records realloc as free(old) then malloc(new): */
	ev_alloc(1, 0x10, 8, 1);
	ev_pre(1, 0x10);
	ev_realloc(1, 0x10, 0x20, 16, 2); /* old freed right away: temp */
	ev_free(1, 0x20);		  /* the new block, too: temp */
	/* in place */
	ev_alloc(1, 0x30, 8, 1);
	ev_pre(1, 0x30);
	ev_realloc(1, 0x30, 0x30, 16, 2); /* temp (site A) */
	/* realloc(p, 0) */
	ev_pre(1, 0x30);
	ev_realloc(1, 0x30, 0, 0, 2); /* temp (site B) */
	/* a failed realloc neither allocates nor frees */
	ev_alloc(1, 0x40, 8, 1);
	ev_pre(1, 0x40);
	ev_fail(1, 0x40);
	ev_free(1, 0x40); /* temp */
	p = finish_proc(0);
	cr_assert_eq(p->allocations, 5);
	cr_assert_eq(p->frees, 5);
	cr_assert_eq(p->temporary, 5);
	cr_assert_eq(site_of(0, gstack(0xa0)).temporary, 3);
	cr_assert_eq(site_of(0, gstack(0xb0)).temporary, 2);
}

Test(analysis, temporary_reset_by_unmatched_free)
{
	const mo_proc_t *p;

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0xa0);
	/* heaptrack_interpret clears its last pointer on every free record,
	 * even one of an unknown address. */
	ev_alloc(1, 0x10, 8, 1);
	ev_free(1, 0x999);
	ev_free(1, 0x10);
	/* a double allocation is no free: the last pointer stays */
	ev_alloc(1, 0x20, 8, 1);
	ev_alloc(1, 0x20, 8, 1);
	ev_free(1, 0x20); /* temp */
	p = finish_proc(0);
	cr_assert_eq(p->temporary, 1);
	cr_assert_eq(p->unmatched_frees, 1);
}

Test(analysis, temporary_is_per_process)
{
	const mo_proc_t *p, *q;

	ev_start(1, 100, 1, 0);
	ev_start(2, 200, 1, 0);
	ev_stack1(1, 1, 0xa0);
	ev_stack1(2, 1, 0xa0);
	ev_alloc(1, 0x10, 8, 1);
	ev_alloc(2, 0x10, 8, 1); /* another process: no effect on 1 */
	ev_free(1, 0x10);
	ev_alloc(2, 0x20, 8, 1);
	ev_free(2, 0x10);
	p = finish_proc(0);
	q = finish_proc(1);
	cr_assert_eq(p->temporary, 1);
	cr_assert_eq(q->temporary, 0);
}

/* --- analysis: processes ------------------------------------------------- */

Test(analysis, interleaved_streams)
{
	const mo_proc_t *p, *q;

	ev_start(7, 300, 1, 0);
	ev_start(3, 301, 300, 0);
	ev_stack1(3, 1, 0xb0);
	ev_stack1(7, 1, 0xa0);
	ev_alloc(7, 0x10, 100, 1);
	ev_alloc(3, 0x10, 5, 1); /* same address, other process */
	ev_tick(3, 50);
	ev_tick(7, 80);
	ev_free(7, 0x10);
	ev_alloc(3, 0x20, 6, 1);
	ev_tick(3, 90);
	p = finish_proc(0);
	q = finish_proc(1);
	cr_assert_eq(mo_an_nprocs(an), 2);
	cr_assert_eq(p->stream, 7);
	cr_assert_eq(p->pid, 300);
	cr_assert_eq(q->stream, 3);
	cr_assert_eq(q->pid, 301);
	cr_assert_eq(p->allocations, 1);
	cr_assert_eq(p->frees, 1);
	cr_assert_eq(p->live_bytes, 0);
	cr_assert_eq(p->runtime_ns, 80);
	cr_assert_eq(q->allocations, 2);
	cr_assert_eq(q->frees, 0);
	cr_assert_eq(q->live_bytes, 11);
	cr_assert_eq(q->double_allocs, 0);
	cr_assert_eq(q->peak_time_ns, 50);
	cr_assert_eq(q->runtime_ns, 90);
	cr_assert_eq(site_of(1, gstack(0xb0)).live_bytes, 11);
}

Test(analysis, fork_child_inherits_heap)
{
	const mo_proc_t *parent, *child;
	uint32_t a;

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0xa0);
	ev_tick(1, 500);
	ev_alloc(1, 0x10, 100, 1);
	ev_alloc(1, 0x20, 50, 1);
	ev_alloc(1, 0x30, 20, 1);
	ev_free(1, 0x30);
	ev_fork(1, 200);
	ev_free(1, 0x10); /* after the fork: parent only */

	ev_start(2, 200, 100, MO_PROC_FORKED);
	ev_stack1(2, 9, 0xa0); /* same stack, the child's own id */
	ev_free(2, 0x20);      /* inherited block */
	ev_alloc(2, 0x40, 7, 9);
	ev_tick(2, 30);

	parent = finish_proc(0);
	child = finish_proc(1);
	a = gstack(0xa0);
	cr_assert_eq(parent->allocations, 3);
	cr_assert_eq(parent->frees, 2);
	cr_assert_eq(parent->live_bytes, 50);
	cr_assert_eq(parent->peak_heap, 170);
	cr_assert_eq(parent->peak_time_ns, 500);

	cr_assert_eq(child->pid, 200);
	cr_assert_eq(child->ppid, 100);
	cr_assert(child->forked);
	cr_assert_eq(child->allocations, 4);
	cr_assert_eq(child->frees, 2);
	cr_assert_eq(child->bytes_allocated, 177);
	cr_assert_eq(child->unmatched_frees, 0);
	cr_assert_eq(child->live_bytes, 107);
	cr_assert_eq(child->live_blocks, 2);
	cr_assert_eq(child->peak_heap, 170);
	cr_assert_eq(child->peak_time_ns, 0); /* before the child began */
	cr_assert_eq(child->runtime_ns, 30);
	cr_assert_eq(child->temporary, 1);
	cr_assert_eq(site_of(1, a).allocations, 4);
	cr_assert_eq(site_of(1, a).live_bytes, 107);
	cr_assert_eq(site_of(1, a).peak_bytes, 170);
	cr_assert_eq(site_of(1, a).peak_blocks, 3);
	cr_assert_eq(site_of(0, a).live_bytes, 50);
}

Test(analysis, fork_without_snapshot_starts_empty)
{
	const mo_proc_t *child, *other;

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0xa0);
	ev_alloc(1, 0x10, 100, 1);
	ev_fork(1, 200);
	/* A forked child whose parent's FORK record was not seen. */
	ev_start(2, 201, 100, MO_PROC_FORKED);
	ev_free(2, 0x10);
	/* The pid of the snapshot, but not forked (an exec'd image). */
	ev_start(3, 200, 100, 0);
	ev_free(3, 0x10);
	child = finish_proc(1);
	other = finish_proc(2);
	cr_assert_eq(child->allocations, 0);
	cr_assert_eq(child->frees, 0);
	cr_assert_eq(child->unmatched_frees, 1);
	cr_assert_eq(other->allocations, 0);
	cr_assert_eq(other->unmatched_frees, 1);
	cr_assert_eq(other->live_bytes, 0);
}

Test(analysis, fork_record_after_child_start)
{
	const mo_proc_t *child, *late;

	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0xa0);
	ev_alloc(1, 0x10, 100, 1);
	/* The child's stream comes first in the file. */
	ev_start(2, 200, 100, MO_PROC_FORKED);
	ev_tick(2, 5);
	ev_fork(1, 200); /* adopted right away: the child did nothing yet */
	ev_free(2, 0x10);
	/* A child that already allocated cannot take its parent's heap. */
	ev_start(3, 300, 100, MO_PROC_FORKED);
	ev_stack1(3, 1, 0xa0);
	ev_alloc(3, 0x20, 8, 1);
	ev_fork(1, 300);
	ev_free(3, 0x10);
	child = finish_proc(1);
	late = finish_proc(2);
	cr_assert_eq(child->allocations, 1);
	cr_assert_eq(child->frees, 1);
	cr_assert_eq(child->unmatched_frees, 0);
	cr_assert_eq(child->live_bytes, 0);
	cr_assert_eq(child->peak_heap, 100);
	cr_assert_eq(late->allocations, 1);
	cr_assert_eq(late->live_bytes, 8);
	cr_assert_eq(late->unmatched_frees, 1);
	/* Neither FORK left a snapshot behind for a later stream. */
	ev_start(4, 300, 100, MO_PROC_FORKED);
	cr_assert_eq(finish_proc(3)->live_bytes, 0);
}

Test(analysis, many_forks_never_adopted)
{
	ev_start(1, 100, 1, 0);
	ev_stack1(1, 1, 0xa0);
	for (uint32_t k = 0; k < 200; k++) {
		ev_alloc(1, 0x10 + 16 * k, 10, 1);
		ev_fork(1, 1000 + k);
	}
	/* The latest snapshots are kept: this child finds its parent's. */
	ev_start(2, 1199, 100, MO_PROC_FORKED);
	cr_assert_eq(finish_proc(1)->live_bytes, 2000);
	/* An early one was dropped to bound memory. */
	ev_start(3, 1000, 100, MO_PROC_FORKED);
	cr_assert_eq(finish_proc(2)->live_bytes, 0);
}

Test(analysis, exit_rss_lost_end_and_extensions)
{
	const mo_proc_t *p;
	mo_event_t ev = {.type = MO_REC_EXIT, .stream = 1};
	static const uint8_t data[3] = {1, 2, 3};

	ev_start(1, 100, 1, 0);
	ev.u.exit.kind = MO_EXIT_SIGNAL;
	ev.u.exit.value = 9;
	feed(&ev);
	ev.u.exit.kind = MO_EXIT_CODE; /* the last one wins */
	ev.u.exit.value = 3;
	feed(&ev);
	ev = (mo_event_t){.type = MO_REC_RSS, .stream = 1};
	ev.u.rss.rss = 4096;
	ev.u.rss.hwm = 8192;
	feed(&ev);
	ev.u.rss.rss = 10000;
	ev.u.rss.hwm = 9000;
	feed(&ev);
	ev.u.rss.rss = 100;
	ev.u.rss.hwm = 100;
	feed(&ev);
	ev_u1(MO_REC_LOST, 1, 300);
	ev_u1(MO_REC_LOST, 1, 12);
	ev = (mo_event_t){.type = MO_REC_POOL_ALLOC, .stream = 1};
	ev.u.ext.len = 3;
	ev.u.ext.data = data;
	feed(&ev);
	ev.type = 0x7f;
	feed(&ev);
	ev = (mo_event_t){.type = MO_REC_END, .stream = 1};
	feed(&ev);
	p = finish_proc(0);
	cr_assert_eq(p->exit_kind, MO_EXIT_CODE);
	cr_assert_eq(p->exit_value, 3);
	cr_assert_eq(p->peak_rss, 10000);
	cr_assert_eq(p->lost_bytes, 312);
	cr_assert_eq(p->ended, 1);
	cr_assert_eq(p->allocations, 0);
}

Test(analysis, records_before_proc_start_are_kept)
{
	const mo_proc_t *p;

	ev_stack1(4, 1, 0xa0);
	ev_alloc(4, 0x10, 10, 1);
	p = finish_proc(0);
	cr_assert_eq(p->stream, 4);
	cr_assert_eq(p->pid, 0);
	cr_assert_null(p->exe);
	cr_assert_eq(p->allocations, 1);
	ev_start(4, 44, 1, 0);
	p = finish_proc(0);
	cr_assert_eq(p->pid, 44);
	cr_assert_eq(p->allocations, 1);
}

/* --- analysis: stacks and modules ---------------------------------------- */

static void ev_modmap(uint32_t stream, uint32_t n, const mo_module_rec_t *m)
{
	mo_event_t ev = {.type = MO_REC_MODMAP, .stream = stream};

	ev.u.modmap.n = n;
	ev.u.modmap.mods = m;
	feed(&ev);
}

static mo_module_rec_t mod(uint64_t start, uint64_t end, uint64_t bias,
			   const char *path, const char *build_id)
{
	mo_module_rec_t m = {start,
			     end,
			     bias,
			     {path, strlen(path)},
			     {build_id, strlen(build_id)}};
	return m;
}

Test(analysis, ips_map_to_modules)
{
	char path[] = "/usr/lib/libfoo.so";
	mo_module_rec_t mods[2] = {
		mod(0x7f0000100000, 0x7f0000200000, 0x7f0000000000, path,
		    "\x01\x02"),
		mod(0x400000, 0x401000, 0, "/bin/prog", ""),
	};
	const uint64_t ips[4] = {0x7f0000100010, 0x400500, 0x401000, 0x10};
	const mo_rawframe_t *f;
	int foo, prog;
	uint32_t n;

	ev_start(1, 100, 1, 0);
	ev_modmap(1, 2, mods);
	memset(path, 'X', sizeof(path) - 1); /* must have been copied */
	ev_stack(1, 1, 4, ips);
	ev_alloc(1, 0x10, 10, 1);
	mo_an_finish(an);
	foo = mo_sym_module(sym, "/usr/lib/libfoo.so", 18,
			    (const uint8_t *)"\x01\x02", 2);
	prog = mo_sym_module(sym, "/bin/prog", 9, NULL, 0);
	cr_assert_geq(foo, 0);
	cr_assert_geq(prog, 0);
	cr_assert_neq(foo, prog);

	f = mo_an_stack(an, gstack(0x7f0000100010), &n);
	cr_assert_eq(n, 4);
	cr_assert_eq(f[0].module, foo);
	cr_assert_eq(f[0].vaddr, 0x100010);
	cr_assert_eq(f[0].address, 0x7f0000100010);
	cr_assert_eq(f[1].module, prog);
	cr_assert_eq(f[1].vaddr, 0x400500);
	cr_assert_eq(f[2].module, -1); /* end is exclusive */
	cr_assert_eq(f[2].vaddr, 0x401000);
	cr_assert_eq(f[3].module, -1);
	cr_assert_eq(f[3].vaddr, 0x10);
	cr_assert_eq(f[3].address, 0x10);
}

Test(analysis, modmap_replaces_previous)
{
	mo_module_rec_t m1 = mod(0x1000, 0x2000, 0x1000, "/a", "");
	mo_module_rec_t m2 = mod(0x5000, 0x6000, 0x5000, "/b", "");
	const mo_rawframe_t *f;
	uint32_t n;

	ev_start(1, 100, 1, 0);
	ev_modmap(1, 1, &m1);
	ev_modmap(1, 1, &m2);
	ev_stack1(1, 1, 0x1100);
	ev_stack1(1, 2, 0x5100);
	f = mo_an_stack(an, gstack(0x1100), &n);
	cr_assert_eq(n, 1);
	cr_assert_eq(f[0].module, -1);
	f = mo_an_stack(an, gstack(0x5100), &n);
	cr_assert_eq(f[0].module, mo_sym_module(sym, "/b", 2, NULL, 0));
	cr_assert_eq(f[0].vaddr, 0x100);
}

Test(analysis, same_stack_in_two_streams_is_one)
{
	/* Two processes with the same library at different load addresses:
	 * the same (module, vaddr) frames are one stack. */
	mo_module_rec_t m1 = mod(0x10000, 0x20000, 0x10000, "/lib/x.so", "i");
	mo_module_rec_t m2 = mod(0x90000, 0xa0000, 0x90000, "/lib/x.so", "i");
	const uint64_t ips1[2] = {0x10100, 0x10200};
	const uint64_t ips2[2] = {0x90100, 0x90200};
	const uint64_t ips3[2] = {0x90100, 0x90300};
	mo_site_t s1[2], s2[4];
	uint32_t n;

	ev_start(1, 100, 1, 0);
	ev_start(2, 200, 1, 0);
	ev_modmap(1, 1, &m1);
	ev_modmap(2, 1, &m2);
	ev_stack(1, 1, 2, ips1);
	ev_stack(2, 8, 2, ips2);
	ev_stack(2, 9, 2, ips3);
	ev_alloc(1, 0x10, 10, 1);
	ev_alloc(2, 0x10, 20, 8);
	ev_alloc(2, 0x20, 30, 9);
	mo_an_finish(an);
	cr_assert_eq(mo_an_top(an, 0, MO_BY_BYTES, s1, 2), 1);
	cr_assert_eq(mo_an_top(an, 1, MO_BY_BYTES, s2, 4), 2);
	cr_assert_eq(s2[1].bytes, 20);
	cr_assert_eq(s1[0].stack, s2[1].stack);
	cr_assert_neq(s2[0].stack, s2[1].stack);
	/* The first occurrence's addresses are kept for display. */
	cr_assert_eq(mo_an_stack(an, s1[0].stack, &n)[0].address, 0x10100);
	cr_assert_eq(n, 2);
}

Test(analysis, many_distinct_stacks)
{
	uint64_t ips[3];
	const mo_proc_t *p;
	mo_site_t s[2];

	ev_start(1, 100, 1, 0);
	for (uint64_t k = 0; k < 20000; k++) {
		ips[0] = 0x1000 + k;
		ips[1] = 0x2000;
		ips[2] = 0x3000 + (k % 7);
		ev_stack(1, k, 3, ips);
		ev_alloc(1, 0x100000 + 16 * k, k + 1, k);
	}
	/* Re-sending a known content under new ids dedups. */
	for (uint64_t k = 0; k < 100; k++) {
		ips[0] = 0x1000 + k;
		ips[1] = 0x2000;
		ips[2] = 0x3000 + (k % 7);
		ev_stack(1, 50000 + k, 3, ips);
	}
	ev_alloc(1, 0x10, 1, 50000);
	p = finish_proc(0);
	cr_assert_eq(mo_an_nsites(an, 0), 20000);
	cr_assert_eq(p->allocations, 20001);
	cr_assert_eq(mo_an_top(an, 0, MO_BY_BYTES, s, 2), 2);
	cr_assert_eq(s[0].bytes, 20000);
	cr_assert_eq(s[1].bytes, 19999);
	cr_assert_eq(site_of(0, gstack(0x1000)).allocations, 2);
}

/* --- leak scan results (MO_REC_LEAKS) ------------------------------------ */

/* Feeds a MO_REC_LEAKS payload of raw bytes. */
static void ev_leaks_raw(uint32_t stream, const uint8_t *data, size_t len)
{
	mo_event_t ev = {.type = MO_REC_LEAKS, .stream = stream};

	ev.u.ext.len = (uint32_t)len;
	ev.u.ext.data = data;
	feed(&ev);
}

/* Feeds a well-formed MO_REC_LEAKS listing blocks[i] with kinds[i]. */
static void ev_leaks(uint32_t stream, uint64_t flags, size_t n,
		     const uint64_t *blocks, const int *kinds)
{
	uint8_t buf[512], *q = buf;
	uint64_t prev = 0;

	q = mo_put_uv(q, flags);
	q = mo_put_uv(q, 3);  /* threads */
	q = mo_put_uv(q, 99); /* scanned */
	q = mo_put_uv(q, n);
	for (size_t i = 0; i < n; i++) {
		q = mo_put_uv(q, blocks[i] - prev);
		q = mo_put_uv(q, (uint64_t)kinds[i]);
		prev = blocks[i];
	}
	ev_leaks_raw(stream, buf, (size_t)(q - buf));
}

static const mo_loss_t *losses(size_t i, size_t *n)
{
	mo_an_finish(an);
	return mo_an_losses(an, i, n);
}

static void assert_loss(const mo_loss_t *l, uint32_t stack, int kind,
			uint64_t bytes, uint64_t blocks)
{
	cr_assert_eq(l->stack, stack);
	cr_assert_eq(l->kind, kind);
	cr_assert_eq(l->bytes, bytes);
	cr_assert_eq(l->blocks, blocks);
}

/* Blocks 1..6 from two stacks; blocks are keys as in column traces. */
static void leak_heap(void)
{
	ev_start(1, 100, 1, 0);
	ev_stack1(1, 10, 0x401000);
	ev_stack1(1, 20, 0x402000);
	ev_alloc(1, 1, 100, 10);
	ev_alloc(1, 2, 200, 10);
	ev_alloc(1, 3, 0, 10); /* zero-size */
	ev_alloc(1, 4, 400, 20);
	ev_alloc(1, 5, 500, 20);
	ev_alloc(1, 6, 600, 20);
	ev_free(1, 5);
	ev_pre(1, 6); /* inside realloc: still live */
}

Test(analysis, leaks_classify_every_live_block)
{
	static const uint64_t blocks[] = {1, 2, 3, 4, 6};
	static const int kinds[] = {MO_LEAK_DEFINITE, MO_LEAK_INDIRECT,
				    MO_LEAK_DEFINITE, MO_LEAK_POSSIBLE,
				    MO_LEAK_DEFINITE};
	const mo_loss_t *l;
	const mo_proc_t *p;
	uint32_t s10, s20;
	size_t n;

	leak_heap();
	ev_leaks(1, 1, 5, blocks, kinds);
	l = losses(0, &n);
	s10 = gstack(0x401000);
	s20 = gstack(0x402000);
	cr_assert_eq(n, 4);
	assert_loss(&l[0], s20, MO_LEAK_DEFINITE, 600, 1);
	assert_loss(&l[1], s20, MO_LEAK_POSSIBLE, 400, 1);
	assert_loss(&l[2], s10, MO_LEAK_INDIRECT, 200, 1);
	assert_loss(&l[3], s10, MO_LEAK_DEFINITE, 100, 2); /* with 0-size */
	p = mo_an_proc(an, 0);
	cr_assert_eq(p->has_leaks, 1);
	cr_assert_eq(p->leak_flags, 1);
	cr_assert_eq(p->leak_threads, 3);
	cr_assert_eq(p->leak_scanned, 99);
	cr_assert_eq(p->leak_bad_records, 0);
	cr_assert_eq(p->leak_unknown_blocks, 0);
}

Test(analysis, leaks_unlisted_blocks_are_reachable_and_last_wins)
{
	static const uint64_t b1[] = {2};
	static const int k1[] = {MO_LEAK_DEFINITE};
	static const uint64_t b2[] = {4, 77};
	static const int k2[] = {MO_LEAK_INDIRECT, MO_LEAK_DEFINITE};
	const mo_loss_t *l;
	uint32_t s10, s20;
	size_t n;

	leak_heap();
	ev_leaks(1, 0, 1, b1, k1);
	ev_free(1, 1);		   /* after the first scan */
	ev_leaks(1, 2, 2, b2, k2); /* 77 is not live */
	l = losses(0, &n);
	s10 = gstack(0x401000);
	s20 = gstack(0x402000);
	cr_assert_eq(n, 3);
	assert_loss(&l[0], s20, MO_LEAK_REACHABLE, 600, 1);
	assert_loss(&l[1], s20, MO_LEAK_INDIRECT, 400, 1);
	assert_loss(&l[2], s10, MO_LEAK_REACHABLE, 200, 2);
	cr_assert_eq(mo_an_proc(an, 0)->leak_flags, 2);
	cr_assert_eq(mo_an_proc(an, 0)->leak_unknown_blocks, 1);
}

Test(analysis, leaks_malformed_records_are_counted_and_ignored)
{
	static const uint64_t b1[] = {1};
	static const int k1[] = {MO_LEAK_POSSIBLE};
	static const uint8_t bad[][8] = {
		{0, 0, 0, 1, 1},	     /* truncated list */
		{0, 0, 0, 1, 1, 4},	     /* kind 4 */
		{0, 0, 0, 1, 1, 0},	     /* kind 0 (reachable) */
		{0, 0, 0, 2, 1, 3, 0, 3},    /* dblock 0: not increasing */
		{0, 0, 0, 1, 1, 3, 9},	     /* trailing byte */
		{0, 0, 0, 0x80},	     /* truncated varint */
		{0, 0, 0, 0xff, 0xff, 0x7f}, /* n larger than the payload */
	};
	static const size_t lens[] = {5, 6, 6, 8, 7, 4, 6};
	const mo_loss_t *l;
	size_t n;

	leak_heap();
	ev_leaks_raw(1, NULL, 0);
	cr_assert_eq(losses(0, &n), NULL); /* no valid one yet */
	cr_assert_eq(n, 0);
	cr_assert_eq(mo_an_proc(an, 0)->has_leaks, 0);
	ev_leaks(1, 0, 1, b1, k1);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		ev_leaks_raw(1, bad[i], lens[i]);
	l = losses(0, &n);
	cr_assert_eq(mo_an_proc(an, 0)->leak_bad_records, 8);
	cr_assert_eq(n, 3); /* the valid record stays */
	assert_loss(&l[0], gstack(0x402000), MO_LEAK_REACHABLE, 1000, 2);
	assert_loss(&l[1], gstack(0x401000), MO_LEAK_REACHABLE, 200, 2);
	assert_loss(&l[2], gstack(0x401000), MO_LEAK_POSSIBLE, 100, 1);
}

Test(analysis, no_leak_record_no_leak_data)
{
	size_t n = 5;

	leak_heap();
	cr_assert_null(losses(0, &n));
	cr_assert_eq(n, 0);
	cr_assert_eq(mo_an_proc(an, 0)->has_leaks, 0);
}
