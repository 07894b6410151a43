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
for page in mospipe midstat; do
  if [[ -s $tmp/prefix/share/man/man1/$page.1 ]]; then
    ok "man page $page.1 installed in share/man/man1"
  else
    ko "man page $page.1 not installed"
  fi
done
# One version string: the Makefile's, in mospipe.pc and in both tools' --version.
v=$(sed -n 's/^VERSION := //p' Makefile)
pcv=$(pkg-config --modversion mospipe 2>/dev/null || echo none)
mv=$("$tmp/prefix/bin/mospipe" --version 2>&1 | head -1)
sv=$("$tmp/prefix/bin/midstat" --version 2>&1 | head -1)
if [[ -n $v && $pcv == "$v" && $mv == "mospipe $v "* && $sv == "midstat $v "* ]]; then
  ok "version $v in mospipe.pc, mospipe --version and midstat --version"
else
  ko "versions differ: Makefile '$v', mospipe.pc '$pcv', '$mv', '$sv'"
fi
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
    MOSPIPE_SET="eal.args=--no-huge -m 256 --no-pci --no-shconf;mempool.mbufs=8191;tcp.flows=4096" \
    timeout 60 "$tmp/app" 2>"$tmp/app.err" || true)
  # samples/README.md: 40 TCP connections, every one ends (FIN, RST, or open at the end).
  if [[ $out == "connections 40 ended 40" ]]; then
    ok "it runs on samples/sample.pcap: $out"
  else
    ko "app output '$out' (expected 'connections 40 ended 40'): $(head -3 "$tmp/app.err")"
  fi
fi
# The extension API from the installed headers alone: zero-copy spans and
# the copying peek read the same bytes (two sockets on the same flows, each
# with its own read offset); flow snapshots with the installed struct.
if cc -O2 -Wall -Wextra -Werror "${flags[@]}" tests/install/ext_app.c -o "$tmp/ext_app" \
  $(pkg-config --cflags --libs mospipe) 2>"$tmp/ccx.log"; then
  ok "an outside application using the extension API (mospipe_ext.h, conntable.h) builds"
  out=$(MOSPIPE_INPUT=pcap:samples/sample.pcap \
    MOSPIPE_SET="eal.args=--no-huge -m 256 --no-pci --no-shconf;mempool.mbufs=8191;tcp.flows=1024;tcp.buf_pool=20M" \
    timeout 60 "$tmp/ext_app" 2>"$tmp/ext.err" || true)
  # The payload bytes of the capture's TCP flows (tcpdump) are what both read.
  want=$(tcpdump -nn -r samples/sample.pcap tcp 2>/dev/null | sed -n 's/.*length \([0-9]*\).*/\1/p' | awk '{s += $1} END {print s}')
  if [[ $out =~ ^zero-copy\ ([0-9]+)\ copy\ ([0-9]+)\ same\ 1\ spans-ok\ 1\ snaps\ 40\ infos\ 40$ ]] &&
    [[ ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" && ${BASH_REMATCH[1]} -gt 0 && ${BASH_REMATCH[1]} -le $want ]]; then
    ok "it runs: $out (tcpdump: $want payload bytes in the capture, retransmissions included)"
  else
    ko "ext_app output '$out': $(head -3 "$tmp/ext.err")"
  fi
else
  ko "extension API build failed: $(head -5 "$tmp/ccx.log")"
fi
echo "install: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
