/*
 * Arena (bump) allocator: chained blocks or one reserved virtual range.
 * The fast path is inline in memopt/arena.h; this file has the slow path
 * (new blocks, commits, hooks), marks, reset, release and statistics.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memopt/arena.h>

#ifndef MO_ALLOC_DEBUG_ALL
#define MO_ALLOC_DEBUG_ALL 0
#endif

#define MO__ARENA_BLOCK (64u << 10)
#define MO__ARENA_MAX_BLOCK (16u << 20)
#define MO__ARENA_RESERVE ((size_t)1 << 30)

/* A block; descriptors live outside the blocks, so all of a block is
 * usable. */
typedef struct mo__arena_blk {
	struct mo__arena_blk *next;
	char *start;
	size_t size;
	int mapped; /* 0: the caller's buffer */
} mo__arena_blk_t;

struct mo_arena {
	struct mo__arena_hot h; /* must be first (the inline fast path) */
	mo__arena_blk_t *used;	/* chain, current block first */
	mo__arena_blk_t *spare; /* chain blocks kept for reuse */
	mo__arena_blk_t *own;	/* blocks of their own, newest first */
	size_t nown;
	uint64_t base; /* consumed bytes outside the current block */
	uint64_t capacity, peak, retired, failures, resets, gen, seq;
	size_t block_size, next_block, max_block, oversize, max_capacity;
	/* RESERVE mode */
	char *range;
	size_t reserve, committed, commit_step;
	mo_arena_mode_t mode;
	int debug;
	size_t last_reserved; /* of the last slow-path allocation */
	/* debug mode: the stack of marks (their seq numbers) */
	uint64_t *marks;
	size_t nmarks, marks_cap;
	int marks_lost; /* a push failed: stop checking */
	char *name;
};

/* cur == end == this before the first block: never NULL, so that a
 * zero-size allocation cannot look like a failure. */
static char mo__arena_empty[1];

static size_t page_size(void)
{
	static size_t ps;
	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

static size_t round_page(size_t n)
{
	size_t r;
	if (mo_size_align(n, page_size(), &r))
		return 0;
	return r;
}

static void *map(size_t size, int prot, int extra)
{
	void *p = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra,
		       -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static int set_opts(mo_arena_t *a, const mo_arena_opts_t *o)
{
	a->h.align = o->align ? o->align : 16;
	if (!mo_is_pow2(a->h.align))
		return -EINVAL;
	a->mode = o->mode;
	a->debug = MO_ALLOC_DEBUG_ALL || (o->flags & MO_ALLOC_DEBUG);
	a->max_capacity = o->max_capacity;
	if (o->mode == MO_ARENA_RESERVE) {
		if (o->buffer || o->buffer_size)
			return -EINVAL;
		a->reserve =
			round_page(o->reserve ? o->reserve : MO__ARENA_RESERVE);
		a->commit_step = round_page(o->commit_step ? o->commit_step
							   : MO__ARENA_BLOCK);
		return a->reserve && a->commit_step ? 0 : -EINVAL;
	}
	if (o->mode != MO_ARENA_BLOCKS || (!o->buffer != !o->buffer_size))
		return -EINVAL;
	a->block_size =
		round_page(o->block_size ? o->block_size : MO__ARENA_BLOCK);
	a->max_block = o->max_block_size ? round_page(o->max_block_size)
					 : MO__ARENA_MAX_BLOCK;
	if (!a->block_size || a->max_block < a->block_size)
		a->max_block = a->block_size;
	a->next_block = a->block_size;
	a->oversize = o->oversize ? o->oversize : a->block_size / 4;
	if (!a->block_size || a->oversize > a->block_size)
		return -EINVAL;
	return 0;
}

static int add_buffer(mo_arena_t *a, void *buf, size_t size)
{
	mo__arena_blk_t *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->start = buf;
	b->size = size;
	a->used = b;
	a->h.cur = buf;
	a->h.end = (char *)buf + size;
	a->capacity = size;
	return 0;
}

int mo_arena_create(mo_arena_t **out, const mo_arena_opts_t *o)
{
	static const mo_arena_opts_t defaults;
	mo_arena_t *a;
	int err;

	if (!out)
		return -EINVAL;
	if (!o)
		o = &defaults;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->h.cur = a->h.end = mo__arena_empty;
	err = set_opts(a, o);
	if (err)
		goto fail;
	err = -ENOMEM;
	if (o->name && !(a->name = strdup(o->name)))
		goto fail;
	if (a->mode == MO_ARENA_RESERVE) {
		a->range = map(a->reserve, PROT_NONE, MAP_NORESERVE);
		if (!a->range)
			goto fail;
		a->h.cur = a->h.end = a->range;
	} else if (o->buffer &&
		   (err = add_buffer(a, o->buffer, o->buffer_size)) != 0) {
		goto fail;
	}
	*out = a;
	MO_ALLOC_HOOK(created, a, "arena", a->name);
	return 0;
fail:
	free(a->name);
	free(a);
	return err;
}

static void free_list(mo_arena_t *a, mo__arena_blk_t *b, int keep_buffer)
{
	while (b) {
		mo__arena_blk_t *next = b->next;
		if (b->mapped) {
			munmap(b->start, b->size);
			a->capacity -= b->size;
			free(b);
		} else if (keep_buffer) {
			b->next = a->spare;
			a->spare = b;
		} else {
			free(b);
		}
		b = next;
	}
}

void mo_arena_destroy(mo_arena_t *a)
{
	if (!a)
		return;
	MO_ALLOC_HOOK(destroyed, a);
	free_list(a, a->used, 0);
	free_list(a, a->spare, 0);
	free_list(a, a->own, 0);
	if (a->range)
		munmap(a->range, a->reserve);
	free(a->marks);
	free(a->name);
	free(a);
}

size_t mo_arena_align(const mo_arena_t *a)
{
	return a->h.align;
}

static int may_grow(const mo_arena_t *a, size_t more)
{
	return !a->max_capacity || (a->capacity <= a->max_capacity &&
				    more <= a->max_capacity - a->capacity);
}

static mo__arena_blk_t *new_block(mo_arena_t *a, size_t size)
{
	mo__arena_blk_t *b;

	if (!size || !may_grow(a, size) || !(b = calloc(1, sizeof(*b))))
		return NULL;
	b->start = map(size, PROT_READ | PROT_WRITE, 0);
	if (!b->start) {
		free(b);
		return NULL;
	}
	b->size = size;
	b->mapped = 1;
	a->capacity += size;
	return b;
}

/* A request too big for the chain: a block of its own. */
static char *alloc_own(mo_arena_t *a, size_t size, size_t align)
{
	size_t need = size;
	mo__arena_blk_t *b;

	if (align > page_size() && mo_size_add(size, align - 1, &need))
		return NULL;
	b = new_block(a, round_page(need));
	if (!b)
		return NULL;
	b->next = a->own;
	a->own = b;
	a->nown++;
	a->base += b->size;
	a->last_reserved = b->size;
	return (char *)(((uintptr_t)b->start + align - 1) & ~(align - 1));
}

/* Makes a spare block that fits need, or a new one, the current block. */
static int next_block(mo_arena_t *a, size_t need)
{
	mo__arena_blk_t **pp = &a->spare, *b;

	while (*pp && (*pp)->size < need)
		pp = &(*pp)->next;
	if (*pp) {
		b = *pp;
		*pp = b->next;
	} else {
		size_t size = a->next_block;
		while (size < need && size < a->max_block)
			size *= 2;
		if (size < need)
			size = round_page(need);
		b = new_block(a, size);
		if (!b)
			return -1;
		if (a->next_block < a->max_block)
			a->next_block = size * 2 < a->max_block ? size * 2
								: a->max_block;
	}
	if (a->used)
		a->base += a->used->size; /* its tail is lost */
	b->next = a->used;
	a->used = b;
	a->h.cur = b->start;
	a->h.end = b->start + b->size;
	return 0;
}

/* RESERVE mode: commits the range up to at least upto (an offset). */
static int commit(mo_arena_t *a, size_t upto)
{
	size_t to;

	if (upto > a->reserve || mo_size_align(upto, a->commit_step, &to))
		return -1;
	if (to > a->reserve)
		to = a->reserve;
	if (!may_grow(a, to - a->committed) ||
	    mprotect(a->range + a->committed, to - a->committed,
		     PROT_READ | PROT_WRITE))
		return -1;
	a->capacity += to - a->committed;
	a->committed = to;
	a->h.end = a->range + to;
	return 0;
}

static char *bump(mo_arena_t *a, size_t size, size_t align)
{
	uintptr_t cur = (uintptr_t)a->h.cur;
	size_t pad = (size_t)(-cur) & (align - 1);
	size_t avail = (size_t)((uintptr_t)a->h.end - cur);

	if (pad > avail || size > avail - pad)
		return NULL;
	a->h.cur = (char *)cur + pad + size;
	a->last_reserved = pad + size;
	return (char *)cur + pad;
}

static char *alloc_slow(mo_arena_t *a, size_t size, size_t align)
{
	size_t need;
	char *p;

	if (!mo_is_pow2(align))
		return NULL;
	p = bump(a, size, align);
	if (p)
		return p;
	if (a->mode == MO_ARENA_RESERVE) {
		size_t off = (size_t)(a->h.cur - a->range);
		size_t pad = (size_t)(-(uintptr_t)a->h.cur) & (align - 1);
		if (pad > a->reserve - off || size > a->reserve - off - pad ||
		    commit(a, off + pad + size))
			return NULL;
		return bump(a, size, align);
	}
	if (mo_size_add(size, align - 1, &need))
		return NULL;
	if (need > a->oversize)
		return alloc_own(a, size, align);
	if (next_block(a, need))
		return NULL;
	return bump(a, size, align);
}

void *mo__arena_alloc_slow(mo_arena_t *a, size_t size, size_t align)
{
	char *p = alloc_slow(a, size, align);

	if (!p) {
		a->failures++;
		return NULL;
	}
	a->h.in_use += size;
	a->h.live++;
	MO_ALLOC_HOOK(alloc, a, p, size, a->last_reserved);
	return p;
}

void *mo_arena_alloc_array(mo_arena_t *a, size_t n, size_t size, size_t align)
{
	size_t total;

	if (mo_size_mul(n, size, &total)) {
		a->failures++;
		return NULL;
	}
	return mo_arena_alloc_aligned(a, total, align);
}

static void update_peak(mo_arena_t *a)
{
	if (a->h.in_use > a->peak)
		a->peak = a->h.in_use;
}

mo_arena_mark_t mo_arena_mark(mo_arena_t *a)
{
	mo_arena_mark_t m = {
		.arena = a,
		.blk = a->used,
		.cur = a->h.cur,
		.in_use = a->h.in_use,
		.live = a->h.live,
		.base = a->base,
		.gen = a->gen,
		.seq = ++a->seq,
		.nown = a->nown,
	};

	if (a->debug && !a->marks_lost) {
		if (a->nmarks == a->marks_cap) {
			size_t cap = a->marks_cap ? 2 * a->marks_cap : 16;
			uint64_t *n = realloc(a->marks, cap * sizeof(*n));
			if (!n) {
				a->marks_lost = 1;
				return m;
			}
			a->marks = n;
			a->marks_cap = cap;
		}
		a->marks[a->nmarks++] = m.seq;
	}
	return m;
}

static void poison(const mo_arena_t *a, char *from, char *to)
{
	if (a->debug && to > from)
		memset(from, MO_ARENA_POISON, (size_t)(to - from));
}

/* Is m a position this arena still has?  In debug mode, is it on the
 * stack of marks (the index, or -1)? */
static int mark_ok(const mo_arena_t *a, const mo_arena_mark_t *m, size_t *idx)
{
	const mo__arena_blk_t *b = a->used;

	if (m->gen != a->gen || m->nown > a->nown || m->seq > a->seq)
		return 0;
	if (a->mode == MO_ARENA_BLOCKS) {
		while (b && b != m->blk)
			b = b->next;
		if (b != m->blk || (b == a->used && m->cur > a->h.cur))
			return 0;
	} else if (m->cur > a->h.cur) {
		return 0;
	}
	if (a->debug && !a->marks_lost) {
		size_t i = a->nmarks;
		while (i > 0 && a->marks[i - 1] != m->seq)
			i--;
		if (!i)
			return 0;
		*idx = i - 1;
	}
	return 1;
}

static void drop_own(mo_arena_t *a, size_t keep)
{
	while (a->nown > keep) {
		mo__arena_blk_t *b = a->own;
		a->own = b->next;
		a->nown--;
		munmap(b->start, b->size);
		a->capacity -= b->size;
		free(b);
	}
}

/* Moves the chain back to block blk (NULL: before the first), position
 * cur, poisoning what is given back in debug mode. */
static void unwind(mo_arena_t *a, mo__arena_blk_t *blk, char *cur)
{
	if (a->mode == MO_ARENA_RESERVE) {
		poison(a, cur, a->h.cur);
		a->h.cur = cur;
		return;
	}
	while (a->used != blk) {
		mo__arena_blk_t *b = a->used;
		poison(a, b->start, a->h.cur);
		a->used = b->next;
		b->next = a->spare;
		a->spare = b;
		a->h.cur = a->used ? a->used->start + a->used->size : cur;
	}
	poison(a, cur, a->h.cur);
	a->h.cur = cur;
	a->h.end = blk ? blk->start + blk->size : mo__arena_empty;
}

void mo_arena_rewind(mo_arena_t *a, mo_arena_mark_t m)
{
	size_t idx = 0;

	if (m.arena != a) {
		mo_alloc_misuse("arena", a->name,
				"rewind to a mark of another arena");
		return;
	}
	if (!mark_ok(a, &m, &idx)) {
		mo_alloc_misuse("arena", a->name,
				"rewind to a mark that is not on the arena's "
				"stack of marks");
		return;
	}
	update_peak(a);
	drop_own(a, m.nown);
	unwind(a, m.blk, m.cur);
	a->retired += a->h.live - m.live;
	a->h.in_use = m.in_use;
	a->h.live = m.live;
	a->base = m.base;
	a->resets++;
	if (a->debug && !a->marks_lost)
		a->nmarks = idx;
	if (mo_alloc_hooks) {
		mo_alloc_stats_t st;
		mo_arena_stats(a, &st);
		MO_ALLOC_HOOK(rewind, a, st.in_use,
			      st.in_use + st.internal_frag, st.live);
	}
}

static void reset(mo_arena_t *a)
{
	update_peak(a);
	drop_own(a, 0);
	if (a->mode == MO_ARENA_RESERVE) {
		unwind(a, NULL, a->range);
	} else {
		unwind(a, NULL, mo__arena_empty);
		/* the caller's buffer, or the oldest block, is current again */
		if (a->spare) {
			mo__arena_blk_t *b = a->spare;
			a->spare = b->next;
			b->next = NULL;
			a->used = b;
			a->h.cur = b->start;
			a->h.end = b->start + b->size;
		}
	}
	a->retired += a->h.live;
	a->h.in_use = 0;
	a->h.live = 0;
	a->base = 0;
	a->gen++;
	a->nmarks = 0;
	a->marks_lost = 0;
	a->resets++;
}

void mo_arena_reset(mo_arena_t *a)
{
	reset(a);
	MO_ALLOC_HOOK(reset, a);
}

void mo_arena_release(mo_arena_t *a)
{
	mo__arena_blk_t *used;

	reset(a);
	if (a->mode == MO_ARENA_RESERVE) {
		if (a->committed && mmap(a->range, a->committed, PROT_NONE,
					 MAP_PRIVATE | MAP_ANONYMOUS |
						 MAP_FIXED | MAP_NORESERVE,
					 -1, 0) != MAP_FAILED) {
			a->capacity -= a->committed;
			a->committed = 0;
			a->h.end = a->range;
		}
	} else {
		used = a->used;
		a->used = NULL;
		free_list(a, used, 1);
		used = a->spare;
		a->spare = NULL;
		free_list(a, used, 1);
		a->next_block = a->block_size;
		a->h.cur = a->h.end = mo__arena_empty;
		if (a->spare) { /* the caller's buffer */
			used = a->spare;
			a->spare = NULL;
			a->used = used;
			a->h.cur = used->start;
			a->h.end = used->start + used->size;
		}
	}
	MO_ALLOC_HOOK(reset, a);
}

void mo_arena_stats(const mo_arena_t *a, mo_alloc_stats_t *st)
{
	uint64_t consumed;

	if (a->mode == MO_ARENA_RESERVE)
		consumed = (uint64_t)(a->h.cur - a->range);
	else
		consumed =
			a->base +
			(a->used ? (uint64_t)(a->h.cur - a->used->start) : 0);
	memset(st, 0, sizeof(*st));
	st->in_use = a->h.in_use;
	st->peak = a->peak > a->h.in_use ? a->peak : a->h.in_use;
	st->capacity = a->capacity;
	st->internal_frag = consumed - a->h.in_use;
	st->live = a->h.live;
	st->allocs = a->retired + a->h.live;
	st->failures = a->failures;
	st->resets = a->resets;
}
