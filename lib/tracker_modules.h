/*
 * The module map of the tracked process, as MO_REC_MODMAP records: every
 * loaded object's path, address range, load bias and GNU build-id.
 */
#ifndef MO_TRACKER_MODULES_H
#define MO_TRACKER_MODULES_H

#include <stddef.h>
#include <stdint.h>

#include "tracker.h"

/* Encodes the complete current module map as one MO_REC_MODMAP record at
 * buf (at most cap bytes).  Modules that do not fit are left out.  Returns
 * the record's length.  Takes the dynamic loader's lock (dl_iterate_phdr);
 * no malloc.  Not thread-safe: callers serialise module-map updates. */
MO_HIDDEN size_t mo_modules_encode(uint8_t *buf, size_t cap);

/* Declares the map last encoded as sent: mo_modules_changed() compares
 * against it from now on.  Call after the record is in the ring. */
MO_HIDDEN void mo_modules_sent(void);

/* Nonzero if objects were loaded or unloaded since the map last declared
 * sent.  Takes the loader's lock: not for every event.  Thread-safe. */
MO_HIDDEN int mo_modules_changed(void);

/* Finds the [lo, hi) address range of the object that contains addr.
 * Returns 0, or -1 if no loaded object contains it. */
MO_HIDDEN int mo_modules_range_of(uintptr_t addr, uintptr_t *lo, uintptr_t *hi);

#endif
