/* codes: interned, normalized result codes ("POS", "NEG", "IND", "A1", ...).
 *
 * Result codes come from a small vocabulary, so state stores a 16-bit ID
 * instead of a string, and comparing two codes is comparing two integers.
 * Normalization: surrounding white space trimmed, ASCII upper-cased, inner
 * runs of white space or '_' become one space ("not_detected" and
 * "Not Detected" are the same code). Each code also has a polarity: the
 * positive and negative spellings in lw_codes_polarity() below.
 *
 * The table is bounded: past LW_CODES_MAX distinct codes every new one maps
 * to LW_CODE_OVERFLOW, as do codes longer than 63 bytes or containing a NUL
 * byte. Rules cannot compare an overflowed code (two of them may or may not
 * be the same text), so they give it no content verdict; it is counted, and
 * a producer that puts free text in result_code cannot grow memory. */
#ifndef LW_CODES_H
#define LW_CODES_H

#include <stddef.h>
#include <stdint.h>

#define LW_CODE_NULL	 0
#define LW_CODE_OVERFLOW 0xffff
#define LW_CODES_MAX	 65000

typedef struct lw_codes lw_codes;

lw_codes *lw_codes_new(void);
void lw_codes_destroy(lw_codes *c);

/* The ID of the normalized form of s[0..n); LW_CODE_NULL for s == NULL. */
uint16_t lw_codes_intern(lw_codes *c, const char *s, size_t n);
/* The normalized text (NUL-terminated, owned by the table), "" for NULL. */
const char *lw_codes_name(const lw_codes *c, uint16_t id);
/* +1 positive, -1 negative, 0 neither. */
int lw_codes_polarity(const lw_codes *c, uint16_t id);
uint64_t lw_codes_overflows(const lw_codes *c);
size_t lw_codes_count(const lw_codes *c);

#endif
