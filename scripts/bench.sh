#!/usr/bin/env bash
# Benchmarks on a real local Kafka and Redis, started and stopped here: ports 29192/29193 and 26479,
# or SEGSTREAM_BENCH_KAFKA_BOOTSTRAP, SEGSTREAM_BENCH_REDIS_URL (the controller uses port + 1) and
# SEGSTREAM_BENCH_STACK_DIR, so that two benchmark runs on one machine need not share a stack.
# Usage: bash scripts/bench.sh --quick              the suite, scaled down (under 10 minutes):
#                                                   throughput (sessions, CDNOW, baskets; worker,
#                                                   raw loop, naive agent), profile, latency, scale
#        bash scripts/bench.sh [--full]             the suite at full scale (1M customers)
#        bash scripts/bench.sh --workload cdnow     profile_path on CDNOW purchases (options go to it)
#        bash scripts/bench.sh NAME [NAME ...]      named benchmarks: profile_path, pipeline,
#                                                   reevaluate, redis_contract, clusters,
#                                                   rule_eval, ops_overhead, partitions, failover,
#                                                   resync, scale_out
# Every benchmark merges its numbers into bench/results.json; the suite also writes
# bench/RESULTS.md and bench/*.png.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

export SEGSTREAM_KAFKA_BOOTSTRAP=${SEGSTREAM_BENCH_KAFKA_BOOTSTRAP:-127.0.0.1:29192}
export SEGSTREAM_REDIS_URL=${SEGSTREAM_BENCH_REDIS_URL:-redis://127.0.0.1:26479/0}
export SEGSTREAM_STACK_DIR=${SEGSTREAM_BENCH_STACK_DIR:-$repo_root/.segstream/bench-stack}

segstream dev down >/dev/null 2>&1 || true
rm -rf "$SEGSTREAM_STACK_DIR"
trap 'segstream dev down || true' EXIT
segstream dev up

case "${1:-}" in
  "" | --full) python -m bench.suite ;;
  --quick) python -m bench.suite --quick ;;
  --*) python -m bench.profile_path "$@" ;;
  *)
    for name in "$@"; do
      echo "==> bench.$name"
      python -m "bench.$name"
    done
    ;;
esac
