/* test_slab: the records' allocator (slab.h).
 *
 * Class sizes (8-byte steps to LW_SLAB_MAX, the allocator's classes
 * above), reuse of the last block freed in a class, a chunk's tail going
 * to the free list of its size, the statistics, and a churn of 20,000
 * blocks of mixed sizes that checks no two live blocks ever share a byte
 * (each keeps a pattern of its own). Under AddressSanitizer, free blocks
 * must be poisoned. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slab.h"

#if defined(__SANITIZE_ADDRESS__)
#define LW_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LW_ASAN 1
#endif
#endif

Test(slab, class_sizes)
{
	cr_assert_eq(lw_slab_size(0), 8);
	for (size_t n = 1; n <= LW_SLAB_MAX; n++)
		cr_assert_eq(lw_slab_size(n), (n + 7) / 8 * 8, "size %zu", n);
	cr_assert_eq(lw_slab_size(LW_SLAB_MAX + 1), 1280);
	cr_assert_eq(lw_slab_size(1280), 1280);
	cr_assert_eq(lw_slab_size(1281), 1536);
	cr_assert_eq(lw_slab_size(2048), 2048);
	cr_assert_eq(lw_slab_size(2049), 2560);
	cr_assert_eq(lw_slab_size(100000), 114688);
}

Test(slab, a_freed_block_serves_its_class_next)
{
	lw_slab *s = lw_slab_new();
	void *a = lw_slab_alloc(s, 100), *b = lw_slab_alloc(s, 100), *c;
	cr_assert_neq(a, b);
	cr_assert_eq((uintptr_t)a % 8, 0);
	lw_slab_free(s, a, 100);
	c = lw_slab_alloc(s, 97); /* same class (104) */
	cr_assert_eq(c, a);
	lw_slab_free(s, b, 104);
	lw_slab_free(s, c, 99);
	/* last in, first out */
	cr_assert_eq(lw_slab_alloc(s, 104), c);
	cr_assert_eq(lw_slab_alloc(s, 98), b);
	/* another class does not take them */
	lw_slab_free(s, b, 100);
	cr_assert_neq(lw_slab_alloc(s, 112), b);
	lw_slab_destroy(s);
}

Test(slab, a_chunks_tail_is_not_lost)
{
	lw_slab *s = lw_slab_new();
	void *blocks[64];
	lw_slab_stats st;
	/* 63 blocks of 1 KiB fill 64,512 of a chunk's 65,472 usable bytes
	 * (64 KiB less its 64-byte head) */
	for (int i = 0; i < 63; i++)
		blocks[i] = lw_slab_alloc(s, 1024);
	for (int i = 1; i < 63; i++)
		cr_assert_eq((char *)blocks[i], (char *)blocks[i - 1] + 1024);
	lw_slab_get_stats(s, &st);
	cr_assert_eq(st.chunk_bytes, 64 * 1024);
	blocks[63] = lw_slab_alloc(s, 1024); /* a second chunk */
	lw_slab_get_stats(s, &st);
	cr_assert_eq(st.chunk_bytes, 2 * 64 * 1024);
	cr_assert_eq(st.free_bytes, 960, "the first chunk's tail is free");
	cr_assert_eq(lw_slab_alloc(s, 953), (char *)blocks[62] + 1024);
	lw_slab_get_stats(s, &st);
	cr_assert_eq(st.free_bytes, 0);
	lw_slab_destroy(s);
}

Test(slab, large_blocks_go_to_malloc_and_are_counted)
{
	lw_slab *s = lw_slab_new();
	lw_slab_stats st;
	void *p = lw_slab_alloc(s, 5000);
	memset(p, 7, 5000);
	lw_slab_get_stats(s, &st);
	cr_assert_eq(st.large_bytes, lw_slab_size(5000));
	cr_assert_eq(st.used_bytes, lw_slab_size(5000));
	cr_assert_eq(st.chunk_bytes, 0);
	lw_slab_free(s, p, 5000);
	lw_slab_free(s, NULL, 10);
	lw_slab_get_stats(s, &st);
	cr_assert_eq(st.large_bytes, 0);
	cr_assert_eq(st.used_bytes, 0);
	lw_slab_destroy(s);
	lw_slab_destroy(NULL);
}

/* The first 2 MiB come in 64 KiB chunks, later ones in 2 MiB chunks
 * aligned to 2 MiB (huge pages, hugemem.h); a slab that serves only
 * 64-byte blocks hands out blocks aligned to 64 (a node, one cache line),
 * in both kinds of chunk. */
Test(slab, chunks_grow_to_huge_pages_and_keep_64_byte_blocks_aligned)
{
	lw_slab *s = lw_slab_new();
	lw_slab_stats st;
	size_t small = 0, huge = 0;
	lw_slab_get_stats(s, &st);
	for (int i = 0; i < 100000; i++) {
		uint64_t before = st.chunk_bytes;
		unsigned char *p = lw_slab_alloc(s, 64);
		cr_assert_eq((uintptr_t)p % 64, 0, "block %d", i);
		memset(p, 0xab, 64);
		lw_slab_get_stats(s, &st);
		if (st.chunk_bytes == before)
			continue;
		if (st.chunk_bytes - before == 64 * 1024) {
			cr_assert_eq(huge, 0, "a small chunk after a huge one");
			small++;
		} else {
			cr_assert_eq(st.chunk_bytes - before, (size_t)2 << 20);
			cr_assert_eq((uintptr_t)p % ((size_t)2 << 20), 64,
				     "a huge chunk is aligned");
			huge++;
		}
	}
	cr_assert_eq(small, 32, "2 MiB in 64 KiB chunks first");
	cr_assert_geq(huge, 1);
	cr_assert_eq(st.free_bytes, 0, "no tail is left over at 64 bytes");
	lw_slab_destroy(s);
}

#define CHURN 20000

/* Live blocks never overlap: every block carries its own pattern, checked
 * when it is freed and at the end, through rounds of freeing a third of
 * them and allocating again with other sizes. Sizes 1-1,500 bytes cover
 * every small class and some large ones. */
Test(slab, churn_keeps_blocks_apart)
{
	lw_slab *s = lw_slab_new();
	unsigned char **p = calloc(CHURN, sizeof *p);
	size_t *n = calloc(CHURN, sizeof *n);
	uint64_t x = 88172645463325252ULL, used = 0;
	lw_slab_stats st;
	for (int round = 0; round < 6; round++) {
		for (size_t i = 0; i < CHURN; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			if (p[i] && x % 3 == 0) {
				for (size_t k = 0; k < n[i]; k++)
					cr_assert_eq(
					    p[i][k], (unsigned char)(i + k),
					    "block %zu byte %zu", i, k);
				lw_slab_free(s, p[i], n[i]);
				used -= lw_slab_size(n[i]);
				p[i] = NULL;
			} else if (!p[i]) {
				n[i] = 1 + (size_t)(x >> 20) % 1500;
				p[i] = lw_slab_alloc(s, n[i]);
				used += lw_slab_size(n[i]);
				for (size_t k = 0; k < n[i]; k++)
					p[i][k] = (unsigned char)(i + k);
			}
		}
		lw_slab_get_stats(s, &st);
		cr_assert_eq(st.used_bytes, used, "round %d", round);
		cr_assert_leq(st.used_bytes - st.large_bytes + st.free_bytes,
			      st.chunk_bytes);
	}
	for (size_t i = 0; i < CHURN; i++)
		for (size_t k = 0; p[i] && k < n[i]; k++)
			cr_assert_eq(p[i][k], (unsigned char)(i + k),
				     "block %zu byte %zu at the end", i, k);
	for (size_t i = 0; i < CHURN; i++)
		lw_slab_free(s, p[i], n[i]);
	lw_slab_get_stats(s, &st);
	cr_assert_eq(st.used_bytes, 0);
	lw_slab_destroy(s);
	free(p);
	free(n);
}

#ifdef LW_ASAN
#include <sanitizer/asan_interface.h>

/* Free blocks and a chunk's unused part are poisoned, so ASan reports a
 * use after free; a block handed out is not. */
Test(slab, free_blocks_are_poisoned_under_asan)
{
	lw_slab *s = lw_slab_new();
	unsigned char *p = lw_slab_alloc(s, 64), *q;
	cr_assert_not(__asan_address_is_poisoned(p));
	cr_assert_not(__asan_address_is_poisoned(p + 63));
	cr_assert(__asan_address_is_poisoned(p + 64), "the bump region");
	lw_slab_free(s, p, 64);
	cr_assert(__asan_address_is_poisoned(p));
	cr_assert(__asan_address_is_poisoned(p + 40));
	q = lw_slab_alloc(s, 64);
	cr_assert_eq(q, p);
	cr_assert_not(__asan_address_is_poisoned(q + 40));
	lw_slab_free(s, q, 64);
	lw_slab_destroy(s);
}
#endif
