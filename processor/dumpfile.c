/* dumpfile: writes and reads the framed message files described in
 * dumpfile.h.
 *
 * Design: the writer builds each record's fixed-size parts in a small stack
 * buffer and hands them to stdio, so a record costs three fwrite() calls and
 * no allocation. The reader keeps one growable buffer per field (topic, key,
 * value) and reuses them for every record, so reading a file allocates only
 * while the largest record so far grows. A length field is never trusted for
 * an allocation up front: the buffer grows in steps as bytes actually
 * arrive, so a corrupt length in a short file fails with "truncated" instead
 * of asking for gigabytes. Invariant: lw_dump_read() returns 0 only when the
 * file ends exactly on a record boundary; any partial record is an error. */
#include "dumpfile.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define READ_STEP (1u << 20) /* grow a field buffer by at most 1 MiB a step */

struct lw_dump_reader {
	FILE *f;
	unsigned char *topic;
	size_t topic_cap;
	unsigned char *key;
	size_t key_cap;
	unsigned char *value;
	size_t value_cap;
	uint64_t records; /* records read so far, for error messages */
};

static void put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* fwrite() that reports failure with errno set even when stdio did not. */
static int write_all(FILE *f, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	errno = 0;
	if (fwrite(p, 1, n, f) != n) {
		if (!errno)
			errno = EIO;
		return -1;
	}
	return 0;
}

int lw_dump_write_header(FILE *f)
{
	return write_all(f, LW_DUMP_MAGIC, strlen(LW_DUMP_MAGIC));
}

int lw_dump_write(FILE *f, const lw_dump_record *r)
{
	unsigned char hdr[2 + 4 + 8 + 8 + 4];
	unsigned char vlen[4];
	size_t tlen = r->topic ? strlen(r->topic) : 0;
	int32_t klen = r->key ? r->key_len : -1;
	int32_t vl = r->value ? r->value_len : -1;

	if (tlen > UINT16_MAX || (r->key && r->key_len < 0) ||
	    (r->value && r->value_len < 0)) {
		errno = EINVAL;
		return -1;
	}
	put_be(hdr, tlen, 2);
	if (write_all(f, hdr, 2) || write_all(f, r->topic, tlen))
		return -1;
	put_be(hdr, (uint32_t)r->partition, 4);
	put_be(hdr + 4, (uint64_t)r->offset, 8);
	put_be(hdr + 12, (uint64_t)r->timestamp_ms, 8);
	put_be(hdr + 20, (uint32_t)klen, 4);
	if (write_all(f, hdr, 24))
		return -1;
	if (klen > 0 && write_all(f, r->key, (size_t)klen))
		return -1;
	put_be(vlen, (uint32_t)vl, 4);
	if (write_all(f, vlen, 4))
		return -1;
	if (vl > 0 && write_all(f, r->value, (size_t)vl))
		return -1;
	return 0;
}

lw_dump_reader *lw_dump_reader_open(const char *path, char *errstr,
				    size_t errstr_size)
{
	char magic[sizeof(LW_DUMP_MAGIC) - 1];
	lw_dump_reader *d;
	FILE *f = fopen(path, "rb");

	if (!f) {
		snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fread(magic, 1, sizeof magic, f) != sizeof magic ||
	    memcmp(magic, LW_DUMP_MAGIC, sizeof magic) != 0) {
		snprintf(errstr, errstr_size, "%s: not a labwatch dump file",
			 path);
		fclose(f);
		return NULL;
	}
	d = lw_xcalloc(1, sizeof *d);
	d->f = f;
	/* big reads: dump files are read front to back in one pass */
	setvbuf(f, NULL, _IOFBF, 1u << 20);
	return d;
}

/* Reads exactly n bytes. Returns 1 on success, 0 at end of file before the
 * first byte, -1 on a short read after at least one byte or an I/O error. */
static int read_exact(FILE *f, void *p, size_t n)
{
	size_t got = fread(p, 1, n, f);
	if (got == n)
		return 1;
	return (got == 0 && feof(f)) ? 0 : -1;
}

/* Reads a length-prefixed field of len bytes into *buf, growing it as bytes
 * arrive. An extra NUL is kept after the data so text fields can be used as
 * C strings. Returns 0, or -1 if the file ends first. */
static int read_field(FILE *f, unsigned char **buf, size_t *cap, size_t len)
{
	size_t have = 0;

	do {
		size_t want = len - have;
		if (want > READ_STEP)
			want = READ_STEP;
		if (have + want + 1 > *cap) {
			*cap = have + want + 1;
			*buf = lw_xrealloc(*buf, *cap);
		}
		if (want && fread(*buf + have, 1, want, f) != want)
			return -1;
		have += want;
	} while (have < len);
	(*buf)[len] = '\0';
	return 0;
}

int lw_dump_read(lw_dump_reader *d, lw_dump_record *r, char *errstr,
		 size_t errstr_size)
{
	unsigned char hdr[24];
	unsigned char b2[2], b4[4];
	size_t tlen;
	int32_t klen, vlen;
	int rc;

	rc = read_exact(d->f, b2, 2);
	if (rc == 0) {
		if (ferror(d->f))
			goto ioerr;
		return 0;
	}
	if (rc < 0)
		goto truncated;
	tlen = (size_t)get_be(b2, 2);
	if (read_field(d->f, &d->topic, &d->topic_cap, tlen))
		goto truncated;
	if (read_exact(d->f, hdr, sizeof hdr) != 1)
		goto truncated;
	klen = (int32_t)(uint32_t)get_be(hdr + 20, 4);
	if (klen < -1) {
		snprintf(errstr, errstr_size,
			 "corrupt record %llu: key length %d",
			 (unsigned long long)d->records, (int)klen);
		return -1;
	}
	if (klen >= 0 && read_field(d->f, &d->key, &d->key_cap, (size_t)klen))
		goto truncated;
	if (read_exact(d->f, b4, 4) != 1)
		goto truncated;
	vlen = (int32_t)(uint32_t)get_be(b4, 4);
	if (vlen < -1) {
		snprintf(errstr, errstr_size,
			 "corrupt record %llu: value length %d",
			 (unsigned long long)d->records, (int)vlen);
		return -1;
	}
	if (vlen >= 0 &&
	    read_field(d->f, &d->value, &d->value_cap, (size_t)vlen))
		goto truncated;

	r->topic = (const char *)d->topic;
	r->partition = (int32_t)(uint32_t)get_be(hdr, 4);
	r->offset = (int64_t)get_be(hdr + 4, 8);
	r->timestamp_ms = (int64_t)get_be(hdr + 12, 8);
	r->key = klen >= 0 ? d->key : NULL;
	r->key_len = klen;
	r->value = vlen >= 0 ? d->value : NULL;
	r->value_len = vlen;
	d->records++;
	return 1;

truncated:
	if (ferror(d->f))
		goto ioerr;
	snprintf(errstr, errstr_size, "truncated record %llu",
		 (unsigned long long)d->records);
	return -1;
ioerr:
	snprintf(errstr, errstr_size, "read error at record %llu: %s",
		 (unsigned long long)d->records, strerror(errno));
	return -1;
}

void lw_dump_reader_destroy(lw_dump_reader *d)
{
	if (!d)
		return;
	fclose(d->f);
	free(d->topic);
	free(d->key);
	free(d->value);
	free(d);
}
