/*
 * Field-by-field equality of decoded trace events, shared by the trace
 * tests and the trace reader's fuzz target.
 */
#ifndef MO_TEST_EV_EQ_H
#define MO_TEST_EV_EQ_H

#include <stdbool.h>
#include <string.h>

#include "trace_codec.h"

static bool str_eq(mo_str_t a, mo_str_t b)
{
	return a.len == b.len && (a.len == 0 || !memcmp(a.ptr, b.ptr, a.len));
}

static bool mods_eq(const mo_event_t *a, const mo_event_t *b)
{
	if (a->u.modmap.n != b->u.modmap.n)
		return false;
	for (uint32_t i = 0; i < a->u.modmap.n; i++) {
		const mo_module_rec_t *x = &a->u.modmap.mods[i];
		const mo_module_rec_t *y = &b->u.modmap.mods[i];

		if (x->start != y->start || x->end != y->end ||
		    x->bias != y->bias || !str_eq(x->path, y->path) ||
		    !str_eq(x->build_id, y->build_id))
			return false;
	}
	return true;
}

static bool start_eq(const mo_event_t *a, const mo_event_t *b)
{
	if (a->u.start.pid != b->u.start.pid ||
	    a->u.start.ppid != b->u.start.ppid ||
	    a->u.start.flags != b->u.start.flags ||
	    a->u.start.realtime_ns != b->u.start.realtime_ns ||
	    a->u.start.mono_ns != b->u.start.mono_ns ||
	    !str_eq(a->u.start.exe, b->u.start.exe) ||
	    a->u.start.argc != b->u.start.argc)
		return false;
	for (uint32_t i = 0; i < a->u.start.argc; i++)
		if (!str_eq(a->u.start.argv[i], b->u.start.argv[i]))
			return false;
	return true;
}

/* Field-by-field equality of two events (the stream is not compared). */
static bool ev_eq(const mo_event_t *a, const mo_event_t *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case MO_REC_ALLOC:
		return a->u.alloc.fn == b->u.alloc.fn &&
		       a->u.alloc.ptr == b->u.alloc.ptr &&
		       a->u.alloc.size == b->u.alloc.size &&
		       a->u.alloc.stack == b->u.alloc.stack;
	case MO_REC_FREE:
	case MO_REC_REALLOC_PRE:
	case MO_REC_REALLOC_FAIL:
	case MO_REC_BDROP:
		return a->u.free.ptr == b->u.free.ptr;
	case MO_REC_REALLOC:
		return a->u.realloc.fn == b->u.realloc.fn &&
		       a->u.realloc.old_ptr == b->u.realloc.old_ptr &&
		       a->u.realloc.new_ptr == b->u.realloc.new_ptr &&
		       a->u.realloc.size == b->u.realloc.size &&
		       a->u.realloc.stack == b->u.realloc.stack;
	case MO_REC_STACK:
		return a->u.stack.id == b->u.stack.id &&
		       a->u.stack.n == b->u.stack.n &&
		       (a->u.stack.n == 0 ||
			!memcmp(a->u.stack.ips, b->u.stack.ips,
				a->u.stack.n * sizeof(uint64_t)));
	case MO_REC_TICK:
		return a->u.tick.ns == b->u.tick.ns;
	case MO_REC_MODMAP:
		return mods_eq(a, b);
	case MO_REC_PROC_START:
		return start_eq(a, b);
	case MO_REC_FORK:
		return a->u.fork.pid == b->u.fork.pid;
	case MO_REC_EXIT:
		return a->u.exit.kind == b->u.exit.kind &&
		       a->u.exit.value == b->u.exit.value;
	case MO_REC_RSS:
		return a->u.rss.rss == b->u.rss.rss &&
		       a->u.rss.hwm == b->u.rss.hwm;
	case MO_REC_LOST:
		return a->u.lost.bytes == b->u.lost.bytes;
	case MO_REC_END:
	case MO_REC_SCAN_REQ:
		return true;
	default:
		return a->u.ext.len == b->u.ext.len &&
		       (a->u.ext.len == 0 ||
			!memcmp(a->u.ext.data, b->u.ext.data, a->u.ext.len));
	}
}

#endif
