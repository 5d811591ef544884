/*
 * The collector: maps the rings that tracked processes create, drains
 * their committed entries, re-encodes the records into per-stream frame
 * buffers (addresses delta-coded across the whole frame) and writes the
 * frames to the trace file.
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

#include "collector.h"
#include "mo_ring.h"
#include "trace_codec.h"
#include "trace_writer.h"

#define MO_FLUSH_BYTES (1u << 20)
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

/* The allocations of the frame being built, for MO_REC_FREE_RECENT: the
 * decoder keeps the same list, so a free of a recent block is sent as its
 * distance in allocations instead of its address. */
/* Index of the list by address: twice as many slots as entries. */
#define MO_RECENT_IDX_BITS 13
_Static_assert((1u << MO_RECENT_IDX_BITS) >= 2 * MO_RECENT_WINDOW,
	       "the recent-address index is too small for the window");

typedef struct mo_recent {
	uint64_t n; /* allocations in the frame so far */
	uint64_t addr[MO_RECENT_WINDOW];
	struct {
		uint64_t addr, seq;
	} idx[1u << MO_RECENT_IDX_BITS];
} mo_recent_t;

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
	uint8_t *buf; /* frame being built */
	size_t len;
	uint64_t base;
	mo_recent_t *recent; /* allocations of the frame */
	mo_recent_t *freed;  /* frees of the frame */
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
	if (s->len) {
		int err = mo_tw_frame(c->w, s->id, s->buf, s->len);
		if (err && !c->err)
			c->err = err;
	}
	s->len = 0;
	s->base = 0;
	s->recent->n = 0;
	s->freed->n = 0;
	s->last_flush = mo__now_ns();
}

static size_t mo__recent_slot(uint64_t addr)
{
	return (size_t)((addr >> 4) * 0x9e3779b97f4a7c15ull >>
			(64 - MO_RECENT_IDX_BITS));
}

static void mo__recent_note(mo_recent_t *r, uint64_t addr)
{
	uint64_t seq = ++r->n;
	r->addr[seq % MO_RECENT_WINDOW] = addr;
	size_t i = mo__recent_slot(addr);
	r->idx[i].addr = addr;
	r->idx[i].seq = seq;
}

/* Distance d of addr for MO_REC_FREE_RECENT, or 0 if it is not recent. */
static uint64_t mo__recent_distance(const mo_recent_t *r, uint64_t addr)
{
	size_t i = mo__recent_slot(addr);
	uint64_t seq = r->idx[i].seq;
	if (r->idx[i].addr != addr || seq == 0 || seq > r->n ||
	    r->n - seq >= MO_RECENT_WINDOW ||
	    r->addr[seq % MO_RECENT_WINDOW] != addr)
		return 0;
	return r->n - seq + 1;
}

/* Writes a free of a recently allocated block, or an allocation of a
 * recently freed address, compactly (the caller made room for
 * MO_REC_MAX_SMALL bytes).  Returns the end of the record, or NULL if the
 * address is not recent. */
static uint8_t *mo__enc_recent(mo_cstream_t *s, const mo_event_t *ev)
{
	uint8_t *p = s->buf + s->len;
	uint64_t d;
	if (ev->type == MO_REC_FREE) {
		d = mo__recent_distance(s->recent, ev->u.free.ptr);
		if (!d)
			return NULL;
		p = mo_enc_u1(p, MO_REC_FREE_RECENT, d);
		s->base = ev->u.free.ptr;
		return p;
	}
	if (ev->type != MO_REC_ALLOC)
		return NULL;
	d = mo__recent_distance(s->freed, ev->u.alloc.ptr);
	if (!d)
		return NULL;
	p = mo_enc_alloc_recent(p, ev->u.alloc.fn, d, ev->u.alloc.size,
				ev->u.alloc.stack);
	s->base = ev->u.alloc.ptr;
	return p;
}

/* Keeps the lists the decoder will keep for the *_RECENT records. */
static void mo__note_recent(mo_cstream_t *s, const mo_event_t *ev)
{
	if (ev->type == MO_REC_ALLOC)
		mo__recent_note(s->recent, ev->u.alloc.ptr);
	else if (ev->type == MO_REC_FREE)
		mo__recent_note(s->freed, ev->u.free.ptr);
	else if (ev->type == MO_REC_REALLOC && ev->u.realloc.new_ptr)
		mo__recent_note(s->recent, ev->u.realloc.new_ptr);
}

/* Appends one decoded record to the stream's frame. */
static void mo__append(mo_collect_t *c, mo_cstream_t *s, const mo_event_t *ev)
{
	if (MO_FRAME_MAX_RAW - s->len < MO_REC_MAX_SMALL)
		mo__flush(c, s);
	uint8_t *end = mo__enc_recent(s, ev);
	for (int attempt = 0; !end && attempt < 2; attempt++) {
		end = mo_enc_event(s->buf + s->len, s->buf + MO_FRAME_MAX_RAW,
				   &s->base, ev);
		if (!end)
			mo__flush(c, s);
	}
	if (!end)
		return;
	s->len = (size_t)(end - s->buf);
	mo__note_recent(s, ev);
	if (s->len >= MO_FLUSH_BYTES)
		mo__flush(c, s);
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

static void mo__note_record(mo_cstream_t *s, const mo_event_t *ev)
{
	if (ev->type == MO_REC_PROC_START) {
		s->ppid = (pid_t)ev->u.start.ppid;
		s->flags = (unsigned)ev->u.start.flags;
	} else if (ev->type == MO_REC_FORK) {
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

static void mo__transcode(mo_collect_t *c, mo_cstream_t *s, uint32_t len)
{
	mo_event_t ev;
	int r;
	mo_dec_block(&c->dec, c->entry, len);
	while ((r = mo_dec_next(&c->dec, &ev)) == 1) {
		mo__note_record(s, &ev);
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
	while (final || done < budget) {
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
	free(s->buf);
	free(s->recent);
	free(s->freed);
	s->buf = NULL;
	s->recent = s->freed = NULL;
}

static void mo__free_stream(mo_cstream_t *s)
{
	mo__unmap_ring(s);
	free(s->path);
	free(s->buf);
	free(s->recent);
	free(s->freed);
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
	s->buf = malloc(MO_FRAME_MAX_RAW);
	s->recent = calloc(1, sizeof(*s->recent));
	s->freed = calloc(1, sizeof(*s->freed));
	int err = !s->path || !s->buf || !s->recent || !s->freed ? -ENOMEM : 0;
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
		free(s->buf);
		free(s->recent);
		free(s->freed);
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
			if (s->len && now - s->last_flush >= MO_FLUSH_NS)
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
	if (!c->ring_dir || !c->entry) {
		free(c->ring_dir);
		free(c->entry);
		free(c);
		return -ENOMEM;
	}
	int err = mo_tw_open(&c->w, trace_path);
	if (err) {
		free(c->ring_dir);
		free(c->entry);
		free(c);
		return err;
	}
	*out = c;
	return 0;
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
	mo_dec_free(&c->dec);
	free(c->entry);
	free(c->ring_dir);
	free(c);
	return err;
}
