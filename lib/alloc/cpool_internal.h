/*
 * Between the concurrent pool and its thread-local caching front (and the
 * tests): per-object debug states and the pieces of a pop, so that a test
 * can replay an ABA interleaving deterministically.  Not installed.
 */
#ifndef MEMOPT_CPOOL_INTERNAL_H
#define MEMOPT_CPOOL_INTERNAL_H

#include <stdint.h>

#include <memopt/cpool.h>

/* Debug states, one byte per object (debug mode only). */
enum { MO__CP_FREE = 0, MO__CP_USED = 1, MO__CP_CACHED = 2 };

/* The state byte of obj, or NULL if the pool is not in debug mode or obj
 * is not an object of the pool (interior pointers included). */
_Atomic unsigned char *mo__cpool_state(const mo_cpool_t *p, const void *obj);

/* Nonzero if obj lies anywhere inside one of the pool's chunks. */
int mo__cpool_contains(const mo_cpool_t *p, const void *obj);

/* Checks that obj still carries the free-object poison (debug mode) and
 * reports "object modified after free" otherwise; then fills it with the
 * poison.  Used by the caching front around its magazines. */
void mo__cpool_check_poison(const mo_cpool_t *p, const void *obj);
void mo__cpool_poison(const mo_cpool_t *p, void *obj);

/* A pop split in two for the ABA test: the first half reads the head word
 * and the top object's link (what a thread does before it is preempted);
 * the second half tries the compare-and-swap with what the first half read
 * and returns the object it popped, or NULL if the head changed. */
void mo__cpool_pop_begin(mo_cpool_t *p, uint64_t *head, uint64_t *next);
void *mo__cpool_pop_finish(mo_cpool_t *p, uint64_t head, uint64_t next);

/* Bits of the tag in the head word (see cpool.c). */
#define MO__CPOOL_TAG_BITS 20

#endif /* MEMOPT_CPOOL_INTERNAL_H */
