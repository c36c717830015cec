/* test_buf: the byte buffer and its encoders (buf.h).
 *
 * JSON strings: every output is parsed back by a small strict JSON string
 * parser written here (RFC 8259: no raw control characters, only the
 * defined escapes, \u surrogate pairs, raw bytes valid UTF-8 without
 * overlongs or surrogates), and compared with what the input meant: valid
 * UTF-8 comes back unchanged, each invalid byte becomes U+FFFD. Avro
 * primitives are checked against the zig-zag varint examples of the Avro
 * specification. Growth and reuse of the buffer are checked too. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static lw_buf b;

static void teardown(void)
{
	lw_buf_free(&b);
}

TestSuite(buf, .fini = teardown);

/* ---- a strict JSON string parser ---- */

/* Length of a valid UTF-8 sequence at p (of at most n bytes), else 0. */
static size_t utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static size_t put_utf8(char *out, uint32_t c)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

static int hex4(const unsigned char *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		int d;
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			d = p[i] - 'A' + 10;
		else
			return -1;
		*v = *v << 4 | (uint32_t)d;
	}
	return 0;
}

/* Parses exactly one JSON string occupying all of in[0..n) into out
 * (UTF-8, NUL-terminated). Returns the decoded length or -1. */
static long parse_json_string(const unsigned char *in, size_t n, char *out)
{
	size_t i = 1, o = 0;
	if (n < 2 || in[0] != '"')
		return -1;
	while (i < n - 1) {
		uint32_t c;
		size_t len;
		if (in[i] == '"')
			return -1; /* ends early */
		if (in[i] < 0x20)
			return -1;
		if (in[i] == '\\') {
			if (i + 1 >= n - 1)
				return -1;
			switch (in[i + 1]) {
			case '"':
			case '\\':
			case '/':
				out[o++] = (char)in[i + 1];
				i += 2;
				continue;
			case 'b':
				out[o++] = '\b';
				i += 2;
				continue;
			case 'f':
				out[o++] = '\f';
				i += 2;
				continue;
			case 'n':
				out[o++] = '\n';
				i += 2;
				continue;
			case 'r':
				out[o++] = '\r';
				i += 2;
				continue;
			case 't':
				out[o++] = '\t';
				i += 2;
				continue;
			case 'u':
				if (i + 6 > n - 1 || hex4(in + i + 2, &c))
					return -1;
				i += 6;
				if (c >= 0xdc00 && c <= 0xdfff)
					return -1; /* lone low surrogate */
				if (c >= 0xd800 && c <= 0xdbff) {
					uint32_t lo;
					if (i + 6 > n - 1 || in[i] != '\\' ||
					    in[i + 1] != 'u' ||
					    hex4(in + i + 2, &lo) ||
					    lo < 0xdc00 || lo > 0xdfff)
						return -1;
					i += 6;
					c = 0x10000 + ((c - 0xd800) << 10) +
					    (lo - 0xdc00);
				}
				o += put_utf8(out + o, c);
				continue;
			default:
				return -1;
			}
		}
		len = utf8_seq(in + i, n - 1 - i, &c);
		if (!len)
			return -1;
		memcpy(out + o, in + i, len);
		o += len;
		i += len;
	}
	if (i != n - 1 || in[n - 1] != '"')
		return -1;
	out[o] = '\0';
	return (long)o;
}

/* Encodes s and parses it back; returns the decoded text (static). */
static const char *roundtrip(const char *s)
{
	static char out[4096];
	long n;
	lw_buf_reset(&b);
	lw_buf_json_str(&b, s);
	n = parse_json_string(b.data, b.len, out);
	cr_assert_geq(n, 0, "not a valid JSON string: %.*s", (int)b.len,
		      (const char *)b.data);
	return out;
}

#define FFFD "\xef\xbf\xbd"

Test(buf, json_null_and_plain)
{
	lw_buf_json_str(&b, NULL);
	cr_assert_eq(b.len, 4);
	cr_assert_eq(memcmp(b.data, "null", 4), 0);
	lw_buf_reset(&b);
	lw_buf_json_str(&b, "");
	cr_assert_eq(b.len, 2);
	cr_assert_eq(memcmp(b.data, "\"\"", 2), 0);
	lw_buf_reset(&b);
	lw_buf_json_str(&b, "SP-100 ok");
	cr_assert_eq(b.len, 11);
	cr_assert_eq(memcmp(b.data, "\"SP-100 ok\"", 11), 0);
}

Test(buf, json_quotes_backslashes_controls)
{
	char all[40];
	cr_assert_str_eq(roundtrip("a\"b\\c/d"), "a\"b\\c/d");
	lw_buf_reset(&b);
	lw_buf_json_str(&b, "\"\\");
	cr_assert_eq(b.len, 6);
	cr_assert_eq(memcmp(b.data, "\"\\\"\\\\\"", 6), 0);
	/* every control character, and DEL (which JSON allows raw) */
	for (int i = 1; i < 32; i++)
		all[i - 1] = (char)i;
	all[31] = 0x7f;
	all[32] = 'x';
	all[33] = '\0';
	cr_assert_str_eq(roundtrip(all), all);
	cr_assert_str_eq(roundtrip("line1\nline2\ttab\r"),
			 "line1\nline2\ttab\r");
}

Test(buf, json_valid_utf8_unchanged)
{
	static const char *const s[] = {
	    "caf\xc3\xa9",			    /* é */
	    "\xe6\x97\xa5\xe6\x9c\xac",		    /* 日本 */
	    "\xf0\x9f\x98\x80 smile",		    /* U+1F600 */
	    "\xc2\x80\xdf\xbf",			    /* U+0080, U+07FF */
	    "\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80", /* U+0800 U+D7FF
						       U+E000 */
	    "\xef\xbf\xbf\xf0\x90\x80\x80",	    /* U+FFFF U+10000 */
	    "\xf4\x8f\xbf\xbf",			    /* U+10FFFF */
	};
	for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
		cr_assert_str_eq(roundtrip(s[i]), s[i], "case %zu", i);
		/* passed through raw, not escaped */
		cr_assert_eq(b.len, strlen(s[i]) + 2, "case %zu", i);
	}
}

Test(buf, json_invalid_utf8_replaced)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"a\x80z", "a" FFFD "z"},		       /* lone continuation */
	    {"\xc0\x80", FFFD FFFD},		       /* overlong NUL */
	    {"\xc1\xbf", FFFD FFFD},		       /* overlong */
	    {"\xe0\x80\x80", FFFD FFFD FFFD},	       /* overlong 3 */
	    {"\xf0\x80\x80\x80", FFFD FFFD FFFD FFFD}, /* overlong 4 */
	    {"\xed\xa0\x80", FFFD FFFD FFFD},	       /* surrogate D800 */
	    {"\xed\xbf\xbf", FFFD FFFD FFFD},	       /* surrogate DFFF */
	    {"\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD}, /* > U+10FFFF */
	    {"\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD},
	    {"\xff\xfe", FFFD FFFD},
	    {"x\xe6\x97", "x" FFFD FFFD}, /* truncated at end */
	    {"\xe6\x97x", FFFD FFFD "x"}, /* truncated inside */
	    {"\xf0\x9f\x98", FFFD FFFD FFFD},
	    {"\xc3", FFFD},
	    {"\xc3\xa9\xa9", "\xc3\xa9" FFFD}, /* extra continuation */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		cr_assert_str_eq(roundtrip(cases[i].in), cases[i].want,
				 "case %zu", i);
}

/* Any byte string at all gives valid JSON. */
Test(buf, json_random_bytes_always_valid)
{
	uint64_t x = 0x2545f4914f6cdd1dULL;
	char s[64];
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = (size_t)(iter % 63);
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			s[i] = (char)(x & 0xff);
			if (!s[i])
				s[i] = (char)0x80;
		}
		s[n] = '\0';
		roundtrip(s);
	}
}

Test(buf, avro_long_spec_examples)
{
	static const struct {
		int64_t v;
		unsigned char enc[10];
		size_t n;
	} cases[] = {
	    {0, {0x00}, 1},
	    {-1, {0x01}, 1},
	    {1, {0x02}, 1},
	    {-2, {0x03}, 1},
	    {2, {0x04}, 1},
	    {-64, {0x7f}, 1},
	    {64, {0x80, 0x01}, 2},
	    {300, {0xd8, 0x04}, 2},
	    {INT64_MAX,
	     {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	     10},
	    {INT64_MIN,
	     {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	     10},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		lw_buf_reset(&b);
		lw_buf_avro_long(&b, cases[i].v);
		cr_assert_eq(b.len, cases[i].n, "%lld", (long long)cases[i].v);
		cr_assert_eq(memcmp(b.data, cases[i].enc, cases[i].n), 0,
			     "%lld", (long long)cases[i].v);
	}
}

Test(buf, avro_strings)
{
	lw_buf_avro_str(&b, "foo");
	lw_buf_avro_str(&b, "");
	lw_buf_avro_opt_str(&b, NULL);
	lw_buf_avro_opt_str(&b, "ab");
	cr_assert_eq(b.len, 4 + 1 + 1 + 4);
	cr_assert_eq(memcmp(b.data,
			    "\x06"
			    "foo"
			    "\x00"
			    "\x00"
			    "\x02\x04"
			    "ab",
			    10),
		     0);
}

Test(buf, growth_and_reuse)
{
	char chunk[1000];
	size_t cap;
	for (size_t i = 0; i < sizeof chunk; i++)
		chunk[i] = (char)('a' + i % 26);
	for (int i = 0; i < 300; i++)
		lw_buf_put(&b, chunk, sizeof chunk);
	cr_assert_eq(b.len, 300000);
	cr_assert_geq(b.cap, b.len);
	for (int i = 0; i < 300; i++)
		cr_assert_eq(memcmp(b.data + (size_t)i * 1000, chunk, 1000), 0);
	cap = b.cap;
	lw_buf_reset(&b);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, cap, "reset keeps the capacity");
	lw_buf_printf(&b, "%s-%d-%05.1f", "x", 42, 3.14159);
	cr_assert_eq(b.len, strlen("x-42-003.1"));
	cr_assert_eq(memcmp(b.data, "x-42-003.1", b.len), 0);
	/* printf larger than what is left */
	lw_buf_free(&b);
	lw_buf_putc(&b, '[');
	lw_buf_printf(&b, "%0999d", 7);
	lw_buf_putc(&b, ']');
	cr_assert_eq(b.len, 1001);
	cr_assert_eq(b.data[999], '7');
	cr_assert_eq(b.data[1000], ']');
}
