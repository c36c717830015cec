/* buf: a growable byte buffer for building messages (Avro, JSON).
 * The buffer owns its bytes; reset keeps the capacity for reuse. */
#ifndef LW_BUF_H
#define LW_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct lw_buf {
	unsigned char *data;
	size_t len, cap;
} lw_buf;

void lw_buf_free(lw_buf *b);
void lw_buf_reset(lw_buf *b);
void lw_buf_reserve(lw_buf *b, size_t extra);
void lw_buf_put(lw_buf *b, const void *p, size_t n);
void lw_buf_putc(lw_buf *b, int c);
void lw_buf_printf(lw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Avro binary primitives. */
void lw_buf_avro_long(lw_buf *b, int64_t v);
void lw_buf_avro_str(lw_buf *b, const char *s); /* s non-NULL */
/* ["null", T]: branch 0 for NULL, else branch 1 and the string. */
void lw_buf_avro_opt_str(lw_buf *b, const char *s);

/* JSON string with quotes; control characters, quotes, backslashes and
 * bytes that are not valid UTF-8 are escaped, so any input gives valid
 * JSON. NULL writes null. */
void lw_buf_json_str(lw_buf *b, const char *s);

#endif
