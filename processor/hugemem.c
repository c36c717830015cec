/* hugemem: 2 MiB-aligned blocks with MADV_HUGEPAGE (see hugemem.h).
 *
 * Design: posix_memalign, so the blocks are the allocator's (counted in its
 * statistics, freed with free()), then madvise over the whole block. The
 * alignment matters: the kernel backs an address range with a huge page
 * only where a whole aligned 2 MiB of it lies inside the advised range.
 * madvise failing (a kernel without transparent huge pages, or a sanitizer's
 * allocator that already mapped the block otherwise) is not an error: the
 * block works the same with small pages. Zeroing is explicit because the
 * allocator may hand back memory it had before. */
#include "hugemem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "xmalloc.h"

size_t lw_huge_size(size_t n)
{
	if (n < LW_HUGE_MIN)
		return n;
	return (n + LW_HUGE_PAGE - 1) & ~(LW_HUGE_PAGE - 1);
}

void *lw_huge_alloc(size_t n)
{
	size_t size = lw_huge_size(n);
	void *p = NULL;
	if (size < LW_HUGE_MIN) {
		if (posix_memalign(&p, 64, size ? size : 1) != 0)
			p = NULL;
	} else if (posix_memalign(&p, LW_HUGE_PAGE, size) != 0) {
		p = NULL;
	} else {
#ifdef MADV_HUGEPAGE
		(void)madvise(p, size, MADV_HUGEPAGE);
#endif
	}
	if (!p) {
		fprintf(stderr,
			"labwatch: out of memory allocating %zu bytes\n", size);
		abort();
	}
	return p;
}

void *lw_huge_calloc(size_t n)
{
	void *p = lw_huge_alloc(n);
	memset(p, 0, lw_huge_size(n));
	return p;
}

void lw_huge_free(void *p)
{
	free(p);
}
