/* buf: growable buffer plus the few encoders labwatch writes with.
 *
 * Design: capacity doubles, so appends are amortized O(1); buffers are
 * reused per message, so after warm-up encoding allocates nothing. The JSON
 * string writer validates UTF-8 because input strings come from other
 * systems and must never break a consumer's JSON parser. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

void lw_buf_free(lw_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

void lw_buf_reset(lw_buf *b)
{
	b->len = 0;
}

void lw_buf_reserve(lw_buf *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return;
	while (b->len + extra > b->cap)
		b->cap = b->cap ? b->cap * 2 : 256;
	b->data = lw_xrealloc(b->data, b->cap);
}

void lw_buf_put(lw_buf *b, const void *p, size_t n)
{
	lw_buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void lw_buf_putc(lw_buf *b, int c)
{
	lw_buf_reserve(b, 1);
	b->data[b->len++] = (unsigned char)c;
}

void lw_buf_printf(lw_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	lw_buf_reserve(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void lw_buf_avro_long(lw_buf *b, int64_t v)
{
	uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	lw_buf_reserve(b, 10);
	while (z & ~0x7fULL) {
		b->data[b->len++] = (unsigned char)((z & 0x7f) | 0x80);
		z >>= 7;
	}
	b->data[b->len++] = (unsigned char)z;
}

void lw_buf_avro_str(lw_buf *b, const char *s)
{
	size_t n = strlen(s);
	lw_buf_avro_long(b, (int64_t)n);
	lw_buf_put(b, s, n);
}

void lw_buf_avro_opt_str(lw_buf *b, const char *s)
{
	lw_buf_avro_long(b, s ? 1 : 0);
	if (s)
		lw_buf_avro_str(b, s);
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if invalid. */
static int utf8_len(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (p[0] >= 0xe0 && p[0] <= 0xef) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if (p[0] == 0xe0 && p[1] < 0xa0)
			return 0;
		if (p[0] == 0xed && p[1] >= 0xa0)
			return 0; /* surrogates */
		return 3;
	}
	if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80)
			return 0;
		if ((p[0] == 0xf0 && p[1] < 0x90) ||
		    (p[0] == 0xf4 && p[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

void lw_buf_json_str(lw_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	if (!s) {
		lw_buf_put(b, "null", 4);
		return;
	}
	lw_buf_putc(b, '"');
	while (*p) {
		int n;
		if (*p == '"' || *p == '\\') {
			lw_buf_putc(b, '\\');
			lw_buf_putc(b, *p++);
			continue;
		}
		if (*p < 0x20) {
			lw_buf_printf(b, "\\u%04x", *p++);
			continue;
		}
		n = utf8_len(p); /* reads stop at the NUL: it is not 10xxxxxx */
		if (n == 0) {
			lw_buf_put(b, "\\ufffd", 6);
			p++;
			continue;
		}
		lw_buf_put(b, p, (size_t)n);
		p += n;
	}
	lw_buf_putc(b, '"');
}
