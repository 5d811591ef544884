/*
 * Small shared helpers for the engine and the CLI.
 */
#ifndef MO_UTIL_H
#define MO_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Formats bytes in binary units ("512 B", "1.5 KiB", "3.2 GiB") into buf
 * and returns buf.  Thread-safe. */
char *mo_fmt_bytes(char *buf, size_t len, uint64_t bytes);

/* Formats n with thousands separators ("1,234,567"). */
char *mo_fmt_count(char *buf, size_t len, uint64_t n);

/* Formats a duration in ns as "123 ms" / "4.56 s". */
char *mo_fmt_duration(char *buf, size_t len, uint64_t ns);

/* Parses a size with an optional K/M/G/T suffix (binary, case-insensitive,
 * optional "B"/"iB").  Returns 0 and *out, or -EINVAL / -ERANGE. */
int mo_parse_size(const char *s, uint64_t *out);

#endif
