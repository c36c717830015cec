/* hash: a small, fixed 64-bit string hash (multiply/xor-shift mixing).
 *
 * Design: words are read little-endian (bytes.h) so the result does not
 * depend on the host; the final avalanche is the murmur3 fmix64 finalizer.
 * It is not cryptographic: inputs are lab identifiers, and nothing an
 * attacker controls gains from a collision except a merged alert ID, which
 * the 128-bit form makes negligible. Cost: about one multiply per 8 bytes. */
#include "hash.h"

#include <string.h>

#include "bytes.h"

#define K1 0x9e3779b97f4a7c15ULL
#define K2 0xc2b2ae3d27d4eb4fULL
#define K3 0x165667b19e3779f9ULL

static uint64_t fmix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

static uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t load_le(const unsigned char *p, size_t n)
{
	uint64_t w = 0;
	for (size_t i = 0; i < n; i++)
		w |= (uint64_t)p[i] << (8 * i);
	return w;
}

uint64_t lw_hash64(const void *data, size_t n, uint64_t seed)
{
	const unsigned char *p = data;
	const int whole = n >= 8;
	uint64_t h = seed ^ ((uint64_t)n * K1), tail;
	while (n >= 8) {
		h ^= fmix64(lw_load_le64(p) * K2);
		h = rotl(h, 27) * K1 + K3;
		p += 8;
		n -= 8;
	}
	if (n) {
		/* the last 1-7 bytes as a little-endian number; past the first
		 * word they are the top of the word that ends the input (one
		 * load, not a byte loop) */
		tail = whole ? lw_load_le64(p + n - 8) >> (64 - 8 * n)
			     : load_le(p, n);
		h ^= fmix64((tail + 1) * K2);
		h = rotl(h, 31) * K1;
	}
	return fmix64(h);
}

#ifdef __SIZEOF_INT128__
/* The folded 128-bit product: each output bit depends on every input
 * bit of both words. */
static uint64_t mum(uint64_t a, uint64_t b)
{
	__extension__ unsigned __int128 r = (unsigned __int128)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t load_le4(const unsigned char *p)
{
	return load_le(p, 4);
}

/* 16 bytes per multiply; the tail is read as two possibly overlapping
 * words, so no byte loop on any length >= 4. */
uint64_t lw_hash_fast(const void *data, size_t n, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t s = seed ^ K3 ^ ((uint64_t)n * K1), a, b;
	size_t left = n;
	while (left > 16) {
		s = mum(lw_load_le64(p) ^ K2, lw_load_le64(p + 8) ^ s);
		p += 16;
		left -= 16;
	}
	if (left > 8) {
		a = lw_load_le64(p);
		b = lw_load_le64(p + left - 8);
	} else if (left >= 4) {
		a = load_le4(p);
		b = load_le4(p + left - 4);
	} else if (left) {
		a = (uint64_t)p[0] << 16 | (uint64_t)p[left >> 1] << 8 |
		    p[left - 1];
		b = 0;
	} else {
		a = b = 0;
	}
	return mum(mum(a ^ K2, b ^ s) ^ (uint64_t)n, K1 ^ s);
}
#else
uint64_t lw_hash_fast(const void *data, size_t n, uint64_t seed)
{
	return lw_hash64(data, n, seed);
}
#endif

void lw_hasher_init(lw_hasher *h, uint64_t seed)
{
	h->a = seed ^ K1;
	h->b = seed ^ K2;
}

void lw_hasher_add(lw_hasher *h, const void *data, size_t n)
{
	h->a = fmix64(h->a ^ lw_hash64(data, n, h->a));
	h->b = fmix64(rotl(h->b, 17) ^ lw_hash64(data, n, h->b + K3));
}

void lw_hasher_add_str(lw_hasher *h, const char *s)
{
	if (!s) {
		/* distinct from "": a length no string can have */
		lw_hasher_add_i64(h, -1);
		return;
	}
	lw_hasher_add(h, s, strlen(s));
}

void lw_hasher_add_i64(lw_hasher *h, int64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)v >> (8 * i));
	lw_hasher_add(h, b, 8);
}

void lw_hasher_hex128(const lw_hasher *h, char out[33])
{
	static const char hx[] = "0123456789abcdef";
	uint64_t w[2] = {fmix64(h->a ^ rotl(h->b, 29)), fmix64(h->b ^ h->a)};
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 16; j++)
			out[i * 16 + j] = hx[(w[i] >> (60 - 4 * j)) & 0xf];
	out[32] = '\0';
}

uint64_t lw_hex_low64(const char hex[33])
{
	uint64_t k = 0;
	for (int i = 16; i < 32; i++)
		k = (k << 4) | (uint64_t)(hex[i] <= '9' ? hex[i] - '0'
							: hex[i] - 'a' + 10);
	return k;
}
