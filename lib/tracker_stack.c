/*
 * Lock-free stack table: open addressing with linear probing over a fixed,
 * lazily backed array of slots; frames are copied into a bump arena.  In
 * front of it, each thread keeps a small memo of the stacks it interned
 * last, so that a repeated stack costs one compare with its stored frames
 * instead of a hash and a probe of the (cache-cold) table.
 */
#include "config.h"

#include <stdatomic.h>
#include <string.h>

#include "tracker_stack.h"

#define MO_STACKTAB_BITS 19
#define MO_STACKTAB_SLOTS (1u << MO_STACKTAB_BITS)
#define MO_STACKTAB_MAX_PROBE 128
#define MO_STACKTAB_ARENA (256u << 20)
#define MO_MEMO_BITS 8

struct mo_stackslot {
	_Atomic uint64_t hash; /* 0: free */
	_Atomic uint32_t id;   /* 0: claimed, not yet published */
	uint32_t n;
	const uint64_t *ips;
};

typedef struct mo_stacktab {
	mo_stackslot_t *slots;
	uint64_t *arena;
	_Atomic size_t arena_used; /* in uint64_t units */
	_Atomic uint32_t next_id;
	_Atomic uint32_t count;
} mo_stacktab_t;

static mo_stacktab_t g_tab;

/* Bumped by every mo_stacktab_init(): memo entries of an older table (its
 * ids and its arena) are void. */
static _Atomic uint32_t g_tab_gen = 1;

/* One memo entry: a published stack of the table, under a cheap key. */
typedef struct mo_memo {
	uint64_t key;
	const uint64_t *ips; /* the table's copy: immutable once published */
	uint32_t n;
	uint32_t id; /* 0: empty */
} mo_memo_t;

static MO_TLS mo_memo_t t_memo[1u << MO_MEMO_BITS];
static MO_TLS uint32_t t_memo_gen;

int mo_stacktab_init(void)
{
	mo__unmap(g_tab.slots, MO_STACKTAB_SLOTS * sizeof(mo_stackslot_t));
	mo__unmap(g_tab.arena, MO_STACKTAB_ARENA);
	memset(&g_tab, 0, sizeof(g_tab));
	g_tab.slots = mo__map(MO_STACKTAB_SLOTS * sizeof(mo_stackslot_t));
	g_tab.arena = mo__map(MO_STACKTAB_ARENA);
	if (!g_tab.slots || !g_tab.arena)
		return -12; /* -ENOMEM */
	atomic_store(&g_tab.next_id, 1);
	atomic_fetch_add(&g_tab_gen, 1);
	return 0;
}

/* Two independent multiply lanes, so the loop is not one long chain of
 * dependent multiplications: this runs for every allocation. */
uint64_t mo_stacktab_hash(const uint64_t *ips, uint32_t n)
{
	uint64_t a = 0x9e3779b97f4a7c15ull ^ n, b = 0xc2b2ae3d27d4eb4full;
	uint32_t i = 0;
	for (; i + 1 < n; i += 2) {
		a = (a ^ ips[i]) * 0xff51afd7ed558ccdull;
		b = (b ^ ips[i + 1]) * 0xc4ceb9fe1a85ec53ull;
		a ^= a >> 29;
		b ^= b >> 31;
	}
	if (i < n)
		a = (a ^ ips[i]) * 0xff51afd7ed558ccdull;
	uint64_t h = (a ^ (b >> 17) ^ (b << 47)) * 0x94d049bb133111ebull;
	return (h ^ (h >> 31)) | 1;
}

static int mo__same_stack(const mo_stackslot_t *s, const uint64_t *ips,
			  uint32_t n)
{
	return s->n == n && memcmp(s->ips, ips, n * sizeof(*ips)) == 0;
}

/* Copies the frames into the arena; NULL when it is exhausted. */
static const uint64_t *mo__arena_copy(const uint64_t *ips, uint32_t n)
{
	size_t at = atomic_fetch_add_explicit(&g_tab.arena_used, n,
					      memory_order_relaxed);
	if (at + n > MO_STACKTAB_ARENA / sizeof(uint64_t))
		return NULL;
	memcpy(g_tab.arena + at, ips, n * sizeof(*ips));
	return g_tab.arena + at;
}

static uint32_t mo__fresh_id(void)
{
	return atomic_fetch_add_explicit(&g_tab.next_id, 1,
					 memory_order_relaxed);
}

/* mo_stacktab_intern(), also giving the table's copy of a known stack's
 * frames in *stored (NULL when the stack is fresh). */
static uint32_t mo__intern(const uint64_t *ips, uint32_t n, uint64_t h,
			   mo_stackslot_t **slot, int *fresh,
			   const uint64_t **stored)
{
	*stored = NULL;
	*slot = NULL;
	*fresh = 0;
	if (mo_unlikely(!g_tab.slots))
		return 0;
	*fresh = 1;
	uint32_t mask = MO_STACKTAB_SLOTS - 1;
	for (uint32_t probe = 0; probe < MO_STACKTAB_MAX_PROBE; probe++) {
		mo_stackslot_t *s = &g_tab.slots[(h + probe) & mask];
		uint64_t sh =
			atomic_load_explicit(&s->hash, memory_order_acquire);
		if (sh == 0) {
			uint64_t expect = 0;
			if (!atomic_compare_exchange_strong(&s->hash, &expect,
							    h)) {
				sh = expect; /* lost the race: inspect it */
			} else {
				s->n = n;
				s->ips = mo__arena_copy(ips, n);
				if (!s->ips) {
					/* Arena full: leave the slot claimed
					 * but never published. */
					return mo__fresh_id();
				}
				*slot = s;
				atomic_fetch_add(&g_tab.count, 1);
				return mo__fresh_id();
			}
		}
		if (sh != h)
			continue;
		uint32_t id =
			atomic_load_explicit(&s->id, memory_order_acquire);
		if (id && mo__same_stack(s, ips, n)) {
			*fresh = 0;
			*stored = s->ips;
			return id;
		}
		/* Being published by another thread, or a hash collision:
		 * keep probing (a duplicate id is harmless). */
	}
	return mo__fresh_id();
}

uint32_t mo_stacktab_intern(const uint64_t *ips, uint32_t n, uint64_t h,
			    mo_stackslot_t **slot, int *fresh)
{
	const uint64_t *stored;
	return mo__intern(ips, n, h, slot, fresh, &stored);
}

/* The memo key: the innermost frames, the depth and the caller's context
 * (its stack pointer), which together mostly tell stacks apart. */
static uint64_t mo__memo_key(const uint64_t *ips, uint32_t n, uint64_t ctx)
{
	uint64_t k = (ctx ^ n) * 0xff51afd7ed558ccdull;
	if (n > 0)
		k ^= ips[0];
	if (n > 1)
		k ^= ips[1] * 0x9e3779b97f4a7c15ull;
	if (n > 2)
		k ^= ips[2] * 0xc2b2ae3d27d4eb4full;
	return (k ^ (k >> 29)) * 0x94d049bb133111ebull;
}

static int mo__same_frames(const uint64_t *a, const uint64_t *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

/* This thread's memo, emptied if the table was created anew since. */
static mo_memo_t *mo__memo(void)
{
	uint32_t gen = atomic_load_explicit(&g_tab_gen, memory_order_relaxed);
	if (mo_unlikely(t_memo_gen != gen)) {
		memset(t_memo, 0, sizeof(t_memo));
		t_memo_gen = gen;
	}
	return t_memo;
}

static int mo__memo_match(const mo_memo_t *m, const uint64_t *ips, uint32_t n,
			  uint64_t key)
{
	return m->id && m->key == key && m->n == n &&
	       mo__same_frames(m->ips, ips, n);
}

uint32_t mo_stacktab_intern_ctx(const uint64_t *ips, uint32_t n, uint64_t ctx,
				mo_stackslot_t **slot, int *fresh)
{
	/* Two-way sets, the most recently stored entry first: call paths
	 * that differ only in their outer frames often alternate. */
	uint64_t key = mo__memo_key(ips, n, ctx);
	mo_memo_t *set = &mo__memo()[(key >> (64 - MO_MEMO_BITS)) & ~1ull];
	for (int way = 0; way < 2; way++)
		if (mo__memo_match(&set[way], ips, n, key)) {
			*slot = NULL;
			*fresh = 0;
			return set[way].id;
		}
	const uint64_t *stored;
	uint32_t id = mo__intern(ips, n, mo_stacktab_hash(ips, n), slot, fresh,
				 &stored);
	if (stored) {
		set[1] = set[0];
		set[0] = (mo_memo_t){key, stored, n, id};
	}
	return id;
}

void mo_stacktab_publish(mo_stackslot_t *slot, uint32_t id)
{
	atomic_store_explicit(&slot->id, id, memory_order_release);
}

uint32_t mo_stacktab_count(void)
{
	return atomic_load(&g_tab.count);
}

void mo_stacktab_ranges(uintptr_t r[2][2])
{
	r[0][0] = (uintptr_t)g_tab.slots;
	r[0][1] = g_tab.slots
			  ? r[0][0] + MO_STACKTAB_SLOTS * sizeof(mo_stackslot_t)
			  : 0;
	r[1][0] = (uintptr_t)g_tab.arena;
	r[1][1] = g_tab.arena ? r[1][0] + MO_STACKTAB_ARENA : 0;
}
