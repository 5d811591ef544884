/*
 * Scan files (see scanfile.h, lib/mo_ring.h and doc/leaks.md).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memopt/trace_format.h>

#include "mo_ring.h"
#include "scanfile.h"

struct mo_sf {
	char *path;
	uint8_t *map;
	size_t map_size;
	uint64_t n;
	uint64_t *blocks; /* block number of the i-th block in the file */
};

typedef struct mo__sf_entry {
	uint64_t addr, size, block;
} mo__sf_entry_t;

/* Large scratch arrays come straight from mmap, populated at once: in a
 * VM, faulting in hundreds of MB page by page costs more than the sort. */
static void *mo__sf_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void mo__sf_release(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes ? bytes : 1);
}

static int mo__sf_by_addr(const void *a, const void *b)
{
	uint64_t x = ((const mo__sf_entry_t *)a)->addr;
	uint64_t y = ((const mo__sf_entry_t *)b)->addr;
	return (x > y) - (x < y);
}

static int mo__sf_by_block(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a >> 2, y = *(const uint64_t *)b >> 2;
	return (x > y) - (x < y);
}

/* Sorts v[0..n) by address: an LSD radix sort, 11 bits a pass, over only
 * the bits in which the addresses differ (about 3 passes for a heap of a
 * few GB), far faster than qsort() on the millions of blocks a large heap
 * holds.  Falls back to qsort() if the scratch copy cannot be had. */
static void mo__sf_sort(mo__sf_entry_t *v, size_t n)
{
	enum { BITS = 11, RADIX = 1 << BITS };
	uint64_t diff = 0;
	mo__sf_entry_t *tmp, *src = v, *dst;

	for (size_t i = 1; i < n; i++)
		diff |= v[i].addr ^ v[0].addr;
	if (diff == 0)
		return;
	tmp = mo__sf_alloc(n * sizeof(*tmp));
	if (!tmp) {
		qsort(v, n, sizeof(*v), mo__sf_by_addr);
		return;
	}
	dst = tmp;
	for (unsigned shift = (unsigned)__builtin_ctzll(diff);
	     shift < 64 - (unsigned)__builtin_clzll(diff); shift += BITS) {
		static size_t pos[RADIX];
		size_t sum = 0;

		memset(pos, 0, sizeof(pos));
		for (size_t i = 0; i < n; i++)
			pos[(src[i].addr >> shift) & (RADIX - 1)]++;
		for (size_t d = 0; d < RADIX; d++) {
			size_t c = pos[d];
			pos[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[pos[(src[i].addr >> shift) & (RADIX - 1)]++] =
				src[i];
		mo__sf_entry_t *t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
	mo__sf_release(tmp, n * sizeof(*tmp));
}

/* The live blocks as entries sorted by address; NULL if out of memory. */
static mo__sf_entry_t *mo__sf_sorted(const mo_addrmap_t *live,
				     const mo_addrmap_t *big, size_t n)
{
	mo__sf_entry_t *v = mo__sf_alloc(n * sizeof(*v));
	const mo_addrmap_entry_t *e;
	size_t pos = 0, i = 0;

	if (!v)
		return NULL;
	while ((e = mo_addrmap_next(live, &pos)) != NULL && i < n) {
		uint64_t size = e->aux;
		if (e->aux == MO_SF_BIG_SIZE) {
			const mo_addrmap_entry_t *b =
				mo_addrmap_get(big, e->key);
			size = b ? b->size : 0;
		}
		v[i++] = (mo__sf_entry_t){e->key, size, e->size};
	}
	mo__sf_sort(v, i);
	return v;
}

int mo_sf_create(mo_sf_t **out, const char *path, const mo_addrmap_t *live,
		 const mo_addrmap_t *big)
{
	size_t n = mo_addrmap_count(live);
	mo_sf_t *sf = calloc(1, sizeof(*sf));
	mo__sf_entry_t *v = NULL;
	int fd = -1, err = -ENOMEM;

	*out = NULL;
	if (!sf)
		return -ENOMEM;
	sf->n = n;
	sf->path = strdup(path);
	sf->blocks = malloc((n ? n : 1) * sizeof(*sf->blocks));
	v = mo__sf_sorted(live, big, n);
	if (!sf->path || !sf->blocks || !v)
		goto fail;
	sf->map_size = (size_t)mo_scan_file_size(n);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		goto fail;
	}
	if (ftruncate(fd, (off_t)sf->map_size) != 0) {
		err = -errno;
		goto fail_unlink;
	}
	/* Populated at once: faulting in a large file page by page costs
	 * more than writing it. */
	sf->map = mmap(NULL, sf->map_size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, fd, 0);
	if (sf->map == MAP_FAILED) {
		sf->map = NULL;
		err = -errno;
		goto fail_unlink;
	}
	close(fd);
	mo_scan_hdr_t *h = (mo_scan_hdr_t *)sf->map;
	mo_scan_block_t *b = (mo_scan_block_t *)(h + 1);
	for (size_t i = 0; i < n; i++) {
		b[i].addr = v[i].addr;
		b[i].size = v[i].size;
		sf->blocks[i] = v[i].block;
	}
	h->n = n;
	h->magic = MO_SCAN_MAGIC;
	mo__sf_release(v, n * sizeof(*v));
	*out = sf;
	return 0;
fail_unlink:
	unlink(path);
fail:
	if (fd >= 0)
		close(fd);
	mo__sf_release(v, n * sizeof(*v));
	free(sf->blocks);
	free(sf->path);
	free(sf);
	return err;
}

/* The listed (block, kind) pairs, packed as block << 2 | kind and sorted
 * by block; kinds outside the enum count as still reachable. */
static uint64_t *mo__sf_lost(const mo_sf_t *sf, size_t *count)
{
	const uint8_t *kinds = sf->map + sizeof(mo_scan_hdr_t) +
			       sf->n * sizeof(mo_scan_block_t);
	uint64_t *v = malloc((sf->n ? sf->n : 1) * sizeof(*v));
	size_t k = 0;

	if (!v)
		return NULL;
	for (uint64_t i = 0; i < sf->n; i++)
		if (kinds[i] >= MO_LEAK_POSSIBLE &&
		    kinds[i] <= MO_LEAK_DEFINITE &&
		    sf->blocks[i] <= (UINT64_MAX >> 2))
			v[k++] = sf->blocks[i] << 2 | kinds[i];
	qsort(v, k, sizeof(*v), mo__sf_by_block);
	*count = k;
	return v;
}

int mo_sf_results(mo_sf_t *sf, size_t max_len, mo_sf_emit_fn emit, void *ctx)
{
	const mo_scan_hdr_t *h = (const mo_scan_hdr_t *)sf->map;
	size_t count, i = 0;
	uint64_t *lost = mo__sf_lost(sf, &count);
	uint8_t *buf = malloc(max_len);
	uint64_t flags = h->flags & 0xffu;
	int err = 0;

	if (!lost || !buf || max_len < 64) {
		err = -ENOMEM;
		goto out;
	}
	do {
		/* The entries first, after room for the four header fields,
		 * then the header right before them. */
		uint8_t *start = buf + 40, *p = start, *q = buf;
		uint64_t prev = 0;
		size_t j = i;

		while (j < count && (size_t)(p - buf) + 20 <= max_len) {
			p = mo_put_uv(p, (lost[j] >> 2) - prev);
			p = mo_put_uv(p, lost[j] & 3);
			prev = lost[j] >> 2;
			j++;
		}
		q = mo_put_uv(q, flags);
		q = mo_put_uv(q, h->threads);
		q = mo_put_uv(q, sf->n);
		q = mo_put_uv(q, j - i);
		memmove(q, start, (size_t)(p - start));
		err = emit(ctx, buf, (size_t)(q - buf) + (size_t)(p - start));
		flags |= MO_LEAKS_CONTINUED;
		i = j;
	} while (!err && i < count);
out:
	free(lost);
	free(buf);
	return err;
}

void mo_sf_close(mo_sf_t *sf)
{
	if (!sf)
		return;
	if (sf->map)
		munmap(sf->map, sf->map_size);
	if (sf->path)
		unlink(sf->path);
	free(sf->path);
	free(sf->blocks);
	free(sf);
}
