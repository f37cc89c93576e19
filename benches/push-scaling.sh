#!/usr/bin/env bash
# Push throughput into one collection with 1, 2 and 4 pushers at once, and the push's share of a
# sharded ingestion's wall time (issue 26). Each N splits the corpus into N parts with
# `index --shard I/N` (embedded once, kept in WORKDIR), then pushes the N parts at once as N
# sources into a fresh collection; rounds interleave the N so drift on a shared machine falls on
# every N alike.
#
#   SEMSEARCH_PG_URL=postgres://user@127.0.0.1:5432/db benches/push-scaling.sh CORPUS [WORKDIR] [ROUNDS]
#
# Prints one line per push run and a summary: passages/s per N (median of the rounds), and for N
# machines the wall time of a sharded ingestion (the slowest part's `index`, then the N pushes at
# once) with the push's share of it. The collections it makes are named scale_nN_rR.
set -euo pipefail
bin=${SEMSEARCH_BIN:-target/release/semsearch}
corpus=${1:?usage: benches/push-scaling.sh CORPUS [WORKDIR] [ROUNDS]}
work=${2:-/tmp/push-scaling}
rounds=${3:-3}
url=${SEMSEARCH_PG_URL:?set SEMSEARCH_PG_URL to the server to push to}
mkdir -p "$work"
now() { date +%s.%N; }

for n in 1 2 4; do
  for i in $(seq 1 "$n"); do
    idx="$work/n$n-part$i"
    if [ ! -f "$idx/meta.json" ]; then
      "$bin" --index "$idx" index --json --shard "$i/$n" "$corpus" > "$work/n$n-part$i.index.json"
    fi
  done
done

: > "$work/runs.tsv"
for r in $(seq 1 "$rounds"); do
  for n in 1 2 4; do
    coll="scale_n${n}_r${r}_$$"
    start=$(now)
    for i in $(seq 1 "$n"); do
      "$bin" -q --index "$work/n$n-part$i" push --json --to "$url" --collection "$coll" --source "part$i" > "$work/$coll.$i.json" &
    done
    wait
    end=$(now)
    sent=$(cat "$work/$coll".*.json | python3 -c 'import sys, json; print(sum(json.loads(l)["passages_sent"] for l in sys.stdin if l.strip()))')
    secs=$(python3 -c "print(f'{$end - $start:.2f}')")
    printf '%s\t%s\t%s\t%s\n' "$n" "$r" "$sent" "$secs" | tee -a "$work/runs.tsv"
  done
done

python3 - "$work" <<'PY'
import json, statistics, sys, pathlib
work = pathlib.Path(sys.argv[1])
runs = [l.split("\t") for l in (work / "runs.tsv").read_text().splitlines()]
print("pushers  passages  push_s(median)  passages_per_s  slowest_part_index_s  sharded_wall_s  push_share")
for n in (1, 2, 4):
    mine = [(int(p), float(s)) for (k, _, p, s) in runs if int(k) == n]
    secs = statistics.median(s for _, s in mine)
    passages = mine[0][0]
    parts = [json.loads((work / f"n{n}-part{i}.index.json").read_text()) for i in range(1, n + 1)]
    slowest = max(p["seconds"] for p in parts)
    wall = slowest + secs
    print(f"{n:7d}  {passages:8d}  {secs:14.2f}  {passages / secs:14.0f}  {slowest:20.1f}  {wall:14.1f}  {secs / wall:10.1%}")
PY
