/* xmalloc: the one place that decides what running out of memory means.
 *
 * Design: every allocation in labwatch goes through these wrappers, so an
 * allocation failure is a single, loud abort rather than a NULL dereference
 * somewhere downstream. With jemalloc linked (the default build) these call
 * jemalloc's malloc, since it replaces the C library's. */
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
	fprintf(stderr, "labwatch: out of memory allocating %zu bytes\n", n);
	abort();
}

void *lw_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *lw_xcalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (!p)
		oom(count * size);
	return p;
}

void *lw_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *lw_xstrndup(const char *s, size_t n)
{
	char *p = lw_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *lw_xstrdup(const char *s)
{
	return lw_xstrndup(s, strlen(s));
}
