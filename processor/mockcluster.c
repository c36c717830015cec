/* mockcluster: a thin owner of rd_kafka_mock_cluster_t.
 *
 * Design: the mock cluster lives inside an rd_kafka_t handle of its own (a
 * producer that never produces), so its lifetime is independent of the
 * clients that connect to it. Topics are created explicitly because the
 * mock's auto-create would give 4 partitions whatever we want. */
#include "mockcluster.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>

#include "xmalloc.h"

struct lw_mockcluster {
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
};

lw_mockcluster *lw_mockcluster_new(int partitions, const char *const *topics,
				   int ntopics, char *errstr,
				   size_t errstr_size)
{
	lw_mockcluster *m = lw_xcalloc(1, sizeof *m);
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	/* This handle only hosts the cluster; silence its "no brokers"
	 * warning. */
	rd_kafka_conf_set(conf, "log_level", "0", NULL, 0);
	m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
	if (!m->rk) {
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	m->mc = rd_kafka_mock_cluster_new(m->rk, 1);
	if (!m->mc) {
		snprintf(errstr, errstr_size, "cannot start the mock cluster");
		goto fail;
	}
	for (int i = 0; i < ntopics; i++) {
		rd_kafka_resp_err_t err =
		    rd_kafka_mock_topic_create(m->mc, topics[i], partitions, 1);
		if (err) {
			snprintf(errstr, errstr_size, "mock topic %s: %s",
				 topics[i], rd_kafka_err2str(err));
			goto fail;
		}
	}
	return m;
fail:
	lw_mockcluster_destroy(m);
	return NULL;
}

const char *lw_mockcluster_bootstraps(const lw_mockcluster *m)
{
	return rd_kafka_mock_cluster_bootstraps(m->mc);
}

void lw_mockcluster_destroy(lw_mockcluster *m)
{
	if (!m)
		return;
	if (m->mc)
		rd_kafka_mock_cluster_destroy(m->mc);
	if (m->rk)
		rd_kafka_destroy(m->rk);
	free(m);
}
