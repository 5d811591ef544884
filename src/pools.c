/*
 * memopt's own allocators in a trace (see pools.h).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <memopt/trace_format.h>

#include "pools.h"

void mo_pools_init(mo_pools_t *p)
{
	memset(p, 0, sizeof(*p));
	mo_addrmap_init(&p->by_inst);
}

void mo_pools_free(mo_pools_t *p)
{
	for (size_t i = 0; i < p->n; i++) {
		mo_addrmap_free(&p->live[i]);
		mo_addrmap_free(&p->sites[i]);
	}
	free(p->v);
	free(p->live);
	free(p->sites);
	mo_addrmap_free(&p->by_inst);
	mo_pools_init(p);
}

int mo_pools_is_record(int type)
{
	return type == MO_REC_POOL_ALLOC || type == MO_REC_POOL_FREE ||
	       (type >= MO_REC_POOL_CREATE && type <= MO_REC_POOL_RESET);
}

/* A payload cursor: uv and str fields, never reading past the end. */
typedef struct mo__pcur {
	const uint8_t *p, *end;
	int bad;
} mo__pcur_t;

static uint64_t mo__pc_uv(mo__pcur_t *c)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (c->p >= c->end)
			break;
		uint8_t b = *c->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (b < 0x80)
			return v;
	}
	c->bad = 1;
	return 0;
}

static void mo__pc_str(mo__pcur_t *c, char *out)
{
	uint64_t n = mo__pc_uv(c);
	if (c->bad || n > (uint64_t)(c->end - c->p)) {
		c->bad = 1;
		out[0] = '\0';
		return;
	}
	size_t k = n < MO_POOL_NAME_MAX ? (size_t)n : MO_POOL_NAME_MAX;
	memcpy(out, c->p, k);
	out[k] = '\0';
	c->p += n;
}

/* A new instance at inst (the current one there, if any, is replaced). */
static mo_pool_info_t *mo__pool_new(mo_pools_t *p, uint64_t inst)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 8;
		mo_pool_info_t *v = realloc(p->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		p->v = v;
		mo_addrmap_t *l = realloc(p->live, cap * sizeof(*l));
		if (!l)
			return NULL;
		p->live = l;
		l = realloc(p->sites, cap * sizeof(*l));
		if (!l)
			return NULL;
		p->sites = l;
		p->cap = cap;
	}
	if (mo_addrmap_put(&p->by_inst, inst, 0, (uint32_t)p->n, NULL) < 0)
		return NULL;
	mo_pool_info_t *i = &p->v[p->n];
	memset(i, 0, sizeof(*i));
	i->inst = inst;
	mo_addrmap_init(&p->live[p->n]);
	mo_addrmap_init(&p->sites[p->n]);
	p->n++;
	return i;
}

/* The current instance at inst, created unnamed if unknown. */
static mo_pool_info_t *mo__pool_of(mo_pools_t *p, uint64_t inst)
{
	const mo_addrmap_entry_t *e = mo_addrmap_get(&p->by_inst, inst);
	return e ? &p->v[e->aux] : mo__pool_new(p, inst);
}

static void mo__pool_release_all(mo_pools_t *p, mo_pool_info_t *i)
{
	mo_addrmap_clear(&p->live[i - p->v]);
	i->live = 0;
	i->in_use = 0;
	i->reserved = 0;
}

void mo_pools_set_stacks(mo_pools_t *p, mo_pools_stack_fn fn, void *ctx)
{
	p->stack_of = fn;
	p->stack_ctx = ctx;
}

/* Counts an allocation of size bytes at the call site of stack id. */
static int mo__pool_site(mo_pools_t *p, mo_pool_info_t *i, uint64_t id,
			 uint64_t size)
{
	uint32_t stack;
	if (!p->stack_of || p->stack_of(p->stack_ctx, id, &stack) != 0)
		return 0;
	mo_addrmap_t *m = &p->sites[i - p->v];
	mo_addrmap_entry_t *e = mo_addrmap_get(m, stack);
	if (!e)
		return mo_addrmap_put(m, stack, size, 1, NULL) < 0 ? -ENOMEM
								   : 0;
	e->size += size;
	if (e->aux < UINT32_MAX)
		e->aux++;
	return 0;
}

static int mo__site_cmp(const void *a, const void *b)
{
	const mo_pool_site_t *x = a, *y = b;
	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	return (x->stack > y->stack) - (x->stack < y->stack);
}

size_t mo_pools_top_sites(const mo_pools_t *p, size_t k, mo_pool_site_t *out,
			  size_t n)
{
	const mo_addrmap_entry_t *e;
	size_t pos = 0, have = 0;
	if (k >= p->n || n == 0)
		return 0;
	/* keeps the n largest: each goes into the sorted prefix */
	while ((e = mo_addrmap_next(&p->sites[k], &pos)) != NULL) {
		mo_pool_site_t s = {(uint32_t)e->key, e->aux, e->size};
		if (have == n && mo__site_cmp(&s, &out[n - 1]) >= 0)
			continue;
		size_t at = have < n ? have++ : n - 1;
		out[at] = s;
		while (at > 0 && mo__site_cmp(&out[at], &out[at - 1]) < 0) {
			mo_pool_site_t t = out[at];
			out[at] = out[at - 1];
			out[at - 1] = t;
			at--;
		}
	}
	return have;
}

static int mo__pool_alloc(mo_pools_t *p, mo_pool_info_t *i, uint64_t ptr,
			  uint64_t size, uint64_t reserved)
{
	mo_addrmap_entry_t old;
	if (reserved < size)
		reserved = size;
	int r = mo_addrmap_put(&p->live[i - p->v], ptr, reserved, 0, &old);
	if (r < 0)
		return r;
	if (r == 1) /* handed out again unfreed: the old one is gone */
		i->reserved -= old.size < i->reserved ? old.size : i->reserved;
	else
		i->live++;
	i->allocs++;
	i->in_use += size;
	i->reserved += reserved;
	if (i->in_use > i->peak) {
		i->peak = i->in_use;
		i->reserved_at_peak = i->reserved;
	}
	return 0;
}

static void mo__pool_free(mo_pools_t *p, mo_pool_info_t *i, uint64_t ptr,
			  uint64_t size)
{
	mo_addrmap_entry_t e;
	i->frees++;
	if (!mo_addrmap_take(&p->live[i - p->v], ptr, &e)) {
		if (!i->rewound) {
			i->unmatched_frees++;
			return;
		}
		/* allocated before a rewind, which kept it: its reserved
		 * bytes are unknown, its requested ones are size */
		e.size = size;
	}
	i->live--;
	i->in_use -= size < i->in_use ? size : i->in_use;
	i->reserved -= e.size < i->reserved ? e.size : i->reserved;
}

int mo_pools_feed(mo_pools_t *p, const mo_event_t *ev)
{
	mo__pcur_t c = {ev->u.ext.data, ev->u.ext.data + ev->u.ext.len, 0};
	uint64_t inst = mo__pc_uv(&c), v[4] = {0, 0, 0, 0};
	char kind[MO_POOL_NAME_MAX + 1], name[MO_POOL_NAME_MAX + 1];
	int nv = ev->type == MO_REC_POOL_ALLOC	? 4
		 : ev->type == MO_REC_POOL_FREE ? 2
						: 0;
	if (ev->type == MO_REC_POOL_RESET && c.p < c.end)
		nv = 3; /* a rewind: what stays live */
	for (int k = 0; k < nv; k++)
		v[k] = mo__pc_uv(&c);
	if (ev->type == MO_REC_POOL_CREATE) {
		mo__pc_str(&c, kind);
		mo__pc_str(&c, name);
	}
	if (c.bad) {
		p->bad_records++;
		return 0;
	}
	if (ev->type == MO_REC_POOL_CREATE) {
		mo_pool_info_t *i = mo__pool_new(p, inst);
		if (!i)
			return -ENOMEM;
		memcpy(i->kind, kind, sizeof(kind));
		memcpy(i->name, name, sizeof(name));
		return 0;
	}
	mo_pool_info_t *i = mo__pool_of(p, inst);
	if (!i)
		return -ENOMEM;
	switch (ev->type) {
	case MO_REC_POOL_ALLOC: {
		int r = mo__pool_alloc(p, i, v[0], v[1], v[2]);
		return r < 0 ? r : mo__pool_site(p, i, v[3], v[1]);
	}
	case MO_REC_POOL_FREE:
		mo__pool_free(p, i, v[0], v[1]);
		return 0;
	case MO_REC_POOL_RESET:
		i->resets++;
		mo__pool_release_all(p, i);
		if (nv == 3) { /* the allocator says what stays */
			i->in_use = v[0];
			i->reserved = v[1];
			i->live = v[2];
			i->rewound = 1;
		}
		return 0;
	default: /* MO_REC_POOL_DESTROY */
		i->destroyed = 1;
		mo__pool_release_all(p, i);
		mo_addrmap_take(&p->by_inst, inst, NULL);
		return 0;
	}
}
