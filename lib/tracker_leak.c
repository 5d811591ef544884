/*
 * The leak scan inside the tracked process (see tracker_leak.h and
 * doc/leaks.md).
 *
 * When: the exit hook is an on_exit() handler registered while the loader
 * runs the libraries' constructors, before __libc_start_main registers the
 * loader's _dl_fini; exit handlers run in reverse order of registration,
 * so it runs after the program's atexit handlers, its C++ static
 * destructors (those of the executable as exit handlers, those of shared
 * libraries from their DT_FINI_ARRAY in _dl_fini) and every ELF
 * destructor.  Only stdio's final flush comes later.  A fatal signal
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) whose disposition is still
 * the default runs the scan too, then the handler restores the default
 * action and queues the same signal, with the same siginfo, to its
 * thread: it is delivered on return, and the process dies of it exactly
 * as it would have (status, core dump).  The handlers are hidden from the
 * program: sigaction() and signal() report them as SIG_DFL.
 *
 * Nothing here calls malloc or stdio: memory comes from mmap, files are
 * read with open/read/getdents64.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <linux/futex.h>

#include <memopt/trace_format.h>

#include "leak_scan.h"
#include "mo_ring.h"
#include "tracker_leak.h"
#include "tracker_ring.h"
#include "tracker_stack.h"

/* --- the pure part ------------------------------------------------------- */

static int mo__hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses hex digits at *p (< end); returns the number of digits read. */
static int mo__parse_hex(const char **p, const char *end, uint64_t *v)
{
	int n = 0, d;
	*v = 0;
	while (*p < end && (d = mo__hexval(**p)) >= 0 && n < 17) {
		*v = (*v << 4) | (uint64_t)d;
		(*p)++;
		n++;
	}
	return n <= 16 ? n : 0;
}

static const char *mo__skip_field(const char *p, const char *end)
{
	while (p < end && *p != ' ')
		p++;
	while (p < end && *p == ' ')
		p++;
	return p;
}

static int mo__starts(const char *p, const char *end, const char *s)
{
	size_t n = strlen(s);
	return (size_t)(end - p) >= n && memcmp(p, s, n) == 0;
}

static uint32_t mo__kind_of(const char *name, const char *end)
{
	if (name == end)
		return MO_LK_ANON;
	if (mo__starts(name, end, "[heap]"))
		return MO_LK_HEAP;
	if (mo__starts(name, end, "[stack"))
		return MO_LK_STACK;
	if (mo__starts(name, end, "[anon"))
		return MO_LK_ANON;
	if (*name == '[')
		return MO_LK_SPECIAL;
	if (mo__starts(name, end, "/dev/") &&
	    !mo__starts(name, end, "/dev/shm/") &&
	    !mo__starts(name, end, "/dev/zero"))
		return MO_LK_DEVICE;
	return MO_LK_FILE;
}

/* Parses one line [p, end): "lo-hi perms offset dev inode [name]". */
static int mo__parse_line(const char *p, const char *end, mo_lk_map_t *m)
{
	if (!mo__parse_hex(&p, end, &m->lo) || p == end || *p++ != '-' ||
	    !mo__parse_hex(&p, end, &m->hi) || p == end || *p++ != ' ' ||
	    m->hi <= m->lo || end - p < 4)
		return -1;
	m->prot = (p[0] == 'r' ? MO_LK_R : 0) | (p[1] == 'w' ? MO_LK_W : 0) |
		  (p[2] == 'x' ? MO_LK_X : 0) |
		  (p[3] == 's' ? MO_LK_SHARED : 0);
	p = mo__skip_field(p, end); /* perms */
	p = mo__skip_field(p, end); /* offset */
	p = mo__skip_field(p, end); /* device */
	p = mo__skip_field(p, end); /* inode, then the padding */
	m->kind = mo__kind_of(p, end);
	return 0;
}

size_t mo_lk_parse_maps(const char *text, size_t len, mo_lk_map_t *maps,
			size_t cap)
{
	const char *p = text, *end = text + len;
	size_t n = 0;
	while (p < end && n < cap) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		if (mo__parse_line(p, le, &maps[n]) == 0)
			n++;
		p = nl ? nl + 1 : end;
	}
	return n;
}

void mo_lk_sort_ranges(mo_lk_range_t *r, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		mo_lk_range_t x = r[i];
		size_t j = i;
		while (j > 0 && r[j - 1].lo > x.lo) {
			r[j] = r[j - 1];
			j--;
		}
		r[j] = x;
	}
}

/* Index of the first block that ends after lo (a zero-size block "ends"
 * at its start, so one at lo counts), or nb. */
static size_t mo__first_block(const mo_scan_block_t *b, size_t nb, uint64_t lo)
{
	size_t l = 0, h = nb;
	while (l < h) {
		size_t m = l + (h - l) / 2;
		if (b[m].addr < lo)
			l = m + 1;
		else
			h = m;
	}
	if (l > 0 && b[l - 1].addr + b[l - 1].size > lo)
		l--;
	return l;
}

/* Emits [lo, hi) without the skip ranges. */
static void mo__emit_minus(uint64_t lo, uint64_t hi, const mo_lk_range_t *skip,
			   size_t nskip, mo_lk_emit_fn emit, void *ctx)
{
	for (size_t i = 0; i < nskip && lo < hi; i++) {
		if (skip[i].hi <= lo || skip[i].lo >= skip[i].hi)
			continue;
		if (skip[i].lo >= hi)
			break;
		if (skip[i].lo > lo)
			emit(ctx, lo, skip[i].lo);
		if (skip[i].hi > lo)
			lo = skip[i].hi;
	}
	if (lo < hi)
		emit(ctx, lo, hi);
}

/* Start of the arena heap that ends mapping i, or maps[i].hi if none: a
 * multiple of MO_LK_ARENA_HEAP in the mapping, the heap's reserve (an
 * inaccessible anonymous mapping right after, or nothing when the heap
 * grew to its full size) ending exactly MO_LK_ARENA_HEAP after it. */
static uint64_t mo__arena_start(const mo_lk_map_t *maps, size_t n, size_t i)
{
	const mo_lk_map_t *m = &maps[i];
	if (m->kind != MO_LK_ANON || (m->prot & MO_LK_SHARED))
		return m->hi;
	uint64_t a = (m->lo + MO_LK_ARENA_HEAP - 1) & ~(MO_LK_ARENA_HEAP - 1);
	if (a >= m->hi)
		return m->hi;
	/* the last multiple below hi: an arena heap is never longer */
	a = (m->hi - 1) & ~(MO_LK_ARENA_HEAP - 1);
	if (a < m->lo)
		return m->hi;
	if (m->hi == a + MO_LK_ARENA_HEAP)
		return a;
	if (i + 1 < n) {
		const mo_lk_map_t *r = &maps[i + 1];
		if (r->lo == m->hi && r->kind == MO_LK_ANON &&
		    (r->prot & (MO_LK_R | MO_LK_W | MO_LK_X)) == 0 &&
		    r->hi == a + MO_LK_ARENA_HEAP)
			return a;
	}
	return m->hi;
}

void mo_lk_roots(const mo_lk_map_t *maps, size_t n,
		 const mo_scan_block_t *blocks, size_t nb,
		 const mo_lk_range_t *skip, size_t nskip, mo_lk_emit_fn emit,
		 void *ctx)
{
	for (size_t i = 0; i < n; i++) {
		const mo_lk_map_t *m = &maps[i];
		if ((m->prot & (MO_LK_R | MO_LK_W)) != (MO_LK_R | MO_LK_W))
			continue;
		if (m->kind != MO_LK_ANON && m->kind != MO_LK_FILE &&
		    m->kind != MO_LK_STACK)
			continue;
		uint64_t lo = m->lo, hi = mo__arena_start(maps, n, i);
		size_t b = mo__first_block(blocks, nb, lo);
		for (; b < nb && blocks[b].addr < hi; b++) {
			if (blocks[b].addr > lo)
				mo__emit_minus(lo, blocks[b].addr, skip, nskip,
					       emit, ctx);
			uint64_t e = blocks[b].addr + blocks[b].size;
			if (e > lo)
				lo = e;
		}
		if (lo < hi)
			mo__emit_minus(lo, hi, skip, nskip, emit, ctx);
	}
}

int mo_lk_stack_range(const mo_lk_map_t *maps, size_t n,
		      const mo_scan_block_t *blocks, size_t nb, uint64_t sp,
		      mo_lk_range_t *scan, mo_lk_range_t *skip)
{
	enum { RED_ZONE = 128 };
	size_t l = 0, h = n;
	while (l < h) {
		size_t m = l + (h - l) / 2;
		if (maps[m].hi <= sp)
			l = m + 1;
		else
			h = m;
	}
	if (l == n || maps[l].lo > sp ||
	    (maps[l].prot & (MO_LK_R | MO_LK_W)) != (MO_LK_R | MO_LK_W))
		return -ENOENT;
	const mo_lk_map_t *m = &maps[l];
	uint64_t lo = sp - m->lo >= RED_ZONE ? sp - RED_ZONE : m->lo;
	uint64_t hi = m->hi;
	size_t b = mo__first_block(blocks, nb, sp);
	if (b < nb && blocks[b].addr <= sp &&
	    sp < blocks[b].addr + blocks[b].size) {
		/* a stack inside a heap block (coroutines) */
		if (lo < blocks[b].addr)
			lo = blocks[b].addr;
		scan->lo = lo;
		scan->hi = blocks[b].addr + blocks[b].size;
		skip->lo = skip->hi = 0;
		return 0;
	}
	if (b < nb && blocks[b].addr < hi)
		hi = blocks[b].addr > sp ? blocks[b].addr : sp;
	if (b > 0 && blocks[b - 1].addr + blocks[b - 1].size > lo &&
	    blocks[b - 1].addr + blocks[b - 1].size <= sp)
		lo = blocks[b - 1].addr + blocks[b - 1].size;
	scan->lo = lo;
	scan->hi = hi;
	skip->lo = m->lo;
	skip->hi = hi;
	return 0;
}

uint64_t mo_lk_main_arena(uint64_t lo, uint64_t hi, uint64_t heap_lo,
			  uint64_t heap_hi, mo_lk_word_fn word, void *ctx)
{
	enum { BINS_CHECKED = 64, SELF_MIN = 8 };
	lo = (lo + 7) & ~(uint64_t)7;
	for (uint64_t a = lo + MO_LK_ARENA_TOP;
	     a + MO_LK_ARENA_SIZE - MO_LK_ARENA_TOP <= hi; a += 8) {
		uint64_t top, size;
		if (word(ctx, a, &top) != 0 || top < heap_lo ||
		    top + 16 > heap_hi || (top & 15) != 0)
			continue;
		if (word(ctx, top + 8, &size) != 0 ||
		    (size & ~(uint64_t)7) != heap_hi - top)
			continue;
		uint64_t base = a - MO_LK_ARENA_TOP;
		int self = 0;
		for (int i = 0; i < BINS_CHECKED; i++) {
			uint64_t at =
				base + MO_LK_ARENA_BINS + 16 * (uint64_t)i;
			uint64_t v;
			self += word(ctx, at, &v) == 0 && v == at - 16;
		}
		if (self >= SELF_MIN)
			return base;
	}
	return 0;
}

#ifndef MO_LEAK_TESTING

/* --- in the tracker ------------------------------------------------------ */

#define MO_API __attribute__((visibility("default")))

enum {
	MO_LK_POLL_NS = 150000,	      /* waiting for the collector */
	MO_LK_GIVEUP_NS = 1000000000, /* request read, no answer */
	MO_LK_STOP_NS = 1000000000,   /* threads to stop, per round */
	MO_LK_STOP_ROUNDS = 8,	      /* rounds looking for new threads */
	MO_LK_MAPS_FIRST = 1u << 20,  /* first /proc/self/maps buffer */
	MO_LK_MAX_SKIP = 64,	      /* skipped ranges: ours + stacks */
	MO_LK_SLOTS_MIN = 256,	      /* stop slots */
	MO_LK_GREGS = NGREG,	      /* general registers saved */
	MO_LK_DENTS = 4096,	      /* getdents64 buffer */
};

extern int __sigaction(int sig, const struct sigaction *act,
		       struct sigaction *old);

static const int g_fatal_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define MO_NFATAL (sizeof(g_fatal_sigs) / sizeof(g_fatal_sigs[0]))

static int g_enabled;
static _Atomic int g_scanning; /* a thread of this process claimed the scan */

static uint64_t mo__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void mo__nap(long ns)
{
	struct timespec ts = {0, ns};
	nanosleep(&ts, NULL);
}

static pid_t mo__gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* --- stopping the other threads ----------------------------------------- */

enum { MO_SLOT_SENT = 1, MO_SLOT_STOPPED = 2, MO_SLOT_GONE = 3 };

typedef struct mo_lk_slot {
	_Atomic int32_t tid;
	_Atomic uint32_t state;
	uint64_t sp;
	uint64_t regs[MO_LK_GREGS];
} mo_lk_slot_t;

/* The slots are never unmapped: a thread that did not answer in time may
 * still enter the handler later (a generation check makes it return). */
static mo_lk_slot_t *g_slots;
static size_t g_slots_cap;
static _Atomic uint32_t g_nslots;
static _Atomic uint32_t g_gen;	   /* of the current stop */
static _Atomic uint32_t g_release; /* == g_gen: stopped threads go on */
static int g_stop_sig;
static struct sigaction g_stop_old;

static void mo__stop_handler(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	int saved = errno;
	uint64_t v = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
	uint32_t gen = (uint32_t)(v >> 32), idx = (uint32_t)v;
	if (si->si_code != SI_QUEUE || si->si_pid != getpid() ||
	    gen != atomic_load(&g_gen) || idx >= atomic_load(&g_nslots))
		goto out;
	mo_lk_slot_t *s = &g_slots[idx];
	if (atomic_load(&s->tid) != (int32_t)mo__gettid())
		goto out;
	const ucontext_t *uc = ucv;
	for (int i = 0; i < MO_LK_GREGS; i++)
		s->regs[i] = (uint64_t)uc->uc_mcontext.gregs[i];
	s->sp = (uint64_t)uc->uc_mcontext.gregs[REG_RSP];
	atomic_store_explicit(&s->state, MO_SLOT_STOPPED, memory_order_release);
	uint32_t r;
	while ((r = atomic_load_explicit(&g_release, memory_order_acquire)) !=
	       gen) {
		struct timespec ts = {0, 20000000};
		syscall(SYS_futex, &g_release, FUTEX_WAIT_PRIVATE, r, &ts, NULL,
			0);
	}
out:
	errno = saved;
}

static int mo__slot_known(uint32_t n, int32_t tid)
{
	for (uint32_t i = 0; i < n; i++)
		if (atomic_load_explicit(&g_slots[i].tid,
					 memory_order_relaxed) == tid)
			return 1;
	return 0;
}

/* Calls fn(ctx, tid) for every thread of the process; returns the number
 * of threads, or -errno. */
static long mo__each_task(void (*fn)(void *, int32_t), void *ctx)
{
	int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char buf[MO_LK_DENTS];
	long count = 0, r;
	while ((r = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < r;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(buf + off);
			off += d->reclen;
			int32_t tid = 0;
			const char *p = d->name;
			if (*p < '0' || *p > '9')
				continue;
			while (*p >= '0' && *p <= '9')
				tid = tid * 10 + (*p++ - '0');
			count++;
			if (fn)
				fn(ctx, tid);
		}
	}
	close(fd);
	return count;
}

typedef struct mo_stopper {
	pid_t pid, self;
	uint32_t gen;
	uint32_t sent; /* signals sent this round */
	int overflow;  /* more threads than slots */
} mo_stopper_t;

static void mo__stop_one(void *ctx, int32_t tid)
{
	mo_stopper_t *st = ctx;
	uint32_t n = atomic_load(&g_nslots);
	if (tid == st->self || mo__slot_known(n, tid))
		return;
	if (n == g_slots_cap) {
		st->overflow = 1;
		return;
	}
	mo_lk_slot_t *s = &g_slots[n];
	atomic_store(&s->tid, tid);
	atomic_store(&s->state, MO_SLOT_SENT);
	atomic_store(&g_nslots, n + 1);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = g_stop_sig;
	si.si_code = SI_QUEUE;
	si.si_pid = st->pid;
	si.si_uid = getuid();
	si.si_value.sival_ptr =
		(void *)(uintptr_t)(((uint64_t)st->gen << 32) | n);
	if (syscall(SYS_rt_tgsigqueueinfo, st->pid, tid, g_stop_sig, &si) == 0)
		st->sent++;
	else
		atomic_store(&s->state, MO_SLOT_GONE);
}

/* Waits until every slot signalled is stopped or the deadline passes;
 * then marks the threads that have ended meanwhile as gone. */
static void mo__await_stops(pid_t pid, uint64_t deadline)
{
	uint32_t n = atomic_load(&g_nslots);
	for (;;) {
		uint32_t waiting = 0;
		for (uint32_t i = 0; i < n; i++)
			waiting += atomic_load_explicit(&g_slots[i].state,
							memory_order_acquire) ==
				   MO_SLOT_SENT;
		if (!waiting || mo__now_ns() >= deadline)
			break;
		mo__nap(50000);
	}
	for (uint32_t i = 0; i < n; i++)
		if (atomic_load(&g_slots[i].state) == MO_SLOT_SENT &&
		    syscall(SYS_tgkill, pid, g_slots[i].tid, 0) != 0 &&
		    errno == ESRCH)
			atomic_store(&g_slots[i].state, MO_SLOT_GONE);
}

/* Stops every other thread: each saves its registers into its slot and
 * waits in the handler until mo__resume_threads().  Returns 0, or -1 if
 * some thread could not be stopped (its roots are then only the memory
 * scanned whole). */
static int mo__stop_threads(void)
{
	mo_stopper_t st = {getpid(), mo__gettid(), 0, 0, 0};
	long count = mo__each_task(NULL, NULL);
	if (count < 0)
		return -1;
	size_t need = 2 * (size_t)count + MO_LK_SLOTS_MIN;
	if (need > g_slots_cap) {
		mo_lk_slot_t *s = mo__map(need * sizeof(mo_lk_slot_t));
		if (s) { /* an older table stays mapped for late signals */
			g_slots = s;
			g_slots_cap = need;
		}
	}
	if (!g_slots)
		return -1;
	atomic_store(&g_nslots, 0);
	st.gen = atomic_fetch_add(&g_gen, 1) + 1;
	if (st.gen == atomic_load(&g_release)) /* wrapped around */
		st.gen = atomic_fetch_add(&g_gen, 1) + 1;

	g_stop_sig = SIGRTMAX - 3;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = mo__stop_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&sa.sa_mask);
	if (__sigaction(g_stop_sig, &sa, &g_stop_old) != 0)
		return -1;
	for (int round = 0; round < MO_LK_STOP_ROUNDS; round++) {
		st.sent = 0;
		if (mo__each_task(mo__stop_one, &st) < 0)
			break;
		if (!st.sent)
			break;
		mo__await_stops(st.pid, mo__now_ns() + MO_LK_STOP_NS);
	}
	uint32_t n = atomic_load(&g_nslots);
	int ok = !st.overflow;
	for (uint32_t i = 0; i < n; i++)
		ok &= atomic_load(&g_slots[i].state) != MO_SLOT_SENT;
	return ok ? 0 : -1;
}

/* Lets the stopped threads go on.  The handler is kept when a thread
 * never answered: its signal may still come, and must not kill. */
static void mo__resume_threads(int all_stopped)
{
	atomic_store_explicit(&g_release, atomic_load(&g_gen),
			      memory_order_release);
	syscall(SYS_futex, &g_release, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL,
		NULL, 0);
	if (all_stopped)
		__sigaction(g_stop_sig, &g_stop_old, NULL);
}

/* --- fault-safe reads ---------------------------------------------------- */

static sigjmp_buf g_jb;
static volatile sig_atomic_t g_armed;
static pid_t g_scan_tid;
static struct sigaction g_guard_old[2]; /* SIGSEGV, SIGBUS */

static void mo__guard_handler(int sig, siginfo_t *si, void *uc)
{
	if (g_armed && mo__gettid() == g_scan_tid) {
		g_armed = 0;
		siglongjmp(g_jb, 1);
	}
	/* A fault of another thread (one that could not be stopped): what
	 * would have happened without the scan. */
	const struct sigaction *old = &g_guard_old[sig == SIGBUS];
	if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		if (old->sa_flags & SA_SIGINFO)
			old->sa_sigaction(sig, si, uc);
		else
			old->sa_handler(sig);
		return;
	}
	__sigaction(sig, old, NULL); /* the fault happens again */
}

/* mo_ls_read_fn: one copy under a SIGSEGV/SIGBUS guard; sigsetjmp saves
 * no signal mask (the guard runs with SA_NODEFER), so a read costs no
 * system call. */
static int mo__read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	(void)ctx;
	if (sigsetjmp(g_jb, 0))
		return -EFAULT;
	g_armed = 1;
	__asm__ volatile("" ::: "memory");
	memcpy(buf, (const void *)(uintptr_t)addr, len);
	__asm__ volatile("" ::: "memory");
	g_armed = 0;
	return 0;
}

static int mo__guard_on(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = mo__guard_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	g_scan_tid = mo__gettid();
	if (__sigaction(SIGSEGV, &sa, &g_guard_old[0]) != 0)
		return -1;
	if (__sigaction(SIGBUS, &sa, &g_guard_old[1]) != 0) {
		__sigaction(SIGSEGV, &g_guard_old[0], NULL);
		return -1;
	}
	return 0;
}

static void mo__guard_off(void)
{
	__sigaction(SIGSEGV, &g_guard_old[0], NULL);
	__sigaction(SIGBUS, &g_guard_old[1], NULL);
}

/* --- roots --------------------------------------------------------------- */

/* Reads /proc/self/maps into a fresh mapping; returns it (*cap bytes, *len
 * used) or NULL. */
static char *mo__read_maps(size_t *cap, size_t *len)
{
	for (size_t size = MO_LK_MAPS_FIRST; size <= (1ull << 34); size *= 4) {
		char *buf = mo__map(size);
		if (!buf)
			return NULL;
		int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			mo__unmap(buf, size);
			return NULL;
		}
		size_t used = 0;
		while (used < size) {
			ssize_t r = read(fd, buf + used, size - used);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			used += (size_t)r;
		}
		close(fd);
		if (used < size) {
			*cap = size;
			*len = used;
			return buf;
		}
		mo__unmap(buf, size);
	}
	return NULL;
}

/* /proc/self/pagemap while a scan runs, or -1. */
static int g_pagemap_fd = -1;

#define MO_PM_PRESENT (1ull << 63)
#define MO_PM_SWAPPED (1ull << 62)

/* Scans the pages of [lo, hi) that the process has ever touched (present
 * or swapped out, says /proc/self/pagemap): the others hold only zeros, or
 * a file's contents, which cannot point into the heap, and merely reading
 * them would make the kernel back them with memory (megabytes of reserved
 * stack, for instance).  Without pagemap, scans everything. */
static void mo__emit_root(void *ctx, uint64_t lo, uint64_t hi)
{
	enum { PAGE = 4096, CHUNK = 512 };
	uint64_t pm[CHUNK], run = lo;
	if (g_pagemap_fd < 0) {
		mo_ls_root_range(ctx, lo, hi - lo);
		return;
	}
	for (uint64_t page = lo / PAGE; page * PAGE < hi;) {
		size_t n = CHUNK;
		if ((hi - 1) / PAGE + 1 - page < n)
			n = (size_t)((hi - 1) / PAGE + 1 - page);
		ssize_t got = pread(g_pagemap_fd, pm, n * sizeof(pm[0]),
				    (off_t)(page * sizeof(pm[0])));
		if (got != (ssize_t)(n * sizeof(pm[0]))) {
			mo_ls_root_range(ctx, run, hi - run); /* scan it all */
			return;
		}
		for (size_t i = 0; i < n; i++, page++) {
			uint64_t start = page * PAGE < lo ? lo : page * PAGE;
			if (pm[i] & (MO_PM_PRESENT | MO_PM_SWAPPED))
				continue; /* part of the current run */
			if (run < start)
				mo_ls_root_range(ctx, run, start - run);
			run = (page + 1) * PAGE;
		}
	}
	if (run < hi)
		mo_ls_root_range(ctx, run, hi - run);
}

typedef struct mo_scan_ctx {
	mo_ls_t *ls;
	mo_lk_map_t *maps;
	size_t nmaps;
	const mo_scan_block_t *blocks;
	size_t nb;
	mo_lk_range_t skip[MO_LK_MAX_SKIP];
	size_t nskip;
} mo_scan_ctx_t;

static void mo__add_skip(mo_scan_ctx_t *c, uint64_t lo, uint64_t hi)
{
	if (lo < hi && c->nskip < MO_LK_MAX_SKIP)
		c->skip[c->nskip++] = (mo_lk_range_t){lo, hi};
}

static int mo__read_word(void *ctx, uint64_t addr, uint64_t *v)
{
	return mo__read(ctx, addr, v, sizeof(*v));
}

/* Leaves glibc's main arena out of the roots: it is in libc's writable
 * data (the mapping holding stdout, and the .bss mapping right after). */
static void mo__skip_main_arena(mo_scan_ctx_t *c)
{
	const mo_lk_map_t *heap = NULL;
	size_t libc = c->nmaps;
	uint64_t at = (uintptr_t)&stdout;
	for (size_t i = 0; i < c->nmaps; i++) {
		if (c->maps[i].kind == MO_LK_HEAP)
			heap = &c->maps[i];
		if (c->maps[i].lo <= at && at < c->maps[i].hi)
			libc = i;
	}
	if (!heap || libc == c->nmaps)
		return;
	uint64_t lo = c->maps[libc].lo, hi = c->maps[libc].hi;
	if (libc + 1 < c->nmaps && c->maps[libc + 1].lo == hi &&
	    c->maps[libc + 1].kind == MO_LK_ANON)
		hi = c->maps[libc + 1].hi;
	uint64_t a = mo_lk_main_arena(lo, hi, heap->lo, heap->hi, mo__read_word,
				      NULL);
	if (a)
		mo__add_skip(c, a, a + MO_LK_ARENA_SIZE);
}

/* One thread's stack from sp, left out of the ranges scanned whole. */
static void mo__stack_root(mo_scan_ctx_t *c, uint64_t sp)
{
	mo_lk_range_t scan, skip;
	if (mo_lk_stack_range(c->maps, c->nmaps, c->blocks, c->nb, sp, &scan,
			      &skip) != 0)
		return;
	if (scan.lo < scan.hi)
		mo_ls_root_range(c->ls, scan.lo, scan.hi - scan.lo);
	mo__add_skip(c, skip.lo, skip.hi);
}

/* --- the scan ------------------------------------------------------------ */

static int mo__collector_alive(const mo_ring_hdr_t *h)
{
	pid_t c = h->collector_pid;
	return c > 0 && (kill(c, 0) == 0 || errno != ESRCH);
}

/* Asks the collector for the live blocks; returns 1 once the scan file is
 * ready, 0 if there will be none. */
static int mo__request(mo_ring_hdr_t *h)
{
	uint32_t idle = MO_SCAN_IDLE;
	if (!mo__collector_alive(h))
		return 0;
	/* REQUESTED first: the collector may answer as soon as it reads the
	 * record, and its answer must not be overwritten. */
	if (!atomic_compare_exchange_strong(&h->scan_state, &idle,
					    MO_SCAN_REQUESTED))
		return 0;
	uint8_t rec = MO_REC_SCAN_REQ;
	uint64_t end;
	if (mo_ringw_write_end(&rec, 1, &end) != 0)
		goto give_up;
	uint64_t read_at = 0;
	for (unsigned i = 0;; i++) {
		uint32_t st = atomic_load_explicit(&h->scan_state,
						   memory_order_acquire);
		if (st == MO_SCAN_READY)
			return 1;
		if (st != MO_SCAN_REQUESTED)
			return 0;
		/* A collector that read the request and did not answer does
		 * not know it: give up after a while. */
		if (atomic_load(&h->tail) >= end) {
			uint64_t now = mo__now_ns();
			if (!read_at)
				read_at = now;
			else if (now - read_at > MO_LK_GIVEUP_NS)
				goto give_up;
		}
		if ((i & 63) == 0 && !mo__collector_alive(h))
			goto give_up;
		mo__nap(MO_LK_POLL_NS);
	}
give_up:;
	uint32_t req = MO_SCAN_REQUESTED;
	atomic_compare_exchange_strong(&h->scan_state, &req, MO_SCAN_DECLINED);
	return 0;
}

/* Maps the scan file read-write; returns its header or NULL. */
static mo_scan_hdr_t *mo__map_scan_file(const char *ring_path, size_t *size)
{
	char path[4096 + sizeof(MO_SCAN_SUFFIX)];
	size_t len = strlen(ring_path);
	if (len >= 4096)
		return NULL;
	memcpy(path, ring_path, len);
	memcpy(path + len, MO_SCAN_SUFFIX, sizeof(MO_SCAN_SUFFIX));
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	mo_scan_hdr_t hdr, *p = NULL;
	struct stat sb;
	if (pread(fd, &hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) &&
	    hdr.magic == MO_SCAN_MAGIC && hdr.n < (1ull << 40) &&
	    fstat(fd, &sb) == 0 &&
	    (uint64_t)sb.st_size == mo_scan_file_size(hdr.n)) {
		*size = (size_t)sb.st_size;
		void *m = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED,
			       fd, 0);
		p = m == MAP_FAILED ? NULL : m;
	}
	close(fd);
	return p;
}

/* Registers, stack and every other root; classifies.  Returns the number
 * of threads whose roots were read, with *partial set if some could not be
 * stopped.  sp/regs: the scanning thread's. */
static uint64_t mo__classify(mo_scan_ctx_t *c, uint64_t sp,
			     const uint64_t *regs, size_t nregs, int *partial)
{
	uint64_t threads = 1;
	uintptr_t own[2][2];
	mo_lk_range_t mine[4];
	int stopped = mo__stop_threads() == 0;
	*partial = !stopped;

	size_t maps_cap = 0, maps_len = 0;
	char *text = mo__read_maps(&maps_cap, &maps_len);
	size_t lines = 1;
	for (size_t i = 0; text && i < maps_len; i++)
		lines += text[i] == '\n';
	size_t arr_size = lines * sizeof(mo_lk_map_t);
	c->maps = text ? mo__map(arr_size) : NULL;
	c->nmaps =
		c->maps ? mo_lk_parse_maps(text, maps_len, c->maps, lines) : 0;
	mo__add_skip(c, (uintptr_t)text, (uintptr_t)text + maps_cap);
	mo_stacktab_ranges(own);
	mo__add_skip(c, own[0][0], own[0][1]);
	mo__add_skip(c, own[1][0], own[1][1]);
	size_t nmine = mo_tracker_own_ranges(mine);
	for (size_t i = 0; i < nmine; i++)
		mo__add_skip(c, mine[i].lo, mine[i].hi);
	mo__add_skip(c, (uintptr_t)g_slots,
		     (uintptr_t)g_slots + g_slots_cap * sizeof(mo_lk_slot_t));
	mo__skip_main_arena(c);

	for (size_t i = 0; i < nregs; i++)
		mo_ls_root_word(c->ls, regs[i]);
	mo__stack_root(c, sp);
	uint32_t n = atomic_load(&g_nslots);
	for (uint32_t i = 0; i < n; i++) {
		mo_lk_slot_t *s = &g_slots[i];
		if (atomic_load_explicit(&s->state, memory_order_acquire) !=
		    MO_SLOT_STOPPED)
			continue;
		for (int r = 0; r < MO_LK_GREGS; r++)
			mo_ls_root_word(c->ls, s->regs[r]);
		mo__stack_root(c, s->sp);
		threads++;
	}
	mo_lk_sort_ranges(c->skip, c->nskip);
	if (c->nmaps) {
		g_pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		mo_lk_roots(c->maps, c->nmaps, c->blocks, c->nb, c->skip,
			    c->nskip, mo__emit_root, c->ls);
		if (g_pagemap_fd >= 0)
			close(g_pagemap_fd);
		g_pagemap_fd = -1;
	} else {
		*partial = 1;
	}
	mo_ls_finish(c->ls);
	mo__resume_threads(stopped);
	mo__unmap(c->maps, arr_size);
	mo__unmap(text, maps_cap);
	return threads;
}

/* The whole scan; uc is the interrupted context in a signal handler.
 * Never inlined: its frame is the top of the stack range scanned. */
static __attribute__((noinline)) void mo__scan(unsigned flags,
					       const ucontext_t *uc)
{
	const char *ring_path;
	uintptr_t ring_lo, ring_hi;
	mo_ring_hdr_t *h = mo_ringw_hdr(&ring_path, &ring_lo, &ring_hi);
	if (!h || !mo__request(h))
		return;
	size_t file_size = 0;
	mo_scan_hdr_t *f = mo__map_scan_file(ring_path, &file_size);
	if (!f)
		return; /* left READY: the collector gives up when we are gone
			 */
	const mo_scan_block_t *blocks = (const mo_scan_block_t *)(f + 1);
	uint8_t *kinds = (uint8_t *)(blocks + f->n);
	uint64_t threads = 1;
	int partial = 0;
	size_t work_size = 0;
	void *work = NULL;

	/* Faults must reach the guard; other signals wait. */
	sigset_t all, old_mask;
	sigfillset(&all);
	for (size_t i = 0; i < MO_NFATAL; i++)
		sigdelset(&all, g_fatal_sigs[i]);
	pthread_sigmask(SIG_SETMASK, &all, &old_mask);
	if (f->n) {
		work_size = (mo_ls_work_size(f->n) + 4095) & ~(size_t)4095;
		work = mo__map(work_size);
		if (!work || mo__guard_on() != 0)
			goto out;
		mo_scan_ctx_t *c = mo__map(sizeof(mo_scan_ctx_t));
		if (!c) {
			mo__guard_off();
			goto out;
		}
		c->blocks = blocks;
		c->nb = f->n;
		c->ls = mo_ls_init(work, blocks, f->n, kinds, mo__read, NULL);
		mo__add_skip(c, ring_lo, ring_hi);
		mo__add_skip(c, (uintptr_t)f, (uintptr_t)f + file_size);
		mo__add_skip(c, (uintptr_t)work, (uintptr_t)work + work_size);
		mo__add_skip(c, (uintptr_t)c, (uintptr_t)c + sizeof(*c));
		uint64_t regs[MO_LK_GREGS];
		size_t nregs = 0;
		uint64_t sp;
		if (uc) {
			for (int i = 0; i < MO_LK_GREGS; i++)
				regs[nregs++] =
					(uint64_t)uc->uc_mcontext.gregs[i];
			sp = (uint64_t)uc->uc_mcontext.gregs[REG_RSP];
		} else {
			/* Callee-saved registers may still hold the callers'
			 * values; the others are dead here. */
			__asm__ volatile("mov %%rbx, 0(%0)\n\t"
					 "mov %%rbp, 8(%0)\n\t"
					 "mov %%r12, 16(%0)\n\t"
					 "mov %%r13, 24(%0)\n\t"
					 "mov %%r14, 32(%0)\n\t"
					 "mov %%r15, 40(%0)\n\t"
					 :
					 : "r"(regs)
					 : "memory");
			nregs = 6;
			__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
		}
		threads = mo__classify(c, sp, regs, nregs, &partial);
		mo__guard_off();
		mo__unmap(c, sizeof(*c));
	}
	f->flags = flags | (partial ? MO_SCAN_PARTIAL : 0);
	f->threads = threads;
	atomic_store_explicit(&h->scan_state, MO_SCAN_DONE,
			      memory_order_release);
out:
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	mo__unmap(work, work_size);
	munmap(f, file_size);
}

/* Runs the scan once per process, in a thread that may. */
static void mo__scan_once(unsigned flags, const ucontext_t *uc)
{
	if (!g_enabled || atomic_exchange(&g_scanning, 1))
		return;
	if (!mo_tracker_scan_enter())
		return;
	int saved = errno;
	mo__scan(flags, uc);
	errno = saved;
	mo_tracker_scan_leave();
}

void mo_leak_at_exit(void)
{
	mo__scan_once(MO_SCAN_AT_EXIT, NULL);
}

/* --- fatal signals ------------------------------------------------------- */

static void mo__fatal_handler(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	mo__scan_once(MO_SCAN_AT_SIGNAL, uc);
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	__sigaction(sig, &dfl, NULL);
	/* The same signal with the same siginfo, delivered (with the default
	 * action) as soon as the handler returns. */
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), mo__gettid(), sig, si) !=
	    0)
		syscall(SYS_tgkill, getpid(), mo__gettid(), sig);
	errno = saved;
}

static int mo__is_fatal_handler(const struct sigaction *sa)
{
	return (sa->sa_flags & SA_SIGINFO) &&
	       sa->sa_sigaction == mo__fatal_handler;
}

void mo_leak_init(void)
{
	const char *s = getenv(MO_ENV_LEAK_CHECK);
	g_enabled = !(s && s[0] == '0' && s[1] == 0);
	if (!g_enabled)
		return;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = mo__fatal_handler;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < MO_NFATAL; i++) {
		struct sigaction old;
		if (__sigaction(g_fatal_sigs[i], NULL, &old) == 0 &&
		    !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL)
			__sigaction(g_fatal_sigs[i], &sa, NULL);
	}
}

/* The program never sees the fatal-signal handlers: to it, the
 * disposition is still the default. */
MO_API int sigaction(int sig, const struct sigaction *act,
		     struct sigaction *old)
{
	int r = __sigaction(sig, act, old);
	if (r == 0 && old && mo__is_fatal_handler(old)) {
		memset(old, 0, sizeof(*old));
		old->sa_handler = SIG_DFL;
	}
	return r;
}

extern __sighandler_t bsd_signal(int sig, __sighandler_t handler);

MO_API __sighandler_t signal(int sig, __sighandler_t handler)
{
	__sighandler_t r = bsd_signal(sig, handler);
	if (r == (__sighandler_t)(uintptr_t)mo__fatal_handler)
		r = SIG_DFL;
	return r;
}

#endif /* MO_LEAK_TESTING */
