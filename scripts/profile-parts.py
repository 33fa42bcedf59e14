#!/usr/bin/env python3
"""Samples of `perf script` outputs (scripts/profile-ingest.sh) by part of the
ingest pipeline, side by side, with the difference of the first and the last:
a sample counts in the first part whose marker is in its call stack. Also the
kernel's page zeroing (clear_page_erms at the leaf) and fjall's worker pool
re-queuing compactions (worker_tick without flush or compaction work)."""
import collections
import sys

PARTS = [
    ("analytics builder", "RollupBuilder"),
    ("analytics (projector)", "analytics::Analytics"),
    ("quality", "quality::"),
    ("fjall flush", "flush::worker"),
    ("fjall compaction", "compaction"),
    ("memtable inserts", "Memtable::insert"),
    ("journal", "journal"),
    ("store writes (rest)", "write_now"),
    ("store reads", "EmbeddedStore as lrs_core::ports::store::QueryStore"),
    ("projector read-ahead", "prepare::"),
    ("statement projection", "projection::statements"),
    ("gateway", "gateway::Gateway"),
    ("log", "lrs_embedded::log"),
    ("http", "actix"),
]
WORK = ("run_flush", "run_compaction", "rotate", "flush::", "compaction::", "persist", "maintenance", "journal")


def load(path):
    samples, current = [], None
    with open(path) as lines:
        for line in lines:
            if not line.strip():
                continue
            if not line.startswith(("\t", " ")):
                current = []
                samples.append(current)
                continue
            parts = line.strip().split(" ", 1)
            current.append(parts[1] if len(parts) > 1 else "?")
    return samples


def count(samples):
    counts = collections.Counter()
    for stack in samples:
        for name, marker in PARTS:
            if any(marker in frame for frame in stack):
                counts[name] += 1
                break
        else:
            counts["other"] += 1
        if stack and "clear_page_erms" in stack[0]:
            counts["(kernel page zeroing)"] += 1
        if any("worker_tick" in f for f in stack) and not any(w in f for f in stack for w in WORK):
            counts["(fjall re-queuing)"] += 1
    counts["total"] = len(samples)
    return counts


def main():
    files = sys.argv[1:]
    if not files:
        sys.exit("usage: profile-parts.py FILE.txt [FILE.txt ...]")
    counts = [count(load(f)) for f in files]
    names = [n for n, _ in PARTS] + ["other", "total", "(kernel page zeroing)", "(fjall re-queuing)"]
    print(f"{'part':26s}" + "".join(f"{f[-14:]:>16s}" for f in files) + "      diff")
    for name in names:
        values = [c[name] for c in counts]
        print(f"{name:26s}" + "".join(f"{v:16d}" for v in values) + f"  {values[0] - values[-1]:+8d}")


if __name__ == "__main__":
    main()
