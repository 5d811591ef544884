/*
 * Internal interface shared by the tracker's modules.  Nothing here is
 * exported from libmemopt_tracker.so except the interposed functions.
 */
#ifndef MO_TRACKER_H
#define MO_TRACKER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#define MO_HIDDEN __attribute__((visibility("hidden")))
#define MO_TLS __attribute__((tls_model("initial-exec"))) __thread
#define mo_likely(x) __builtin_expect(!!(x), 1)
#define mo_unlikely(x) __builtin_expect(!!(x), 0)

/* Deepest stack recorded (frames beyond are cut). */
#define MO_MAX_FRAMES 128

/* Memory for the tracker's own use, straight from mmap: never through the
 * tracked malloc.  Lazily backed (MAP_NORESERVE).  Returns NULL on failure.
 * Async-signal-safe. */
static inline void *mo__map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static inline void mo__unmap(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

#endif
