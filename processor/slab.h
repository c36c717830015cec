/* slab: blocks for the state's packed records, in 8-byte size classes.
 *
 * A general allocator rounds a block up to its size class: jemalloc's
 * classes are 32 bytes apart between 128 and 256, where most records
 * fall, so a record lost 16 bytes on average, about 5% of the state. Here
 * the classes are 8 bytes apart up to LW_SLAB_MAX (larger blocks go to
 * malloc, rounded as body sizes were before), so the loss is 4 bytes.
 *
 * Blocks are cut from chunks (64 KiB, then 2 MiB ones in huge pages once
 * the slab holds 2 MiB: slab.c) and, when freed, kept on a free list of
 * their class for the next block of that class; chunks go back to the
 * system only in lw_slab_destroy(). The caller passes a block's size to
 * lw_slab_free() (the state knows each record's length), so a free touches
 * no metadata, only the block. Under AddressSanitizer free blocks and the
 * unused part of a chunk are poisoned, so a use after free is still found.
 *
 * Ownership: the slab owns its chunks; a block is the caller's from
 * lw_slab_alloc() to lw_slab_free(). Not thread-safe. */
#ifndef LW_SLAB_H
#define LW_SLAB_H

#include <stddef.h>
#include <stdint.h>

#define LW_SLAB_MAX 1024 /* largest block served from chunks */

typedef struct lw_slab lw_slab;

typedef struct lw_slab_stats {
	uint64_t chunk_bytes; /* held from the system, chunks only */
	uint64_t used_bytes;  /* blocks handed out, at their class size
				 (large ones included) */
	uint64_t free_bytes;  /* on the free lists */
	uint64_t large_bytes; /* blocks over LW_SLAB_MAX, at their rounded
				 size (part of used_bytes) */
} lw_slab_stats;

lw_slab *lw_slab_new(void);
/* Frees every chunk; blocks still out become invalid. NULL is a no-op. */
void lw_slab_destroy(lw_slab *s);

/* The bytes a block of n bytes really takes (its class size); callers
 * account with this. A function of n only. */
size_t lw_slab_size(size_t n);
/* A block of at least n > 0 bytes, 8-byte aligned; aborts when out of
 * memory, like lw_xmalloc. */
void *lw_slab_alloc(lw_slab *s, size_t n);
/* Returns block p, allocated with a size in the class of n. NULL is a
 * no-op. */
void lw_slab_free(lw_slab *s, void *p, size_t n);

void lw_slab_get_stats(const lw_slab *s, lw_slab_stats *out);

#endif
