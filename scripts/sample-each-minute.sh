# Sourced by the long benchmarks: `sample_each_minute WHILE PID DIR` prints,
# once a minute while process WHILE runs, the time, process PID's RSS and
# the sizes of DIR's log and store.
sample_each_minute() {
  local while_pid=$1 pid=$2 dir=$3 rss log store
  while kill -0 "$while_pid" 2>/dev/null; do
    rss=$(awk '/VmRSS/{print int($2/1024)}' /proc/"$pid"/status 2>/dev/null || true)
    log=$(du -sm "$dir/log.redb" 2>/dev/null | cut -f1 || true)
    store=$(du -sm "$dir/store" 2>/dev/null | cut -f1 || true)
    echo "$(date +%H:%M:%S) rss=${rss}MB log=${log}MB store=${store}MB"
    sleep 60
  done
}
