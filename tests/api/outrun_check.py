"""Checks outrun's output against tcpdump's reading of the capture.

    python3 outrun_check.py PCAP OUT WINDOW

For every direction of a flow whose SYN is in the capture, the in-order
stream length L (bytes contiguous from ISN + 1, from tcpdump -S): the
receiving side must be outrun exactly when L > WINDOW (the buffer keeps the
last WINDOW bytes; the socket read none), and mtcp_peek at CONN_END must say
L - WINDOW bytes are gone."""
import re
import subprocess
import sys

pcap, out, window = sys.argv[1], sys.argv[2], int(sys.argv[3])
txt = subprocess.run(["tcpdump", "-S", "-nn", "-r", pcap, "tcp"], capture_output=True, text=True,
                     check=True).stdout
isn, segs, client = {}, {}, {}
for line in txt.splitlines():
    m = re.match(r"\S+\s+IP6?\s+(\S+)\s+>\s+(\S+):\s+Flags \[([^\]]*)\], seq (\d+)(?::(\d+))?", line)
    if not m:
        continue
    d = (m.group(1), m.group(2))
    flags, a = m.group(3), int(m.group(4))
    b = int(m.group(5)) if m.group(5) else a
    if "S" in flags:
        isn.setdefault(d, a)
        if "." not in flags:
            client.setdefault(tuple(sorted(d)), d[0])
    if b != a:
        segs.setdefault(d, []).append((a, b))


def inorder(d):
    base = (isn[d] + 1) % 2**32
    runs = sorted(((a - base) % 2**32, (a - base) % 2**32 + (b - a) % 2**32) for a, b in segs.get(d, []))
    e = 0
    for lo, hi in runs:
        if lo > e:
            break
        e = max(e, hi)
    return e


def norm(ep):
    return ep.replace(":", ".") if ep.count(":") == 1 else ep


got_out, got_gone = set(), {}
for line in open(out).read().splitlines():
    p = line.split()
    if p[0] in ("outrun", "gone"):
        c, s = map(norm, p[2].split(">"))
        # side "cli": the client receives (the server's stream); "svr" the other way
        d = (s, c) if p[1] == "cli" else (c, s)
        if p[0] == "outrun":
            got_out.add(d)
        else:
            got_gone[d] = int(p[3])
bad, checked, outrun = [], 0, 0
for d in isn:
    if (d[1], d[0]) not in isn:
        continue  # half a handshake in the capture: skip
    length = inorder(d)
    want = length > window
    checked += 1
    outrun += want
    if (d in got_out) != want:
        bad.append(f"{d[0]} > {d[1]}: stream of {length} bytes, window {window}: outrun {'missing' if want else 'wrong'}")
    elif want and got_gone.get(d) != length - window:
        bad.append(f"{d[0]} > {d[1]}: {length} bytes: peek says {got_gone.get(d)} gone, want {length - window}")
for b in bad[:10]:
    print(b)
if not bad:
    print(f"{checked} streams with their handshake: the {outrun} longer than the {window}-byte buffer outran, "
          f"each with length - {window} bytes gone at CONN_END, as tcpdump counts them; the others did not")
sys.exit(1 if bad or not outrun else 0)
