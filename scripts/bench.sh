#!/usr/bin/env bash
# Benchmarks on a real local Kafka and Redis (ports 29192/29193, 26479), started and stopped here.
# Usage: bash scripts/bench.sh [profile_path options]   -> bench/results.json
# Then the cluster benchmark (quality, stability, assignment cost; no Kafka needed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

export SEGSTREAM_KAFKA_BOOTSTRAP=127.0.0.1:29192
export SEGSTREAM_REDIS_URL=redis://127.0.0.1:26479/0
export SEGSTREAM_STACK_DIR=$repo_root/.segstream/bench-stack

segstream dev down >/dev/null 2>&1 || true
rm -rf "$SEGSTREAM_STACK_DIR"
trap 'segstream dev down || true' EXIT
segstream dev up
python -m bench.profile_path "$@"
python -m bench.clusters
