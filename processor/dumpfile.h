/* dumpfile: a file of framed Kafka messages, so traffic can be generated
 * once and fed to the processor (or a benchmark) with no broker at all.
 *
 * Format (all integers big-endian):
 *   header   "LWDUMP1\n"                      8 bytes
 *   record   u16 topic_len, topic bytes,
 *            i32 partition, i64 offset, i64 timestamp_ms,
 *            i32 key_len   (-1 = null key),   key bytes,
 *            i32 value_len (-1 = null value), value bytes
 * Records appear in the order they were (or would have been) produced. */
#ifndef LW_DUMPFILE_H
#define LW_DUMPFILE_H

#include <stdint.h>
#include <stdio.h>

#define LW_DUMP_MAGIC "LWDUMP1\n"

typedef struct lw_dump_record {
	const char *topic; /* NUL-terminated, valid until the next read */
	int32_t partition;
	int64_t offset;
	int64_t timestamp_ms;
	const void *key; /* NULL for a null key */
	int32_t key_len;
	const void *value; /* NULL for a null value */
	int32_t value_len;
} lw_dump_record;

typedef struct lw_dump_reader lw_dump_reader;

/* Writes the header. Returns 0, or -1 with errno set. */
int lw_dump_write_header(FILE *f);
/* Appends one record. Returns 0, or -1 with errno set. */
int lw_dump_write(FILE *f, const lw_dump_record *r);

/* Opens path for reading and checks the header. NULL on failure with a
 * reason in errstr. The reader owns its buffers; lw_dump_reader_destroy()
 * frees them and closes the file. */
lw_dump_reader *lw_dump_reader_open(const char *path, char *errstr,
				    size_t errstr_size);
/* Reads the next record into *r (pointers valid until the next call).
 * Returns 1 for a record, 0 at a clean end of file, -1 on a truncated or
 * corrupt file (reason in errstr). */
int lw_dump_read(lw_dump_reader *d, lw_dump_record *r, char *errstr,
		 size_t errstr_size);
void lw_dump_reader_destroy(lw_dump_reader *d);

#endif
