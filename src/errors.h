/*
 * Error codes of the analysis engine.  Functions return 0 or a positive
 * count on success and a negative code on failure: -errno for system
 * errors, or one of the MO_E* values below, which lie outside errno's range.
 */
#ifndef MO_ERRORS_H
#define MO_ERRORS_H

enum {
	MO_EBASE = 10000,
	MO_ENOTTRACE = -(MO_EBASE + 1), /* not a memopt trace (bad magic) */
	MO_EVERSION = -(MO_EBASE + 2),	/* unsupported format major version */
	MO_ETRUNC = -(MO_EBASE + 3),	/* file ends in the middle of data */
	MO_ECORRUPT = -(MO_EBASE + 4),	/* checksum or structure error */
	MO_EBADHDR = -(MO_EBASE + 5),	/* file header checksum mismatch */
};

/* Returns a static, human-readable description of err (negative code).
 * Thread-safe. */
const char *mo_strerror(int err);

#endif
