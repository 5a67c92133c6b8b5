#!/usr/bin/env bash
# The whole test suite: lint, types, unit tests, and integration tests against a real Kafka and
# Redis that this script starts on its own ports (19092/19093, 16379) and stops afterwards.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

export SEGSTREAM_KAFKA_BOOTSTRAP=${SEGSTREAM_TEST_KAFKA_BOOTSTRAP:-127.0.0.1:19092}
export SEGSTREAM_REDIS_URL=${SEGSTREAM_TEST_REDIS_URL:-redis://127.0.0.1:16379/0}
export SEGSTREAM_STACK_DIR=$repo_root/.segstream/test-stack

# The storefront's browser test drives Debian's Chromium: install it like the stack installs Redis.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium and chromium-driver for the browser test"
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium chromium-driver >/dev/null
  else
    echo "==> chromium or chromium-driver missing and not root: the browser test will be skipped"
  fi
fi

echo "==> ruff"
ruff check .
echo "==> mypy --strict"
mypy --strict

echo "==> starting a fresh Kafka and Redis for the tests"
segstream dev down >/dev/null 2>&1 || true
rm -rf "$SEGSTREAM_STACK_DIR"
trap 'echo "==> stopping the test stack"; segstream dev down || true' EXIT
segstream dev up

echo "==> pytest"
python -m pytest "$@"
