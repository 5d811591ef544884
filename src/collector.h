/*
 * The collector behind `memopt record`: discovers the rings tracked
 * processes create in a ring directory, drains them while the processes
 * run, and writes their records to one trace file, one stream per process
 * image.  Not thread-safe; runs in the memopt process.
 */
#ifndef MO_COLLECTOR_H
#define MO_COLLECTOR_H

#include <stddef.h>
#include <sys/types.h>

typedef struct mo_collect mo_collect_t;

/* Creates a collector writing to trace_path; ring_dir must exist.  Returns
 * 0 and *out, or -errno. */
int mo_collect_new(mo_collect_t **out, const char *trace_path,
		   const char *ring_dir);

/* Runs until `main_pid` (a child of this process, already started) has
 * exited and every other tracked process has ended; once main_pid has
 * exited, *stop becoming nonzero ends the wait for the others.  Stores the
 * main child's wait status in *wstatus.  Returns 0 or -errno. */
int mo_collect_run(mo_collect_t *c, pid_t main_pid, int *wstatus,
		   volatile int *stop);

/* Drains what is left, finishes every stream, closes the file and frees c.
 * Stores the number of streams (process images) written in *nstreams when
 * it is not NULL.  Returns 0 or the first write error. */
int mo_collect_finish(mo_collect_t *c, size_t *nstreams);

#endif
