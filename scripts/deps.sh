#!/usr/bin/env bash
# Installs exactly what mospipe needs to build, test and benchmark, from
# Debian 12's packages, when something is missing. Idempotent; needs root.
set -euo pipefail
PKGS=(
  build-essential pkg-config     # compiler, make
  libdpdk-dev                    # rings, mempools, ethdev, net_pcap/af_packet PMDs, ip_frag, bpf, telemetry
  librte-net-af-xdp23            # DPDK's AF_XDP PMD ([ports] driver = af_xdp; the inline tests use it)
  liburcu-dev                    # RCU connection table (cds_lfht, QSBR)
  libhyperscan-dev               # stream-mode string search (apps, bench)
  check                          # unit tests
  libasan8 libubsan1 libtsan2    # sanitizer runtimes (make SAN=1, make TSAN=1)
  libpcap-dev                    # capture pre-scan, -w writer, BPF compilation
  python3                        # regression runner, test tooling
  iproute2 ethtool               # namespaces and veth for the inline tests
  tcpdump                        # independent counts the API tests compare against
  clang-format                   # format check
  clang libclang-rt-14-dev       # libFuzzer targets (make fuzz, tests/fuzz)
  libnids-dev gnuplot-nox        # bench peers (libnids) and plots
  tcpflow                        # streamdump's peer (byte-for-byte) and ids' expected streams (tests/apps)
  jq                             # apps/ids tests read eve.json with jq
)
missing=()
for p in "${PKGS[@]}"; do
  [[ "$p" == \#* ]] && continue
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$st" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps: missing packages: ${missing[*]}; run as root (or: sudo apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
