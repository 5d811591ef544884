/*
 * Small vector: a growable array whose first elements live in storage the
 * caller provides (usually an array next to the mo_svec_t, see
 * MO_SVEC_DEFINE), spilling to the heap with geometric growth.  Not
 * thread-safe.  See memopt-containers(3).
 */
#ifndef MEMOPT_SMALLVEC_H
#define MEMOPT_SMALLVEC_H

#include <stddef.h>
#include <stdint.h>

#include <memopt/alloc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mo_svec_opts {
	size_t elem_size;  /* > 0 */
	size_t elem_align; /* power of two; 0: 16 (heap storage) */
	void *inline_buf;  /* inline storage, or NULL (none) */
	size_t inline_cap; /* elements inline_buf holds */
	const char *name;  /* copied; for the profiler and misuse */
	unsigned flags;	   /* MO_ALLOC_DEBUG: poison vacated elements */
} mo_svec_opts_t;

/* Public so it can live inside other objects; use the functions.  While
 * the elements are inline, the vector must not be moved (data points to
 * inline_buf). */
typedef struct mo_svec {
	char *data;
	size_t len, cap;
	size_t elem_size, elem_align;
	char *inline_buf;
	size_t inline_cap;
	char *name;
	unsigned flags;
	mo_alloc_stats_t stats;
} mo_svec_t;

/* Initializes v.  Returns 0, -EINVAL (elem_size 0, bad alignment),
 * -EOVERFLOW (inline_cap * elem_size overflows) or -ENOMEM (name). */
int mo_svec_init(mo_svec_t *v, const mo_svec_opts_t *o);

/* Frees the heap storage and the name; v must be initialized again. */
void mo_svec_destroy(mo_svec_t *v);

/* Removes every element, keeping the storage (counts a reset). */
void mo_svec_clear(mo_svec_t *v);

/* Makes room for n elements in all.  0, -ENOMEM or -EOVERFLOW. */
int mo_svec_reserve(mo_svec_t *v, size_t n);

/* Shrinks the storage to the length: back to the inline storage if the
 * elements fit, else a heap block of exactly len elements.  0 or -ENOMEM
 * (the vector is unchanged). */
int mo_svec_shrink(mo_svec_t *v);

/* Appends a copy of *elem (elem_size bytes; NULL: zeroes).  0, -ENOMEM
 * or -EOVERFLOW (the vector is unchanged). */
int mo_svec_push(mo_svec_t *v, const void *elem);

/* Removes the last element, copied to out unless NULL.  0 or -ENOENT. */
int mo_svec_pop(mo_svec_t *v, void *out);

/* Inserts a copy of *elem before index i (i == len appends).  0, -ERANGE
 * (i > len), -ENOMEM or -EOVERFLOW. */
int mo_svec_insert(mo_svec_t *v, size_t i, const void *elem);

/* Removes element i, copied to out unless NULL, shifting the rest down.
 * 0 or -ERANGE. */
int mo_svec_erase(mo_svec_t *v, size_t i, void *out);

/* Pointer to element i, or NULL if i >= len.  Valid until the next call
 * that changes the capacity. */
static inline void *mo_svec_at(const mo_svec_t *v, size_t i)
{
	return i < v->len ? v->data + i * v->elem_size : NULL;
}

static inline size_t mo_svec_len(const mo_svec_t *v)
{
	return v->len;
}

static inline size_t mo_svec_capacity(const mo_svec_t *v)
{
	return v->cap;
}

/* Nonzero while the elements live in the heap. */
static inline int mo_svec_spilled(const mo_svec_t *v)
{
	return v->data != v->inline_buf;
}

/* Statistics: in_use = len * elem_size, capacity = cap * elem_size
 * (inline or heap), internal_frag = capacity - in_use; live, allocs and
 * frees count heap blocks; failures count failed growths; resets clears. */
void mo_svec_stats(const mo_svec_t *v, mo_alloc_stats_t *out);

/* MO_SVEC_DEFINE(name, T, N) defines `name##_t`, a small vector of T with
 * N inline elements, and typed wrappers: name##_init(v, nm),
 * name##_destroy, _push(v, x), _pop(v, &x), _insert(v, i, x),
 * _erase(v, i, &x), _at(v, i) (a T *), _len, _reserve, _shrink, _clear. */
#define MO_SVEC_DEFINE(name, T, N)                                             \
	typedef struct name {                                                  \
		mo_svec_t v;                                                   \
		T inl[N];                                                      \
	} name##_t;                                                            \
	static inline int name##_init(name##_t *s, const char *nm)             \
	{                                                                      \
		mo_svec_opts_t o = {sizeof(T), _Alignof(T), s->inl, N, nm, 0}; \
		return mo_svec_init(&s->v, &o);                                \
	}                                                                      \
	static inline void name##_destroy(name##_t *s)                         \
	{                                                                      \
		mo_svec_destroy(&s->v);                                        \
	}                                                                      \
	static inline int name##_push(name##_t *s, T x)                        \
	{                                                                      \
		return mo_svec_push(&s->v, &x);                                \
	}                                                                      \
	static inline int name##_pop(name##_t *s, T *out)                      \
	{                                                                      \
		return mo_svec_pop(&s->v, out);                                \
	}                                                                      \
	static inline int name##_insert(name##_t *s, size_t i, T x)            \
	{                                                                      \
		return mo_svec_insert(&s->v, i, &x);                           \
	}                                                                      \
	static inline int name##_erase(name##_t *s, size_t i, T *out)          \
	{                                                                      \
		return mo_svec_erase(&s->v, i, out);                           \
	}                                                                      \
	static inline T *name##_at(name##_t *s, size_t i)                      \
	{                                                                      \
		return (T *)mo_svec_at(&s->v, i);                              \
	}                                                                      \
	static inline size_t name##_len(const name##_t *s)                     \
	{                                                                      \
		return s->v.len;                                               \
	}                                                                      \
	static inline int name##_reserve(name##_t *s, size_t n)                \
	{                                                                      \
		return mo_svec_reserve(&s->v, n);                              \
	}                                                                      \
	static inline int name##_shrink(name##_t *s)                           \
	{                                                                      \
		return mo_svec_shrink(&s->v);                                  \
	}                                                                      \
	static inline void name##_clear(name##_t *s)                           \
	{                                                                      \
		mo_svec_clear(&s->v);                                          \
	}

#ifdef __cplusplus
}
#endif

#endif /* MEMOPT_SMALLVEC_H */
