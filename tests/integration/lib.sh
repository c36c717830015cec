# lib.sh: shared functions of the labwatch integration tests (sourced).
#
# Every script starts with `lw_init BUILD_DIR BUDGET_S`: it finds the
# binaries, makes a fresh temp dir ($LW_TMP), sets a time budget and a
# cleanup trap. Processes are started with lw_spawn (stdout and stderr go
# to $LW_TMP/NAME.out / NAME.err) and tracked, so the trap can stop them
# all: SIGTERM, then SIGKILL after 3 s. Foreground commands run under
# `timeout`, and every wait is a poll loop bounded by its own timeout and
# by the script's budget, so no script can hang. On failure the temp dir is
# kept (its path is printed); LW_KEEP=1 keeps it always.
#
# Binaries (override with env): LW_LABWATCH (BUILD/labwatch), LW_GEN
# (BUILD/benchmarks/labwatch-gen), LW_DUMP (BUILD/tests/tools/lw-topic-dump).
#
# Comparisons are sets of TSV tuples made with awk, sorted with LC_ALL=C and
# compared with comm:
#   alerts: (rule, specimen_id, most severe severity over the revisions of
#           each alert_id) from the alerts topic vs (rule, specimen_id,
#           severity) of the truth's ALERT lines;
#   incidents: when those sets agree, the same tuples counted per alert_id
#           vs per truth line (an incident must keep one alert_id, even
#           across a crash);
#   DLQ:    (reason, source_topic, key) of the dead-letter topic vs the
#           truth's DLQ lines, and for runs without a crash ("exact") the
#           same counted per record.
# Before comparing, a dump must have no BAD record and no alert_id naming
# two (rule, specimen_id). On a difference the missing and unexpected
# tuples are listed, with the JSON of the first unexpected alerts.

set -u -o pipefail
export LC_ALL=C

# Every rule the generator can inject with --faults all.
LW_TIMER_RULES="MISSING_NOTIFICATION CORRECTED_AFTER_NOTIFY ORPHAN_NOTIFICATION SENT_BEFORE_FINAL SENT_AFTER_WITHDRAWAL FANIN VOLUME_SURGE"
# The settings under which they come due within a test-sized run, given
# to the generator (-P) and to labwatch (-X) alike, and the generator
# flags that inject them (labwatch-gen --help, processor/traffic.h).
LW_RULE_PROPS="sla.critical.ms=600000 sla.default.ms=1800000 orphan.grace.ms=600000 surge.window.ms=300000 surge.cap=250"
lw_gen_rule_args() {
	local kv
	printf '%s\n' --faults all
	for kv in $LW_RULE_PROPS; do printf '%s\n' -P "$kv"; done
}
lw_labwatch_rule_args() {
	local kv
	for kv in $LW_RULE_PROPS; do printf '%s\n' -X "$kv"; done
	# the last timers come due once the input is idle: do not wait 30 s
	printf '%s\n' -X time.idle.timeout.ms=1000
}

LW_PIDS=""
LW_FAILED=0
LW_TMP=""

lw_log() {
	printf '[%s +%3ds] %s\n' "${LW_NAME:-it}" "$((SECONDS - ${LW_T0:-0}))" "$*"
}

# Marks the test failed and goes on (so that every comparison is printed).
lw_fail() {
	LW_FAILED=1
	lw_log "FAIL: $*"
}

# Stops the test at once (setup errors); the trap cleans up.
lw_die() {
	LW_FAILED=1
	lw_log "FATAL: $*"
	exit 1
}

# Seconds left in the script's budget (at least 1).
lw_left() {
	local left=$((LW_DEADLINE - SECONDS))
	((left < 1)) && left=1
	echo "$left"
}

# min(requested timeout, budget left)
lw_cap() {
	local left
	left=$(lw_left)
	if (($1 < left)); then echo "$1"; else echo "$left"; fi
}

# lw_init BUILD_DIR BUDGET_SECONDS
lw_init() {
	local build=${1:-}
	LW_NAME=$(basename "$0" .sh)
	LW_T0=$SECONDS
	LW_DEADLINE=$((SECONDS + ${2:-170}))
	[ -n "$build" ] && [ -d "$build" ] || lw_die "usage: $0 BUILD_DIR (the cmake build directory)"
	build=$(cd "$build" && pwd)
	LW_LABWATCH=${LW_LABWATCH:-$build/labwatch}
	LW_GEN=${LW_GEN:-$build/benchmarks/labwatch-gen}
	LW_DUMP=${LW_DUMP:-$build/tests/tools/lw-topic-dump}
	local b
	for b in "$LW_LABWATCH" "$LW_GEN" "$LW_DUMP"; do
		[ -x "$b" ] || lw_die "missing executable $b (build first)"
	done
	LW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/lw-$LW_NAME.XXXXXX") || lw_die "mktemp failed"
	trap lw_cleanup EXIT
	trap 'lw_log "interrupted"; exit 130' INT TERM HUP
	lw_log "build=$build tmp=$LW_TMP budget=${2:-170}s"
}

# Stops everything this script started, then removes the temp dir unless
# the test failed. Runs from the EXIT trap.
lw_cleanup() {
	local rc=$? pid left=0 i
	trap - EXIT INT TERM HUP
	for pid in $LW_PIDS; do
		kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null && left=1
	done
	if ((left)); then
		for ((i = 0; i < 30; i++)); do
			left=0
			for pid in $LW_PIDS; do kill -0 "$pid" 2>/dev/null && left=1; done
			((left)) || break
			sleep 0.1
		done
		for pid in $LW_PIDS; do
			kill -0 "$pid" 2>/dev/null && {
				lw_log "cleanup: pid $pid ignored SIGTERM, SIGKILL"
				kill -KILL "$pid" 2>/dev/null
			}
		done
	fi
	for pid in $LW_PIDS; do wait "$pid" 2>/dev/null; done
	((rc == 0 && LW_FAILED)) && rc=1
	if [ -n "$LW_TMP" ]; then
		if ((rc != 0)) || [ "${LW_KEEP:-0}" = 1 ]; then
			lw_log "logs kept in $LW_TMP"
		else
			rm -rf "$LW_TMP"
		fi
	fi
	if ((rc == 0)); then lw_log "PASS"; else lw_log "FAILED (exit $rc)"; fi
	exit "$rc"
}

# lw_spawn NAME CMD ARGS...: starts CMD in the background; sets LW_PID.
lw_spawn() {
	local name=$1
	shift
	"$@" >"$LW_TMP/$name.out" 2>"$LW_TMP/$name.err" </dev/null &
	LW_PID=$!
	LW_PIDS="$LW_PIDS $LW_PID"
	lw_log "started $name (pid $LW_PID): $*"
}

lw_forget() {
	local p out=""
	for p in $LW_PIDS; do [ "$p" = "$1" ] || out="$out $p"; done
	LW_PIDS=$out
}

# lw_stop PID TIMEOUT_S: SIGTERM, wait at most TIMEOUT_S; sets LW_RC to
# the exit status (124 when it had to be SIGKILLed).
lw_stop() {
	local pid=$1 t i
	t=$(lw_cap "$2")
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < t * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		lw_log "pid $pid still running ${t}s after SIGTERM: SIGKILL"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		LW_RC=124
	else
		wait "$pid" 2>/dev/null
		LW_RC=$?
	fi
	lw_forget "$pid"
}

# lw_fg OUT ERR TIMEOUT_S CMD ARGS...: runs CMD in the foreground under
# `timeout`, but through `wait`, so that a signal to the script runs the
# cleanup at once instead of after CMD; returns CMD's status.
lw_fg() {
	local out=$1 err=$2 t pid rc
	t=$(lw_cap "$3")
	shift 3
	timeout -k 5 "$t" "$@" >"$out" 2>"$err" </dev/null &
	pid=$!
	LW_PIDS="$LW_PIDS $pid"
	wait "$pid"
	rc=$?
	lw_forget "$pid"
	return "$rc"
}

# lw_kill9 PID: the crash.
lw_kill9() {
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	lw_forget "$1"
}

# lw_alive PID NAME: dies with the log tail when the process has exited.
lw_alive() {
	kill -0 "$1" 2>/dev/null && return 0
	wait "$1" 2>/dev/null
	local rc=$?
	lw_forget "$1"
	lw_log "$2 exited early with status $rc; stderr tail:"
	tail -n 20 "$LW_TMP/$2.err" | sed 's/^/    /'
	lw_die "$2 died"
}

# lw_mock_start [PARTITIONS]: starts `labwatch mock`, waits for its
# bootstrap line (or port file); sets LW_BOOTSTRAP and LW_MOCK_PID.
lw_mock_start() {
	local i t
	rm -f "$LW_TMP/bootstrap.txt" # a previous mock's, in a multi-mock test
	lw_spawn mock "$LW_LABWATCH" mock --partitions "${1:-4}" --port-file "$LW_TMP/bootstrap.txt"
	LW_MOCK_PID=$LW_PID
	LW_BOOTSTRAP=""
	t=$(lw_cap 15)
	for ((i = 0; i < t * 10; i++)); do
		LW_BOOTSTRAP=$(sed -n 's/^bootstrap=//p' "$LW_TMP/mock.out" | head -n 1)
		if [ -z "$LW_BOOTSTRAP" ] && [ -s "$LW_TMP/bootstrap.txt" ]; then
			LW_BOOTSTRAP=$(head -n 1 "$LW_TMP/bootstrap.txt" | sed 's/^bootstrap=//')
			case $LW_BOOTSTRAP in *:[0-9]*) ;; *) LW_BOOTSTRAP="" ;; esac
		fi
		[ -n "$LW_BOOTSTRAP" ] && break
		lw_alive "$LW_MOCK_PID" mock
		sleep 0.1
	done
	[ -n "$LW_BOOTSTRAP" ] || lw_die "no bootstrap from 'labwatch mock' within ${t}s"
	lw_log "mock cluster at $LW_BOOTSTRAP"
}

# lw_gen NAME ARGS...: runs labwatch-gen against the mock (bounded).
# NAME=truth-only: without -b, so that it only writes the truth.
lw_gen() {
	local name=$1 rc
	shift
	lw_log "labwatch-gen $*"
	if [ "$name" = truth-only ]; then
		lw_fg "$LW_TMP/$name.out" "$LW_TMP/$name.err" 90 "$LW_GEN" "$@"
	else
		lw_fg "$LW_TMP/$name.out" "$LW_TMP/$name.err" 90 "$LW_GEN" -b "$LW_BOOTSTRAP" "$@"
	fi
	rc=$?
	if ((rc != 0)); then
		tail -n 20 "$LW_TMP/$name.err" | sed 's/^/    /'
		lw_die "labwatch-gen exited with status $rc"
	fi
}

# lw_dump OUTFILE IDLE_MS: dumps the alert and dead-letter topics.
lw_dump() {
	local t rc
	t=$(lw_cap 60)
	lw_fg "$1" "$1.err" $((t + 5)) "$LW_DUMP" -b "$LW_BOOTSTRAP" -t lab.alerts -t lab.deadletter \
		--idle-ms "$2" --max-ms $((t * 1000))
	rc=$?
	((rc == 0)) || lw_log "lw-topic-dump exited $rc: $(tail -n 3 "$1.err" | tr '\n' ' ')"
	return "$rc"
}

# lw_input_count: number of records on the two input topics.
lw_input_count() {
	lw_fg "$LW_TMP/count.tsv" "$LW_TMP/count.err" 30 "$LW_DUMP" -b "$LW_BOOTSTRAP" \
		-t lab.results -t lab.notifications --count --max-ms 20000 ||
		lw_log "lw-topic-dump --count failed: $(tail -n 2 "$LW_TMP/count.err" | tr '\n' ' ')" >&2
	awk -F'\t' '$1 == "COUNT" { s += $3 } END { print s + 0 }' "$LW_TMP/count.tsv"
}

# lw_committed GROUP: sum of GROUP's committed offsets on the input topics.
lw_committed() {
	lw_fg "$LW_TMP/committed.tsv" "$LW_TMP/committed.err" 30 "$LW_DUMP" -b "$LW_BOOTSTRAP" \
		-t lab.results -t lab.notifications --committed "$1" --max-ms 20000 ||
		lw_log "lw-topic-dump --committed failed: $(tail -n 2 "$LW_TMP/committed.err" | tr '\n' ' ')" >&2
	awk -F'\t' '$1 == "COMMITTED" { s += $3 } END { print s + 0 }' "$LW_TMP/committed.tsv"
}

# lw_consumed LOGFILE: the last consumed=N in a processor log, or "".
lw_consumed() {
	grep -o 'consumed=[0-9]*' "$1" 2>/dev/null | tail -n 1 | cut -d= -f2
}

# Tuple sets ------------------------------------------------------------

# Alerts of a dump: one line per alert_id, its (rule, specimen) and the most
# severe severity among its revisions; lw_alert_set makes it a set.
lw_alert_set() {
	lw_alert_set_per_id "$1" | sort -u
}

# A VOLUME_SURGE alert has specimen_id "": the truth writes "-". A FANIN
# alert names the specimen of the earliest notification in its window,
# which in live mode depends on arrival order: the truth's
# "# FANIN_ACCEPT <X> <sid>,..." lines (LW_TRUTH_FILE, when set) map any
# accepted specimen back to X.
lw_alert_set_per_id() {
	awk -F'\t' '
		BEGIN { rank["CRITICAL"] = 0; rank["HIGH"] = 1; rank["WARNING"] = 2; rank["INFO"] = 3 }
		FILENAME != dump {
			if ($1 ~ /^# FANIN_ACCEPT/) {
				split($1, h, " "); x = (NF >= 2) ? $2 : h[3]; l = (NF >= 3) ? $3 : h[4]
				n = split(l, ids, ","); for (i = 1; i <= n; i++) acc[ids[i]] = x
			}
			next
		}
		$1 == "ALERT" {
			spec = $3
			if (spec == "") spec = "-"
			if ($2 == "FANIN" && (spec in acc)) spec = acc[spec]
			r = ($4 in rank) ? rank[$4] : 9
			if (!($5 in best) || r < best[$5]) { best[$5] = r; sev[$5] = $4 }
			what[$5] = $2 "\t" spec
		}
		END { for (a in best) print what[a] "\t" sev[a] }' dump="$1" ${LW_TRUTH_FILE:+"$LW_TRUTH_FILE"} "$1"
}

lw_truth_alert_set() {
	awk -F'\t' '$1 == "ALERT" { print $2 "\t" $3 "\t" $4 }' "$1" | sort -u
}

lw_dlq_set() {
	awk -F'\t' '$1 == "DLQ" { print $2 "\t" $3 "\t" $4 }' "$1" | sort -u
}

# Incidents: one line per alert_id, (rule, specimen_id, max severity),
# with repeats counted; the truth has one ALERT line per incident.
lw_incident_multiset() {
	lw_alert_set_per_id "$1" | sort | uniq -c | awk '{ n = $1; sub(/^ *[0-9]+ /, ""); print $0 "\tx" n }'
}

lw_truth_incident_multiset() {
	awk -F'\t' '$1 == "ALERT" { print $2 "\t" $3 "\t" $4 }' "$1" | sort | uniq -c |
		awk '{ n = $1; sub(/^ *[0-9]+ /, ""); print $0 "\tx" n }'
}

# The multiset: one line per record, with its count.
lw_dlq_multiset() {
	awk -F'\t' '$1 == "DLQ" { print $2 "\t" $3 "\t" $4 }' "$1" | sort | uniq -c |
		awk '{ n = $1; sub(/^ *[0-9]+ /, ""); print $0 "\tx" n }'
}

# lw_compare LABEL EXPECTED_FILE ACTUAL_FILE: compares two sorted sets,
# prints the counts and, on a difference, the missing and unexpected lines.
lw_compare() {
	local label=$1 exp=$2 act=$3 nmiss nunexp
	comm -23 "$exp" "$act" >"$exp.missing"
	comm -13 "$exp" "$act" >"$exp.unexpected"
	nmiss=$(wc -l <"$exp.missing")
	nunexp=$(wc -l <"$exp.unexpected")
	lw_log "compare $label: expected $(wc -l <"$exp"), got $(wc -l <"$act"), missing $nmiss, unexpected $nunexp"
	if ((nmiss + nunexp == 0)); then
		return 0
	fi
	head -n 40 "$exp.missing" | sed 's/^/    missing:    /'
	((nmiss > 40)) && echo "    ... ($nmiss missing in all: $exp.missing)"
	head -n 40 "$exp.unexpected" | sed 's/^/    unexpected: /'
	((nunexp > 40)) && echo "    ... ($nunexp unexpected in all: $exp.unexpected)"
	lw_fail "$label differs"
	return 1
}

# lw_check_dump DUMPFILE: structural checks of a dump that need no truth:
# no BAD records, and one (rule, specimen) per alert_id.
lw_check_dump() {
	local bad incons
	bad=$(grep -c '^BAD' "$1")
	if ((bad > 0)); then
		grep '^BAD' "$1" | head -n 10 | sed 's/^/    /'
		lw_fail "$bad undecodable alert records"
	fi
	incons=$(awk -F'\t' '$1 == "ALERT" {
			k = $2 "\t" $3
			if (($5 in m) && m[$5] != k) print "    alert_id " $5 ": " m[$5] " and " k
			m[$5] = k
		}' "$1" | sort -u)
	if [ -n "$incons" ]; then
		echo "$incons" | head -n 10
		lw_fail "an alert_id names more than one (rule, specimen)"
	fi
	lw_log "dump: $(grep -c '^ALERT' "$1") alert records ($(awk -F'\t' '$1 == "ALERT" { a[$5] } END { print length(a) }' "$1") alert_ids), $(grep -c '^DLQ' "$1") dead letters"
}

# lw_truth_summary TRUTH: prints ALERT lines per rule and DLQ lines per
# reason, and fails when there is no ALERT or DLQ line at all, or when a
# rule in LW_RULES (default: all five) has no ALERT line (the test could
# then not fail for that rule).
lw_truth_summary() {
	local r n
	lw_log "truth: $(grep -c '^ALERT' "$1") ALERT lines, $(grep -c '^DLQ' "$1") DLQ lines"
	awk -F'\t' '$1 == "ALERT" { n[$2 " " $4]++ } END { for (k in n) print "    ALERT " k ": " n[k] }' "$1" | sort
	awk -F'\t' '$1 == "DLQ" { n[$2 " " $3]++ } END { for (k in n) print "    DLQ " k ": " n[k] }' "$1" | sort
	(($(grep -c '^ALERT' "$1") > 0)) || lw_fail "truth has no ALERT line: the scenario tests nothing"
	for r in ${LW_RULES-RESULT_MISMATCH STALE_VERSION WRONG_RECIPIENT FANOUT RECORD_MISMATCH $LW_TIMER_RULES}; do
		n=$(awk -F'\t' -v r="$r" '$1 == "ALERT" && $2 == r' "$1" | wc -l)
		((n > 0)) || lw_fail "truth has no ALERT line for rule $r: the scenario does not test it"
	done
	[ -n "${LW_NO_DLQ:-}" ] || (($(grep -c '^DLQ' "$1") > 0)) ||
		lw_fail "truth has no DLQ line: the scenario does not test dead letters"
}

# lw_show_unexpected FILE: prints the full JSON of the alerts named by the
# first lines of FILE (rule, specimen_id, ...), for the diagnosis.
lw_show_unexpected() {
	local rule spec rest
	[ -s "$1" ] || return 0
	lw_fg "$LW_TMP/alerts.json" "$LW_TMP/alerts.json.err" 30 "$LW_DUMP" -b "$LW_BOOTSTRAP" \
		-t lab.alerts --json --idle-ms 500 --max-ms 20000 || return 0
	lw_log "the first unexpected alerts in full (all in $LW_TMP/alerts.json):"
	head -n 3 "$1" | while IFS=$'\t' read -r rule spec rest; do
		grep -F "\"rule\": \"$rule\"" "$LW_TMP/alerts.json" |
			grep -F "\"specimen_id\": \"$spec\"" | tail -n 1 | cut -f5 | sed 's/^/    /'
	done
}

# lw_compare_all TRUTH DUMP [exact]: the alert, incident and DLQ comparisons; with
# "exact" the DLQ records must also match the truth one for one (no
# duplicates: runs without a crash).
lw_compare_all() {
	local truth=$1 dump=$2 d=$LW_TMP/cmp
	mkdir -p "$d"
	lw_check_dump "$dump"
	lw_truth_alert_set "$truth" >"$d/alerts.expected"
	lw_alert_set "$dump" >"$d/alerts.actual"
	if lw_compare "alerts (rule, specimen_id, max severity)" "$d/alerts.expected" "$d/alerts.actual"; then
		# alert_id is stable per incident, even across a crash: one
		# alert_id per truth line (catches an incident split over two
		# alert_ids). Only worth a look when the sets agree.
		lw_truth_incident_multiset "$truth" >"$d/incidents.expected"
		lw_incident_multiset "$dump" >"$d/incidents.actual"
		lw_compare "incidents (one alert_id each: rule, specimen_id, max severity, xN)" \
			"$d/incidents.expected" "$d/incidents.actual"
	else
		lw_show_unexpected "$d/alerts.expected.unexpected"
	fi
	lw_dlq_set "$truth" >"$d/dlq.expected"
	lw_dlq_set "$dump" >"$d/dlq.actual"
	lw_compare "dead letters (reason, source_topic, key)" "$d/dlq.expected" "$d/dlq.actual"
	if [ "${3:-}" = exact ]; then
		lw_dlq_multiset "$truth" >"$d/dlqm.expected"
		lw_dlq_multiset "$dump" >"$d/dlqm.actual"
		lw_compare "dead letters with counts (reason, source_topic, key, xN)" \
			"$d/dlqm.expected" "$d/dlqm.actual"
	fi
}

# lw_alerts_present TRUTH DUMP MAX_TRIGGER: 0 when every truth incident with
# trigger_idx < MAX_TRIGGER has an alert with its (rule, specimen_id).
lw_alerts_present() {
	local d=$LW_TMP/cmp
	mkdir -p "$d"
	awk -F'\t' -v k="$3" '$1 == "ALERT" && $6 != "-" && $6 < k { print $2 "\t" $3 }' "$1" | sort -u >"$d/present.expected"
	lw_alert_set_per_id "$2" | cut -f1,2 | sort -u >"$d/present.actual"
	[ -z "$(comm -23 "$d/present.expected" "$d/present.actual")" ]
}

# lw_wait_settled PID NAME PRODUCED TIMEOUT_S STABLE [TRUTH]: waits until
# the processor NAME has consumed PRODUCED messages (by the consumed=N of
# its periodic stats) and, after that, the output topics did not grow over
# STABLE polls. When its log never shows consumed=N, output stability over
# STABLE+3 polls (with some output) has to do. With TRUTH, output equal to
# the truth sets counts as settled after one stable poll. Leaves the last
# dump in $LW_TMP/poll.tsv. Returns 1 (after logging) on timeout.
lw_wait_settled() {
	local pid=$1 name=$2 produced=$3 t=$4 stable_want=$5 truth=${6:-}
	local end prev=-1 cur stable=0 consumed matched
	t=$(lw_cap "$t")
	end=$((SECONDS + t))
	while ((SECONDS < end)); do
		lw_alive "$pid" "$name"
		lw_dump "$LW_TMP/poll.tsv" 300 || { sleep 1; continue; }
		cur=$(wc -l <"$LW_TMP/poll.tsv")
		consumed=$(lw_consumed "$LW_TMP/$name.err")
		# Stability counts only once the input is consumed (when the log
		# says so): before that, quiet output means nothing.
		if ((cur == prev)) && { [ -z "$consumed" ] || ((consumed >= produced)); }; then
			stable=$((stable + 1))
		else
			stable=0
		fi
		prev=$cur
		matched=0
		if [ -n "$truth" ] &&
			[ "$(lw_truth_alert_set "$truth")" = "$(lw_alert_set "$LW_TMP/poll.tsv")" ] &&
			[ "$(lw_dlq_set "$truth")" = "$(lw_dlq_set "$LW_TMP/poll.tsv")" ]; then
			matched=1
		fi
		lw_log "  poll: output records=$cur stable=$stable consumed=${consumed:-?}/$produced matched_truth=$matched"
		if ((stable >= 1 && matched)); then return 0; fi
		if [ -n "$consumed" ]; then
			((consumed >= produced && stable >= stable_want)) && return 0
		elif ((stable >= stable_want + 3 && cur > 0)); then
			lw_log "  (no consumed= in the periodic log: settled on output stability)"
			return 0
		fi
		sleep 1
	done
	lw_log "output did not settle within ${t}s (consumed=${consumed:-?}/$produced)"
	return 1
}
