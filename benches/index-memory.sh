#!/usr/bin/env bash
# Peak RSS of `index` (a benchmark, not a test: minutes of work). Two corpora:
#   1. the msmarco subset of ../shared/data (5,000 passages), indexed for real with the model;
#   2. a generated 200 MB JSONL corpus (~177,000 records of 2-5 paragraphs), indexed
#      a) whole with the hashing test embedder (examples/index_rss.rs: every step of `index` but
#         the model, graph build included), and
#      b) with the real model for the first TIMEBOX seconds (embedding it whole takes hours on
#         2 cores): the peak so far, sampled from /proc every 0.2 s.
# With PREV=/path/to/previous/semsearch the real-model rows are repeated with that binary (it read
# a JSONL file whole; it gets --max-file-size 1G so it reads this one at all).
# Usage: benches/index-memory.sh [WORK_DIR]   (env: PREV, TIMEBOX=90)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --example index_rss
bin=$PWD/target/release/semsearch
work="${1:-$(mktemp -d)}"
timebox="${TIMEBOX:-90}"
mkdir -p "$work"
corpus="$work/corpus-200mb.jsonl"
if [ ! -s "$corpus" ]; then
python3 - "$corpus" <<'PY'
import json, random, sys
random.seed(7)
words = ("the a market bank rate central growth inflation company shares report quarter profit loss energy oil gas "
         "price city council election vote minister policy trade tariff export import court ruling climate storm flood "
         "river harbour port ship cargo rail tram school hospital research study data model network cloud chip factory "
         "worker union strike").split()
n = size = 0
with open(sys.argv[1], "w") as f:
    while size < 200 * 1024 * 1024:
        paras = [" ".join(" ".join(random.choice(words) for _ in range(random.randint(8, 20))).capitalize() + "."
                          for _ in range(random.randint(2, 5))) for _ in range(random.randint(2, 5))]
        line = json.dumps({"_id": f"d{n}", "title": f"Article {n}", "text": "\n\n".join(paras)}) + "\n"
        f.write(line); size += len(line); n += 1
PY
fi
ms="../shared/data/msmarco-trecdl19-subset/corpus.jsonl"

# Runs a command, samples its VmHWM until it exits or `secs` pass (then kills it); prints MiB.
peak() {
  local secs=$1; shift
  "$@" > /dev/null 2>&1 &
  local pid=$! hwm=0 t=0
  while kill -0 "$pid" 2>/dev/null; do
    local h; h=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h
    if [ "$secs" -gt 0 ] && [ "$t" -ge $((secs * 5)) ]; then kill -9 "$pid"; break; fi
    sleep 0.2; t=$((t + 1))
  done
  wait "$pid" 2>/dev/null || true
  echo "$((hwm / 1024)) MiB"
}

printf '| run | peak RSS |\n|---|---|\n'
for who in new prev; do
  b=$bin; [ "$who" = prev ] && { [ -n "${PREV:-}" ] || continue; b=$PREV; }
  rm -rf "$work/ix-ms-$who" "$work/ix-big-$who"
  printf '| %s: msmarco 5,000 passages, real model, whole run | %s |\n' "$who" "$(peak 0 "$b" --index "$work/ix-ms-$who" -q index --max-file-size 1G "$ms")"
  printf '| %s: 200 MB JSONL, real model, first %ss | %s |\n' "$who" "$timebox" "$(peak "$timebox" "$b" --index "$work/ix-big-$who" -q index --max-file-size 1G "$corpus")"
done
rm -rf "$work/ix-hash"
printf '| new: 200 MB JSONL, hashing embedder, whole run (graph included) | %s |\n' "$(peak 0 ./target/release/examples/index_rss "$work/ix-hash" "$corpus")"
