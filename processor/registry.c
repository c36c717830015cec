/* registry: a sorted array of (ID, parsed Avro schema), loaded once.
 *
 * Design: start-up reads every "<ID>[-name].avsc" file of the directory with
 * Avro C's JSON parser; the embedded reader schemas fill IDs the directory
 * leaves free. Look-ups are a binary search; the array never changes after
 * creation, so plans compiled from its schemas stay valid. */
#include "registry.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas.h"
#include "xmalloc.h"

typedef struct reg_entry {
	int32_t id;
	avro_schema_t schema;
} reg_entry;

struct lw_registry {
	reg_entry *v;
	size_t n, cap;
};

static int cmp_entry(const void *a, const void *b)
{
	const reg_entry *x = a, *y = b;
	return (x->id > y->id) - (x->id < y->id);
}

static const reg_entry *find(const lw_registry *r, int32_t id)
{
	reg_entry key = {.id = id};
	if (!r->n)
		return NULL; /* bsearch() on a NULL array is undefined */
	return bsearch(&key, r->v, r->n, sizeof *r->v, cmp_entry);
}

static void add(lw_registry *r, int32_t id, avro_schema_t s)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->v = lw_xrealloc(r->v, r->cap * sizeof *r->v);
	}
	r->v[r->n].id = id;
	r->v[r->n].schema = s;
	r->n++;
	qsort(r->v, r->n, sizeof *r->v, cmp_entry);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = lw_xrealloc(buf, cap);
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* "<digits>" followed by '-' or '.', ending in ".avsc" */
static int parse_id(const char *name, int32_t *id)
{
	size_t n = strlen(name);
	long v = 0;
	const char *p = name;
	if (n < 6 || strcmp(name + n - 5, ".avsc") != 0 ||
	    !isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p)) {
		v = v * 10 + (*p - '0');
		if (v > INT32_MAX)
			return 0;
		p++;
	}
	if (*p != '-' && *p != '.')
		return 0;
	*id = (int32_t)v;
	return 1;
}

static int load_dir(lw_registry *r, const char *dir, char *errstr,
		    size_t errstr_size)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	if (!d) {
		snprintf(errstr, errstr_size, "schema registry dir %s: %s", dir,
			 strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		int32_t id;
		char path[4096];
		size_t len;
		char *json;
		avro_schema_t s;
		if (!parse_id(de->d_name, &id))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		json = read_file(path, &len);
		if (!json) {
			snprintf(errstr, errstr_size, "schema %s: %s", path,
				 strerror(errno));
			closedir(d);
			return -1;
		}
		if (avro_schema_from_json_length(json, len, &s)) {
			snprintf(errstr, errstr_size, "schema %s: %s", path,
				 avro_strerror());
			free(json);
			closedir(d);
			return -1;
		}
		free(json);
		if (find(r, id)) {
			snprintf(errstr, errstr_size,
				 "schema registry dir %s: ID %d appears twice",
				 dir, (int)id);
			avro_schema_decref(s);
			closedir(d);
			return -1;
		}
		add(r, id, s);
	}
	closedir(d);
	return 0;
}

lw_registry *lw_registry_new(const char *dir, char *errstr, size_t errstr_size)
{
	static const struct {
		int32_t id;
		const char *json;
	} builtin[] = {
	    {LW_SCHEMA_ID_LABRESULT, lw_schema_labresult_json},
	    {LW_SCHEMA_ID_NOTIFICATION, lw_schema_notification_json},
	    {LW_SCHEMA_ID_ALERT, lw_schema_alert_json},
	};
	lw_registry *r = lw_xcalloc(1, sizeof *r);
	if (dir && *dir && load_dir(r, dir, errstr, errstr_size))
		goto fail;
	for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
		avro_schema_t s;
		if (find(r, builtin[i].id))
			continue;
		if (avro_schema_from_json_length(builtin[i].json,
						 strlen(builtin[i].json), &s)) {
			snprintf(errstr, errstr_size, "embedded schema %d: %s",
				 (int)builtin[i].id, avro_strerror());
			goto fail;
		}
		add(r, builtin[i].id, s);
	}
	return r;
fail:
	lw_registry_destroy(r);
	return NULL;
}

void lw_registry_destroy(lw_registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		avro_schema_decref(r->v[i].schema);
	free(r->v);
	free(r);
}

avro_schema_t lw_registry_get(const lw_registry *r, int32_t id)
{
	const reg_entry *e = find(r, id);
	return e ? e->schema : NULL;
}

size_t lw_registry_count(const lw_registry *r)
{
	return r->n;
}

const char *lw_default_registry_dir(void)
{
	const char *env = getenv("LABWATCH_SCHEMA_DIR");
	if (env && *env)
		return env;
#ifdef LW_SCHEMA_DIR
	DIR *d = opendir(LW_SCHEMA_DIR);
	if (d) {
		closedir(d);
		return LW_SCHEMA_DIR;
	}
#endif
	return NULL;
}
