/* slab: 8-byte size classes for packed records (see slab.h).
 *
 * Design: one bump region (the current chunk) serves every class; a freed
 * block goes on a singly linked free list of its class, the link stored in
 * the block itself, and the next block of that class is the last one freed.
 * When the bump region cannot hold a block, what is left of it (a multiple
 * of 8 bytes) goes on the free list of its own size, so no chunk byte is
 * lost, and a new chunk starts. Blocks are never split or merged: records
 * churn within a stable mix of sizes (most specimens hold one result and a
 * few notifications), and a freed block is soon taken again by a record of
 * its class. Blocks over LW_SLAB_MAX are rare (fan-out records) and go to
 * malloc, at the allocator's own class size. */
#include "slab.h"

#include <stdlib.h>
#include <string.h>

#include "hugemem.h"
#include "xmalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define LW_SLAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LW_SLAB_ASAN 1
#endif
#endif
#ifdef LW_SLAB_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define STEP	   8
#define NCLASS	   (LW_SLAB_MAX / STEP + 1) /* index = size / STEP */
#define CHUNK	   ((size_t)64 * 1024) /* until the slab holds LW_HUGE_PAGE */
#define CHUNK_HEAD 64 /* the next chunk's link and this chunk's size */

struct lw_slab {
	void *free[NCLASS];
	unsigned char *bump, *end; /* the current chunk's unused part */
	void *chunks;		   /* linked through their first word */
	lw_slab_stats st;
};

lw_slab *lw_slab_new(void)
{
	return lw_xcalloc(1, sizeof(lw_slab));
}

void lw_slab_destroy(lw_slab *s)
{
	void *c, *next;
	if (!s)
		return;
	for (c = s->chunks; c; c = next) {
		size_t size;
		memcpy(&next, c, sizeof next);
		memcpy(&size, (char *)c + sizeof next, sizeof size);
		UNPOISON(c, size);
		lw_huge_free(c);
	}
	free(s);
}

/* Large blocks: the allocator's classes (16-byte steps to 128, then four
 * per doubling), which most allocators share. */
static size_t large_size(size_t n)
{
	size_t step = (size_t)1
		      << (61 - __builtin_clzll((unsigned long long)n - 1));
	return (n + step - 1) & ~(step - 1);
}

size_t lw_slab_size(size_t n)
{
	if (n > LW_SLAB_MAX)
		return large_size(n);
	return n ? (n + STEP - 1) & ~(size_t)(STEP - 1) : STEP;
}

static void push(lw_slab *s, void *p, size_t size)
{
	UNPOISON(p, size); /* a chunk's tail is poisoned already */
	memcpy(p, &s->free[size / STEP], sizeof(void *));
	s->free[size / STEP] = p;
	s->st.free_bytes += size;
	POISON(p, size);
}

static void new_chunk(lw_slab *s)
{
	size_t size = s->st.chunk_bytes >= LW_HUGE_PAGE ? LW_HUGE_PAGE : CHUNK;
	unsigned char *c = lw_huge_alloc(size);
	size_t left = (size_t)(s->end - s->bump);
	if (left >= STEP)
		push(s, s->bump, left); /* the old chunk's tail */
	memcpy(c, &s->chunks, sizeof(void *));
	memcpy(c + sizeof(void *), &size, sizeof size);
	s->chunks = c;
	s->bump = c + CHUNK_HEAD;
	s->end = c + size;
	s->st.chunk_bytes += size;
	POISON(s->bump, size - CHUNK_HEAD);
}

void *lw_slab_alloc(lw_slab *s, size_t n)
{
	size_t size = lw_slab_size(n);
	void *p;
	s->st.used_bytes += size;
	if (n > LW_SLAB_MAX) {
		s->st.large_bytes += size;
		return lw_xmalloc(size);
	}
	p = s->free[size / STEP];
	if (p) {
		UNPOISON(p, size);
		memcpy(&s->free[size / STEP], p, sizeof(void *));
		s->st.free_bytes -= size;
		return p;
	}
	if ((size_t)(s->end - s->bump) < size)
		new_chunk(s);
	p = s->bump;
	s->bump += size;
	UNPOISON(p, size);
	return p;
}

void lw_slab_free(lw_slab *s, void *p, size_t n)
{
	size_t size;
	if (!p)
		return;
	size = lw_slab_size(n);
	s->st.used_bytes -= size;
	if (n > LW_SLAB_MAX) {
		s->st.large_bytes -= size;
		free(p);
		return;
	}
	push(s, p, size);
}

void lw_slab_get_stats(const lw_slab *s, lw_slab_stats *out)
{
	*out = s->st;
}
