#!/usr/bin/env bash
# Plays craft.py's scenarios against a real Linux receiver and records them:
#   inj [inj0] <--veth--> [veth0] srv
# inj0 has no address (its kernel stays silent); craft.py inject plays the
# client with an AF_PACKET socket, craft.py serve in srv is the receiver.
#
#   bash tests/apps/ids/mkcraft.sh OUTDIR
#
# Writes OUTDIR/craft.pcap (every frame, both directions), craft.json (the
# scenarios and their client ports), craft-truth/recv-PORT.bin (what the
# Linux application read) and craft-kernel.txt. Needs root and namespaces;
# exit 0 on success, 1 on failure. run.sh runs it each time; the copy in
# tests/apps/ids/data/ was made with it (data/README.md).
set -uo pipefail
OUT=${1:?usage: mkcraft.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
# shellcheck source=tests/inline/lib.sh
source "$ROOT/tests/inline/lib.sh"
PY=$(command -v python3)
trap cleanup_topology EXIT
mkdir -p "$OUT/craft-truth"
rm -f "$OUT"/craft-truth/recv-*.bin "$OUT/craft.ready"
S="ids$$"
NI="mp-inj-$S" NSV="mp-srv-$S"
ip netns add "$NI" && NS_LIST+=("$NI") || exit 1
ip netns add "$NSV" && NS_LIST+=("$NSV") || exit 1
ip -n "$NI" link add inj0 type veth peer name veth0 netns "$NSV" || exit 1
for n in "$NI" "$NSV"; do ns "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1; done
no_offloads "$NI" inj0
no_offloads "$NSV" veth0
ns "$NI" ip link set inj0 up
ns "$NSV" ip link set lo up
ns "$NSV" ip link set veth0 up
NET="10.$((200 + RANDOM % 50)).$((RANDOM % 250))"
ns "$NSV" ip addr add "$NET.2/24" dev veth0
MAC_INJ=$(ns "$NI" cat /sys/class/net/inj0/address)
MAC_SRV=$(ns "$NSV" cat /sys/class/net/veth0/address)
ns "$NSV" ip neigh replace "$NET.1" lladdr "$MAC_INJ" dev veth0 nud permanent
ip netns exec "$NSV" "$PY" "$HERE/craft.py" serve --bind "$NET.2" --port 8000 --dir "$OUT/craft-truth" \
  --ready "$OUT/craft.ready" &
BG_PIDS+=($!)
wait_for 10 test -e "$OUT/craft.ready" || { echo "mkcraft: the server did not start"; exit 1; }
rm -f "$OUT/craft.ready"
ip netns exec "$NI" "$PY" "$HERE/craft.py" inject --iface inj0 --src "$NET.1" --dst "$NET.2" --dport 8000 \
  --dst-mac "$MAC_SRV" --out "$OUT/craft.pcap" --manifest "$OUT/craft.json" || exit 1
sleep 0.5 # the server writes each connection's file when it reads EOF
uname -r >"$OUT/craft-kernel.txt"
n=$(ls "$OUT"/craft-truth/recv-*.bin 2>/dev/null | wc -l)
echo "mkcraft: $n connections recorded by the Linux server (kernel $(uname -r))"
[[ $n -gt 0 ]]
