/* schemas: the reader schemas, embedded at build time from schemas/ (the .avsc
 * files) (see schemas/embed.cmake). NUL-terminated JSON text, static storage.
 */
#ifndef LW_SCHEMAS_H
#define LW_SCHEMAS_H

extern const char lw_schema_labresult_json[];
extern const char lw_schema_notification_json[];
extern const char lw_schema_alert_json[];

/* Schema IDs under which the reader schemas are registered by default. */
#define LW_SCHEMA_ID_LABRESULT	  1
#define LW_SCHEMA_ID_NOTIFICATION 2
#define LW_SCHEMA_ID_ALERT	  3

#endif
