#!/usr/bin/env bash
# Rewrites the two lock files, each package pinned with the sha256 of every file PyPI serves for it,
# for CPython 3.11 on linux x86_64 (the Dockerfile's python:3.11-slim):
#   requirements.lock          what scripts/bootstrap.sh installs: pyproject.toml's dependencies,
#                              its dev extra, all of their dependencies, pip, and the setuptools and
#                              wheel that build segstream itself
#   requirements-runtime.lock  what the Dockerfile installs: the same without the dev extra, at the
#                              very same versions (compiled with requirements.lock as constraints)
#
#   bash scripts/lock.sh                     after editing pyproject.toml: keeps every other pin
#   bash scripts/lock.sh --upgrade           moves every unpinned transitive dependency forward
#   bash scripts/lock.sh --upgrade-package X moves just X
#
# Commit pyproject.toml and both locks together: tests/test_lock.py fails when they disagree.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

# uv resolves in a second and writes hashes for every file of a release; pinned so that two
# people locking the same inputs get the same file. It lives outside .venv, which the lock feeds.
uv_version=0.13.8
tools=${SEGSTREAM_LOCK_TOOLS:-$HOME/.cache/segstream/lock-tools-uv-$uv_version}
if [ ! -x "$tools/bin/uv" ]; then
  python3 -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet "uv==$uv_version"
fi

# The build backend and pip are locked too, so nothing bootstrap installs escapes a hash check.
build_reqs=$(mktemp --suffix=.in)
trap 'rm -f "$build_reqs"' EXIT
cat >"$build_reqs" <<'EOF'
pip
setuptools>=77
wheel
EOF

compile_lock() {  # compile_lock OUTPUT UV-ARGS...
  local output=$1
  shift
  "$tools/bin/uv" pip compile pyproject.toml "$build_reqs" \
    --generate-hashes \
    --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 \
    --no-header \
    --output-file "$output" \
    "$@" >/dev/null
  # The temporary file's random name would change the lock on every run: name its role instead.
  sed -i "s|$build_reqs|build requirements (scripts/lock.sh)|" "$output"
  echo "==> $output: $(grep -c '^[A-Za-z0-9]' "$output") packages pinned with hashes"
}

compile_lock requirements.lock --extra dev "$@"
compile_lock requirements-runtime.lock --constraint requirements.lock
