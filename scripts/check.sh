#!/usr/bin/env bash
# README's test command: installs what is missing, builds, runs the whole
# suite (make check). Needs root on a fresh Debian 12 machine (apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
make check
