/*
 * Lock-free stack table: open addressing with linear probing over a fixed,
 * lazily backed array of slots; frames are copied into a bump arena.
 */
#include "config.h"

#include <stdatomic.h>
#include <string.h>

#include "tracker_stack.h"

#define MO_STACKTAB_BITS 19
#define MO_STACKTAB_SLOTS (1u << MO_STACKTAB_BITS)
#define MO_STACKTAB_MAX_PROBE 128
#define MO_STACKTAB_ARENA (256u << 20)

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

uint32_t mo_stacktab_intern(const uint64_t *ips, uint32_t n, uint64_t h,
			    mo_stackslot_t **slot, int *fresh)
{
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
			return id;
		}
		/* Being published by another thread, or a hash collision:
		 * keep probing (a duplicate id is harmless). */
	}
	return mo__fresh_id();
}

void mo_stacktab_publish(mo_stackslot_t *slot, uint32_t id)
{
	atomic_store_explicit(&slot->id, id, memory_order_release);
}

uint32_t mo_stacktab_count(void)
{
	return atomic_load(&g_tab.count);
}
