#!/usr/bin/env bash
# How many random 4 KiB reads this machine's disk serves: N reads at random
# 4 KiB-aligned offsets of FILE with O_DIRECT (no page cache), by 1 reader and
# then by 8 at once, each reader printing its p50 / p90 / p99 / mean latency.
# Eight readers at once stand for eight cold GETs at once; reads/s is what
# bounds a cold page that reads rows lying apart on the disk.
#
#   scripts/disk-random-reads.sh FILE [N]      (FILE: any large file, e.g. a store's log)
set -eu
file=${1:?usage: scripts/disk-random-reads.sh FILE [N]}
n=${2:-1000}
reader=$(cat <<'PY'
import mmap, os, random, sys, time
path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
blocks = os.fstat(fd).st_size // 4096
buf = mmap.mmap(-1, 4096)
lat = []
began = time.perf_counter()
for _ in range(n):
    t = time.perf_counter()
    os.preadv(fd, [buf], random.randrange(blocks) * 4096)
    lat.append(time.perf_counter() - t)
lat.sort()
took = time.perf_counter() - began
print(f"{n / took:.0f} reads/s  p50 {lat[n // 2] * 1e3:.3f}  p90 {lat[int(n * .9)] * 1e3:.3f}  p99 {lat[int(n * .99)] * 1e3:.3f}  mean {sum(lat) / n * 1e3:.3f} ms")
PY
)
for readers in 1 8; do
  echo "== $readers reader(s) at once, $n reads each"
  for _ in $(seq "$readers"); do python3 -c "$reader" "$file" "$n" & done |
    awk '{print "   " $0; sum += $1} END {printf "   %d reads/s in all\n", sum}'
done
