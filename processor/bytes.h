/* bytes: little-endian loads and stores of whole words, whatever the host.
 *
 * One load or store on a little-endian host (the compiler turns the memcpy
 * into a mov), a byte loop elsewhere. Used where bytes are read as words:
 * hashing (hash.c) and UUID packing (specimen.c). Header only. */
#ifndef LW_BYTES_H
#define LW_BYTES_H

#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LW_LITTLE_ENDIAN 1
#else
#define LW_LITTLE_ENDIAN 0
#endif

static inline uint64_t lw_load_le64(const unsigned char *p)
{
	uint64_t x = 0;
	if (LW_LITTLE_ENDIAN) {
		memcpy(&x, p, 8);
		return x;
	}
	for (int i = 0; i < 8; i++)
		x |= (uint64_t)p[i] << (8 * i);
	return x;
}

static inline void lw_store_le32(unsigned char *out, uint32_t v)
{
	if (LW_LITTLE_ENDIAN) {
		memcpy(out, &v, 4);
		return;
	}
	for (int i = 0; i < 4; i++)
		out[i] = (unsigned char)(v >> (8 * i));
}

#endif
