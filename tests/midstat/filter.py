#!/usr/bin/env python3
"""Removes what depends on the machine from midstat's output (stdin -> stdout).

Plain tables: the health lines ("flows ..." and "stages: ...") go.
JSON lines: in {"type": "health"} objects, each stage keeps only its name
(busy_pct, cycles_per_pkt and ring_fill are timings of this run).
Everything else (rows, packet-time rates, drops, counters) stays."""
import json
import sys


def main():
    for line in sys.stdin:
        if line.startswith("{"):
            obj = json.loads(line)
            if obj.get("type") == "health":
                obj["stages"] = [s["stage"] for s in obj.get("stages", [])]
            sys.stdout.write(json.dumps(obj) + "\n")
        elif line.startswith("flows ") or line.startswith("stages:"):
            continue
        else:
            sys.stdout.write(line)


if __name__ == "__main__":
    main()
