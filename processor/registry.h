/* registry: schema ID -> writer schema, from a local directory.
 *
 * Until a Schema Registry client exists, IDs resolve from files named
 * "<ID>-<anything>.avsc" (or "<ID>.avsc") in one directory, e.g.
 * schemas/registry/101-LabResult-evolved.avsc is ID 101. The reader schemas
 * compiled into the binary are always registered as IDs 1 (LabResult),
 * 2 (NotificationSent) and 3 (MismatchAlert) unless the directory provides
 * a file for that ID. The registry is immutable after creation. */
#ifndef LW_REGISTRY_H
#define LW_REGISTRY_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lw_registry lw_registry;

/* dir may be NULL (embedded schemas only). A file that does not parse makes
 * creation fail with the file name and Avro's message in errstr: a broken
 * registry is a configuration error, found at start-up, not per message. */
lw_registry *lw_registry_new(const char *dir, char *errstr, size_t errstr_size);
void lw_registry_destroy(lw_registry *r);

/* The writer schema for id, or NULL. Borrowed: owned by the registry. */
avro_schema_t lw_registry_get(const lw_registry *r, int32_t id);
size_t lw_registry_count(const lw_registry *r);

/* The default registry directory: $LABWATCH_SCHEMA_DIR if set, else the
 * schemas/registry of the source tree this binary was built from if it
 * still exists (so a fresh build needs no configuration), else NULL. */
const char *lw_default_registry_dir(void);

#endif
