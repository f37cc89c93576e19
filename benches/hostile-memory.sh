#!/usr/bin/env bash
# Peak memory of `index` on hostile files, measured with /usr/bin/time -v (a benchmark, not a test:
# it writes a 1 GiB file and embeds ~17,000 passages of one 10 MiB line, several minutes).
#   1. a 1 GiB text file: skipped by the --max-file-size limit (100M) before a byte is read;
#      peak RSS must stay under 1 GiB (it is a few tens of MiB).
#   2. the same file with --max-file-size 2G and `status` (read, decoded and planned, not embedded):
#      shows what reading it whole would cost.
#   3. one 10 MiB line with no sentence break, indexed for real.
# Usage: benches/hostile-memory.sh [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/semsearch
work="${1:-$(mktemp -d)}"
mkdir -p "$work/big" "$work/line"
python3 - "$work" <<'PY'
import sys, os
w = sys.argv[1]
para = ("Harbour cranes unload containers at night while gulls circle the quay. " * 12 + "\n\n").encode()
with open(os.path.join(w, "big", "one-gib.txt"), "wb") as f:
    n = 0
    while n < (1 << 30):
        f.write(para); n += len(para)
words = ["harbour", "crane", "unloads", "containers", "at", "night", "while", "gulls", "circle"]
line = []
n = 0
i = 0
while n < (10 << 20):
    wd = words[i % len(words)]; line.append(wd); n += len(wd) + 1; i += 1
with open(os.path.join(w, "line", "ten-mib-line.txt"), "w") as f:
    f.write(" ".join(line) + "\n")
PY
rss() { grep "Maximum resident" "$1" | awk '{printf "%.1f MiB", $NF/1024}'; }
/usr/bin/time -v "$bin" -q --index "$work/idx-big" index "$work/big" 2> "$work/t1" || true
echo "1 GiB file, default limit (skipped): peak RSS $(rss "$work/t1"); $(grep -c skipped "$work/t1") skip warning(s)"
/usr/bin/time -v "$bin" -q --index "$work/idx-big" status --max-file-size 2G "$work/big" > /dev/null 2> "$work/t2" || true
echo "1 GiB file read whole (status --max-file-size 2G): peak RSS $(rss "$work/t2")"
/usr/bin/time -v "$bin" -q --index "$work/idx-line" index --json "$work/line" > "$work/line.json" 2> "$work/t3"
echo "10 MiB single line, indexed: peak RSS $(rss "$work/t3"); $(cat "$work/line.json")"
