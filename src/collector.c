/*
 * The collector: maps the rings that tracked processes create, drains
 * their committed entries, re-encodes the records into per-stream column
 * frames and writes the frames to the trace file.
 *
 * Blocks.  Rings carry addresses; files name heap blocks by allocation
 * number (see memopt/trace_format.h).  Each stream maps the addresses of
 * its live blocks to their numbers, so the collector's memory grows with
 * the live blocks, not with the events.  At a fork, the parent's map is
 * copied for the child, whose numbers carry on from its parent's.
 *
 * Streams.  Each ring is one process image and becomes one stream.  A ring
 * whose pid already has a live stream belongs to an exec'd image: the old
 * stream is finished with MO_EXIT_EXEC.  A forked child's stream starts
 * only once its parent's MO_REC_FORK for it has been written, so that a
 * reader sees the parent's heap at the fork before the child's first
 * record.
 *
 * Liveness.  A pidfd tells when a process has ended; its ring is then
 * drained to the end, entries a killed writer left unfinished are counted
 * as lost, and the exit status is added when known (waitpid() for the
 * program memopt started, /proc/PID/stat of the zombie for the others, or
 * the status the tracker recorded itself).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <memopt/trace_format.h>

#include "addrmap.h"
#include "colframe.h"
#include "collector.h"
#include "mo_ring.h"
#include "scanfile.h"
#include "trace_codec.h"
#include "trace_writer.h"

/* Frames are written at this raw size: column statistics need volume. */
#define MO_FLUSH_BYTES (3u << 20)
#define MO_FLUSH_NS (200u * 1000000u)
#define MO_RSS_NS (50u * 1000000u)
#define MO_SCAN_NS (5u * 1000000u)
#define MO_FORK_WAIT_NS (2000u * 1000000ull)
#define MO_DRAIN_BUDGET (8u << 20) /* ring bytes per stream per step */
/* A running process's ring is drained once this much is pending, or this
 * long after the last drain: reading right behind the writers would pull
 * every line they write across the cores. */
#define MO_DRAIN_MIN (256u << 10)
#define MO_DRAIN_NS (2u * 1000000u)

typedef enum mo_cs_state {
	MO_CS_STARTING, /* no PROC_START read yet */
	MO_CS_WAITING,	/* forked child: waiting for the parent's FORK */
	MO_CS_ACTIVE,
	MO_CS_DONE
} mo_cs_state_t;

/* A realloc in flight: its block left the live map at REALLOC_PRE. */
typedef struct mo_pending {
	uint64_t addr, block, size;
} mo_pending_t;

/* A parent's heap at a fork, kept until the child's stream starts. */
typedef struct mo_forksnap {
	pid_t child;
	uint64_t blocks; /* the parent's block count */
	mo_addrmap_t live, big;
} mo_forksnap_t;

#define MO_MAX_FORKSNAPS 32

typedef struct mo_cstream {
	uint32_t id;
	pid_t pid, ppid;
	unsigned flags; /* MO_REC_PROC_START flags */
	mo_cs_state_t state;
	char *path;
	mo_ring_hdr_t *hdr;
	uint8_t *data;
	uint64_t mask;
	size_t map_size;
	int pidfd;
	int gone;
	int exit_known;
	uint32_t exit_kind;
	uint64_t exit_value;
	uint64_t wait_deadline;
	mo_cf_t cf; /* frame being built */
	/* Live blocks: address -> number (in size) and requested size (in
	 * aux, or MO_SF_BIG_SIZE and the size in big). */
	mo_addrmap_t live, big;
	mo_sf_t *scan;	       /* leak scan in progress: the ring waits */
	mo_pending_t *pending; /* reallocs in flight */
	size_t npending, pending_cap;
	uint64_t last_flush, last_rss, last_drain;
	pid_t *forks; /* children this process reported forking */
	size_t nforks, forks_cap;
} mo_cstream_t;

struct mo_collect {
	mo_tw_t *w;
	char *ring_dir;
	mo_cstream_t **streams;
	size_t n, cap;
	uint32_t next_id;
	mo_dec_t dec;
	uint8_t *entry; /* one ring entry, copied out */
	uint8_t *frame; /* a column frame being written */
	mo_forksnap_t snaps[MO_MAX_FORKSNAPS];
	size_t nsnaps;
	uint64_t last_scan;
	int err; /* first write error */
};

static uint64_t mo__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- frame buffers ------------------------------------------------------ */

static void mo__flush(mo_collect_t *c, mo_cstream_t *s)
{
	size_t len = mo_cf_finish(&s->cf, c->frame);
	if (len) {
		int err = mo_tw_columns(c->w, s->id, c->frame, len);
		if (err && !c->err)
			c->err = err;
	}
	s->last_flush = mo__now_ns();
}

static void mo__note_error(mo_collect_t *c, int err)
{
	if (err < 0 && err != -EINVAL && !c->err)
		c->err = err;
}

/* --- blocks ------------------------------------------------------------- */

/* A live block as the collector knows it. */
typedef struct mo_lblock {
	uint64_t block, size;
} mo_lblock_t;

/* The live block at addr, removed from the live map; block 0 if the
 * address is not live. */
static mo_lblock_t mo__take_block(mo_cstream_t *s, uint64_t addr)
{
	mo_addrmap_entry_t e, big;
	mo_lblock_t b = {0, 0};
	if (!mo_addrmap_take(&s->live, addr, &e))
		return b;
	b.block = e.size;
	b.size = e.aux;
	if (e.aux == MO_SF_BIG_SIZE && mo_addrmap_take(&s->big, addr, &big))
		b.size = big.size;
	return b;
}

/* Before addr becomes live again: a block that still holds it is gone
 * (its free was lost), which the trace says first, so that it does not
 * count towards the heap's size. */
static int mo__drop_stale(mo_cstream_t *s, uint64_t addr)
{
	mo_lblock_t b = mo__take_block(s, addr);
	return b.block ? mo_cf_ref(&s->cf, MO_REC_BDROP, b.block) : 0;
}

static int mo__put_block(mo_cstream_t *s, uint64_t addr, mo_lblock_t b)
{
	uint32_t aux =
		b.size < MO_SF_BIG_SIZE ? (uint32_t)b.size : MO_SF_BIG_SIZE;
	int r = mo_addrmap_put(&s->live, addr, b.block, aux, NULL);
	if (r >= 0 && aux == MO_SF_BIG_SIZE)
		r = mo_addrmap_put(&s->big, addr, b.size, 0, NULL);
	return r < 0 ? r : 0;
}

static int mo__pend(mo_cstream_t *s, uint64_t addr, mo_lblock_t b)
{
	if (s->npending == s->pending_cap) {
		size_t cap = s->pending_cap ? 2 * s->pending_cap : 8;
		mo_pending_t *p = realloc(s->pending, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->pending = p;
		s->pending_cap = cap;
	}
	s->pending[s->npending++] = (mo_pending_t){addr, b.block, b.size};
	return 0;
}

/* Takes the realloc in flight for addr: its block, or block 0 if there is
 * none (the old block is then looked up among the live ones if `live`). */
static mo_lblock_t mo__unpend(mo_cstream_t *s, uint64_t addr, int live)
{
	for (size_t i = s->npending; i-- > 0;) {
		if (s->pending[i].addr == addr) {
			mo_lblock_t b = {s->pending[i].block,
					 s->pending[i].size};
			s->pending[i] = s->pending[--s->npending];
			return b;
		}
	}
	if (live)
		return mo__take_block(s, addr);
	return (mo_lblock_t){0, 0};
}

/* Writes a ring record about heap blocks into the frame. */
static int mo__append_block(mo_cstream_t *s, const mo_event_t *ev)
{
	mo_lblock_t b;
	int r;

	switch (ev->type) {
	case MO_REC_ALLOC:
		r = mo__drop_stale(s, ev->u.alloc.ptr);
		if (r == 0)
			r = mo_cf_alloc(&s->cf, ev->u.alloc.fn,
					ev->u.alloc.size, ev->u.alloc.stack);
		b = (mo_lblock_t){s->cf.blocks, ev->u.alloc.size};
		return r < 0 ? r : mo__put_block(s, ev->u.alloc.ptr, b);
	case MO_REC_FREE:
		b = mo__take_block(s, ev->u.free.ptr);
		return mo_cf_ref(&s->cf, MO_REC_BFREE, b.block);
	case MO_REC_REALLOC_PRE:
		b = mo__take_block(s, ev->u.free.ptr);
		r = mo__pend(s, ev->u.free.ptr, b);
		return r < 0 ? r
			     : mo_cf_ref(&s->cf, MO_REC_BREALLOC_PRE, b.block);
	case MO_REC_REALLOC:
		b = mo__unpend(s, ev->u.realloc.old_ptr, 1);
		r = ev->u.realloc.new_ptr
			    ? mo__drop_stale(s, ev->u.realloc.new_ptr)
			    : 0;
		if (r == 0)
			r = mo_cf_realloc(&s->cf, ev->u.realloc.fn, b.block,
					  ev->u.realloc.new_ptr != 0,
					  ev->u.realloc.size,
					  ev->u.realloc.stack);
		if (r < 0 || !ev->u.realloc.new_ptr)
			return r;
		b = (mo_lblock_t){s->cf.blocks, ev->u.realloc.size};
		return mo__put_block(s, ev->u.realloc.new_ptr, b);
	default: /* MO_REC_REALLOC_FAIL: the old block is live again */
		b = mo__unpend(s, ev->u.free.ptr, 0);
		if (!b.block)
			return mo_cf_ref(&s->cf, MO_REC_BREALLOC_FAIL, 0);
		r = mo__drop_stale(s, ev->u.free.ptr);
		if (r == 0)
			r = mo_cf_ref(&s->cf, MO_REC_BREALLOC_FAIL, b.block);
		return r < 0 ? r : mo__put_block(s, ev->u.free.ptr, b);
	}
}

/* --- frames ------------------------------------------------------------- */

/* Appends one decoded ring record to the stream's frame. */
static void mo__append(mo_collect_t *c, mo_cstream_t *s, const mo_event_t *ev)
{
	size_t need = ev->type <= MO_REC_REALLOC_FAIL
			      ? 2 * MO_REC_MAX_SMALL
			      : mo_enc_event_size(ev, 0) + 2 * MO_REC_MAX_SMALL;
	if (mo_cf_len(&s->cf) + need > MO_FRAME_MAX_RAW)
		mo__flush(c, s);
	if (need > MO_FRAME_MAX_RAW)
		return; /* cannot be written */
	mo__note_error(c, ev->type <= MO_REC_REALLOC_FAIL
				  ? mo__append_block(s, ev)
				  : mo_cf_row(&s->cf, ev));
	if (mo_cf_len(&s->cf) >= MO_FLUSH_BYTES)
		mo__flush(c, s);
}

/* --- fork snapshots ----------------------------------------------------- */

static void mo__drop_snap(mo_collect_t *c, size_t i)
{
	mo_addrmap_free(&c->snaps[i].live);
	mo_addrmap_free(&c->snaps[i].big);
	memmove(&c->snaps[i], &c->snaps[i + 1],
		(c->nsnaps - i - 1) * sizeof(c->snaps[0]));
	c->nsnaps--;
}

/* Keeps a copy of s's heap for its child `child` (the oldest unclaimed
 * copy goes when there are too many). */
static void mo__snap_fork(mo_collect_t *c, const mo_cstream_t *s, pid_t child)
{
	if (c->nsnaps == MO_MAX_FORKSNAPS)
		mo__drop_snap(c, 0);
	mo_forksnap_t *f = &c->snaps[c->nsnaps];
	if (mo_addrmap_copy(&f->live, &s->live) < 0)
		goto fail;
	if (mo_addrmap_copy(&f->big, &s->big) < 0) {
		mo_addrmap_free(&f->live);
		goto fail;
	}
	f->child = child;
	f->blocks = s->cf.blocks;
	c->nsnaps++;
	return;
fail:
	mo__note_error(c, -ENOMEM);
}

/* A forked child's stream starts with its parent's heap, if it was kept. */
static void mo__adopt_fork(mo_collect_t *c, mo_cstream_t *s)
{
	for (size_t i = c->nsnaps; i-- > 0;) {
		if (c->snaps[i].child != s->pid)
			continue;
		mo_addrmap_free(&s->live);
		mo_addrmap_free(&s->big);
		s->live = c->snaps[i].live;
		s->big = c->snaps[i].big;
		mo_addrmap_init(&c->snaps[i].live);
		mo_addrmap_init(&c->snaps[i].big);
		mo__note_error(c, mo_cf_set_blocks(&s->cf, c->snaps[i].blocks));
		mo__drop_snap(c, i);
		return;
	}
}

static void mo__append_u2(mo_collect_t *c, mo_cstream_t *s, int type,
			  uint64_t a, uint64_t b)
{
	mo_event_t ev;
	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	switch (type) {
	case MO_REC_EXIT:
		ev.u.exit.kind = (uint32_t)a;
		ev.u.exit.value = b;
		break;
	case MO_REC_RSS:
		ev.u.rss.rss = a;
		ev.u.rss.hwm = b;
		break;
	case MO_REC_LOST:
		ev.u.lost.bytes = a;
		break;
	default:
		break;
	}
	mo__append(c, s, &ev);
}

/* --- reading rings ----------------------------------------------------------
 */

static void mo__note_record(mo_collect_t *c, mo_cstream_t *s,
			    const mo_event_t *ev)
{
	if (ev->type == MO_REC_PROC_START) {
		s->ppid = (pid_t)ev->u.start.ppid;
		s->flags = (unsigned)ev->u.start.flags;
	} else if (ev->type == MO_REC_FORK) {
		mo__snap_fork(c, s, (pid_t)ev->u.fork.pid);
		if (s->nforks == s->forks_cap) {
			size_t cap = s->forks_cap ? 2 * s->forks_cap : 8;
			pid_t *f = realloc(s->forks, cap * sizeof(*f));
			if (!f)
				return;
			s->forks = f;
			s->forks_cap = cap;
		}
		s->forks[s->nforks++] = (pid_t)ev->u.fork.pid;
	}
}

/* --- leak scans (doc/leaks.md) ------------------------------------------ */

static int mo__process_gone(mo_cstream_t *s);

/* The process asked for its live blocks: writes the scan file and tells it
 * (or declines).  Draining stops until the scan is done. */
static void mo__scan_begin(mo_cstream_t *s)
{
	size_t n = strlen(s->path) + sizeof(MO_SCAN_SUFFIX);
	char *path = malloc(n);
	int r = -ENOMEM;
	if (path && !s->scan && !mo__process_gone(s)) {
		snprintf(path, n, "%s%s", s->path, MO_SCAN_SUFFIX);
		r = mo_sf_create(&s->scan, path, &s->live, &s->big);
	}
	free(path);
	atomic_store_explicit(&s->hdr->scan_state,
			      r == 0 ? MO_SCAN_READY : MO_SCAN_DECLINED,
			      memory_order_release);
}

typedef struct mo_emit_ctx {
	mo_collect_t *c;
	mo_cstream_t *s;
} mo_emit_ctx_t;

static int mo__emit_leaks(void *ctx, const uint8_t *payload, size_t len)
{
	mo_emit_ctx_t *e = ctx;
	mo_event_t ev;
	memset(&ev, 0, sizeof(ev));
	ev.type = MO_REC_LEAKS;
	ev.u.ext.len = (uint32_t)len;
	ev.u.ext.data = payload;
	mo__append(e->c, e->s, &ev);
	return 0;
}

/* Ends the scan in progress: writes its result if the tracker finished
 * it, then removes the scan file. */
static void mo__scan_end(mo_collect_t *c, mo_cstream_t *s)
{
	uint32_t st =
		atomic_load_explicit(&s->hdr->scan_state, memory_order_acquire);
	if (st == MO_SCAN_DONE) {
		mo_emit_ctx_t e = {c, s};
		mo__note_error(c, mo_sf_results(s->scan, 1u << 20,
						mo__emit_leaks, &e));
	}
	mo_sf_close(s->scan);
	s->scan = NULL;
}

/* Nonzero while s waits for its process to finish a scan. */
static int mo__scan_pending(mo_collect_t *c, mo_cstream_t *s)
{
	if (!s->scan)
		return 0;
	if (atomic_load_explicit(&s->hdr->scan_state, memory_order_acquire) !=
		    MO_SCAN_DONE &&
	    !mo__process_gone(s))
		return 1;
	mo__scan_end(c, s);
	return 0;
}

static void mo__transcode(mo_collect_t *c, mo_cstream_t *s, uint32_t len)
{
	mo_event_t ev;
	int r;
	mo_dec_block(&c->dec, c->entry, len);
	while ((r = mo_dec_next(&c->dec, &ev)) == 1) {
		mo__note_record(c, s, &ev);
		if (ev.type == MO_REC_SCAN_REQ)
			mo__scan_begin(s);
		else
			mo__append(c, s, &ev);
	}
	if (r < 0)
		mo__append_u2(c, s, MO_REC_LOST, len, 0);
}

static void mo__copy_out(mo_cstream_t *s, uint64_t pos, uint8_t *dst,
			 uint32_t len)
{
	uint64_t off = pos & s->mask;
	uint64_t first = s->hdr->data_size - off;
	if (first >= len) {
		memcpy(dst, s->data + off, len);
	} else {
		memcpy(dst, s->data + off, first);
		memcpy(dst + first, s->data, len - first);
	}
}

static void mo__zero(mo_cstream_t *s, uint64_t pos, uint64_t len)
{
	uint64_t off = pos & s->mask;
	uint64_t first = s->hdr->data_size - off;
	if (first >= len) {
		memset(s->data + off, 0, len);
	} else {
		memset(s->data + off, 0, first);
		memset(s->data, 0, len - first);
	}
}

/* Drains committed entries, about `budget` ring bytes at most; with
 * `final` (the writer is gone) drains everything, skipping entries left
 * unfinished and counting what cannot be recovered as lost.  Returns the
 * number of ring bytes consumed. */
static uint64_t mo__drain(mo_collect_t *c, mo_cstream_t *s, int final,
			  uint64_t budget)
{
	enum { PUBLISH_EVERY = 256u << 10 };
	mo_ring_hdr_t *h = s->hdr;
	/* Only the collector writes tail; head is read again only when the
	 * entries known to be reserved are used up, and tail is published in
	 * batches: both lines are shared with every writer. */
	uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);
	uint64_t published = tail, head = tail, done = 0;
	while ((final || done < budget) && !mo__scan_pending(c, s)) {
		if (tail == head) {
			head = atomic_load_explicit(&h->head,
						    memory_order_acquire);
			if (tail == head)
				break;
		}
		_Atomic uint32_t *wp =
			(_Atomic uint32_t *)(s->data + (tail & s->mask));
		uint32_t word = atomic_load_explicit(wp, memory_order_acquire);
		uint32_t len = word & MO_RING_LEN_MASK;
		uint64_t size = mo_ring_entry_size(len);
		int sane = len <= MO_RING_ENTRY_MAX && tail + size <= head;
		if (!sane && len <= MO_RING_ENTRY_MAX) {
			head = atomic_load_explicit(&h->head,
						    memory_order_acquire);
			sane = tail + size <= head;
		}
		if ((word & MO_RING_COMMITTED) && sane) {
			mo__copy_out(s, tail + 4, c->entry, len);
			mo__zero(s, tail, size);
			mo__transcode(c, s, len);
		} else if (!final) {
			break; /* being written */
		} else if ((word & MO_RING_LEN_SET) && sane) {
			mo__append_u2(c, s, MO_REC_LOST, size, 0);
			mo__zero(s, tail, size);
		} else {
			mo__append_u2(c, s, MO_REC_LOST, head - tail, 0);
			done += head - tail;
			tail = head;
			break;
		}
		tail += size;
		done += size;
		if (tail - published >= PUBLISH_EVERY) {
			atomic_store_explicit(&h->tail, tail,
					      memory_order_release);
			published = tail;
		}
	}
	if (tail != published)
		atomic_store_explicit(&h->tail, tail, memory_order_release);
	return done;
}

/* --- stream life cycle -----------------------------------------------------
 */

static mo_cstream_t *mo__live_stream_of(mo_collect_t *c, pid_t pid,
					const mo_cstream_t *except)
{
	for (size_t i = c->n; i-- > 0;) {
		mo_cstream_t *s = c->streams[i];
		if (s != except && s->pid == pid && s->state != MO_CS_DONE)
			return s;
	}
	return NULL;
}

static void mo__unmap_ring(mo_cstream_t *s)
{
	if (s->hdr) {
		munmap(s->hdr, s->map_size);
		s->hdr = NULL;
	}
	if (s->path)
		unlink(s->path);
	if (s->pidfd >= 0)
		close(s->pidfd);
	s->pidfd = -1;
}

static void mo__free_blocks(mo_cstream_t *s)
{
	mo_sf_close(s->scan);
	s->scan = NULL;
	mo_cf_free(&s->cf);
	mo_addrmap_free(&s->live);
	mo_addrmap_free(&s->big);
	free(s->pending);
	s->pending = NULL;
	s->npending = s->pending_cap = 0;
}

/* Writes everything left of s and closes it. */
static void mo__finish_stream(mo_collect_t *c, mo_cstream_t *s, int final)
{
	if (s->state == MO_CS_DONE)
		return;
	if (s->hdr)
		mo__drain(c, s, final, MO_DRAIN_BUDGET);
	if (s->exit_known)
		mo__append_u2(c, s, MO_REC_EXIT, s->exit_kind, s->exit_value);
	mo_event_t end;
	memset(&end, 0, sizeof(end));
	end.type = MO_REC_END;
	mo__append(c, s, &end);
	mo__flush(c, s);
	mo__unmap_ring(s);
	s->state = MO_CS_DONE;
	/* A finished stream keeps only its identity: its buffers go. */
	mo__free_blocks(s);
}

static void mo__free_stream(mo_cstream_t *s)
{
	mo__unmap_ring(s);
	mo__free_blocks(s);
	free(s->path);
	free(s->forks);
	free(s);
}

static int mo__map_ring(mo_cstream_t *s)
{
	int fd = open(s->path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	mo_ring_hdr_t hdr;
	int err = 0;
	if (fstat(fd, &st) != 0 ||
	    pread(fd, &hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		err = -EAGAIN; /* still being created */
	else if (hdr.magic != MO_RING_MAGIC)
		err = -EAGAIN;
	else if (hdr.version != MO_RING_VERSION ||
		 hdr.hdr_size != MO_RING_HDR_SIZE || hdr.data_size < 4096 ||
		 (hdr.data_size & (hdr.data_size - 1)) ||
		 (uint64_t)st.st_size < hdr.hdr_size + hdr.data_size)
		err = -EPROTO;
	if (!err) {
		s->map_size = hdr.hdr_size + hdr.data_size;
		void *p = mmap(NULL, s->map_size, PROT_READ | PROT_WRITE,
			       MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			err = -errno;
		} else {
			s->hdr = p;
			s->data = (uint8_t *)p + hdr.hdr_size;
			s->mask = hdr.data_size - 1;
			s->pid = hdr.pid;
		}
	}
	close(fd);
	return err;
}

static int mo__add_stream(mo_collect_t *c, const char *name)
{
	mo_cstream_t *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->pidfd = -1;
	size_t plen = strlen(c->ring_dir) + strlen(name) + 2;
	s->path = malloc(plen);
	mo_cf_init(&s->cf);
	mo_addrmap_init(&s->live);
	mo_addrmap_init(&s->big);
	int err = !s->path ? -ENOMEM : 0;
	if (!err) {
		snprintf(s->path, plen, "%s/%s", c->ring_dir, name);
		err = mo__map_ring(s);
	}
	if (!err && c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		mo_cstream_t **v = realloc(c->streams, cap * sizeof(*v));
		if (!v)
			err = -ENOMEM;
		else {
			c->streams = v;
			c->cap = cap;
		}
	}
	if (err) {
		if (err != -EAGAIN)
			unlink(s->path);
		free(s->path);
		free(s);
		return err;
	}
	s->pidfd = (int)syscall(SYS_pidfd_open, s->pid, 0);
	if (s->pidfd < 0 && errno == ESRCH)
		s->gone = 1;
	s->id = c->next_id++;
	s->state = MO_CS_STARTING;
	s->last_flush = mo__now_ns();
	c->streams[c->n++] = s;
	return 0;
}

static int mo__known_ring(const mo_collect_t *c, const char *name)
{
	size_t dl = strlen(c->ring_dir);
	for (size_t i = 0; i < c->n; i++) {
		const char *p = c->streams[i]->path;
		if (p && strcmp(p + dl + 1, name) == 0)
			return 1;
	}
	return 0;
}

static int mo__ring_name_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	unsigned long long nx = strtoull(strchr(x, '-') + 1, NULL, 10);
	unsigned long long ny = strtoull(strchr(y, '-') + 1, NULL, 10);
	return nx < ny ? -1 : nx > ny;
}

static int mo__is_ring_name(const char *n)
{
	size_t l = strlen(n), sl = strlen(MO_RING_SUFFIX);
	return l > sl && strcmp(n + l - sl, MO_RING_SUFFIX) == 0 &&
	       strchr(n, '-') != NULL;
}

/* Attaches the rings created since the last scan, oldest first. */
static void mo__scan(mo_collect_t *c)
{
	DIR *d = opendir(c->ring_dir);
	if (!d)
		return;
	char *names[256];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 256) {
		if (!mo__is_ring_name(de->d_name) ||
		    mo__known_ring(c, de->d_name))
			continue;
		names[n] = strdup(de->d_name);
		if (names[n])
			n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), mo__ring_name_cmp);
	for (size_t i = 0; i < n; i++) {
		mo__add_stream(c, names[i]);
		free(names[i]);
	}
	c->last_scan = mo__now_ns();
}

/* --- process status ------------------------------------------------------- */

/* Exit status of a zombie from /proc/PID/stat (field 52); 0 if unknown. */
static int mo__zombie_status(pid_t pid, int *wstatus)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] != 'Z')
		return 0;
	/* Fields after the name start at 3 (state); exit_code is 52. */
	int field = 3;
	for (p += 2; *p && field < 52; p++)
		if (*p == ' ')
			field++;
	if (field != 52)
		return 0;
	*wstatus = atoi(p);
	return 1;
}

static void mo__set_exit_from_wstatus(mo_cstream_t *s, int ws)
{
	s->exit_known = 1;
	if (WIFSIGNALED(ws)) {
		s->exit_kind = MO_EXIT_SIGNAL;
		s->exit_value = (uint64_t)WTERMSIG(ws);
	} else {
		s->exit_kind = MO_EXIT_CODE;
		s->exit_value = (uint64_t)WEXITSTATUS(ws);
	}
}

static int mo__process_gone(mo_cstream_t *s)
{
	if (s->gone)
		return 1;
	if (s->pidfd >= 0) {
		struct pollfd pfd = {s->pidfd, POLLIN, 0};
		s->gone = poll(&pfd, 1, 0) > 0;
	} else {
		s->gone = kill(s->pid, 0) != 0 && errno == ESRCH;
	}
	return s->gone;
}

static void mo__sample_rss(mo_collect_t *c, mo_cstream_t *s, uint64_t now)
{
	if (now - s->last_rss < MO_RSS_NS)
		return;
	s->last_rss = now;
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)s->pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	const char *rss = strstr(buf, "VmRSS:"), *hwm = strstr(buf, "VmHWM:");
	if (!rss || !hwm)
		return;
	mo__append_u2(c, s, MO_REC_RSS, strtoull(rss + 6, NULL, 10) * 1024,
		      strtoull(hwm + 6, NULL, 10) * 1024);
}

/* --- stepping ----------------------------------------------------------- */

static int mo__parent_reported_fork(const mo_cstream_t *parent, pid_t child)
{
	for (size_t i = 0; i < parent->nforks; i++)
		if (parent->forks[i] == child)
			return 1;
	return 0;
}

/* Reads a new stream's PROC_START and decides when it may start. */
static void mo__start(mo_collect_t *c, mo_cstream_t *s, uint64_t now)
{
	if (s->state == MO_CS_STARTING) {
		mo_cstream_t *old = mo__live_stream_of(c, s->pid, s);
		if (old && old->state != MO_CS_STARTING) {
			/* Same pid, new ring: the old image exec'd. */
			old->gone = 1;
			old->exit_known = 1;
			old->exit_kind = MO_EXIT_EXEC;
			old->exit_value = 0;
			mo__finish_stream(c, old, 1);
		}
		/* Only the first entry (PROC_START): a forked child's
		 * records must not reach the file before its parent's FORK. */
		if (!mo__drain(c, s, 0, 1) && !s->gone)
			return; /* not committed yet */
		s->state = (s->flags & MO_PROC_FORKED) ? MO_CS_WAITING
						       : MO_CS_ACTIVE;
		s->wait_deadline = now + MO_FORK_WAIT_NS;
	}
	if (s->state != MO_CS_WAITING)
		return;
	mo_cstream_t *parent = mo__live_stream_of(c, s->ppid, s);
	if (parent && parent->state != MO_CS_DONE && parent->hdr)
		mo__drain(c, parent, 0, MO_DRAIN_BUDGET);
	if (!parent || parent->state == MO_CS_DONE ||
	    mo__parent_reported_fork(parent, s->pid) ||
	    now >= s->wait_deadline) {
		if (parent && parent->state != MO_CS_DONE)
			mo__flush(c, parent);
		mo__adopt_fork(c, s);
		s->state = MO_CS_ACTIVE;
	}
}

static int mo__worth_draining(const mo_cstream_t *s, uint64_t now)
{
	uint64_t pending =
		atomic_load_explicit(&s->hdr->head, memory_order_relaxed) -
		atomic_load_explicit(&s->hdr->tail, memory_order_relaxed);
	return pending >= MO_DRAIN_MIN ||
	       (pending && now - s->last_drain >= MO_DRAIN_NS);
}

/* Nonzero if a ring created after s's belongs to the same pid: s's image
 * was replaced by exec. */
static int mo__has_newer_image(const mo_collect_t *c, const mo_cstream_t *s)
{
	size_t i = 0;
	while (i < c->n && c->streams[i] != s)
		i++;
	for (i++; i < c->n; i++)
		if (c->streams[i]->pid == s->pid)
			return 1;
	return 0;
}

/* One pass over every stream.  Returns nonzero if there was work. */
static int mo__step(mo_collect_t *c, pid_t main_pid, int main_done,
		    int main_status)
{
	uint64_t now = mo__now_ns();
	int work = 0, scanned = 0;
	if (now - c->last_scan >= MO_SCAN_NS) {
		mo__scan(c);
		scanned = 1;
	}
	for (size_t i = 0; i < c->n; i++) {
		mo_cstream_t *s = c->streams[i];
		if (s->state == MO_CS_DONE)
			continue;
		int gone = mo__process_gone(s);
		if (s->state != MO_CS_ACTIVE) {
			mo__start(c, s, now);
			if (s->state != MO_CS_ACTIVE)
				continue;
		}
		if (!gone) {
			if (mo__worth_draining(s, now)) {
				work |= mo__drain(c, s, 0, MO_DRAIN_BUDGET) !=
					0;
				s->last_drain = now;
			}
			mo__sample_rss(c, s, now);
			if (now - s->last_flush >= MO_FLUSH_NS)
				mo__flush(c, s);
			continue;
		}
		/* The pid's process is gone.  If this image exec'd, its
		 * successor's ring is already in the directory (the successor
		 * may itself be gone by now): look before deciding. */
		int ws;
		if (!scanned) {
			mo__scan(c);
			scanned = 1;
		}
		if (mo__has_newer_image(c, s)) {
			s->exit_known = 1;
			s->exit_kind = MO_EXIT_EXEC;
			s->exit_value = 0;
		} else if (s->pid == main_pid && main_done)
			mo__set_exit_from_wstatus(s, main_status);
		else if (s->pid != main_pid && mo__zombie_status(s->pid, &ws))
			mo__set_exit_from_wstatus(s, ws);
		else if (s->pid == main_pid)
			continue; /* wait for waitpid() */
		mo__finish_stream(c, s, 1);
		work = 1;
	}
	return work;
}

static size_t mo__live_streams(const mo_collect_t *c)
{
	size_t live = 0;
	for (size_t i = 0; i < c->n; i++)
		live += c->streams[i]->state != MO_CS_DONE;
	return live;
}

/* --- public API ------------------------------------------------------------
 */

int mo_collect_new(mo_collect_t **out, const char *trace_path,
		   const char *ring_dir)
{
	*out = NULL;
	mo_collect_t *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->next_id = 1;
	mo_dec_init(&c->dec);
	c->ring_dir = strdup(ring_dir);
	c->entry = malloc(MO_RING_ENTRY_MAX + 8);
	c->frame = malloc(MO_FRAME_MAX_RAW);
	int err = -ENOMEM;
	if (!c->ring_dir || !c->entry || !c->frame)
		goto fail;
	err = mo_tw_open(&c->w, trace_path);
	if (err)
		goto fail;
	*out = c;
	return 0;
fail:
	free(c->ring_dir);
	free(c->entry);
	free(c->frame);
	free(c);
	return err;
}

static void mo__nap(int busy)
{
	struct timespec ts = {0, busy ? 100000 : 1000000};
	nanosleep(&ts, NULL);
}

int mo_collect_run(mo_collect_t *c, pid_t main_pid, int *wstatus,
		   volatile int *stop)
{
	int main_done = 0, status = 0;
	uint64_t main_end = 0;
	int noted = 0;
	for (;;) {
		if (!main_done) {
			pid_t r = waitpid(main_pid, &status, WNOHANG);
			if (r == main_pid || (r < 0 && errno == ECHILD)) {
				main_done = 1;
				main_end = mo__now_ns();
				mo__scan(c);
			}
		}
		int work = mo__step(c, main_pid, main_done, status);
		if (main_done && (*stop || mo__live_streams(c) == 0))
			break;
		if (main_done && !noted &&
		    mo__now_ns() - main_end > 1000000000ull) {
			fprintf(stderr,
				"memopt: %zu traced process(es) still running; "
				"waiting (interrupt to stop)\n",
				mo__live_streams(c));
			noted = 1;
		}
		if (!work)
			mo__nap(0);
	}
	*wstatus = status;
	return c->err;
}

int mo_collect_finish(mo_collect_t *c, size_t *nstreams)
{
	if (nstreams)
		*nstreams = c->n;
	for (size_t i = 0; i < c->n; i++) {
		mo_cstream_t *s = c->streams[i];
		if (s->state == MO_CS_DONE)
			continue;
		int gone = mo__process_gone(s);
		if (s->state != MO_CS_ACTIVE)
			s->state = MO_CS_ACTIVE;
		mo__finish_stream(c, s, gone);
	}
	int err = mo_tw_close(c->w);
	if (!err)
		err = c->err;
	for (size_t i = 0; i < c->n; i++)
		mo__free_stream(c->streams[i]);
	free(c->streams);
	while (c->nsnaps > 0)
		mo__drop_snap(c, 0);
	mo_dec_free(&c->dec);
	free(c->entry);
	free(c->frame);
	free(c->ring_dir);
	free(c);
	return err;
}
