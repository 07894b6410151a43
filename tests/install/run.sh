#!/usr/bin/env bash
# make install PREFIX=<tmp>, then build an mOS-style app outside the tree with
# `pkg-config --cflags --libs mospipe` and run it on the bundled capture.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
san=0
[[ $B == build-san ]] && san=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
ko() { echo "FAIL: $*"; fail=$((fail + 1)); }

if make -s SAN=$san install PREFIX="$tmp/prefix" >"$tmp/install.log" 2>&1; then
  ok "make install PREFIX=… installs library, headers, tools, man page and mospipe.pc"
else
  ko "make install failed: $(tail -3 "$tmp/install.log")"
fi
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
flags=()
((san)) && flags=("-fsanitize=address,undefined")
# shellcheck disable=SC2046 # pkg-config output is a list of words
if cc -O2 -Wall -Wextra -Werror "${flags[@]}" tests/install/app.c -o "$tmp/app" \
  $(pkg-config --cflags --libs mospipe) 2>"$tmp/cc.log"; then
  ok "an outside application builds with pkg-config --cflags --libs mospipe"
else
  ko "outside build failed: $(head -5 "$tmp/cc.log")"
fi
if [[ -x $tmp/app ]]; then
  out=$(MOSPIPE_INPUT=pcap:samples/sample.pcap \
    MOSPIPE_SET="eal.args=--no-huge -m 256 --no-pci --no-shconf;mempool.mbufs=8191;tcp.flows=4096;tcp.buf_pool=16M" \
    timeout 60 "$tmp/app" 2>"$tmp/app.err" || true)
  # samples/README.md: 40 TCP connections, every one ends (FIN, RST, or open at the end).
  if [[ $out == "connections 40 ended 40" ]]; then
    ok "it runs on samples/sample.pcap: $out"
  else
    ko "app output '$out' (expected 'connections 40 ended 40'): $(head -3 "$tmp/app.err")"
  fi
fi
echo "install: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
