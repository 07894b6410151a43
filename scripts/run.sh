#!/usr/bin/env bash
# README's run command: installs what is missing, builds, and runs the main
# job on the bundled sample capture: midstat when it is built, else the bare
# stack (mospipe) with its flow log and counters.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
make -j"${JOBS:-2}" all >/dev/null
sample=${1:-samples/sample.pcap}
if [[ -x build/midstat ]]; then
  exec build/midstat -r "$sample" --all
fi
exec build/mospipe -r "$sample" --flow-log -
