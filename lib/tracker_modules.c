/*
 * Module map encoding with dl_iterate_phdr(): no allocation, no file I/O
 * except one readlink() for the main executable's path.
 */
#include "config.h"

#include <elf.h>
#include <link.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <memopt/trace_format.h>

#include "tracker_modules.h"

/* Loader counters of the map in the trace, and of the map last encoded. */
static _Atomic unsigned long long g_adds, g_subs;
static unsigned long long g_enc_adds, g_enc_subs;

typedef struct mo_modenc {
	uint8_t *p, *end;
	uint32_t n;
	char exe[4096];
} mo_modenc_t;

static void mo__load_range(const struct dl_phdr_info *info, uintptr_t *lo,
			   uintptr_t *hi)
{
	uintptr_t min = UINTPTR_MAX, max = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_vaddr < min)
			min = ph->p_vaddr;
		if (ph->p_vaddr + ph->p_memsz > max)
			max = ph->p_vaddr + ph->p_memsz;
	}
	if (min > max)
		min = max = 0;
	*lo = info->dlpi_addr + min;
	*hi = info->dlpi_addr + max;
}

/* Finds the GNU build-id note; returns its length (0 if none). */
static size_t mo__build_id(const struct dl_phdr_info *info, const uint8_t **id)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const uint8_t *p =
			(const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		const uint8_t *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			size_t name = (nh->n_namesz + 3) & ~(size_t)3;
			size_t desc = (nh->n_descsz + 3) & ~(size_t)3;
			const uint8_t *d = p + sizeof(*nh) + name;
			if (d + desc > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID &&
			    nh->n_namesz == 4 &&
			    memcmp(p + sizeof(*nh), "GNU", 4) == 0) {
				*id = d;
				return nh->n_descsz;
			}
			p = d + desc;
		}
	}
	return 0;
}

static int mo__encode_one(struct dl_phdr_info *info, size_t size, void *arg)
{
	mo_modenc_t *e = arg;
	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) +
			    sizeof(info->dlpi_subs)) {
		g_enc_adds = info->dlpi_adds;
		g_enc_subs = info->dlpi_subs;
	}
	const char *path = info->dlpi_name;
	if (!path || !*path)
		path = e->exe;
	const uint8_t *id = NULL;
	size_t id_len = mo__build_id(info, &id);
	size_t path_len = strlen(path);
	if ((size_t)(e->end - e->p) < 50 + path_len + id_len)
		return 0; /* does not fit: leave it out */
	uintptr_t lo, hi;
	mo__load_range(info, &lo, &hi);
	e->p = mo_put_uv(e->p, lo);
	e->p = mo_put_uv(e->p, hi);
	e->p = mo_put_uv(e->p, info->dlpi_addr);
	e->p = mo_put_str(e->p, path, path_len);
	e->p = mo_put_str(e->p, id, id_len);
	e->n++;
	return 0;
}

size_t mo_modules_encode(uint8_t *buf, size_t cap)
{
	/* Modules first, after room for the header; the header is then
	 * written just before them and the whole moved into place. */
	enum { HDR_ROOM = 11 };
	static mo_modenc_t e; /* callers hold the tracker's init discipline */
	if (cap < HDR_ROOM + 1)
		return 0;
	ssize_t n = readlink("/proc/self/exe", e.exe, sizeof(e.exe) - 1);
	e.exe[n > 0 ? n : 0] = 0;
	e.p = buf + HDR_ROOM;
	e.end = buf + cap;
	e.n = 0;
	dl_iterate_phdr(mo__encode_one, &e);
	uint8_t hdr[HDR_ROOM];
	hdr[0] = MO_REC_MODMAP;
	size_t hlen = (size_t)(mo_put_uv(hdr + 1, e.n) - hdr);
	size_t body = (size_t)(e.p - (buf + HDR_ROOM));
	memmove(buf + hlen, buf + HDR_ROOM, body);
	memcpy(buf, hdr, hlen);
	return hlen + body;
}

void mo_modules_sent(void)
{
	atomic_store(&g_adds, g_enc_adds);
	atomic_store(&g_subs, g_enc_subs);
}

static int mo__read_counters(struct dl_phdr_info *info, size_t size, void *arg)
{
	int *changed = arg;
	if (size >=
	    offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs))
		*changed =
			info->dlpi_adds != g_adds || info->dlpi_subs != g_subs;
	return 1; /* the counters are global: the first object suffices */
}

int mo_modules_changed(void)
{
	int changed = 0;
	dl_iterate_phdr(mo__read_counters, &changed);
	return changed;
}

typedef struct mo_rangeq {
	uintptr_t addr, lo, hi;
	int found;
} mo_rangeq_t;

static int mo__find_range(struct dl_phdr_info *info, size_t size, void *arg)
{
	mo_rangeq_t *q = arg;
	uintptr_t lo, hi;
	mo__load_range(info, &lo, &hi);
	if (q->addr >= lo && q->addr < hi) {
		q->lo = lo;
		q->hi = hi;
		q->found = 1;
		return 1;
	}
	return 0;
}

int mo_modules_range_of(uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
	mo_rangeq_t q = {addr, 0, 0, 0};
	dl_iterate_phdr(mo__find_range, &q);
	*lo = q.lo;
	*hi = q.hi;
	return q.found ? 0 : -1;
}
