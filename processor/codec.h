/* codec: Confluent-framed Avro in, decoded events out.
 *
 * A message value is: byte 0 = 0 (magic), bytes 1-4 = big-endian schema ID,
 * then the Avro binary encoding of a record written with that schema (the
 * writer schema). The codec looks the ID up in a local registry (see
 * registry.h), resolves the writer schema against our reader schema once per
 * (ID, record kind) following the Avro specification's resolution rules, and
 * keeps the result as a compiled plan. Decoding a message then only walks
 * the plan: no allocation, strings are views into the message buffer.
 *
 * Resolution supports: fields added, removed or reordered; int promoted to
 * long, float or double, long and float to double; string and bytes either
 * way; unions on either side, in any branch order; enums by symbol name
 * (a symbol we do not know decodes as LW_STATUS_UNKNOWN/LW_CHANNEL_UNKNOWN
 * and is counted rather than rejected); defaults filled for the fields the
 * writer lacks. A writer schema we cannot resolve (e.g. specimen_id as int,
 * a field without default missing) makes every message with that ID fail
 * with LW_DECODE_INCOMPATIBLE and a reason naming the field. */
#ifndef LW_CODEC_H
#define LW_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "registry.h"

typedef enum lw_decode_status {
	LW_DECODE_OK = 0,
	LW_DECODE_EMPTY_VALUE,	  /* null or zero-length value */
	LW_DECODE_BAD_MAGIC,	  /* shorter than 5 bytes or byte 0 != 0 */
	LW_DECODE_UNKNOWN_SCHEMA, /* schema ID not in the registry */
	LW_DECODE_INCOMPATIBLE,	  /* writer schema cannot be read as ours */
	LW_DECODE_MALFORMED,	  /* truncated, corrupt or trailing bytes */
	LW_DECODE_EMPTY_SPECIMEN, /* specimen_id is "" */
	LW_DECODE_INVALID_FIELD,  /* a required identifier is empty, or an
				     identifier holds a NUL byte */
	LW_DECODE_STATUS_COUNT,
} lw_decode_status;

/* Stable reason token for dead-letter records and counters. */
const char *lw_decode_status_reason(lw_decode_status s);

typedef struct lw_codec lw_codec;

/* Creates a codec over a registry. The registry is borrowed: it must outlive
 * the codec. Never fails (plans are compiled lazily). */
lw_codec *lw_codec_new(const lw_registry *reg);
void lw_codec_destroy(lw_codec *c);

/* Decode one framed message. On LW_DECODE_OK, *out holds views valid until
 * the next decode call on this codec. Otherwise detail gets a one-line
 * reason without message content. *schema_id is set when the header could
 * be read (else -1). */
lw_decode_status lw_codec_decode_result(lw_codec *c, const void *buf,
					size_t len, lw_result_event *out,
					int32_t *schema_id, char *detail,
					size_t detail_size);
lw_decode_status lw_codec_decode_notification(lw_codec *c, const void *buf,
					      size_t len,
					      lw_notification_event *out,
					      int32_t *schema_id, char *detail,
					      size_t detail_size);

/* Messages that carried an enum symbol our schema lacks (decoded as
 * UNKNOWN). */
uint64_t lw_codec_unknown_symbols(const lw_codec *c);

#endif
