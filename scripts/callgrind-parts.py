#!/usr/bin/env python3
"""Instructions per unit of named parts of a callgrind profile.

Reads `callgrind_annotate --inclusive=yes` on stdin. A part's figure is the
largest inclusive count of a line whose function name holds the part's
marker, divided by DIVISOR; a NAME given twice takes the larger of its
markers. Used by scripts/callgrind-ingest.sh and scripts/callgrind-reads.sh.

    callgrind-parts.py DIVISOR UNIT "NAME=MARKER" ...
"""
import re
import sys

divisor, unit = int(sys.argv[1]), sys.argv[2]
parts = [arg.split("=", 1) for arg in sys.argv[3:]]
best = {}
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)", line)
    if not m:
        continue
    ir = int(m.group(1).replace(",", ""))
    for name, marker in parts:
        if marker in m.group(2):
            best[name] = max(best.get(name, 0), ir)
for name in dict(parts):
    print(f"{name:32} {best.get(name, 0) / divisor:>12,.0f} instructions/{unit}")
