#!/usr/bin/env bash
# `make bench`: install the references, run every benchmark, regenerate bench/RESULTS.md.
#
# Raw results go to bench/.work/*.json, server logs to bench/.work/logs/. Every server is
# started on a free 127.0.0.1 port and stopped at the end. BENCH_QUICK=1 runs a short
# version (for checking the scripts, not for figures).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if [ ! -x "$PY" ]; then
  echo "no .venv: run 'make bench' (it creates .venv first)" >&2
  exit 1
fi

bash bench/setup.sh

# The figures are only as good as the machine is quiet: wait (a bounded while) for the
# load of other work to settle, and record the load average either way.
for _ in $(seq 1 12); do
  awk '{ exit !($1 < 1.5) }' /proc/loadavg && break
  echo "waiting for the machine to settle (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  sleep 5
done

mkdir -p bench/.work
# Only this run's own results: a figure left from an older run must not be reported.
rm -f bench/.work/{machine,gateways,memory,ingest,sli,profile,tick,detection,judge,zero_downtime,flags,statuspage,drills,public_ingest,funnel,clustering,dashboard,review,demo}.json
export BENCH_COMMAND=${BENCH_COMMAND:-make bench}
"$PY" bench/machine.py start

if [ "${BENCH_QUICK:-0}" = 1 ]; then
  gateways_args=(--rounds 1 --requests 300 --warmup 50 --stream-requests 30 --paced-requests 10
    --duration 3)
  memory_args=(--step 2000 --steps 3)
  ingest_args=(--events 20000 --rounds 1)
  sli_args=(--runs 3)
  profile_args=(--duration 3)
  tick_args=(--runs 3)
  detection_args=(--quick)
  judge_args=(--canaries 24)
  flags_args=(--calls 10000 --repeats 3)
  statuspage_args=(--duration 2)
  public_ingest_args=(--rounds 1 --duration 2)
  funnel_args=(--users 5000 --events 100000 --repeats 2)
  clustering_args=(--comments 1000 --rounds 1)
  dashboard_args=(--runs 3)
  review_args=(--events 100000 --feedback 500 --repeats 1)
  demo_args=(--quick --runs 1)
  export BENCH_ZD_SECONDS=${BENCH_ZD_SECONDS:-12} # the change comes 10 s in
else
  gateways_args=()
  memory_args=()
  ingest_args=()
  sli_args=()
  profile_args=()
  tick_args=()
  detection_args=()
  judge_args=()
  flags_args=()
  statuspage_args=()
  public_ingest_args=()
  funnel_args=()
  clustering_args=()
  dashboard_args=()
  review_args=()
  demo_args=()
fi

failed=()
run() {
  local name=$1
  shift
  echo "== $name"
  if ! "$PY" "$@"; then
    echo "!! $name failed (see above and bench/.work/logs/)" >&2
    failed+=("$name")
  fi
}
run gateways bench/bench_gateways.py ${gateways_args[@]+"${gateways_args[@]}"}
run memory bench/bench_memory.py ${memory_args[@]+"${memory_args[@]}"}
run ingest bench/bench_ingest.py ${ingest_args[@]+"${ingest_args[@]}"}
run sli bench/bench_sli.py ${sli_args[@]+"${sli_args[@]}"}
run profile bench/bench_profile.py ${profile_args[@]+"${profile_args[@]}"}
run tick bench/bench_tick.py ${tick_args[@]+"${tick_args[@]}"}
run detection bench/bench_detection.py ${detection_args[@]+"${detection_args[@]}"}
run judge bench/bench_judge.py ${judge_args[@]+"${judge_args[@]}"}
run zero_downtime bench/bench_zero_downtime.py
run flags bench/bench_flags.py ${flags_args[@]+"${flags_args[@]}"}
run statuspage bench/bench_statuspage.py ${statuspage_args[@]+"${statuspage_args[@]}"}
run drills bench/bench_drills.py
run public_ingest bench/bench_public_ingest.py ${public_ingest_args[@]+"${public_ingest_args[@]}"}
run funnel bench/bench_funnel.py ${funnel_args[@]+"${funnel_args[@]}"}
# Sentence embeddings only when the prodloop[embeddings] extra is in .venv; TF-IDF always.
run clustering bench/bench_clustering.py ${clustering_args[@]+"${clustering_args[@]}"}
run dashboard bench/bench_dashboard.py ${dashboard_args[@]+"${dashboard_args[@]}"}
run review bench/bench_review.py ${review_args[@]+"${review_args[@]}"}
run demo bench/bench_demo.py ${demo_args[@]+"${demo_args[@]}"}

BENCH_FAILED="${failed[*]-}" "$PY" bench/machine.py end
"$PY" bench/report.py
echo "wrote bench/RESULTS.md"
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
