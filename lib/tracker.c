/*
 * libmemopt_tracker.so: preloaded into a profiled program, it interposes
 * the allocation functions, takes a stack trace of every allocation with
 * libunwind, and writes compact records into the process's shared-memory
 * ring for `memopt record` to collect.
 *
 * Hot path rules: no lock, no syscall (the coarse clock is a vDSO read), no
 * symbolization, no allocation through the tracked malloc.  A thread-local
 * flag makes the tracker reentrant: allocations made while it is working
 * (by libunwind, by the dynamic loader) go straight to the real functions.
 *
 * Ordering: a free is recorded before the real free() runs and an
 * allocation after the real function returned, each with one ring
 * reservation, so the trace order never shows an address reused before it
 * was freed.  realloc() of a live block is recorded in two steps
 * (MO_REC_REALLOC_PRE before, the outcome after) for the same reason.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <memopt/trace_format.h>

#include <memopt/alloc.h>

#include "mo_ring.h"
#include "tracker.h"
#include "tracker_leak.h"
#include "tracker_modules.h"
#include "tracker_ring.h"
#include "tracker_stack.h"

#define MO_API __attribute__((visibility("default")))

/* --- the real functions -------------------------------------------------- */

typedef struct mo_real {
	void *(*malloc)(size_t);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	void (*free)(void *);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	pid_t (*fork)(void);
	void (*exit_now)(int) __attribute__((noreturn));
	void (*exit_now2)(int) __attribute__((noreturn));
} mo_real_t;

static mo_real_t g_real;

/* --- state --------------------------------------------------------------- */

enum { MO_UNINIT, MO_INITIALIZING, MO_READY, MO_OFF };

static _Atomic int g_state = MO_UNINIT;
static MO_TLS int t_initializing; /* this thread runs mo__init() */
static MO_TLS int t_busy;	  /* inside the tracker: do not track */

static uintptr_t g_self_lo, g_self_hi; /* our own code, skipped in stacks */
static char g_ring_dir[4096];
static uint64_t g_ring_size = MO_RING_DEFAULT_SIZE;
static pid_t g_collector;
static int g_follow_fork = 1;
static long g_page_size = 4096;
static pid_t g_pid; /* the process the current ring belongs to */
static uint64_t g_start_ns;
static _Atomic uint64_t g_last_tick;
static atomic_flag g_modmap_lock = ATOMIC_FLAG_INIT;
static uint8_t *g_modmap_buf; /* MO_RING_ENTRY_MAX bytes, under the lock */

/* --- bootstrap allocator, for calls made while the real functions are
 * being looked up (dlsym may allocate) --------------------------------- */

#define MO_BOOT_SIZE (256u << 10)
static _Alignas(64) uint8_t g_boot[MO_BOOT_SIZE];
static _Atomic size_t g_boot_used;

static int mo__is_boot(const void *p)
{
	return (const uint8_t *)p >= g_boot &&
	       (const uint8_t *)p < g_boot + MO_BOOT_SIZE;
}

static void *mo__boot_alloc(size_t size, size_t align)
{
	if (align < 16)
		align = 16;
	if (size > MO_BOOT_SIZE || align > 4096)
		return NULL;
	size_t need = (size + 16 + align - 1 + 15) & ~(size_t)15;
	size_t at = atomic_fetch_add(&g_boot_used, need);
	if (at + need > MO_BOOT_SIZE)
		return NULL;
	uintptr_t p = ((uintptr_t)(g_boot + at + 16) + align - 1) &
		      ~(uintptr_t)(align - 1);
	((size_t *)p)[-1] = size;
	return (void *)p; /* static storage: already zeroed */
}

static size_t mo__boot_size(const void *p)
{
	return ((const size_t *)p)[-1];
}

/* --- time ---------------------------------------------------------------- */

static uint64_t mo__coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The precise clock, for the rare events that bound a process's time. */
static uint64_t mo__precise_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Prepends a TICK record when the coarse clock moved since the last one
 * any thread wrote: one vDSO clock read and one shared load per event. */
static uint8_t *mo__maybe_tick(uint8_t *p)
{
	uint64_t now = mo__coarse_ns();
	uint64_t last =
		atomic_load_explicit(&g_last_tick, memory_order_relaxed);
	if (mo_likely(now <= last))
		return p;
	if (!atomic_compare_exchange_strong(&g_last_tick, &last, now))
		return p;
	return mo_enc_u1(p, MO_REC_TICK, now - g_start_ns);
}

/* --- module map ---------------------------------------------------------- */

static void mo__send_modmap_locked(void)
{
	size_t len = mo_modules_encode(g_modmap_buf, MO_RING_ENTRY_MAX);
	if (len && mo_ringw_write(g_modmap_buf, (uint32_t)len) == 0)
		mo_modules_sent();
}

/* Sends the module map again if objects were loaded or unloaded since it
 * was last sent.  Called before a new stack is sent, so that its addresses
 * can be mapped.  Threads that race here wait for the one sending. */
static void mo__refresh_modmap(void)
{
	if (!mo_modules_changed())
		return;
	while (atomic_flag_test_and_set_explicit(&g_modmap_lock,
						 memory_order_acquire))
		__builtin_ia32_pause();
	if (mo_modules_changed())
		mo__send_modmap_locked();
	atomic_flag_clear_explicit(&g_modmap_lock, memory_order_release);
}

/* --- stacks -------------------------------------------------------------- */

/* Captures the caller's stack into buf (MO_MAX_FRAMES + 16 entries),
 * without the tracker's own frames; returns the frames kept, which start
 * at *ips.  Always inlined, so that libunwind walks as few of the tracker's
 * frames as possible. */
static inline __attribute__((always_inline)) uint32_t
mo__capture(uint64_t *buf, const uint64_t **ips)
{
	int n = unw_backtrace((void **)buf, MO_MAX_FRAMES + 16);
	int skip = 0;
	while (skip < n && buf[skip] >= g_self_lo && buf[skip] < g_self_hi)
		skip++;
	*ips = buf + skip;
	n -= skip;
	return n < MO_MAX_FRAMES ? (uint32_t)n : MO_MAX_FRAMES;
}

/* Scratch for one event: a STACK record, a TICK and up to two records. */
typedef struct mo_evbuf {
	uint8_t bytes[MO_STACK_REC_MAX(MO_MAX_FRAMES) + 4 * MO_REC_MAX_SMALL];
} mo_evbuf_t;

/* Resolves the current stack to an id; when it is new, its STACK record is
 * written at *p (advancing it) and *slot must be published after commit.
 * Always inlined into the recording functions (see mo__capture()). */
static inline __attribute__((always_inline)) uint32_t
mo__stack_id(uint8_t **p, mo_stackslot_t **slot)
{
	uint64_t buf[MO_MAX_FRAMES + 16];
	const uint64_t *ips;
	uint32_t n = mo__capture(buf, &ips);
	int fresh = 0;
	/* The scratch buffer's address is a fixed offset from the caller's
	 * stack pointer: it helps the memo tell call paths apart. */
	uint32_t id =
		mo_stacktab_intern_ctx(ips, n, (uintptr_t)buf, slot, &fresh);
	if (fresh) {
		mo__refresh_modmap();
		*p = mo_enc_stack(*p, id, ips, n);
	}
	return id;
}

static void mo__commit(const mo_evbuf_t *b, const uint8_t *end,
		       mo_stackslot_t *slot, uint32_t id)
{
	mo_ringw_write(b->bytes, (uint32_t)(end - b->bytes));
	if (slot)
		mo_stacktab_publish(slot, id);
}

/* --- recording ----------------------------------------------------------- */

/* Evaluates a call of a real allocation function with tracking off in this
 * thread, so that allocator functions calling one another (glibc's
 * reallocarray() calls realloc()) are recorded once, by the outer wrapper.
 * `was` receives whether the thread was already inside the tracker. */
#define MO_REAL(was, call)                    \
	({                                    \
		was = t_busy;                 \
		t_busy = 1;                   \
		__typeof__(call) r_ = (call); \
		t_busy = was;                 \
		r_;                           \
	})

static int mo__tracking(void)
{
	return mo_likely(atomic_load_explicit(&g_state, memory_order_relaxed) ==
			 MO_READY) &&
	       !t_busy;
}

static inline __attribute__((always_inline)) void
mo__record_alloc(unsigned fn, const void *ptr, size_t size)
{
	int saved = errno;
	t_busy = 1;
	mo_evbuf_t b;
	uint8_t *p = b.bytes;
	uint64_t base = 0;
	mo_stackslot_t *slot = NULL;
	uint32_t id = mo__stack_id(&p, &slot);
	p = mo__maybe_tick(p);
	p = mo_enc_alloc(p, &base, fn, (uintptr_t)ptr, size, id);
	mo__commit(&b, p, slot, id);
	t_busy = 0;
	errno = saved;
}

static void mo__record_ptr(unsigned type, const void *ptr)
{
	int saved = errno;
	uint8_t b[2 * MO_REC_MAX_SMALL];
	uint64_t base = 0;
	uint8_t *p = mo__maybe_tick(b);
	p = mo_enc_ptr(p, &base, type, (uintptr_t)ptr);
	mo_ringw_write(b, (uint32_t)(p - b));
	errno = saved;
}

static void mo__record_realloc(unsigned fn, const void *old, const void *new,
			       size_t size)
{
	int saved = errno;
	t_busy = 1;
	mo_evbuf_t b;
	uint8_t *p = b.bytes;
	uint64_t base = 0;
	mo_stackslot_t *slot = NULL;
	uint32_t id = 0;
	if (new)
		id = mo__stack_id(&p, &slot);
	p = mo__maybe_tick(p);
	p = mo_enc_realloc(p, &base, fn, (uintptr_t)old, (uintptr_t) new,
			   new ? size : 0, id);
	mo__commit(&b, p, slot, id);
	t_busy = 0;
	errno = saved;
}

static void mo__record_small(unsigned type, uint64_t v)
{
	uint8_t b[2 * MO_REC_MAX_SMALL];
	uint8_t *p = mo__maybe_tick(b);
	p = mo_enc_u1(p, type, v);
	mo_ringw_write(b, (uint32_t)(p - b));
}

/* Records a successful allocation unless the caller is the tracker. */
static inline __attribute__((always_inline)) void *
mo__alloc_tail(unsigned fn, void *p, size_t size, int was)
{
	if (p && !was)
		mo__record_alloc(fn, p, size);
	return p;
}

/* --- process start ------------------------------------------------------- */

/* Reads /proc/self/cmdline into buf; returns its length. */
static size_t mo__read_cmdline(char *buf, size_t cap)
{
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t len = 0;
	while (len < cap) {
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	return len;
}

static uint8_t *mo__put_argv(uint8_t *p, const char *args, size_t len)
{
	uint32_t argc = 0;
	for (size_t i = 0; i < len; i++)
		argc += args[i] == 0;
	if (len && args[len - 1] != 0)
		argc++; /* cut short: last argument has no terminator */
	p = mo_put_uv(p, argc);
	for (size_t i = 0; i < len;) {
		size_t n = strnlen(args + i, len - i);
		p = mo_put_str(p, args + i, n);
		i += n + 1;
	}
	return p;
}

/* Sends PROC_START and the module map: the first records of a ring. */
static void mo__send_start(unsigned flags)
{
	/* The record (at most 2 * ARGS_MAX + 8 KiB) is built at the start of
	 * the module-map buffer, the raw arguments are read into its end. */
	enum { ARGS_MAX = 160u << 10 };
	uint8_t *b = g_modmap_buf; /* free: nobody else runs yet */
	char *args = (char *)b + MO_RING_ENTRY_MAX - ARGS_MAX;
	size_t alen = mo__read_cmdline(args, ARGS_MAX);
	char exe[4096];
	ssize_t elen = readlink("/proc/self/exe", exe, sizeof(exe));
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);

	uint8_t *p = b;
	*p++ = MO_REC_PROC_START;
	p = mo_put_uv(p, (uint64_t)getpid());
	p = mo_put_uv(p, (uint64_t)getppid());
	p = mo_put_uv(p, flags);
	p = mo_put_uv(p,
		      (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec);
	p = mo_put_uv(p, g_start_ns);
	p = mo_put_str(p, exe, elen > 0 ? (size_t)elen : 0);
	p = mo__put_argv(p, args, alen);
	mo_ringw_write(b, (uint32_t)(p - b));
	mo__send_modmap_locked();
}

/* --- exit ---------------------------------------------------------------- */

static void mo__send_exit(int code)
{
	uint8_t b[4 * MO_REC_MAX_SMALL];
	struct rusage ru;
	uint64_t hwm = 0;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		hwm = (uint64_t)ru.ru_maxrss * 1024;
	uint8_t *p = mo_enc_u1(b, MO_REC_TICK, mo__precise_ns() - g_start_ns);
	p = mo_enc_u2(p, MO_REC_RSS, hwm, hwm);
	p = mo_enc_u2(p, MO_REC_EXIT, MO_EXIT_CODE, (uint64_t)(unsigned)code);
	mo_ringw_write(b, (uint32_t)(p - b));
}

/* The on_exit() handler, registered while the loader runs constructors:
 * it runs after every other exit handler and destructor (see
 * tracker_leak.c), so the leak scan sees the heap as the program left it. */
static void mo__on_exit(int code, void *arg)
{
	(void)arg;
	if (atomic_load(&g_state) != MO_READY)
		return;
	mo_leak_at_exit();
	mo__send_exit(code);
	mo_ringw_mark_exited();
}

/* --- initialisation ------------------------------------------------------ */

#define MO_RESOLVE(field, name) \
	(g_real.field = (__typeof__(g_real.field))dlsym(RTLD_NEXT, name))

static void mo__resolve(void)
{
	MO_RESOLVE(malloc, "malloc");
	MO_RESOLVE(calloc, "calloc");
	MO_RESOLVE(realloc, "realloc");
	MO_RESOLVE(reallocarray, "reallocarray");
	MO_RESOLVE(free, "free");
	MO_RESOLVE(posix_memalign, "posix_memalign");
	MO_RESOLVE(aligned_alloc, "aligned_alloc");
	MO_RESOLVE(memalign, "memalign");
	MO_RESOLVE(valloc, "valloc");
	MO_RESOLVE(pvalloc, "pvalloc");
	MO_RESOLVE(fork, "fork");
	MO_RESOLVE(exit_now, "_exit");
	MO_RESOLVE(exit_now2, "_Exit");
}

static void mo__read_env(void)
{
	const char *s = getenv(MO_ENV_RING_SIZE);
	if (s) {
		uint64_t v = strtoull(s, NULL, 0);
		uint64_t pow2 = 1u << 16;
		while (pow2 < v && pow2 < (1ull << 34))
			pow2 <<= 1;
		g_ring_size = pow2;
	}
	s = getenv(MO_ENV_COLLECTOR_PID);
	g_collector = s ? (pid_t)atoi(s) : 0;
	s = getenv(MO_ENV_FOLLOW_FORK);
	g_follow_fork = !(s && s[0] == '0');
}

static void mo__after_fork_child(void);

/* Opens a ring for this process and sends its first records.  Returns 0 or
 * -errno; on failure tracking stays off. */
static int mo__start_ring(unsigned flags)
{
	/* Ticks are taken from the coarse clock but never before the start,
	 * which comes from the precise one, so they never go backwards. */
	g_start_ns = mo__precise_ns();
	g_pid = getpid();
	atomic_store(&g_last_tick, g_start_ns);
	int err = mo_stacktab_init();
	if (!err)
		err = mo_ringw_open(g_ring_dir, getpid(), g_collector,
				    g_ring_size);
	if (err)
		return err;
	mo__send_start(flags);
	return 0;
}

static void mo__init(void)
{
	mo__resolve();
	const char *dir = getenv(MO_ENV_RING_DIR);
	if (!dir || !*dir || strlen(dir) >= sizeof(g_ring_dir) || !g_real.free)
		goto off;
	strcpy(g_ring_dir, dir);
	mo__read_env();
	g_page_size = sysconf(_SC_PAGESIZE);
	if (mo_modules_range_of((uintptr_t)&mo__init, &g_self_lo, &g_self_hi) !=
	    0)
		goto off;
	g_modmap_buf = mo__map(MO_RING_ENTRY_MAX);
	if (!g_modmap_buf)
		goto off;
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	if (mo__start_ring(0) != 0)
		goto off;
	pthread_atfork(NULL, NULL, mo__after_fork_child);
	on_exit(mo__on_exit, NULL);
	mo_leak_init();
	atomic_store(&g_state, MO_READY);
	return;
off:
	atomic_store(&g_state, MO_OFF);
}

/* Makes sure mo__init() ran.  Calls made by the initialising thread while
 * it runs return at once (they are served untracked); other threads wait. */
static void mo__ensure_init(void)
{
	int st = atomic_load(&g_state);
	if (st == MO_READY || st == MO_OFF || t_initializing)
		return;
	int expect = MO_UNINIT;
	if (atomic_compare_exchange_strong(&g_state, &expect,
					   MO_INITIALIZING)) {
		t_initializing = 1;
		mo__init();
		t_initializing = 0;
		return;
	}
	while (atomic_load(&g_state) == MO_INITIALIZING)
		sched_yield();
}

__attribute__((constructor)) static void mo__ctor(void)
{
	mo__ensure_init();
}

/* --- memopt's own allocators (libmemopt) ---------------------------------
 * libmemopt looks these hooks up by name when it loads (memopt/alloc.h)
 * and reports every allocator event to them. */

#define MO_POOL_STR_MAX 64

/* An extension record: type, length, payload. */
static uint8_t *mo__put_ext(uint8_t *p, unsigned type, const uint8_t *payload,
			    size_t len)
{
	*p++ = (uint8_t)type;
	p = mo_put_uv(p, len);
	memcpy(p, payload, len);
	return p + len;
}

/* Writes one allocator record of up to five uv fields and two strings. */
static void mo__pool_record(unsigned type, const uint64_t *v, int nv,
			    const char *s1, const char *s2, int with_stack)
{
	if (!mo__tracking())
		return;
	int saved = errno;
	t_busy = 1;
	mo_evbuf_t b;
	uint8_t pay[6 * 10 + 2 * (10 + MO_POOL_STR_MAX)], *q = pay;
	uint8_t *p = b.bytes;
	mo_stackslot_t *slot = NULL;
	uint32_t id = with_stack ? mo__stack_id(&p, &slot) : 0;
	p = mo__maybe_tick(p);
	for (int i = 0; i < nv; i++)
		q = mo_put_uv(q, v[i]);
	if (with_stack)
		q = mo_put_uv(q, id);
	for (const char *str = s1; str; str = str == s1 ? s2 : NULL) {
		size_t n = strnlen(str, MO_POOL_STR_MAX);
		q = mo_put_str(q, str, n);
	}
	p = mo__put_ext(p, type, pay, (size_t)(q - pay));
	mo__commit(&b, p, slot, id);
	t_busy = 0;
	errno = saved;
}

static void mo__pool_created(const void *inst, const char *kind,
			     const char *name)
{
	uint64_t v[1] = {(uintptr_t)inst};
	mo__pool_record(MO_REC_POOL_CREATE, v, 1, kind ? kind : "",
			name ? name : "", 0);
}

static void mo__pool_destroyed(const void *inst)
{
	uint64_t v[1] = {(uintptr_t)inst};
	mo__pool_record(MO_REC_POOL_DESTROY, v, 1, NULL, NULL, 0);
}

static void mo__pool_alloc(const void *inst, const void *ptr, size_t size,
			   size_t reserved)
{
	uint64_t v[4] = {(uintptr_t)inst, (uintptr_t)ptr, size, reserved};
	mo__pool_record(MO_REC_POOL_ALLOC, v, 4, NULL, NULL, 1);
}

static void mo__pool_free(const void *inst, const void *ptr, size_t size)
{
	uint64_t v[3] = {(uintptr_t)inst, (uintptr_t)ptr, size};
	mo__pool_record(MO_REC_POOL_FREE, v, 3, NULL, NULL, 0);
}

static void mo__pool_reset(const void *inst)
{
	uint64_t v[1] = {(uintptr_t)inst};
	mo__pool_record(MO_REC_POOL_RESET, v, 1, NULL, NULL, 0);
}

static void mo__pool_rewind(const void *inst, size_t in_use, size_t reserved,
			    size_t live)
{
	uint64_t v[4] = {(uintptr_t)inst, in_use, reserved, live};
	mo__pool_record(MO_REC_POOL_RESET, v, 4, NULL, NULL, 0);
}

MO_API const mo_alloc_hooks_t mo_tracker_alloc_hooks = {
	mo__pool_created, mo__pool_destroyed, mo__pool_alloc,
	mo__pool_free,	  mo__pool_reset,     mo__pool_rewind};

int mo_tracker_scan_enter(void)
{
	if (atomic_load(&g_state) != MO_READY || t_busy || getpid() != g_pid)
		return 0;
	t_busy = 1;
	return 1;
}

void mo_tracker_scan_leave(void)
{
	t_busy = 0;
}

size_t mo_tracker_own_ranges(mo_lk_range_t *r)
{
	r[0] = (mo_lk_range_t){(uintptr_t)g_modmap_buf,
			       (uintptr_t)g_modmap_buf + MO_RING_ENTRY_MAX};
	r[1] = (mo_lk_range_t){(uintptr_t)g_boot,
			       (uintptr_t)g_boot + MO_BOOT_SIZE};
	return 2;
}

static void mo__after_fork_child(void)
{
	if (atomic_load(&g_state) != MO_READY)
		return;
	mo_ringw_detach(); /* the parent's ring is not ours */
	if (!g_follow_fork) {
		unsetenv(MO_ENV_RING_DIR); /* nor are our exec'd images */
		atomic_store(&g_state, MO_OFF);
		return;
	}
	atomic_flag_clear(&g_modmap_lock);
	if (mo__start_ring(MO_PROC_FORKED) != 0)
		atomic_store(&g_state, MO_OFF);
}

/* --- the interposed functions -------------------------------------------- */

/* Untracked service while the tracker is not ready. */
static void *mo__early_alloc(size_t size, size_t align)
{
	mo__ensure_init();
	if (g_real.memalign && align > 16)
		return g_real.memalign(align, size);
	if (g_real.malloc)
		return g_real.malloc(size);
	return mo__boot_alloc(size, align);
}

static int mo__ready(void)
{
	if (mo_likely(atomic_load_explicit(&g_state, memory_order_relaxed) ==
		      MO_READY))
		return 1;
	mo__ensure_init();
	return atomic_load(&g_state) == MO_READY;
}

MO_API void *malloc(size_t size)
{
	if (mo_unlikely(!mo__ready()))
		return mo__early_alloc(size, 16);
	int was;
	void *p = MO_REAL(was, g_real.malloc(size));
	return mo__alloc_tail(MO_FN_MALLOC, p, size, was);
}

MO_API void free(void *ptr)
{
	if (!ptr || mo_unlikely(mo__is_boot(ptr)))
		return;
	if (mo_unlikely(!mo__ready())) {
		if (g_real.free)
			g_real.free(ptr);
		return;
	}
	int was = t_busy;
	t_busy = 1; /* also while the record is written (see tracker_leak.c) */
	if (!was)
		mo__record_ptr(MO_REC_FREE, ptr);
	g_real.free(ptr);
	t_busy = was;
}

MO_API void *calloc(size_t n, size_t size)
{
	if (mo_unlikely(!mo__ready())) {
		size_t total;
		if (__builtin_mul_overflow(n, size, &total)) {
			errno = ENOMEM;
			return NULL;
		}
		if (g_real.calloc)
			return g_real.calloc(n, size);
		return mo__boot_alloc(total, 16); /* zeroed static memory */
	}
	int was;
	void *p = MO_REAL(was, g_real.calloc(n, size));
	return mo__alloc_tail(MO_FN_CALLOC, p, n * size, was);
}

/* realloc() of a bootstrap block: move it to the real heap. */
static void *mo__realloc_boot(void *ptr, size_t size)
{
	void *p = malloc(size);
	if (p) {
		size_t old = mo__boot_size(ptr);
		memcpy(p, ptr, old < size ? old : size);
	}
	return p;
}

static void *mo__realloc_tracked(unsigned fn, void *ptr, size_t size,
				 void *(*call)(void *, size_t, size_t),
				 size_t n, size_t m)
{
	int track = mo__tracking(), was;
	if (track) {
		t_busy = 1;
		mo__record_ptr(MO_REC_REALLOC_PRE, ptr);
		t_busy = 0;
	}
	void *p = MO_REAL(was, call(ptr, n, m));
	if (!track)
		return p;
	if (p || size == 0) {
		mo__record_realloc(fn, ptr, p, size);
	} else {
		t_busy = 1;
		mo__record_ptr(MO_REC_REALLOC_FAIL, ptr);
		t_busy = 0;
	}
	return p;
}

static void *mo__call_realloc(void *ptr, size_t n, size_t m)
{
	(void)m;
	return g_real.realloc(ptr, n);
}

static void *mo__call_reallocarray(void *ptr, size_t n, size_t m)
{
	return g_real.reallocarray(ptr, n, m);
}

MO_API void *realloc(void *ptr, size_t size)
{
	if (mo_unlikely(ptr && mo__is_boot(ptr)))
		return mo__realloc_boot(ptr, size);
	if (mo_unlikely(!mo__ready())) {
		if (g_real.realloc)
			return g_real.realloc(ptr, size);
		return ptr ? NULL : mo__boot_alloc(size, 16);
	}
	int was;
	if (!ptr)
		return mo__alloc_tail(MO_FN_REALLOC,
				      MO_REAL(was, g_real.realloc(NULL, size)),
				      size, was);
	return mo__realloc_tracked(MO_FN_REALLOC, ptr, size, mo__call_realloc,
				   size, 0);
}

MO_API void *reallocarray(void *ptr, size_t n, size_t m)
{
	size_t size;
	if (__builtin_mul_overflow(n, m, &size)) {
		errno = ENOMEM;
		return NULL;
	}
	if (mo_unlikely(ptr && mo__is_boot(ptr)))
		return mo__realloc_boot(ptr, size);
	if (mo_unlikely(!mo__ready())) {
		if (g_real.reallocarray)
			return g_real.reallocarray(ptr, n, m);
		return ptr ? NULL : mo__boot_alloc(size, 16);
	}
	int was;
	if (!ptr)
		return mo__alloc_tail(
			MO_FN_REALLOCARRAY,
			MO_REAL(was, g_real.reallocarray(NULL, n, m)), size,
			was);
	return mo__realloc_tracked(MO_FN_REALLOCARRAY, ptr, size,
				   mo__call_reallocarray, n, m);
}

MO_API int posix_memalign(void **out, size_t align, size_t size)
{
	if (mo_unlikely(!mo__ready())) {
		if (g_real.posix_memalign)
			return g_real.posix_memalign(out, align, size);
		void *p = mo__boot_alloc(size, align);
		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	int was;
	int r = MO_REAL(was, g_real.posix_memalign(out, align, size));
	if (r == 0)
		mo__alloc_tail(MO_FN_POSIX_MEMALIGN, *out, size, was);
	return r;
}

MO_API void *aligned_alloc(size_t align, size_t size)
{
	if (mo_unlikely(!mo__ready()))
		return mo__early_alloc(size, align);
	int was;
	void *p = MO_REAL(was, g_real.aligned_alloc(align, size));
	return mo__alloc_tail(MO_FN_ALIGNED_ALLOC, p, size, was);
}

MO_API void *memalign(size_t align, size_t size)
{
	if (mo_unlikely(!mo__ready()))
		return mo__early_alloc(size, align);
	int was;
	void *p = MO_REAL(was, g_real.memalign(align, size));
	return mo__alloc_tail(MO_FN_MEMALIGN, p, size, was);
}

MO_API void *valloc(size_t size)
{
	if (mo_unlikely(!mo__ready()))
		return mo__early_alloc(size, 4096);
	int was;
	void *p = MO_REAL(was, g_real.valloc(size));
	return mo__alloc_tail(MO_FN_VALLOC, p, size, was);
}

/* pvalloc() is counted with its size rounded up to whole pages, as
 * valgrind counts it. */
MO_API void *pvalloc(size_t size)
{
	if (mo_unlikely(!mo__ready()))
		return mo__early_alloc(size, 4096);
	size_t page = (size_t)g_page_size;
	size_t rounded = (size + page - 1) & ~(page - 1);
	int was;
	void *p = MO_REAL(was, g_real.pvalloc(size));
	return mo__alloc_tail(MO_FN_PVALLOC, p, rounded < size ? size : rounded,
			      was);
}

MO_API pid_t fork(void)
{
	mo__ensure_init();
	if (!g_real.fork) {
		errno = ENOSYS;
		return -1;
	}
	pid_t r = g_real.fork();
	if (r > 0 && mo__tracking()) {
		t_busy = 1;
		mo__record_small(MO_REC_FORK, (uint64_t)r);
		t_busy = 0;
	}
	return r;
}

/* _exit() skips on_exit handlers: record the status here.  A vfork()ed
 * child shares its parent's memory, ring included: it records nothing. */
static void mo__exit_now(int code)
{
	if (mo__tracking() && getpid() == g_pid) {
		mo_leak_at_exit();
		mo__send_exit(code);
		mo_ringw_mark_exited();
	}
}

MO_API void _exit(int code)
{
	mo__exit_now(code);
	if (g_real.exit_now)
		g_real.exit_now(code);
	syscall(SYS_exit_group, code);
	__builtin_unreachable();
}

MO_API void _Exit(int code)
{
	mo__exit_now(code);
	if (g_real.exit_now2)
		g_real.exit_now2(code);
	syscall(SYS_exit_group, code);
	__builtin_unreachable();
}
