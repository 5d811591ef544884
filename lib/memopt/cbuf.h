/*
 * Circular buffer of fixed-size elements with a power-of-two capacity:
 * push and pop at both ends, and, when full, either reject the push or
 * overwrite the element at the other end.  Not thread-safe.  (mo_ring_* is
 * the profiler's own ring.)  See memopt-containers(3).
 */
#ifndef MEMOPT_CBUF_H
#define MEMOPT_CBUF_H

#include <stddef.h>
#include <stdint.h>

#include <memopt/alloc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mo_cbuf_policy {
	MO_CBUF_REJECT = 0,   /* a push into a full buffer fails (-ENOBUFS) */
	MO_CBUF_OVERWRITE = 1 /* it drops the element at the other end */
} mo_cbuf_policy_t;

typedef struct mo_cbuf_opts {
	size_t elem_size;	 /* > 0 */
	size_t capacity;	 /* elements, > 0; rounded up to a power of 2 */
	mo_cbuf_policy_t policy; /* when full */
	const char *name;	 /* copied */
	unsigned flags;		 /* MO_ALLOC_DEBUG: poison popped slots */
} mo_cbuf_opts_t;

typedef struct mo_cbuf mo_cbuf_t;

/* Creates a buffer.  0, -EINVAL, -EOVERFLOW or -ENOMEM. */
int mo_cbuf_create(mo_cbuf_t **out, const mo_cbuf_opts_t *o);

/* Frees the buffer (NULL: nothing). */
void mo_cbuf_destroy(mo_cbuf_t *b);

/* Appends a copy of *elem at the back (front).  Returns 0, 1 if the buffer
 * was full and the front (back) element was overwritten, or -ENOBUFS if
 * it was full under MO_CBUF_REJECT (counted as a failure). */
int mo_cbuf_push_back(mo_cbuf_t *b, const void *elem);
int mo_cbuf_push_front(mo_cbuf_t *b, const void *elem);

/* Removes the front (back) element, copied to out unless NULL.  0 or
 * -ENOENT if empty. */
int mo_cbuf_pop_front(mo_cbuf_t *b, void *out);
int mo_cbuf_pop_back(mo_cbuf_t *b, void *out);

/* Pointer to the front / back element, NULL if empty. */
void *mo_cbuf_peek_front(const mo_cbuf_t *b);
void *mo_cbuf_peek_back(const mo_cbuf_t *b);

/* Pointer to the i-th element from the front, NULL if i >= len: iterate
 * with for (i = 0; i < mo_cbuf_len(b); i++) mo_cbuf_at(b, i). */
void *mo_cbuf_at(const mo_cbuf_t *b, size_t i);

size_t mo_cbuf_len(const mo_cbuf_t *b);
size_t mo_cbuf_capacity(const mo_cbuf_t *b);
/* Elements dropped by MO_CBUF_OVERWRITE pushes. */
uint64_t mo_cbuf_overwritten(const mo_cbuf_t *b);

/* Empties the buffer (counts a reset). */
void mo_cbuf_clear(mo_cbuf_t *b);

/* Statistics: in_use = len * elem_size, capacity = capacity * elem_size,
 * internal_frag = capacity - in_use, live/allocs/frees = the one heap
 * block, failures = rejected pushes, resets = clears. */
void mo_cbuf_stats(const mo_cbuf_t *b, mo_alloc_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif /* MEMOPT_CBUF_H */
