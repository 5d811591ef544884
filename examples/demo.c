/*
 * The bundled example for `scripts/demo`: a tiny "log indexer" with the
 * three things memopt reports on.
 *   - A peak: load_batch() holds 1000 records of 256 bytes (plus a 64 KiB
 *     index) at once, then releases them.
 *   - Temporary allocations: format_key() allocates a buffer that is freed
 *     right away, 5000 times.
 *   - A leak: remember_error() overwrites the last message without freeing
 *     it; 3 messages are still allocated at exit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct record {
	char text[248];
	struct record *next;
} record_t;

static record_t *load_batch(int n)
{
	record_t *head = NULL;
	for (int i = 0; i < n; i++) {
		record_t *r = malloc(sizeof(*r));
		snprintf(r->text, sizeof(r->text), "record %d", i);
		r->next = head;
		head = r;
	}
	return head;
}

static size_t build_index(const record_t *head, size_t **out)
{
	size_t cap = 8192, n = 0;
	size_t *idx = calloc(cap, sizeof(*idx));
	for (const record_t *r = head; r && n < cap; r = r->next)
		idx[n++] = strlen(r->text);
	*out = idx;
	return n;
}

static void free_batch(record_t *head)
{
	while (head) {
		record_t *next = head->next;
		free(head);
		head = next;
	}
}

static unsigned format_key(int i)
{
	char *key = malloc(32);
	snprintf(key, 32, "key-%d", i);
	unsigned h = 0;
	for (char *p = key; *p; p++)
		h = h * 31 + (unsigned char)*p;
	free(key);
	return h;
}

static char *last_error;

static void remember_error(const char *what)
{
	last_error = strdup(what); /* bug: the previous copy is lost */
}

int main(void)
{
	record_t *batch = load_batch(1000);
	size_t *index;
	size_t n = build_index(batch, &index);
	free_batch(batch);
	free(index);

	unsigned sum = 0;
	for (int i = 0; i < 5000; i++)
		sum += format_key(i);

	remember_error("disk full while writing segment 7");
	remember_error("checksum mismatch in block 42");
	remember_error("timeout talking to the indexer");

	printf("indexed %zu records, checksum %u, last error: %s\n", n, sum,
	       last_error);
	return 0;
}
