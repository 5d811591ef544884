/*
 * Trace analysis; see analysis.h for the counting rules.
 *
 * Per process image (stream) the analysis keeps a heap state: the live
 * blocks (address -> size, site), the blocks inside a realloc, and one
 * site per distinct stack with its counters.  Blocks inside a realloc stay
 * counted as live (the block really is allocated until realloc returns).
 *
 * Exact per-site figures at the peak in O(1) per event: every heap event
 * advances the heap clock; a site remembers when it last changed and, the
 * first time it changes after the current peak was set, saves its figures
 * (they are still those at the peak).  The peak is checked once at the end
 * of each event, after all its changes.
 */
#include "analysis.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addrmap.h"

#define MO__SYM_UNSET (-0x7fffffff - 1)
#define MO__NO_STACK UINT32_MAX
#define MO__CHUNK_FRAMES 16384u
#define MO__MAX_SNAPSHOTS 32u

typedef struct mo__site {
	uint32_t stack;
	uint64_t allocations, bytes, temporary;
	uint64_t live_bytes, live_blocks;
	uint64_t saved_bytes, saved_blocks; /* at the peak, once changed */
	uint64_t last_change;		    /* heap clock of the last change */
} mo__site_t;

typedef struct mo__heap {
	mo_addrmap_t live;    /* address -> size, site */
	mo_addrmap_t pending; /* inside realloc: address -> size, site */
	mo_addrmap_t site_of; /* global stack index -> site (aux) */
	mo__site_t *sites;
	uint32_t nsites;
	size_t sites_cap;
	uint64_t allocations, frees, bytes_allocated, temporary;
	uint64_t live_bytes, live_blocks;
	uint64_t peak_heap, peak_time_ns;
	uint64_t clock;	     /* heap events so far */
	uint64_t peak_epoch; /* clock when the current peak was set */
	uint64_t last_alloc_ptr;
} mo__heap_t;

typedef struct mo__module {
	uint64_t start, end, bias;
	const char *path;
	const uint8_t *build_id;
	size_t path_len, build_id_len;
	int sym; /* symbolizer index, MO__SYM_UNSET until first needed */
} mo__module_t;

typedef struct mo__proc {
	mo_proc_t pub;
	mo__heap_t heap;
	mo_addrmap_t stack_ids; /* stream-local stack id -> site (aux) */
	mo__module_t *mods;	/* sorted by start */
	uint32_t nmods;
	char *mod_strings; /* storage of the modules' paths and build-ids */
	uint64_t now_ns;
	uint64_t last_id; /* cache of the last stack_ids lookup */
	uint32_t last_site;
	int last_valid;
	int started;	   /* MO_REC_PROC_START seen */
	mo_loss_t *losses; /* from the last valid MO_REC_LEAKS */
	size_t nlosses;
	mo_pools_t pools; /* memopt's own allocators (MO_REC_POOL_*) */
} mo__proc_t;

typedef struct mo__stack {
	const mo_rawframe_t *frames;
	uint32_t n;
	uint64_t hash;
} mo__stack_t;

typedef struct mo__chunk {
	struct mo__chunk *next;
	size_t used, cap;
	mo_rawframe_t frames[];
} mo__chunk_t;

typedef struct mo__snapshot {
	uint32_t pid;
	mo__heap_t heap;
} mo__snapshot_t;

struct mo_an {
	mo_sym_t *sym;
	mo__proc_t **procs;
	size_t nprocs, procs_cap;
	mo_addrmap_t streams; /* stream id -> index into procs (aux) */
	mo__proc_t *last_proc;
	uint32_t last_stream;

	mo__stack_t *stacks; /* analysis-wide, deduplicated */
	uint32_t nstacks;
	size_t stacks_cap;
	uint32_t *stack_tab; /* content hash table: stack index + 1, 0 empty */
	size_t stack_tab_mask;
	mo__chunk_t *chunks; /* frame storage; never moves */
	uint32_t unknown_stack;
	mo_rawframe_t *scratch;
	size_t scratch_cap;

	mo__snapshot_t snaps[MO__MAX_SNAPSHOTS]; /* oldest first */
	uint32_t nsnaps;
};

/* --- growable arrays ------------------------------------------------- */

/* Returns array p (of *cap elements of elem bytes) with room for need
 * elements: p itself, or a larger copy (*cap updated, p freed); NULL when
 * memory runs out (p and *cap unchanged). */
static void *mo__grow(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 8;
	void *q;

	if (need <= *cap)
		return p;
	while (n < need) {
		if (n > SIZE_MAX / 2 / elem)
			return NULL;
		n *= 2;
	}
	q = realloc(p, n * elem);
	if (q)
		*cap = n;
	return q;
}

/* --- heap state -------------------------------------------------------- */

static void mo__heap_init(mo__heap_t *h)
{
	memset(h, 0, sizeof(*h));
	mo_addrmap_init(&h->live);
	mo_addrmap_init(&h->pending);
	mo_addrmap_init(&h->site_of);
}

static void mo__heap_free(mo__heap_t *h)
{
	mo_addrmap_free(&h->live);
	mo_addrmap_free(&h->pending);
	mo_addrmap_free(&h->site_of);
	free(h->sites);
	mo__heap_init(h);
}

static int mo__heap_copy(mo__heap_t *dst, const mo__heap_t *src)
{
	*dst = *src;
	mo_addrmap_init(&dst->live);
	mo_addrmap_init(&dst->pending);
	mo_addrmap_init(&dst->site_of);
	dst->sites = NULL;
	if (src->nsites) {
		dst->sites = malloc(src->nsites * sizeof(*src->sites));
		if (!dst->sites)
			goto fail;
		memcpy(dst->sites, src->sites,
		       src->nsites * sizeof(*src->sites));
	}
	dst->sites_cap = src->nsites;
	if (mo_addrmap_copy(&dst->live, &src->live) < 0 ||
	    mo_addrmap_copy(&dst->pending, &src->pending) < 0 ||
	    mo_addrmap_copy(&dst->site_of, &src->site_of) < 0)
		goto fail;
	return 0;
fail:
	mo__heap_free(dst);
	return -ENOMEM;
}

/* The site of global stack `stack` in h, created on first use. */
static int mo__heap_site(mo__heap_t *h, uint32_t stack, uint32_t *out)
{
	mo_addrmap_entry_t *e = mo_addrmap_get(&h->site_of, stack);
	mo__site_t *s;

	if (e) {
		*out = e->aux;
		return 0;
	}
	if (h->nsites == UINT32_MAX)
		return -ENOMEM;
	s = mo__grow(h->sites, &h->sites_cap, (size_t)h->nsites + 1,
		     sizeof(*s));
	if (!s)
		return -ENOMEM;
	h->sites = s;
	if (mo_addrmap_put(&h->site_of, stack, 0, h->nsites, NULL) < 0)
		return -ENOMEM;
	s = &h->sites[h->nsites];
	memset(s, 0, sizeof(*s));
	s->stack = stack;
	*out = h->nsites++;
	return 0;
}

/* Called before a site's live figures change: the first change after the
 * peak saves the figures the site had at the peak. */
static inline mo__site_t *mo__touch(mo__heap_t *h, uint32_t site)
{
	mo__site_t *s = &h->sites[site];

	if (s->last_change <= h->peak_epoch) {
		s->saved_bytes = s->live_bytes;
		s->saved_blocks = s->live_blocks;
	}
	s->last_change = h->clock;
	return s;
}

static inline void mo__release(mo__heap_t *h, uint64_t size, uint32_t site)
{
	mo__site_t *s = mo__touch(h, site);

	s->live_bytes -= size;
	s->live_blocks--;
	h->live_bytes -= size;
	h->live_blocks--;
}

/* A counted free of a known block (FREE, or the old block of REALLOC). */
static inline void mo__free_block(mo__heap_t *h, uint64_t ptr, uint64_t size,
				  uint32_t site)
{
	if (ptr == h->last_alloc_ptr) {
		h->temporary++;
		h->sites[site].temporary++;
	}
	h->frees++;
	mo__release(h, size, site);
}

/* Makes ptr live; an address already live is dropped uncounted first. */
static inline int mo__alloc_block(mo__proc_t *p, uint64_t ptr, uint64_t size,
				  uint32_t site)
{
	mo__heap_t *h = &p->heap;
	mo_addrmap_entry_t old;
	mo__site_t *s;
	int r = mo_addrmap_put(&h->live, ptr, size, site, &old);

	if (r < 0)
		return r;
	if (r == 1) {
		p->pub.double_allocs++;
		mo__release(h, old.size, old.aux);
	}
	s = mo__touch(h, site);
	s->allocations++;
	s->bytes += size;
	s->live_bytes += size;
	s->live_blocks++;
	h->allocations++;
	h->bytes_allocated += size;
	h->live_bytes += size;
	h->live_blocks++;
	h->last_alloc_ptr = ptr;
	return 0;
}

static inline void mo__check_peak(mo__proc_t *p)
{
	mo__heap_t *h = &p->heap;

	if (h->live_bytes > h->peak_heap) {
		h->peak_heap = h->live_bytes;
		h->peak_time_ns = p->now_ns;
		h->peak_epoch = h->clock;
	}
}

static inline uint64_t mo__site_peak_bytes(const mo__heap_t *h,
					   const mo__site_t *s)
{
	return s->last_change <= h->peak_epoch ? s->live_bytes : s->saved_bytes;
}

static inline uint64_t mo__site_peak_blocks(const mo__heap_t *h,
					    const mo__site_t *s)
{
	return s->last_change <= h->peak_epoch ? s->live_blocks
					       : s->saved_blocks;
}

/* --- stacks ------------------------------------------------------------ */

static uint64_t mo__hash_frames(const mo_rawframe_t *f, uint32_t n)
{
	uint64_t h = 0x243f6a8885a308d3ull ^ n;

	for (uint32_t i = 0; i < n; i++) {
		h = (h ^ (uint64_t)(uint32_t)f[i].module) *
		    0x9e3779b97f4a7c15ull;
		h = (h ^ f[i].vaddr) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return h;
}

static int mo__same_frames(const mo__stack_t *s, const mo_rawframe_t *f,
			   uint32_t n)
{
	if (s->n != n)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (s->frames[i].module != f[i].module ||
		    s->frames[i].vaddr != f[i].vaddr)
			return 0;
	return 1;
}

static const mo_rawframe_t *mo__store_frames(mo_an_t *an,
					     const mo_rawframe_t *f, uint32_t n)
{
	mo__chunk_t *c = an->chunks;
	mo_rawframe_t *dst;

	if (n == 0)
		return NULL;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > MO__CHUNK_FRAMES ? n : MO__CHUNK_FRAMES;
		c = malloc(sizeof(*c) + cap * sizeof(c->frames[0]));
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		/* A big dedicated chunk goes behind the current one, which
		 * may still have room. */
		if (n > MO__CHUNK_FRAMES && an->chunks) {
			c->next = an->chunks->next;
			an->chunks->next = c;
		} else {
			c->next = an->chunks;
			an->chunks = c;
		}
	}
	dst = c->frames + c->used;
	c->used += n;
	memcpy(dst, f, n * sizeof(*f));
	return dst;
}

static int mo__grow_stack_tab(mo_an_t *an)
{
	size_t nslots = an->stack_tab ? 2 * (an->stack_tab_mask + 1) : 1024;
	uint32_t *t = calloc(nslots, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (uint32_t k = 0; k < an->nstacks; k++) {
		size_t i = an->stacks[k].hash & (nslots - 1);
		while (t[i])
			i = (i + 1) & (nslots - 1);
		t[i] = k + 1;
	}
	free(an->stack_tab);
	an->stack_tab = t;
	an->stack_tab_mask = nslots - 1;
	return 0;
}

/* Returns the analysis-wide index of the stack with these frames. */
static int mo__intern_stack(mo_an_t *an, const mo_rawframe_t *f, uint32_t n,
			    uint32_t *out)
{
	uint64_t hash = mo__hash_frames(f, n);
	size_t i;
	mo__stack_t *s;

	if (!an->stack_tab || (size_t)an->nstacks * 2 >= an->stack_tab_mask) {
		if (mo__grow_stack_tab(an) < 0)
			return -ENOMEM;
	}
	for (i = hash & an->stack_tab_mask; an->stack_tab[i];
	     i = (i + 1) & an->stack_tab_mask) {
		s = &an->stacks[an->stack_tab[i] - 1];
		if (s->hash == hash && mo__same_frames(s, f, n)) {
			*out = an->stack_tab[i] - 1;
			return 0;
		}
	}
	if (an->nstacks >= UINT32_MAX - 1)
		return -ENOMEM;
	s = mo__grow(an->stacks, &an->stacks_cap, (size_t)an->nstacks + 1,
		     sizeof(*s));
	if (!s)
		return -ENOMEM;
	an->stacks = s;
	s = &an->stacks[an->nstacks];
	s->frames = mo__store_frames(an, f, n);
	if (n && !s->frames)
		return -ENOMEM;
	s->n = n;
	s->hash = hash;
	an->stack_tab[i] = an->nstacks + 1;
	*out = an->nstacks++;
	return 0;
}

/* The site of process p for allocations whose stack id is unknown. */
static int mo__unknown_site(mo_an_t *an, mo__proc_t *p, uint32_t *site)
{
	int r;

	if (an->unknown_stack == MO__NO_STACK) {
		r = mo__intern_stack(an, NULL, 0, &an->unknown_stack);
		if (r < 0)
			return r;
	}
	return mo__heap_site(&p->heap, an->unknown_stack, site);
}

static inline int mo__site_of_id(mo_an_t *an, mo__proc_t *p, uint64_t id,
				 uint32_t *site)
{
	const mo_addrmap_entry_t *e;

	if (p->last_valid && p->last_id == id) { /* loops repeat stacks */
		*site = p->last_site;
		return 0;
	}
	e = mo_addrmap_get(&p->stack_ids, id);
	if (e) {
		p->last_id = id;
		p->last_site = e->aux;
		p->last_valid = 1;
		*site = e->aux;
		return 0;
	}
	p->pub.unknown_stacks++;
	return mo__unknown_site(an, p, site);
}

/* --- module maps ------------------------------------------------------- */

static int mo__cmp_module(const void *a, const void *b)
{
	const mo__module_t *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int mo__set_modmap(mo__proc_t *p, uint32_t n,
			  const mo_module_rec_t *recs)
{
	mo__module_t *mods = NULL;
	char *strs = NULL, *q;
	size_t len = 0;

	for (uint32_t i = 0; i < n; i++)
		len += recs[i].path.len + 1 + recs[i].build_id.len;
	if (n) {
		mods = calloc(n, sizeof(*mods));
		strs = malloc(len ? len : 1);
		if (!mods || !strs) {
			free(mods);
			free(strs);
			return -ENOMEM;
		}
	}
	q = strs;
	for (uint32_t i = 0; i < n; i++) {
		mo__module_t *m = &mods[i];
		m->start = recs[i].start;
		m->end = recs[i].end;
		m->bias = recs[i].bias;
		m->sym = MO__SYM_UNSET;
		m->path = q;
		m->path_len = recs[i].path.len;
		if (m->path_len) /* ptr may be NULL when empty */
			memcpy(q, recs[i].path.ptr, m->path_len);
		q += m->path_len;
		*q++ = '\0';
		m->build_id = (const uint8_t *)q;
		m->build_id_len = recs[i].build_id.len;
		if (m->build_id_len)
			memcpy(q, recs[i].build_id.ptr, m->build_id_len);
		q += m->build_id_len;
	}
	if (n > 1)
		qsort(mods, n, sizeof(*mods), mo__cmp_module);
	free(p->mods);
	free(p->mod_strings);
	p->mods = mods;
	p->mod_strings = strs;
	p->nmods = n;
	return 0;
}

/* The module containing ip, or NULL. */
static mo__module_t *mo__find_module(mo__proc_t *p, uint64_t ip)
{
	uint32_t lo = 0, hi = p->nmods;

	while (lo < hi) { /* first module with start > ip */
		uint32_t mid = lo + (hi - lo) / 2;
		if (p->mods[mid].start <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || ip >= p->mods[lo - 1].end)
		return NULL;
	return &p->mods[lo - 1];
}

static int mo__convert_ip(mo_an_t *an, mo__proc_t *p, uint64_t ip,
			  mo_rawframe_t *f)
{
	mo__module_t *m = mo__find_module(p, ip);

	f->address = ip;
	if (!m) {
		f->module = -1;
		f->vaddr = ip;
		return 0;
	}
	if (m->sym == MO__SYM_UNSET) {
		int r = mo_sym_module(an->sym, m->path, m->path_len,
				      m->build_id, m->build_id_len);
		if (r < 0)
			return r;
		m->sym = r;
	}
	f->module = m->sym;
	f->vaddr = ip - m->bias;
	return 0;
}

static int mo__on_stack(mo_an_t *an, mo__proc_t *p, const mo_event_t *ev)
{
	uint32_t n = ev->u.stack.n, global, site;
	mo_rawframe_t *f;
	int r;

	f = mo__grow(an->scratch, &an->scratch_cap, n ? n : 1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	an->scratch = f;
	for (uint32_t i = 0; i < n; i++) {
		r = mo__convert_ip(an, p, ev->u.stack.ips[i], &an->scratch[i]);
		if (r < 0)
			return r;
	}
	r = mo__intern_stack(an, an->scratch, n, &global);
	if (r < 0)
		return r;
	r = mo__heap_site(&p->heap, global, &site);
	if (r < 0)
		return r;
	r = mo_addrmap_put(&p->stack_ids, ev->u.stack.id, 0, site, NULL);
	p->last_valid = 0;
	return r < 0 ? r : 0;
}

/* --- processes ----------------------------------------------------------- */

static void mo__proc_free(mo__proc_t *p)
{
	if (!p)
		return;
	free(p->pub.exe);
	for (uint32_t i = 0; i < p->pub.argc; i++)
		free(p->pub.argv[i]);
	free(p->pub.argv);
	mo__heap_free(&p->heap);
	mo_addrmap_free(&p->stack_ids);
	mo_pools_free(&p->pools);
	free(p->mods);
	free(p->mod_strings);
	free(p->losses);
	free(p);
}

/* A stream's stack id as an analysis-wide stack index (for the call
 * sites of memopt's own allocators). */
static int mo__pool_stack(void *ctx, uint64_t id, uint32_t *stack)
{
	mo__proc_t *p = ctx;
	const mo_addrmap_entry_t *e = mo_addrmap_get(&p->stack_ids, id);
	if (!e || e->aux >= p->heap.nsites)
		return -1;
	*stack = p->heap.sites[e->aux].stack;
	return 0;
}

static mo__proc_t *mo__proc_new(uint32_t stream)
{
	mo__proc_t *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->pub.stream = stream;
	p->pub.exit_kind = MO_EXIT_UNKNOWN;
	mo__heap_init(&p->heap);
	mo_addrmap_init(&p->stack_ids);
	mo_pools_init(&p->pools);
	mo_pools_set_stacks(&p->pools, mo__pool_stack, p);
	return p;
}

static mo__proc_t *mo__proc_of(mo_an_t *an, uint32_t stream)
{
	const mo_addrmap_entry_t *e;
	mo__proc_t *p;

	if (an->last_proc && an->last_stream == stream)
		return an->last_proc;
	e = mo_addrmap_get(&an->streams, stream);
	if (e) {
		p = an->procs[e->aux];
	} else {
		mo__proc_t **procs;

		if (an->nprocs >= UINT32_MAX)
			return NULL;
		procs = mo__grow(an->procs, &an->procs_cap, an->nprocs + 1,
				 sizeof(*procs));
		if (!procs)
			return NULL;
		an->procs = procs;
		p = mo__proc_new(stream);
		if (!p)
			return NULL;
		if (mo_addrmap_put(&an->streams, stream, 0,
				   (uint32_t)an->nprocs, NULL) < 0) {
			mo__proc_free(p);
			return NULL;
		}
		an->procs[an->nprocs++] = p;
	}
	an->last_proc = p;
	an->last_stream = stream;
	return p;
}

static char *mo__strdup(mo_str_t s)
{
	char *c = malloc(s.len + 1);

	if (c) {
		if (s.len)
			memcpy(c, s.ptr, s.len);
		c[s.len] = '\0';
	}
	return c;
}

/* --- fork snapshots ------------------------------------------------------ */

static mo__snapshot_t *mo__find_snapshot(mo_an_t *an, uint32_t pid)
{
	for (uint32_t i = an->nsnaps; i-- > 0;)
		if (an->snaps[i].pid == pid)
			return &an->snaps[i];
	return NULL;
}

/* Removes a snapshot; its heap must have been freed or moved out. */
static void mo__remove_snapshot(mo_an_t *an, mo__snapshot_t *s)
{
	size_t i = (size_t)(s - an->snaps);

	memmove(s, s + 1, (an->nsnaps - i - 1) * sizeof(*s));
	an->nsnaps--;
}

static void mo__drop_snapshot(mo_an_t *an, mo__snapshot_t *s)
{
	mo__heap_free(&s->heap);
	mo__remove_snapshot(an, s);
}

static int mo__heap_untouched(const mo__proc_t *p)
{
	return p->heap.clock == 0 && p->heap.nsites == 0 &&
	       mo_addrmap_count(&p->stack_ids) == 0;
}

/* The child starts with (takes) its parent's heap h, as under fork(). */
static void mo__adopt(mo__proc_t *child, mo__heap_t *h)
{
	mo__heap_free(&child->heap);
	child->heap = *h;
	child->heap.peak_time_ns = 0; /* reached before this image began */
}

/* A running child of p with pid `pid` whose stream already started (its
 * records came before p's FORK record), or NULL. */
static mo__proc_t *mo__started_child(mo_an_t *an, const mo__proc_t *p,
				     uint32_t pid)
{
	for (size_t i = an->nprocs; i-- > 0;) {
		mo__proc_t *c = an->procs[i];
		if (c->started && c->pub.pid == pid && c->pub.forked &&
		    c->pub.ppid == p->pub.pid && !c->pub.ended)
			return c;
	}
	return NULL;
}

static int mo__on_fork(mo_an_t *an, mo__proc_t *p, uint32_t child)
{
	mo__proc_t *c = mo__started_child(an, p, child);
	mo__snapshot_t *s;
	mo__heap_t h;

	if (c) { /* adopt now if the child did nothing yet, else too late */
		if (!mo__heap_untouched(c))
			return 0;
		if (mo__heap_copy(&h, &p->heap) < 0)
			return -ENOMEM;
		mo__adopt(c, &h);
		return 0;
	}
	s = mo__find_snapshot(an, child);
	if (s)
		mo__drop_snapshot(an, s);
	if (an->nsnaps == MO__MAX_SNAPSHOTS) /* children never seen */
		mo__drop_snapshot(an, &an->snaps[0]);
	s = &an->snaps[an->nsnaps];
	s->pid = child;
	if (mo__heap_copy(&s->heap, &p->heap) < 0)
		return -ENOMEM;
	an->nsnaps++;
	return 0;
}

static int mo__on_start(mo_an_t *an, mo__proc_t *p, const mo_event_t *ev)
{
	char *exe = mo__strdup(ev->u.start.exe);
	char **argv =
		calloc(ev->u.start.argc ? ev->u.start.argc : 1, sizeof(*argv));
	mo__snapshot_t *s;

	if (!exe || !argv)
		goto nomem;
	for (uint32_t i = 0; i < ev->u.start.argc; i++) {
		argv[i] = mo__strdup(ev->u.start.argv[i]);
		if (!argv[i])
			goto nomem;
	}
	free(p->pub.exe);
	for (uint32_t i = 0; i < p->pub.argc; i++)
		free(p->pub.argv[i]);
	free(p->pub.argv);
	p->pub.exe = exe;
	p->pub.argv = argv;
	p->pub.argc = ev->u.start.argc;
	p->pub.pid = ev->u.start.pid;
	p->pub.ppid = ev->u.start.ppid;
	p->pub.forked = (ev->u.start.flags & MO_PROC_FORKED) != 0;
	p->pub.start_realtime_ns = ev->u.start.realtime_ns;
	p->started = 1;

	s = mo__find_snapshot(an, p->pub.pid);
	if (s && p->pub.forked && mo__heap_untouched(p)) {
		mo__adopt(p, &s->heap);
		mo__remove_snapshot(an, s);
	} else if (s && !p->pub.forked) {
		mo__drop_snapshot(an, s); /* that child exec'd unseen */
	}
	return 0;
nomem:
	free(exe);
	if (argv)
		for (uint32_t i = 0; i < ev->u.start.argc; i++)
			free(argv[i]);
	free(argv);
	return -ENOMEM;
}

/* --- heap events ------------------------------------------------------- */

static int mo__on_alloc(mo_an_t *an, mo__proc_t *p, const mo_event_t *ev)
{
	uint32_t site;
	int r = mo__site_of_id(an, p, ev->u.alloc.stack, &site);

	if (r < 0)
		return r;
	p->heap.clock++;
	r = mo__alloc_block(p, ev->u.alloc.ptr, ev->u.alloc.size, site);
	if (r < 0)
		return r;
	mo__check_peak(p);
	return 0;
}

static void mo__on_free(mo__proc_t *p, uint64_t ptr)
{
	mo__heap_t *h = &p->heap;
	mo_addrmap_entry_t e;

	h->clock++;
	if (mo_addrmap_take(&h->live, ptr, &e))
		mo__free_block(h, ptr, e.size, e.aux);
	else
		p->pub.unmatched_frees++;
	h->last_alloc_ptr = 0;
}

/* A block whose address was handed out again without a free: the trace
 * lost events.  Counted like an allocation over a live address. */
static void mo__on_drop(mo__proc_t *p, uint64_t ptr)
{
	mo__heap_t *h = &p->heap;
	mo_addrmap_entry_t e;

	if (mo_addrmap_take(&h->live, ptr, &e)) {
		p->pub.double_allocs++;
		mo__release(h, e.size, e.aux);
	}
}

static int mo__on_realloc_pre(mo__proc_t *p, uint64_t ptr)
{
	mo__heap_t *h = &p->heap;
	mo_addrmap_entry_t e, old;
	int r;

	h->clock++;
	if (!mo_addrmap_take(&h->live, ptr, &e))
		return 0;
	r = mo_addrmap_put(&h->pending, ptr, e.size, e.aux, &old);
	if (r < 0) {
		mo_addrmap_put(&h->live, ptr, e.size, e.aux, NULL); /* fits */
		return r;
	}
	if (r == 1) { /* an earlier realloc of ptr never settled */
		p->pub.double_allocs++;
		mo__release(h, old.size, old.aux);
	}
	return 0;
}

static int mo__on_realloc(mo_an_t *an, mo__proc_t *p, const mo_event_t *ev)
{
	mo__heap_t *h = &p->heap;
	uint64_t old = ev->u.realloc.old_ptr, new_ptr = ev->u.realloc.new_ptr;
	mo_addrmap_entry_t e;
	uint32_t site = 0;
	int r;

	if (new_ptr) {
		r = mo__site_of_id(an, p, ev->u.realloc.stack, &site);
		if (r < 0)
			return r;
	}
	h->clock++;
	if (old) {
		if (mo_addrmap_take(&h->pending, old, &e) ||
		    mo_addrmap_take(&h->live, old, &e))
			mo__free_block(h, old, e.size, e.aux);
		else
			p->pub.unmatched_frees++;
		h->last_alloc_ptr = 0;
	}
	if (new_ptr) {
		r = mo__alloc_block(p, new_ptr, ev->u.realloc.size, site);
		if (r < 0)
			return r;
		mo__check_peak(p);
	}
	return 0;
}

static int mo__on_realloc_fail(mo__proc_t *p, uint64_t ptr)
{
	mo__heap_t *h = &p->heap;
	mo_addrmap_entry_t e, old;
	int r;

	h->clock++;
	if (!mo_addrmap_take(&h->pending, ptr, &e))
		return 0;
	r = mo_addrmap_put(&h->live, ptr, e.size, e.aux, &old);
	if (r < 0) {
		mo_addrmap_put(&h->pending, ptr, e.size, e.aux, NULL);
		return r;
	}
	if (r == 1) {
		p->pub.double_allocs++;
		mo__release(h, old.size, old.aux);
	}
	return 0;
}

/* --- leak scan results -------------------------------------------------- */

/* Reads an unsigned LEB128 varint of at most 10 bytes that fits in 64
 * bits; returns 0 if it is truncated or too long. */
static int mo__get_uv(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;

	for (unsigned shift = 0; p < end && shift < 70; shift += 7) {
		uint8_t b = *p++;
		if (shift == 63 && b > 1)
			return 0;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*pp = p;
			*out = v;
			return 1;
		}
	}
	return 0;
}

/* Checks a MO_REC_LEAKS payload: the header fields, then n strictly
 * increasing block numbers >= 1 with kinds 1..3, and nothing after them.
 * Returns 1 with the header and the start of the list, or 0. */
static int mo__check_leaks(const uint8_t *p, const uint8_t *end,
			   uint64_t hdr[4], const uint8_t **list)
{
	uint64_t block = 0, d, kind;

	for (int i = 0; i < 4; i++)
		if (!mo__get_uv(&p, end, &hdr[i]))
			return 0;
	if (hdr[3] > (uint64_t)(end - p) / 2) /* >= 2 bytes per block */
		return 0;
	*list = p;
	for (uint64_t i = 0; i < hdr[3]; i++) {
		if (!mo__get_uv(&p, end, &d) || !mo__get_uv(&p, end, &kind))
			return 0;
		if (d == 0 || block + d < block || kind < MO_LEAK_POSSIBLE ||
		    kind > MO_LEAK_DEFINITE)
			return 0;
		block += d;
	}
	return p == end;
}

/* The loss record of (site, kind) in *recs, created empty on first use;
 * idx maps site * 4 + kind to its index.  Returns NULL on ENOMEM. */
static mo_loss_t *mo__loss(mo_addrmap_t *idx, mo_loss_t **recs, size_t *n,
			   size_t *cap, const mo__heap_t *h, uint32_t site,
			   int kind)
{
	uint64_t key = (uint64_t)site * 4 + (uint64_t)kind;
	const mo_addrmap_entry_t *e = mo_addrmap_get(idx, key);
	mo_loss_t *r;

	if (e)
		return &(*recs)[e->aux];
	if (*n >= UINT32_MAX)
		return NULL;
	r = mo__grow(*recs, cap, *n + 1, sizeof(*r));
	if (!r)
		return NULL;
	*recs = r;
	if (mo_addrmap_put(idx, key, 0, (uint32_t)*n, NULL) < 0)
		return NULL;
	r = &(*recs)[(*n)++];
	r->stack = h->sites[site].stack;
	r->kind = kind;
	r->bytes = r->blocks = 0;
	return r;
}

static int mo__cmp_loss(const void *a, const void *b)
{
	const mo_loss_t *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->blocks != y->blocks)
		return x->blocks > y->blocks ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind > y->kind ? -1 : 1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* MO_REC_LEAKS: every block live now is classified, the listed ones with
 * their kind, all others still reachable.  A malformed record is counted
 * and ignored (an earlier valid one stays). */
static int mo__on_leaks(mo__proc_t *p, const mo_event_t *ev)
{
	const uint8_t *q, *end = ev->u.ext.data + ev->u.ext.len;
	const mo__heap_t *h = &p->heap;
	mo_addrmap_t idx;
	mo_loss_t *recs = NULL, *r;
	size_t n = 0, cap = 0, kept = 0;
	uint64_t hdr[4], block = 0, d, kind, unknown = 0;
	int ret = -ENOMEM;

	if (!ev->u.ext.data || !mo__check_leaks(ev->u.ext.data, end, hdr, &q)) {
		p->pub.leak_bad_records++;
		return 0;
	}
	mo_addrmap_init(&idx);
	/* Start from the sites' live figures, all still reachable. */
	for (uint32_t s = 0; s < h->nsites; s++) {
		if (!h->sites[s].live_blocks)
			continue;
		r = mo__loss(&idx, &recs, &n, &cap, h, s, MO_LEAK_REACHABLE);
		if (!r)
			goto out;
		r->bytes = h->sites[s].live_bytes;
		r->blocks = h->sites[s].live_blocks;
	}
	for (uint64_t i = 0; i < hdr[3]; i++) {
		const mo_addrmap_entry_t *e;
		mo_loss_t *from;
		uint64_t size;
		uint32_t site;

		mo__get_uv(&q, end, &d); /* checked above */
		mo__get_uv(&q, end, &kind);
		block += d;
		e = mo_addrmap_get(&h->live, block);
		if (!e)
			e = mo_addrmap_get(&h->pending, block);
		if (!e) {
			unknown++;
			continue;
		}
		size = e->size;
		site = e->aux;
		r = mo__loss(&idx, &recs, &n, &cap, h, site, (int)kind);
		if (!r)
			goto out;
		from = mo__loss(&idx, &recs, &n, &cap, h, site,
				MO_LEAK_REACHABLE);
		if (!from)
			goto out;
		r = &recs[mo_addrmap_get(&idx, (uint64_t)site * 4 + kind)->aux];
		from->bytes -= size;
		from->blocks--;
		r->bytes += size;
		r->blocks++;
	}
	for (size_t i = 0; i < n; i++)
		if (recs[i].blocks)
			recs[kept++] = recs[i];
	if (kept > 1)
		qsort(recs, kept, sizeof(*recs), mo__cmp_loss);
	free(p->losses);
	p->losses = recs;
	p->nlosses = kept;
	recs = NULL;
	p->pub.has_leaks = 1;
	p->pub.leak_flags = hdr[0];
	p->pub.leak_threads = hdr[1];
	p->pub.leak_scanned = hdr[2];
	p->pub.leak_unknown_blocks = unknown;
	ret = 0;
out:
	free(recs);
	mo_addrmap_free(&idx);
	return ret;
}

/* --- public API ---------------------------------------------------------- */

mo_an_t *mo_an_new(mo_sym_t *sym)
{
	mo_an_t *an = calloc(1, sizeof(*an));

	if (!an)
		return NULL;
	an->sym = sym;
	an->unknown_stack = MO__NO_STACK;
	mo_addrmap_init(&an->streams);
	return an;
}

void mo_an_free(mo_an_t *an)
{
	if (!an)
		return;
	for (size_t i = 0; i < an->nprocs; i++)
		mo__proc_free(an->procs[i]);
	free(an->procs);
	mo_addrmap_free(&an->streams);
	for (uint32_t i = 0; i < an->nsnaps; i++)
		mo__heap_free(&an->snaps[i].heap);
	while (an->chunks) {
		mo__chunk_t *next = an->chunks->next;
		free(an->chunks);
		an->chunks = next;
	}
	free(an->stacks);
	free(an->stack_tab);
	free(an->scratch);
	free(an);
}

int mo_an_feed(mo_an_t *an, const mo_event_t *ev)
{
	mo__proc_t *p = mo__proc_of(an, ev->stream);

	if (!p)
		return -ENOMEM;
	switch (ev->type) {
	case MO_REC_ALLOC:
		return mo__on_alloc(an, p, ev);
	case MO_REC_FREE:
		mo__on_free(p, ev->u.free.ptr);
		return 0;
	case MO_REC_REALLOC_PRE:
		return mo__on_realloc_pre(p, ev->u.free.ptr);
	case MO_REC_REALLOC:
		return mo__on_realloc(an, p, ev);
	case MO_REC_BDROP:
		mo__on_drop(p, ev->u.free.ptr);
		return 0;
	case MO_REC_REALLOC_FAIL:
		return mo__on_realloc_fail(p, ev->u.free.ptr);
	case MO_REC_STACK:
		return mo__on_stack(an, p, ev);
	case MO_REC_TICK:
		p->now_ns = ev->u.tick.ns;
		if (p->now_ns > p->pub.runtime_ns)
			p->pub.runtime_ns = p->now_ns;
		return 0;
	case MO_REC_MODMAP:
		return mo__set_modmap(p, ev->u.modmap.n, ev->u.modmap.mods);
	case MO_REC_PROC_START:
		return mo__on_start(an, p, ev);
	case MO_REC_FORK:
		return mo__on_fork(an, p, ev->u.fork.pid);
	case MO_REC_EXIT:
		p->pub.exit_kind = (int)ev->u.exit.kind;
		p->pub.exit_value = ev->u.exit.value;
		return 0;
	case MO_REC_RSS:
		if (ev->u.rss.rss > p->pub.peak_rss)
			p->pub.peak_rss = ev->u.rss.rss;
		if (ev->u.rss.hwm > p->pub.peak_rss)
			p->pub.peak_rss = ev->u.rss.hwm;
		return 0;
	case MO_REC_LOST:
		p->pub.lost_bytes += ev->u.lost.bytes;
		return 0;
	case MO_REC_END:
		p->pub.ended = 1;
		return 0;
	case MO_REC_LEAKS:
		return mo__on_leaks(p, ev);
	default: /* other extension records and unknown kinds */
		if (mo_pools_is_record(ev->type))
			return mo_pools_feed(&p->pools, ev);
		return 0;
	}
}

void mo_an_finish(mo_an_t *an)
{
	for (size_t i = 0; i < an->nprocs; i++) {
		mo__proc_t *p = an->procs[i];
		const mo__heap_t *h = &p->heap;

		p->pub.allocations = h->allocations;
		p->pub.frees = h->frees;
		p->pub.bytes_allocated = h->bytes_allocated;
		p->pub.temporary = h->temporary;
		p->pub.peak_heap = h->peak_heap;
		p->pub.peak_time_ns = h->peak_time_ns;
		p->pub.live_bytes = h->live_bytes;
		p->pub.live_blocks = h->live_blocks;
	}
}

size_t mo_an_nprocs(const mo_an_t *an)
{
	return an->nprocs;
}

const mo_proc_t *mo_an_proc(const mo_an_t *an, size_t i)
{
	return i < an->nprocs ? &an->procs[i]->pub : NULL;
}

const mo_pools_t *mo_an_pools(const mo_an_t *an, size_t i)
{
	return i < an->nprocs ? &an->procs[i]->pools : NULL;
}

static uint64_t mo__key(const mo_site_t *s, mo_an_key_t key)
{
	switch (key) {
	case MO_BY_PEAK:
		return s->peak_bytes;
	case MO_BY_LIVE:
		return s->live_bytes;
	case MO_BY_ALLOCATIONS:
		return s->allocations;
	case MO_BY_BYTES:
		return s->bytes;
	case MO_BY_TEMPORARY:
		return s->temporary;
	}
	return 0;
}

/* Ranking order: larger key first, then smaller stack index. */
static int mo__better(const mo_site_t *a, const mo_site_t *b, mo_an_key_t key)
{
	uint64_t ka = mo__key(a, key), kb = mo__key(b, key);

	return ka != kb ? ka > kb : a->stack < b->stack;
}

/* Min-heap on the ranking order: out[0] is the worst of the kept sites. */
static void mo__sift_down(mo_site_t *out, size_t n, size_t i, mo_an_key_t key)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, w = i;
		mo_site_t t;

		if (l < n && mo__better(&out[w], &out[l], key))
			w = l;
		if (r < n && mo__better(&out[w], &out[r], key))
			w = r;
		if (w == i)
			return;
		t = out[i];
		out[i] = out[w];
		out[w] = t;
		i = w;
	}
}

static void mo__sift_up(mo_site_t *out, size_t i, mo_an_key_t key)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		mo_site_t t;

		if (!mo__better(&out[parent], &out[i], key))
			return;
		t = out[i];
		out[i] = out[parent];
		out[parent] = t;
		i = parent;
	}
}

static void mo__public_site(const mo__heap_t *h, const mo__site_t *s,
			    mo_site_t *out)
{
	out->stack = s->stack;
	out->allocations = s->allocations;
	out->bytes = s->bytes;
	out->temporary = s->temporary;
	out->peak_bytes = mo__site_peak_bytes(h, s);
	out->peak_blocks = mo__site_peak_blocks(h, s);
	out->live_bytes = s->live_bytes;
	out->live_blocks = s->live_blocks;
}

size_t mo_an_top(const mo_an_t *an, size_t i, mo_an_key_t key, mo_site_t *out,
		 size_t n)
{
	const mo__heap_t *h;
	size_t kept = 0;
	mo_site_t cand;

	if (i >= an->nprocs || n == 0)
		return 0;
	h = &an->procs[i]->heap;
	for (uint32_t k = 0; k < h->nsites; k++) {
		mo__public_site(h, &h->sites[k], &cand);
		if (mo__key(&cand, key) == 0)
			continue;
		if (kept < n) {
			out[kept] = cand;
			mo__sift_up(out, kept++, key);
		} else if (mo__better(&cand, &out[0], key)) {
			out[0] = cand;
			mo__sift_down(out, kept, 0, key);
		}
	}
	/* Heap sort: move the worst to the back, repeatedly. */
	for (size_t m = kept; m > 1; m--) {
		mo_site_t t = out[0];
		out[0] = out[m - 1];
		out[m - 1] = t;
		mo__sift_down(out, m - 1, 0, key);
	}
	return kept;
}

const mo_rawframe_t *mo_an_stack(const mo_an_t *an, uint32_t stack, uint32_t *n)
{
	if (stack >= an->nstacks) {
		*n = 0;
		return NULL;
	}
	*n = an->stacks[stack].n;
	return an->stacks[stack].frames;
}

size_t mo_an_nsites(const mo_an_t *an, size_t i)
{
	return i < an->nprocs ? an->procs[i]->heap.nsites : 0;
}

const mo_loss_t *mo_an_losses(const mo_an_t *an, size_t i, size_t *n)
{
	if (i >= an->nprocs || !an->procs[i]->pub.has_leaks) {
		*n = 0;
		return NULL;
	}
	*n = an->procs[i]->nlosses;
	return an->procs[i]->losses;
}
