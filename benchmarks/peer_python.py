#!/usr/bin/python3
"""peer_python: the same join and two of labwatch's rules, written the way a
data team would, as the peer that labwatch's throughput is compared with.

    peer_python.py --brokers HOST:PORT --expect N [--group G] [--timeout S]
    peer_python.py --dump FILE [--limit N]
    (both: [--truth FILE] [--schemas DIR])

Design. Debian's python3-confluent-kafka (Consumer, subscribed to both input
topics from the beginning, batches of 500 with consume()) or a reader of
labwatch's dump format (processor/dumpfile.h; all records are loaded into
memory before the clock starts, as bench_core does); python3-avro decodes
each value with schema resolution (DatumReader(writer, reader)): the writer
schema is schemas/registry/<ID>-*.avsc, the reader schemas/LabResult.avsc or
NotificationSent.avsc. Python avro 1.11 matches named types by full name and
ignores aliases, so the reader is re-namespaced to the writer's namespace
(the evolved writers 101/102 use other namespaces); that is the usual
workaround. Values that do not decode are counted as dead letters.

State: a dict specimen_id -> {results, contacts, notifications, ids}. After
every event the specimen's rules are evaluated again and incidents not seen
before are counted as alerts (labwatch does the same: rules are pure
functions of one specimen):
  RESULT_MISMATCH  a notification states a code other than its reference
                   result's (reference: the highest FINAL/CORRECTED version
                   recorded at or before sent_at, else the first one; codes
                   compared after trimming, upper-casing and folding
                   '_'/spaces; a notification stating a version newer than
                   any known result waits; a specimen whose newest result is
                   CANCELLED/ENTERED_IN_ERROR raises none). One incident per
                   (specimen, reference version, reference code, stated code).
  FANOUT           more distinct recipients than the specimen's contacts
                   (2 with none); needs a result. One incident per specimen.
Output: key=value lines (events, seconds from the first message to the
last, events_per_s, wall seconds including start-up and group join,
incidents per rule, and with --truth the comparison with the generator's
truth for these two rules).
"""
import argparse
import collections
import glob
import io
import json
import os
import struct
import sys
import time

import avro.io
import avro.schema

RESULTS, NOTIFICATIONS = "lab.results", "lab.notifications"
FINAL_STATUSES = ("FINAL", "CORRECTED")
WITHDRAWN_STATUSES = ("CANCELLED", "ENTERED_IN_ERROR")


def norm(code):
    if code is None:
        return None
    return " ".join(code.replace("_", " ").split()).upper()


def millis(t):
    # python avro turns timestamp-millis into datetimes
    if isinstance(t, int):
        return t
    return int(t.timestamp() * 1000)


class Decoder:
    """Schema ID -> DatumReader, built on first use."""

    def __init__(self, schema_dir):
        self.dir = schema_dir
        self.readers_json = {
            RESULTS: self._load(os.path.join(schema_dir, "LabResult.avsc")),
            NOTIFICATIONS: self._load(os.path.join(schema_dir, "NotificationSent.avsc")),
        }
        self.cache = {}

    @staticmethod
    def _load(path):
        with open(path) as f:
            return json.load(f)

    def _reader(self, topic, schema_id):
        key = (topic, schema_id)
        if key not in self.cache:
            paths = glob.glob(os.path.join(self.dir, "registry", "%d-*.avsc" % schema_id))
            if not paths:
                self.cache[key] = None
            else:
                writer = self._load(paths[0])
                reader = dict(self.readers_json[topic])
                reader["namespace"] = writer.get("namespace")
                self.cache[key] = avro.io.DatumReader(
                    avro.schema.parse(json.dumps(writer)), avro.schema.parse(json.dumps(reader))
                )
        return self.cache[key]

    def decode(self, topic, value):
        if not value or len(value) < 5 or value[0] != 0:
            return None
        reader = self._reader(topic, int.from_bytes(value[1:5], "big"))
        if reader is None:
            return None
        try:
            return reader.read(avro.io.BinaryDecoder(io.BytesIO(value[5:])))
        except Exception:  # malformed, truncated, unknown enum symbol
            return None


class Peer:
    def __init__(self, schema_dir):
        self.decoder = Decoder(schema_dir)
        self.specimens = {}
        self.incidents = set()
        self.per_rule = collections.Counter()
        self.events = 0
        self.deadletters = 0

    def process(self, topic, value):
        self.events += 1
        rec = self.decoder.decode(topic, value)
        if rec is None or not rec.get("specimen_id"):
            self.deadletters += 1
            return
        sid = rec["specimen_id"]
        spec = self.specimens.get(sid)
        if spec is None:
            spec = self.specimens[sid] = {"results": [], "contacts": set(), "notifs": [], "ids": set()}
        if topic == RESULTS:
            if rec["event_id"] in spec["ids"]:
                return
            spec["ids"].add(rec["event_id"])
            spec["results"].append(
                {
                    "version": rec["result_version"],
                    "status": rec["status"],
                    "code": norm(rec["result_code"]),
                    "recorded_at": millis(rec["recorded_at"]),
                }
            )
            if rec["status"] not in WITHDRAWN_STATUSES:
                spec["contacts"].update(rec.get("contact_keys") or ())
        else:
            if rec["notification_id"] in spec["ids"]:
                return
            spec["ids"].add(rec["notification_id"])
            spec["notifs"].append(
                {
                    "recipient": rec["recipient_key"],
                    "code": norm(rec.get("result_code")),
                    "version": rec.get("result_version"),
                    "sent_at": millis(rec["sent_at"]),
                }
            )
        self.evaluate(sid, spec)

    def alert(self, key):
        if key not in self.incidents:
            self.incidents.add(key)
            self.per_rule[key[0]] += 1

    def evaluate(self, sid, spec):
        results, notifs = spec["results"], spec["notifs"]
        if not results or not notifs:
            return
        newest = max(results, key=lambda r: (r["version"], r["recorded_at"]))
        if newest["status"] not in WITHDRAWN_STATUSES:
            finals = [r for r in results if r["status"] in FINAL_STATUSES]
            max_version = max(r["version"] for r in results)
            for n in notifs:
                if n["code"] is None or not finals:
                    continue
                if n["version"] is not None and n["version"] > max_version:
                    continue  # waits for the result it names
                before = [r for r in finals if r["recorded_at"] <= n["sent_at"]]
                if before:
                    ref = max(before, key=lambda r: (r["version"], r["recorded_at"]))
                else:
                    ref = min(finals, key=lambda r: (r["version"], r["recorded_at"]))
                if n["code"] != ref["code"]:
                    self.alert(("RESULT_MISMATCH", sid, ref["version"], ref["code"], n["code"]))
        threshold = len(spec["contacts"]) or 2
        if len(notifs) > threshold and len({n["recipient"] for n in notifs}) > threshold:
            self.alert(("FANOUT", sid))


def read_dump(path, limit):
    records = []
    with open(path, "rb") as f:
        if f.read(8) != b"LWDUMP1\n":
            sys.exit("peer_python: %s: not a dump file" % path)
        while not limit or len(records) < limit:
            head = f.read(2)
            if not head:
                break
            (tlen,) = struct.unpack(">H", head)
            topic = f.read(tlen).decode()
            _part, _off, _ts, klen = struct.unpack(">iqqi", f.read(24))
            if klen >= 0:
                f.read(klen)
            (vlen,) = struct.unpack(">i", f.read(4))
            value = f.read(vlen) if vlen >= 0 else None
            records.append((RESULTS if "result" in topic else NOTIFICATIONS, value))
    return records


def read_truth(path):
    truth = collections.defaultdict(set)
    with open(path) as f:
        for line in f:
            if line.startswith("ALERT\t"):
                parts = line.rstrip("\n").split("\t")
                truth[parts[1]].add(parts[2])
    return truth


def run_kafka(peer, args):
    from confluent_kafka import Consumer, KafkaError

    t_start = time.monotonic()
    consumer = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": args.group or "peer-python-%d" % os.getpid(),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([RESULTS, NOTIFICATIONS])
    t_first = None
    deadline = t_start + args.timeout
    while peer.events < args.expect and time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=500, timeout=1.0):
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    print("peer_python: %s" % msg.error(), file=sys.stderr)
                continue
            if t_first is None:
                t_first = time.monotonic()
            peer.process(msg.topic(), msg.value())
    t_end = time.monotonic()
    consumer.close()
    return t_start, t_first or t_end, t_end


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--brokers")
    ap.add_argument("--expect", type=int, default=0, help="stop after N messages (Kafka)")
    ap.add_argument("--group")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--dump")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--truth")
    ap.add_argument("--schemas", default=os.path.join(here, "..", "schemas"))
    args = ap.parse_args()
    if bool(args.brokers) == bool(args.dump) or (args.brokers and args.expect <= 0):
        ap.error("give --brokers with --expect N, or --dump FILE")
    peer = Peer(args.schemas)
    if args.dump:
        records = read_dump(args.dump, args.limit)
        t_start = t_first = time.monotonic()
        for topic, value in records:
            peer.process(topic, value)
        t_end = time.monotonic()
    else:
        t_start, t_first, t_end = run_kafka(peer, args)
    secs = max(t_end - t_first, 1e-9)
    print("mode=%s" % ("dump" if args.dump else "kafka"))
    print("events=%d" % peer.events)
    print("seconds=%.3f" % secs)
    print("events_per_s=%.0f" % (peer.events / secs))
    print("wall_seconds=%.3f" % (t_end - t_start))
    print("wall_events_per_s=%.0f" % (peer.events / max(t_end - t_start, 1e-9)))
    print("specimens=%d" % len(peer.specimens))
    print("deadletters=%d" % peer.deadletters)
    for rule in ("RESULT_MISMATCH", "FANOUT"):
        print("incidents_%s=%d" % (rule, peer.per_rule[rule]))
    status = 0
    if args.brokers and peer.events < args.expect:
        print("incomplete=consumed %d of %d" % (peer.events, args.expect))
        status = 1
    if args.truth:
        truth = read_truth(args.truth)
        for rule in ("RESULT_MISMATCH", "FANOUT"):
            seen = {k[1] for k in peer.incidents if k[0] == rule}
            print("truth_%s=%d missed_%s=%d unexpected_%s=%d"
                  % (rule, len(truth[rule]), rule, len(truth[rule] - seen), rule, len(seen - truth[rule])))
    return status


if __name__ == "__main__":
    sys.exit(main())
