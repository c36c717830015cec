/* test_hash: the stable hash (hash.h).
 *
 * lw_hash64 is part of what labwatch outputs (recipient and contact hashes,
 * alert IDs), so its values must never drift: pinned values, taken from
 * the first implementation, and a byte-at-a-time reference of the same
 * definition compared at every length 0-80 and every alignment 0-7 (the
 * tail is read as one overlapping word; the reference reads it byte by
 * byte). lw_hash_fast is internal: it must only be deterministic and
 * depend on every byte. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include "hash.h"

#define K1 0x9e3779b97f4a7c15ULL
#define K2 0xc2b2ae3d27d4eb4fULL
#define K3 0x165667b19e3779f9ULL

static uint64_t ref_fmix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

static uint64_t ref_rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* The definition, one byte at a time. */
static uint64_t ref_hash64(const unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t h = seed ^ ((uint64_t)n * K1);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w = 0;
		for (int b = 0; b < 8; b++)
			w |= (uint64_t)p[i + b] << (8 * b);
		h ^= ref_fmix(w * K2);
		h = ref_rotl(h, 27) * K1 + K3;
	}
	if (i < n) {
		uint64_t w = 0;
		for (size_t b = 0; i + b < n; b++)
			w |= (uint64_t)p[i + b] << (8 * b);
		h ^= ref_fmix((w + 1) * K2);
		h = ref_rotl(h, 31) * K1;
	}
	return ref_fmix(h);
}

Test(hash, pinned_values_never_change)
{
	static const struct {
		const char *s;
		uint64_t h;
	} pin[] = {
	    {"", 0x9ea9b34bd3d23fb8ULL},
	    {"a", 0x50261491e1c4d182ULL},
	    {"pk_", 0x0afa5b19b5b75348ULL},
	    {"1234567", 0x6c59f89cc4cc9aabULL},
	    {"12345678", 0xcae032d32a9f998cULL},
	    {"pk_0123456789abcdef0123456789abcdef", 0x8579301293a1e8afULL},
	    {"rk_deadbeef@example-contact-key", 0x580ef153de1ec663ULL},
	};
	for (size_t i = 0; i < sizeof pin / sizeof pin[0]; i++)
		cr_expect_eq(lw_hash64(pin[i].s, strlen(pin[i].s), 0x5eed),
			     pin[i].h, "lw_hash64(\"%s\") drifted", pin[i].s);
}

Test(hash, equals_the_bytewise_definition_at_every_length_and_alignment)
{
	unsigned char buf[96];
	uint64_t x = 0x243f6a8885a308d3ULL;
	for (size_t i = 0; i < sizeof buf; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n <= 80; n++)
			cr_assert_eq(lw_hash64(buf + off, n, 7),
				     ref_hash64(buf + off, n, 7),
				     "length %zu at offset %zu", n, off);
}

Test(hash, the_bytes_after_the_input_do_not_count)
{
	/* the tail's overlapping load must read backwards, never past n */
	unsigned char a[32], b[32];
	memset(a, 'x', sizeof a);
	memset(b, 'x', sizeof b);
	for (size_t n = 0; n < 24; n++) {
		a[n] = 0;
		b[n] = 0xff;
		cr_assert_eq(lw_hash64(a, n, 1), lw_hash64(b, n, 1),
			     "length %zu read byte %zu", n, n);
		a[n] = b[n] = 'x';
	}
}

Test(hash, fast_hash_is_deterministic_and_sees_every_byte)
{
	unsigned char buf[64];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)(i * 37 + 11);
	for (size_t n = 1; n <= sizeof buf; n++) {
		uint64_t h = lw_hash_fast(buf, n, 3);
		cr_assert_eq(h, lw_hash_fast(buf, n, 3));
		for (size_t i = 0; i < n; i++) {
			buf[i] ^= 1;
			cr_assert_neq(lw_hash_fast(buf, n, 3), h,
				      "length %zu ignores byte %zu", n, i);
			buf[i] ^= 1;
		}
	}
}
