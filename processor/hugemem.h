/* hugemem: big blocks the kernel may back with 2 MiB pages.
 *
 * The state's records, nodes and bucket array are hundreds of MB read at
 * random: with 4 KiB pages nearly every record touched is also a TLB miss,
 * and a page walk under virtualisation costs as much as the miss itself.
 * Blocks from here are aligned to 2 MiB and marked MADV_HUGEPAGE, so on a
 * kernel whose transparent huge pages are in `madvise` mode (Debian's
 * default) or `always`, they get huge pages, while the rest of the process
 * (the Kafka client's buffers above all) keeps small ones: asking for huge
 * pages everywhere (jemalloc's thp:always) raised the alert latency p99
 * (benchmarks/RESULTS.md, session 7 note). Where the kernel says no, the
 * advice is ignored and nothing else changes.
 *
 * Blocks come from malloc (jemalloc's stats count them like any other).
 * Blocks under LW_HUGE_MIN are plain malloc blocks, not rounded.
 *
 * Ownership: the caller's until lw_huge_free(). */
#ifndef LW_HUGEMEM_H
#define LW_HUGEMEM_H

#include <stddef.h>

#define LW_HUGE_PAGE ((size_t)2 << 20)
#define LW_HUGE_MIN  LW_HUGE_PAGE

/* The bytes a block of n takes: n rounded up to a whole number of huge
 * pages from LW_HUGE_MIN on, else n. Callers account with this. */
size_t lw_huge_size(size_t n);
/* A block of lw_huge_size(n) bytes (aligned to LW_HUGE_PAGE from
 * LW_HUGE_MIN on, else to 64 bytes), contents undefined; aborts when out of
 * memory, like lw_xmalloc. */
void *lw_huge_alloc(size_t n);
/* The same, zeroed. */
void *lw_huge_calloc(size_t n);
/* NULL is a no-op. */
void lw_huge_free(void *p);

#endif
