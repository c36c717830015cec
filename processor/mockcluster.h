/* mockcluster: librdkafka's in-process mock Kafka cluster, for the embedded
 * default, the demo and the tests. It speaks the Kafka protocol over TCP on
 * 127.0.0.1, so every client (ours, kcat, any other) connects to it like to
 * a broker. It is not Kafka: see README.md for its limits. */
#ifndef LW_MOCKCLUSTER_H
#define LW_MOCKCLUSTER_H

#include <stddef.h>

typedef struct lw_mockcluster lw_mockcluster;

/* Starts a one-broker cluster and creates the topics with `partitions`
 * partitions each. NULL on failure with errstr. */
lw_mockcluster *lw_mockcluster_new(int partitions, const char *const *topics,
				   int ntopics, char *errstr,
				   size_t errstr_size);
/* "127.0.0.1:PORT", owned by the cluster. */
const char *lw_mockcluster_bootstraps(const lw_mockcluster *m);
void lw_mockcluster_destroy(lw_mockcluster *m);

#endif
