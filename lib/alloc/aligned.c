/*
 * Aligned allocations over malloc: [raw ... pad][header][user block].
 * The header records the requested size, the offset back to what malloc
 * returned, the alignment and a magic number.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memopt/aligned.h>

#define HDR 16u
#define MIN_ALIGN 16u
#define MAGIC 0xa119u
#define MAGIC_FREED 0xdeadu

typedef struct hdr {
	uint64_t size;
	uint32_t off;
	uint16_t magic;
	uint8_t shift;
	uint8_t pad;
} hdr_t;

_Static_assert(sizeof(hdr_t) == HDR, "aligned header is 16 bytes");

/* The instance the profiler sees for every aligned block. */
static const char g_inst;
static atomic_flag g_announced = ATOMIC_FLAG_INIT;

static void announce(const mo_alloc_hooks_t *h)
{
	if (h->created && !atomic_flag_test_and_set(&g_announced))
		h->created(&g_inst, "aligned", "mo_aligned");
}

static void hook_alloc(const void *p, size_t size, size_t reserved)
{
	const mo_alloc_hooks_t *h = mo_alloc_hooks;
	if (__builtin_expect(h != NULL, 0)) {
		announce(h);
		if (h->alloc)
			h->alloc(&g_inst, p, size, reserved);
	}
}

static int debug_on(void)
{
#if defined(MO_ALLOC_DEBUG_ALL) && MO_ALLOC_DEBUG_ALL
	return 1;
#else
	return 0;
#endif
}

static hdr_t *hdr_of(const void *p)
{
	return (hdr_t *)((char *)p - HDR);
}

/* Total bytes to ask malloc for, or 0 on overflow / bad alignment. */
static size_t total_for(size_t size, size_t align)
{
	size_t t;
	if (mo_size_add(size, align - 1 + HDR, &t))
		return 0;
	return t;
}

static int check_align(size_t *align)
{
	if (!mo_is_pow2(*align) || *align > MO_ALIGNED_MAX) {
		errno = EINVAL;
		return -EINVAL;
	}
	if (*align < MIN_ALIGN)
		*align = MIN_ALIGN;
	return 0;
}

/* Places the header and returns the user pointer inside raw. */
static void *place(char *raw, size_t size, size_t align)
{
	char *p = (char *)mo_align_up((uintptr_t)raw + HDR, align);
	hdr_t *h = hdr_of(p);
	h->size = size;
	h->off = (uint32_t)(p - raw);
	h->magic = MAGIC;
	h->shift = (uint8_t)__builtin_ctzl(align);
	h->pad = 0;
	return p;
}

/* Internal entry points for the containers built on these helpers: they
 * report their memory to the profiler themselves, so these do not. */
void *mo__aligned_alloc_quiet(size_t size, size_t align);
void *mo__aligned_realloc_quiet(void *p, size_t size, size_t align);
void mo__aligned_free_quiet(void *p);

static void *do_alloc(size_t size, size_t align, int hook)
{
	size_t total;
	char *raw;
	void *p;

	if (check_align(&align))
		return NULL;
	total = total_for(size, align);
	if (!total) {
		errno = ENOMEM;
		return NULL;
	}
	raw = malloc(total);
	if (!raw)
		return NULL;
	p = place(raw, size, align);
	if (hook)
		hook_alloc(p, size, total);
	return p;
}

void *mo_aligned_alloc(size_t size, size_t align)
{
	return do_alloc(size, align, 1);
}

void *mo__aligned_alloc_quiet(size_t size, size_t align)
{
	return do_alloc(size, align, 0);
}

void *mo_aligned_calloc(size_t n, size_t size, size_t align)
{
	size_t bytes;
	void *p;

	if (mo_size_mul(n, size, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	p = mo_aligned_alloc(bytes, align);
	if (p)
		memset(p, 0, bytes);
	return p;
}

/* Returns the header of p, or NULL after reporting misuse. */
static hdr_t *valid_hdr(const void *p, const char *op)
{
	hdr_t *h = hdr_of(p);
	char what[96];

	if (h->magic == MAGIC && h->off >= HDR && h->shift >= 4 &&
	    h->shift <= 20 && h->off < HDR + ((size_t)1 << h->shift))
		return h;
	snprintf(what, sizeof(what), "%s of %p: %s", op, p,
		 h->magic == MAGIC_FREED ? "double free"
					 : "not from mo_aligned_alloc");
	mo_alloc_misuse("aligned", "mo_aligned", what);
	return NULL;
}

static void do_free(void *p, int hook)
{
	hdr_t *h;
	char *raw;

	if (!p)
		return;
	h = valid_hdr(p, "free");
	if (!h)
		return;
	raw = (char *)p - h->off;
	if (hook)
		MO_ALLOC_HOOK(free, &g_inst, p, (size_t)h->size);
	if (debug_on())
		memset(p, 0xdd, h->size);
	h->magic = MAGIC_FREED;
	free(raw);
}

void mo_aligned_free(void *p)
{
	do_free(p, 1);
}

void mo__aligned_free_quiet(void *p)
{
	do_free(p, 0);
}

static void *do_realloc(void *p, size_t size, size_t align, int hook)
{
	size_t old_size, old_off, total, keep, room;
	hdr_t *h;
	char *raw, *q;

	if (!p)
		return do_alloc(size, align, hook);
	if (check_align(&align))
		return NULL;
	h = valid_hdr(p, "realloc");
	if (!h) {
		errno = EINVAL;
		return NULL;
	}
	old_size = h->size;
	old_off = h->off;
	/* Room for the old offset too, so realloc keeps every byte we move. */
	room = (size_t)1 << h->shift;
	total = total_for(size, align > room ? align : room);
	if (!total) {
		errno = ENOMEM;
		return NULL;
	}
	raw = realloc((char *)p - old_off, total);
	if (!raw)
		return NULL;
	keep = size < old_size ? size : old_size;
	q = (char *)mo_align_up((uintptr_t)raw + HDR, align);
	if ((size_t)(q - raw) != old_off)
		memmove(q, raw + old_off, keep);
	q = place(raw, size, align);
	if (hook) {
		MO_ALLOC_HOOK(free, &g_inst, p, old_size);
		hook_alloc(q, size, total);
	}
	return q;
}

void *mo_aligned_realloc(void *p, size_t size, size_t align)
{
	return do_realloc(p, size, align, 1);
}

void *mo__aligned_realloc_quiet(void *p, size_t size, size_t align)
{
	return do_realloc(p, size, align, 0);
}

size_t mo_aligned_size(const void *p)
{
	hdr_t *h;

	if (!p)
		return 0;
	h = valid_hdr(p, "size");
	return h ? h->size : 0;
}

size_t mo_aligned_alignment(const void *p)
{
	hdr_t *h;

	if (!p)
		return 0;
	h = valid_hdr(p, "alignment");
	return h ? (size_t)1 << h->shift : 0;
}
