/* replay: for data teams. Reads the input topics from the beginning to
 * their current end (from Kafka under a throw-away consumer that commits
 * nothing, or from a dump file with no Kafka at all), runs the engine over
 * the events in a canonical order, writes the alerts as JSON lines and a
 * summary, and exits.
 *
 * Same input, same output, byte for byte: events are processed in order of
 * (event time, topic, key, value), which does not depend on how the topics
 * are partitioned or in which order partitions were read; alerts are written
 * ordered by (event_time, alert_id, revision), and detected_at is the event
 * time at which the rule fired, not the wall clock. Only the evidence's
 * partition and offset differ between partitionings. */
#ifndef LW_REPLAY_H
#define LW_REPLAY_H

int lw_replay_main(int argc, char **argv);

#endif
