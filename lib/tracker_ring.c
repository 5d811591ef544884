/*
 * Ring writer: reservation by fetch-add, commit by a release store of the
 * entry's length word.  See mo_ring.h for the protocol.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mo_ring.h"
#include "tracker_ring.h"

static mo_ring_hdr_t *g_hdr;
static uint8_t *g_data;
static uint64_t g_mask;
static size_t g_map_size;
static char g_path[4096];  /* the current ring's file, for its scan file */
static _Atomic int g_dead; /* the collector is gone: drop everything */
/* The collector's tail as last read.  Writers read the shared `tail` only
 * when this stale copy says the ring may be full, so the line the
 * collector writes does not bounce into every writer on every event.  A
 * stale value is never larger than the real one within a ring, so it only
 * errs on the safe side; it is reset with each new ring. */
static _Atomic uint64_t g_tail_seen;

static uint64_t mo__mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int mo__fmt_ring_path(char *buf, size_t len, const char *dir, pid_t pid)
{
	int n = snprintf(buf, len, "%s/%d-%llu%s", dir, (int)pid,
			 (unsigned long long)mo__mono_ns(), MO_RING_SUFFIX);
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

int mo_ringw_open(const char *dir, pid_t pid, pid_t collector, uint64_t size)
{
	char path[4096];
	int err = mo__fmt_ring_path(path, sizeof(path), dir, pid);
	if (err)
		return err;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	size_t map_size = MO_RING_HDR_SIZE + size;
	void *p = MAP_FAILED;
	if (ftruncate(fd, (off_t)map_size) == 0)
		p = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			 0);
	err = p == MAP_FAILED ? -errno : 0;
	close(fd);
	if (err) {
		unlink(path);
		return err;
	}
	mo_ring_hdr_t *h = p;
	h->version = MO_RING_VERSION;
	h->hdr_size = MO_RING_HDR_SIZE;
	h->data_size = size;
	h->pid = pid;
	h->collector_pid = collector;
	/* The magic is published last: the collector ignores the file until
	 * the header is complete. */
	atomic_store_explicit((_Atomic uint64_t *)&h->magic, MO_RING_MAGIC,
			      memory_order_release);
	g_hdr = h;
	g_data = (uint8_t *)p + MO_RING_HDR_SIZE;
	g_mask = size - 1;
	g_map_size = map_size;
	memcpy(g_path, path, sizeof(g_path));
	atomic_store(&g_dead, 0);
	atomic_store(&g_tail_seen, 0);
	return 0;
}

void mo_ringw_detach(void)
{
	if (g_hdr)
		munmap(g_hdr, g_map_size);
	g_hdr = NULL;
	g_data = NULL;
}

void mo_ringw_mark_exited(void)
{
	if (g_hdr)
		atomic_store_explicit(&g_hdr->exited, 1, memory_order_release);
}

static void mo__copy_in(uint64_t pos, const void *src, uint32_t len)
{
	uint64_t off = pos & g_mask;
	uint64_t first = g_hdr->data_size - off;
	if (first >= len) {
		memcpy(g_data + off, src, len);
	} else {
		memcpy(g_data + off, src, first);
		memcpy(g_data, (const uint8_t *)src + first, len - first);
	}
}

static int mo__collector_alive(void)
{
	pid_t c = g_hdr->collector_pid;
	return c <= 0 || kill(c, 0) == 0 || errno != ESRCH;
}

/* Waits until the collector has consumed everything before end - size. */
static int mo__wait_for_space(uint64_t end)
{
	uint64_t size = g_hdr->data_size;
	if (mo_likely(end - atomic_load_explicit(&g_tail_seen,
						 memory_order_relaxed) <=
		      size))
		return 0;
	for (unsigned spins = 0;; spins++) {
		uint64_t tail = atomic_load_explicit(&g_hdr->tail,
						     memory_order_acquire);
		atomic_store_explicit(&g_tail_seen, tail, memory_order_relaxed);
		if (end - tail <= size)
			return 0;
		if (atomic_load_explicit(&g_dead, memory_order_relaxed))
			return -EPIPE;
		/* Spin briefly, then yield the CPU (on a small machine, to
		 * the collector), and only then sleep. */
		if (spins < 64) {
			__builtin_ia32_pause();
			continue;
		}
		if (spins < 4096) {
			sched_yield();
			continue;
		}
		struct timespec ts = {0, 20000};
		nanosleep(&ts, NULL);
		if ((spins & 0x3ff) == 0 && !mo__collector_alive()) {
			atomic_store(&g_dead, 1);
			return -EPIPE;
		}
	}
}

static inline __attribute__((always_inline)) int
mo__write(const void *payload, uint32_t len, uint64_t *end)
{
	mo_ring_hdr_t *h = g_hdr;
	if (mo_unlikely(!h))
		return -EPIPE;
	if (mo_unlikely(len > MO_RING_ENTRY_MAX))
		return -EINVAL;
	uint64_t need = mo_ring_entry_size(len);
	uint64_t pos =
		atomic_fetch_add_explicit(&h->head, need, memory_order_relaxed);
	int err = mo__wait_for_space(pos + need);
	if (mo_unlikely(err)) {
		atomic_fetch_add(&h->dropped, need);
		return err;
	}
	_Atomic uint32_t *word = (_Atomic uint32_t *)(g_data + (pos & g_mask));
	atomic_store_explicit(word, len | MO_RING_LEN_SET,
			      memory_order_relaxed);
	mo__copy_in(pos + 4, payload, len);
	atomic_store_explicit(word, len | MO_RING_LEN_SET | MO_RING_COMMITTED,
			      memory_order_release);
	*end = pos + need;
	return 0;
}

int mo_ringw_write(const void *payload, uint32_t len)
{
	uint64_t end;
	return mo__write(payload, len, &end);
}

int mo_ringw_write_end(const void *payload, uint32_t len, uint64_t *end)
{
	return mo__write(payload, len, end);
}

mo_ring_hdr_t *mo_ringw_hdr(const char **path, uintptr_t *lo, uintptr_t *hi)
{
	if (g_hdr) {
		*path = g_path;
		*lo = (uintptr_t)g_hdr;
		*hi = (uintptr_t)g_hdr + g_map_size;
	}
	return g_hdr;
}
