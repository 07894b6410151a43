#!/usr/bin/env bash
# Makes samples/sample.pcap, the capture that `bash scripts/run.sh` (and the
# README's run command) feeds to mospipe/midstat, and refreshes the list of
# its connections in samples/README.md.
#
#   bash scripts/make-sample.sh           regenerate (deterministic: seed 2024)
#   bash scripts/make-sample.sh --check   verify the checked-in capture is what
#                                         the generator makes, checksums correct
#
# The capture is synthesised by tests/tools/mksample.py (Python standard
# library only; no network, no namespaces, no root). tcpdump is NOT needed to
# make it; if tcpdump is installed it is used to double-check every checksum
# (on Debian: apt-get install -y tcpdump).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/samples/sample.pcap"
README="$ROOT/samples/README.md"
GEN="$ROOT/tests/tools/mksample.py"
SEED=2024
MAX_BYTES=$((300 * 1024))

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 "$GEN" "$tmp/sample.pcap" --seed "$SEED" --manifest "$tmp/connections.md"

size=$(stat -c %s "$tmp/sample.pcap")
if ((size > MAX_BYTES)); then
  echo "make-sample: capture is $size bytes, over the $MAX_BYTES limit" >&2
  exit 1
fi

if command -v tcpdump >/dev/null; then
  dump=$(tcpdump -nn -vv -r "$tmp/sample.pcap" 2>/dev/null)
  if grep -Eq 'incorrect|bad cksum|bad udp cksum|wrong icmp cksum|bad icmp6 cksum' <<<"$dump"; then
    echo "make-sample: tcpdump reports a bad checksum:" >&2
    grep -E 'incorrect|bad|wrong' <<<"$dump" | head >&2
    exit 1
  fi
  echo "make-sample: tcpdump: $(grep -c '(correct)' <<<"$dump") TCP checksums correct, no bad IP/UDP/ICMP checksum"
else
  echo "make-sample: tcpdump not installed, checksum double-check skipped (apt-get install -y tcpdump)"
fi

if [[ "${1:-}" == "--check" ]]; then
  if cmp -s "$tmp/sample.pcap" "$OUT"; then
    echo "make-sample: $OUT is up to date ($size bytes)"
    exit 0
  fi
  echo "make-sample: $OUT differs from what scripts/make-sample.sh makes" >&2
  exit 1
fi

cp "$tmp/sample.pcap" "$OUT"
# Replace the generated table between the markers in samples/README.md.
python3 - "$README" "$tmp/connections.md" <<'EOF'
import sys
readme, table = sys.argv[1], open(sys.argv[2]).read()
text = open(readme).read()
b, e = "<!-- connections:begin -->\n", "<!-- connections:end -->"
i, j = text.index(b) + len(b), text.index(e)
open(readme, "w").write(text[:i] + table + text[j:])
EOF
echo "make-sample: wrote $OUT ($size bytes) and the table in $README"
