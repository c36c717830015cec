/* codes: a grow-only intern table of normalized result codes.
 *
 * Design: open addressing over a power-of-two array of IDs; names live in
 * one array indexed by ID. Normalization happens once per distinct code at
 * intern time; a look-up of a known code normalizes into a stack buffer and
 * probes, with no allocation. Codes longer than 63 bytes are not a
 * vocabulary: they map to LW_CODE_OVERFLOW.
 *
 * In front of that sits a small direct-mapped cache of exact spellings
 * (the bytes as they came, up to SPELL_MAX of them) to IDs: a feed repeats
 * a handful of spellings millions of times, and a hit costs one fast hash
 * and one memcmp instead of normalizing, hashing and probing. It only
 * remembers answers of the table (never LW_CODE_OVERFLOW, which is counted
 * per call), so it cannot change an ID. */
#include "codes.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "xmalloc.h"

#define MAX_CODE_LEN 63
#define SPELL_MAX    29 /* bytes of a cached spelling */
#define SPELL_SLOTS  64

/* A cached spelling; id 0 = empty (the null code is never looked up). */
typedef struct spelling {
	uint16_t id;
	uint8_t len;
	char raw[SPELL_MAX];
} spelling;

struct lw_codes {
	char **names;	  /* by ID; names[0] = "" */
	signed char *pol; /* by ID */
	size_t n, cap;	  /* IDs in use (including 0) */
	uint16_t *slots;  /* open addressing; 0 = empty */
	size_t nslots;
	uint64_t overflows;
	spelling spell[SPELL_SLOTS];
};

static const char *const positive[] = {"POS", "POSITIVE", "DETECTED",
				       "REACTIVE"};
static const char *const negative[] = {
    "NEG",	    "NEGATIVE",	    "NOT DETECTED", "NONREACTIVE",
    "NON-REACTIVE", "NON REACTIVE", "UNDETECTED"};

static int polarity_of(const char *s)
{
	for (size_t i = 0; i < sizeof positive / sizeof *positive; i++)
		if (strcmp(s, positive[i]) == 0)
			return 1;
	for (size_t i = 0; i < sizeof negative / sizeof *negative; i++)
		if (strcmp(s, negative[i]) == 0)
			return -1;
	return 0;
}

/* Writes the normalized form of s into out[MAX_CODE_LEN+1]; returns its
 * length, or -1 when too long. */
static int normalize(const char *s, size_t n, char *out)
{
	size_t i = 0, o = 0;
	int pending_space = 0;
	while (i < n &&
	       (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	for (; i < n; i++) {
		char ch = s[i];
		if (ch == '\0')
			return -1; /* "POS\0X" is not another spelling of POS */
		if (ch == ' ' || ch == '\t' || ch == '_' || ch == '\r' ||
		    ch == '\n') {
			pending_space = 1;
			continue;
		}
		if (pending_space && o > 0) {
			if (o >= MAX_CODE_LEN)
				return -1;
			out[o++] = ' ';
		}
		pending_space = 0;
		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		if (o >= MAX_CODE_LEN)
			return -1;
		out[o++] = ch;
	}
	out[o] = '\0';
	return (int)o;
}

lw_codes *lw_codes_new(void)
{
	lw_codes *c = lw_xcalloc(1, sizeof *c);
	c->cap = 64;
	c->names = lw_xcalloc(c->cap, sizeof *c->names);
	c->pol = lw_xcalloc(c->cap, sizeof *c->pol);
	c->names[0] = lw_xstrdup("");
	c->n = 1;
	c->nslots = 256;
	c->slots = lw_xcalloc(c->nslots, sizeof *c->slots);
	return c;
}

void lw_codes_destroy(lw_codes *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->names[i]);
	free(c->names);
	free(c->pol);
	free(c->slots);
	free(c);
}

static void rehash(lw_codes *c)
{
	size_t ns = c->nslots * 2;
	uint16_t *s = lw_xcalloc(ns, sizeof *s);
	for (size_t id = 1; id < c->n; id++) {
		size_t h =
		    (size_t)lw_hash64(c->names[id], strlen(c->names[id]), 0) &
		    (ns - 1);
		while (s[h])
			h = (h + 1) & (ns - 1);
		s[h] = (uint16_t)id;
	}
	free(c->slots);
	c->slots = s;
	c->nslots = ns;
}

static uint16_t intern(lw_codes *c, const char *s, size_t n);

uint16_t lw_codes_intern(lw_codes *c, const char *s, size_t n)
{
	spelling *sp;
	uint16_t id;
	if (!s)
		return LW_CODE_NULL;
	if (n > SPELL_MAX)
		return intern(c, s, n);
	sp = &c->spell[lw_hash_fast(s, n, 0) & (SPELL_SLOTS - 1)];
	if (sp->id && sp->len == n && memcmp(sp->raw, s, n) == 0)
		return sp->id;
	id = intern(c, s, n);
	if (id != LW_CODE_OVERFLOW) {
		sp->id = id;
		sp->len = (uint8_t)n;
		memcpy(sp->raw, s, n);
	}
	return id;
}

static uint16_t intern(lw_codes *c, const char *s, size_t n)
{
	char buf[MAX_CODE_LEN + 1];
	int len;
	size_t h;
	len = normalize(s, n, buf);
	if (len < 0) {
		c->overflows++;
		return LW_CODE_OVERFLOW;
	}
	h = (size_t)lw_hash64(buf, (size_t)len, 0) & (c->nslots - 1);
	while (c->slots[h]) {
		if (strcmp(c->names[c->slots[h]], buf) == 0)
			return c->slots[h];
		h = (h + 1) & (c->nslots - 1);
	}
	if (c->n > LW_CODES_MAX) { /* n counts the null ID 0 too */
		c->overflows++;
		return LW_CODE_OVERFLOW;
	}
	if (c->n == c->cap) {
		c->cap *= 2;
		c->names = lw_xrealloc(c->names, c->cap * sizeof *c->names);
		c->pol = lw_xrealloc(c->pol, c->cap * sizeof *c->pol);
	}
	c->names[c->n] = lw_xstrndup(buf, (size_t)len);
	c->pol[c->n] = (signed char)polarity_of(buf);
	c->slots[h] = (uint16_t)c->n;
	c->n++;
	if (c->n * 2 > c->nslots)
		rehash(c);
	return (uint16_t)(c->n - 1);
}

const char *lw_codes_name(const lw_codes *c, uint16_t id)
{
	if (id == LW_CODE_OVERFLOW)
		return "(unlisted code)";
	return id < c->n ? c->names[id] : "";
}

int lw_codes_polarity(const lw_codes *c, uint16_t id)
{
	return (id < c->n && id != LW_CODE_OVERFLOW) ? c->pol[id] : 0;
}

uint64_t lw_codes_overflows(const lw_codes *c)
{
	return c->overflows;
}

size_t lw_codes_count(const lw_codes *c)
{
	return c->n - 1;
}
