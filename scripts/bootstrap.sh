#!/usr/bin/env bash
# Shared by scripts/demo.sh, scripts/test.sh and scripts/bench.sh: make .venv with segstream
# installed, once per change of pyproject.toml or requirements.lock. Sourced, not run.
# Every package comes from requirements.lock, checked against its sha256 (scripts/lock.sh writes
# the lock): the same files on every machine, and a tampered or re-uploaded one is refused.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

python_bin=${PYTHON:-}
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python_bin=$candidate; break; fi
  done
fi
if [ -z "$python_bin" ] || ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "segstream: needs Python 3.11 or 3.12 (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi

# A long step prints what it does, then a line every SEGSTREAM_PROGRESS_EVERY_S seconds (20) while
# it runs: enough to tell a slow download from a hang, few enough lines for a CI log.
with_progress() {  # with_progress WHAT COMMAND...
  local what=$1 every=${SEGSTREAM_PROGRESS_EVERY_S:-20}
  shift
  "$@" &
  local pid=$! started=$SECONDS
  local next=$((started + every))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$next" ]; then
      echo "    ... still $what ($((SECONDS - started)) s)"
      next=$((next + every))
    fi
    sleep 1
  done
  wait "$pid"
}

lock=requirements.lock
if [ ! -f "$lock" ]; then
  echo "segstream: $lock is missing; bash scripts/lock.sh writes it from pyproject.toml" >&2
  exit 2
fi
stamp=.venv/.installed-$(cat pyproject.toml "$lock" | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "==> installing segstream and its dependencies into .venv (first run, or pyproject.toml"
  echo "    or $lock changed): about 1-2 minutes, quiet unless something fails"
  installing_since=$SECONDS
  [ -x .venv/bin/python ] || "$python_bin" -m venv .venv
  echo "==> [1/2] installing the packages $lock pins (faust-streaming, river, scipy, ..., the"
  echo "    dev tools, pip and setuptools), each checked against its hash"
  with_progress "installing packages" \
    .venv/bin/python -m pip install --quiet --require-hashes -r "$lock"
  # Its dependencies are all in the lock; the locked setuptools builds it, with nothing fetched.
  # setuptools warns that folders named like the packages shadow them: here they are the packages.
  echo "==> [2/2] installing segstream itself (editable)"
  PYTHONWARNINGS="ignore:Editable installation" with_progress "installing segstream" \
    .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
  rm -f .venv/.installed-*
  touch "$stamp"
  echo "==> installed in $((SECONDS - installing_since)) s"
fi
export PATH="$repo_root/.venv/bin:$PATH"
