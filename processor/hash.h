/* hash: fixed, portable 64-bit hashing of byte strings.
 *
 * The values are part of labwatch's output (alert IDs are built from them)
 * so they must never change between versions, machines or runs: no
 * per-process seed, no dependence on endianness. */
#ifndef LW_HASH_H
#define LW_HASH_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit hash of n bytes under a seed. Stable forever. */
uint64_t lw_hash64(const void *data, size_t n, uint64_t seed);

/* A faster 64-bit hash for in-memory tables only (about a third of
 * lw_hash64's latency on a 36-byte ID): deterministic, but with no promise
 * to stay the same between versions, so it must never reach an output. */
uint64_t lw_hash_fast(const void *data, size_t n, uint64_t seed);

/* Incremental form for hashing several fields: feed each with its length
 * so that ("ab","c") and ("a","bc") differ. */
typedef struct lw_hasher {
	uint64_t a, b;
} lw_hasher;

void lw_hasher_init(lw_hasher *h, uint64_t seed);
void lw_hasher_add(lw_hasher *h, const void *data, size_t n);
void lw_hasher_add_str(lw_hasher *h, const char *s); /* NULL allowed */
void lw_hasher_add_i64(lw_hasher *h, int64_t v);
/* Writes 32 lowercase hex chars and a NUL into out[33]. */
void lw_hasher_hex128(const lw_hasher *h, char out[33]);
/* The low 64 bits of a 32-hex-char ID (its last 16 chars). */
uint64_t lw_hex_low64(const char hex[33]);

#endif
