#!/usr/bin/env bash
# The main job: local Kafka + Redis, a worker, and demo traffic; live segment counts until Ctrl-C.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
exec segstream demo "$@"
