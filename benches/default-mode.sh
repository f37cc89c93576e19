#!/usr/bin/env bash
# The rule that chooses the default mode (README "Choosing the default mode"): on every shared
# retrieval set, with default chunking and with --no-chunk, each mode and hybrid fusion is run with
# `bench --exact --compare semantic` (the same index searched both ways, paired randomization test
# over queries, 10,000 sign flips). Prints one JSON line per run (set, chunking, mode, fusion,
# nDCG@10, recall@100, MRR@10, answer@gold/@1 where the set has answers, and the p-values against
# semantic), then the means of nDCG@10 per mode over the sets.
#
# Usage: benches/default-mode.sh [SHARED_DATA_DIR] [OUT.jsonl]   (default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data}
out=${2:-/dev/stdout}
bin=./target/release/semsearch
[ -x "$bin" ] || cargo build --release --locked
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: > "$work/runs.jsonl"
for set in msmarco-trecdl19-subset dbpedia-entity-subset squad2-dev-half; do
    for chunk in default no-chunk; do
        flags=(); [ "$chunk" = no-chunk ] && flags=(--no-chunk)
        for run in semantic lexical hybrid:raw hybrid:convex hybrid:adaptive hybrid:rrf; do
            mode=${run%%:*}; fusion=raw; [ "$run" != "$mode" ] && fusion=${run#*:}
            "$bin" -q bench "$data/$set" "${flags[@]}" --exact --json --index "$work/$set-$chunk" \
                --mode "$mode" --fusion "$fusion" --compare semantic \
            | python3 -c '
import json, sys
r = json.load(sys.stdin)
c = r["compared"]["metrics"]
row = {"set": sys.argv[1], "chunking": sys.argv[2], "mode": r["mode"], "fusion": r.get("fusion"),
       "ndcg@10": r["ndcg@10"], "recall@100": r["recall@100"], "mrr@10": r["mrr@10"],
       "p_ndcg@10": c["ndcg@10"]["p"], "p_recall@100": c["recall@100"]["p"], "p_mrr@10": c["mrr@10"]["p"],
       "delta_ndcg@10": c["ndcg@10"]["delta"]}
for k in ("answer@gold", "answer@1"):
    if k in r: row[k] = r[k]
print(json.dumps(row))' "$set" "$chunk" >> "$work/runs.jsonl"
        done
    done
done
python3 - "$work/runs.jsonl" <<'PY' > "$out"
import json, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows: print(json.dumps(r))
for chunking in ("default", "no-chunk"):
    means = collections.defaultdict(list)
    worse = collections.defaultdict(list)
    for r in rows:
        if r["chunking"] != chunking: continue
        name = r["mode"] if r["mode"] != "hybrid" else "hybrid:" + r["fusion"].split(" ")[0].lower()
        means[name].append(r["ndcg@10"])
        if r["delta_ndcg@10"] < 0 and r["p_ndcg@10"] < 0.05: worse[name].append(r["set"])
    for name, v in sorted(means.items(), key=lambda kv: -sum(kv[1]) / len(kv[1])):
        print(json.dumps({"chunking": chunking, "mode": name, "mean_ndcg@10": round(sum(v) / len(v), 5), "sets": len(v), "significantly_worse_than_semantic_on": worse[name]}))
PY
