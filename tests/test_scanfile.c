/*
 * Scan files: the collector's half of the leak-scan handshake.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memopt/trace_format.h>

#include "mo_ring.h"
#include "scanfile.h"

static char path[64];

static void setup(void)
{
	snprintf(path, sizeof(path), "/tmp/memopt-scanfile-%d.scan",
		 (int)getpid());
	unlink(path);
}

static void teardown(void)
{
	unlink(path);
}

TestSuite(scanfile, .init = setup, .fini = teardown);

/* Collected MO_REC_LEAKS payloads. */
typedef struct payloads {
	uint8_t buf[4][4096];
	size_t len[4];
	int n;
} payloads_t;

static int collect(void *ctx, const uint8_t *payload, size_t len)
{
	payloads_t *p = ctx;

	cr_assert_lt(p->n, 4);
	cr_assert_leq(len, sizeof(p->buf[0]));
	memcpy(p->buf[p->n], payload, len);
	p->len[p->n++] = len;
	return 0;
}

static uint64_t get_uv(const uint8_t **pp)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (**pp & 0x80) {
		v |= (uint64_t)(**pp & 0x7f) << shift;
		shift += 7;
		(*pp)++;
	}
	v |= (uint64_t) * *pp << shift;
	(*pp)++;
	return v;
}

Test(scanfile, layout_and_results)
{
	mo_addrmap_t live, big;
	mo_sf_t *sf;
	struct stat st;
	payloads_t out = {.n = 0};

	mo_addrmap_init(&live);
	mo_addrmap_init(&big);
	/* address -> (block number, size) */
	mo_addrmap_put(&live, 0x3000, 7, 16, NULL);
	mo_addrmap_put(&live, 0x1000, 9, 0, NULL);
	mo_addrmap_put(&live, 0x2000, 3, MO_SF_BIG_SIZE, NULL);
	mo_addrmap_put(&big, 0x2000, 5ull << 32, 0, NULL);
	cr_assert_eq(mo_sf_create(&sf, path, &live, &big), 0);
	mo_sf_t *again = (mo_sf_t *)1;
	cr_assert_eq(mo_sf_create(&again, path, &live, &big), -EEXIST,
		     "an existing file is never reused");
	cr_assert_null(again);

	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, mo_scan_file_size(3));
	uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
			  MAP_SHARED, fd, 0);
	cr_assert_neq(m, MAP_FAILED);
	close(fd);
	mo_scan_hdr_t *h = (mo_scan_hdr_t *)m;
	mo_scan_block_t *b = (mo_scan_block_t *)(h + 1);
	cr_expect_eq(h->magic, MO_SCAN_MAGIC);
	cr_expect_eq(h->n, 3);
	cr_expect_eq(b[0].addr, 0x1000);
	cr_expect_eq(b[0].size, 0);
	cr_expect_eq(b[1].addr, 0x2000);
	cr_expect_eq(b[1].size, 5ull << 32);
	cr_expect_eq(b[2].addr, 0x3000);
	cr_expect_eq(b[2].size, 16);

	/* the tracker's answer: 0x1000 (block 9) definite, 0x2000 (block 3)
	 * reachable, 0x3000 (block 7) indirect */
	uint8_t *kinds = (uint8_t *)(b + 3);
	kinds[0] = MO_LEAK_DEFINITE;
	kinds[1] = MO_LEAK_REACHABLE;
	kinds[2] = MO_LEAK_INDIRECT;
	h->flags = MO_SCAN_AT_EXIT;
	h->threads = 2;
	cr_assert_eq(mo_sf_results(sf, 64, collect, &out), 0);
	cr_assert_eq(out.n, 1);
	static const uint8_t want[] = {
		MO_SCAN_AT_EXIT, 2, 3, 2, 7, MO_LEAK_INDIRECT, 2,
		MO_LEAK_DEFINITE};
	cr_assert_eq(out.len[0], sizeof(want));
	cr_expect_arr_eq(out.buf[0], want, sizeof(want));
	munmap(m, (size_t)st.st_size);
	mo_sf_close(sf);
	cr_expect_eq(access(path, F_OK), -1, "closing removes the file");
	mo_addrmap_free(&live);
	mo_addrmap_free(&big);
}

/* A long list is split; the parts after the first say so. */
Test(scanfile, long_lists_are_split)
{
	mo_addrmap_t live, big;
	mo_sf_t *sf;
	payloads_t out = {.n = 0};
	uint64_t next = 1, total = 0;

	mo_addrmap_init(&live);
	mo_addrmap_init(&big);
	for (uint64_t i = 1; i <= 30; i++)
		mo_addrmap_put(&live, i * 0x100, i, 8, NULL);
	cr_assert_eq(mo_sf_create(&sf, path, &live, &big), 0);
	int fd = open(path, O_RDWR);
	size_t size = (size_t)mo_scan_file_size(30);
	uint8_t *m =
		mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	memset(m + sizeof(mo_scan_hdr_t) + 30 * sizeof(mo_scan_block_t),
	       MO_LEAK_POSSIBLE, 30);
	cr_assert_eq(mo_sf_results(sf, 96, collect, &out), 0);
	cr_assert_eq(out.n, 2);
	for (int k = 0; k < out.n; k++) {
		const uint8_t *p = out.buf[k];
		uint64_t flags = get_uv(&p), block = 0;

		cr_expect_eq(flags, k ? MO_LEAKS_CONTINUED : 0);
		cr_expect_eq(get_uv(&p), 0);  /* threads */
		cr_expect_eq(get_uv(&p), 30); /* scanned */
		uint64_t n = get_uv(&p);
		for (uint64_t i = 0; i < n; i++) {
			block += get_uv(&p);
			cr_expect_eq(block, next++);
			cr_expect_eq(get_uv(&p), MO_LEAK_POSSIBLE);
		}
		cr_expect_eq((size_t)(p - out.buf[k]), out.len[k]);
		total += n;
	}
	cr_expect_eq(total, 30);
	munmap(m, size);
	mo_sf_close(sf);
	mo_addrmap_free(&live);
	mo_addrmap_free(&big);
}
