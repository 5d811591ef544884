/*
 * Small shared helpers: human-readable numbers and size parsing.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "util.h"

/* Formats bytes in binary units with one decimal ("1.5 KiB"); plain bytes
 * below 1 KiB ("512 B").  The unit is chosen after rounding, so 1048575
 * bytes read "1.0 MiB", never "1024.0 KiB".  Thread-safe. */
char *mo_fmt_bytes(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = {"KiB", "MiB", "GiB",
					    "TiB", "PiB", "EiB"};
	unsigned u = 0;
	/* Tenths of the unit, rounded half up, computed exactly. */
	unsigned __int128 tenths;

	if (len == 0)
		return buf;
	if (bytes < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", bytes);
		return buf;
	}
	for (;;) {
		unsigned __int128 div = (unsigned __int128)1 << (10 * (u + 1));

		tenths = ((unsigned __int128)bytes * 10 + div / 2) / div;
		if (tenths < 10240 || u + 1 == sizeof(units) / sizeof(units[0]))
			break;
		u++;
	}
	snprintf(buf, len, "%u.%u %s", (unsigned)(tenths / 10),
		 (unsigned)(tenths % 10), units[u]);
	return buf;
}

/* Formats n with a comma every three digits ("1,234,567").  Thread-safe. */
char *mo_fmt_count(char *buf, size_t len, uint64_t n)
{
	char digits[24];
	char out[32];
	int nd = snprintf(digits, sizeof(digits), "%" PRIu64, n);
	int o = 0;

	for (int i = 0; i < nd; i++) {
		if (i > 0 && (nd - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
	if (len > 0)
		snprintf(buf, len, "%s", out);
	return buf;
}

/* Formats a duration with the largest fitting unit, truncating: "850 ns",
 * "850 us", "123 ms", "4.56 s", "2 min 3 s", "5 h 7 min".  Thread-safe. */
char *mo_fmt_duration(char *buf, size_t len, uint64_t ns)
{
	const uint64_t us = 1000, ms = 1000 * us, s = 1000 * ms;
	const uint64_t min = 60 * s, h = 60 * min;

	if (len == 0)
		return buf;
	if (ns < us)
		snprintf(buf, len, "%" PRIu64 " ns", ns);
	else if (ns < ms)
		snprintf(buf, len, "%" PRIu64 " us", ns / us);
	else if (ns < s)
		snprintf(buf, len, "%" PRIu64 " ms", ns / ms);
	else if (ns < min)
		snprintf(buf, len, "%" PRIu64 ".%02" PRIu64 " s", ns / s,
			 ns % s / (10 * ms));
	else if (ns < h)
		snprintf(buf, len, "%" PRIu64 " min %" PRIu64 " s", ns / min,
			 ns % min / s);
	else
		snprintf(buf, len, "%" PRIu64 " h %" PRIu64 " min", ns / h,
			 ns % h / min);
	return buf;
}

static int mo__lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Parses the unit after the number: "", "B", or K/M/G/T optionally followed
 * by "B" or "iB".  Stores the shift (0, 10, 20, ...) in *shift. */
static int mo__parse_unit(const char *s, unsigned *shift)
{
	static const char prefixes[] = "kmgt";

	*shift = 0;
	if (*s == '\0')
		return 0;
	if (mo__lower(*s) == 'b')
		return s[1] == '\0' ? 0 : -EINVAL;
	for (unsigned i = 0; prefixes[i] != '\0'; i++) {
		if (mo__lower(*s) != prefixes[i])
			continue;
		*shift = 10 * (i + 1);
		s++;
		if (*s == '\0')
			return 0;
		if (mo__lower(*s) == 'i')
			s++;
		return mo__lower(*s) == 'b' && s[1] == '\0' ? 0 : -EINVAL;
	}
	return -EINVAL;
}

/* Parses "100", "10K", "10kib", "1.5M", "2GB": digits, an optional decimal
 * fraction (only with a unit), and an optional binary unit.  The result is
 * rounded down to whole bytes.  Returns 0 and *out, -EINVAL for malformed
 * text, or -ERANGE if the value does not fit in 64 bits.  Thread-safe. */
int mo_parse_size(const char *s, uint64_t *out)
{
	unsigned __int128 ipart = 0, frac = 0, fscale = 1;
	unsigned shift;
	int ndigits = 0, overflow = 0;
	int ret;

	if (s == NULL)
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++, ndigits++) {
		ipart = ipart * 10 + (unsigned)(*s - '0');
		if (ipart > UINT64_MAX) {
			overflow = 1;
			ipart = UINT64_MAX; /* keep scanning for syntax */
		}
	}
	if (ndigits == 0)
		return -EINVAL;
	if (*s == '.') {
		int nfrac = 0;

		for (s++; *s >= '0' && *s <= '9'; s++, nfrac++) {
			if (fscale < 1000000000000000000ull) {
				frac = frac * 10 + (unsigned)(*s - '0');
				fscale *= 10;
			}
		}
		if (nfrac == 0)
			return -EINVAL;
	}
	ret = mo__parse_unit(s, &shift);
	if (ret < 0)
		return ret;
	if (fscale > 1 && shift == 0)
		return -EINVAL; /* "1.5" bytes */
	if (overflow)
		return -ERANGE;
	ipart = (ipart << shift) + ((frac << shift) / fscale);
	if (ipart > UINT64_MAX)
		return -ERANGE;
	*out = (uint64_t)ipart;
	return 0;
}
