#!/usr/bin/env bash
# Checks semsearch against the reference stack's figures on the shared labeled sets:
# for each BEIR set, `bench --no-chunk --exact` must be within ±0.002 of REFERENCE.md on every
# metric, and HNSW recall@10 against exact must be >= 0.99 at the default ef; for STS-B, Spearman
# within ±0.002. In f32 (the reference engine's precision; int8's figures are README "int8"). Slow (it
# embeds 10,000 documents), so it is a benchmark, not a test.
# Usage: benches/reference.sh [DATA_DIR]   (default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data}"
if [ ! -d "$data" ]; then
    echo "SKIPPED: $data is absent" >&2
    exit 0
fi
cargo build --release --quiet
bin=./target/release/semsearch
out=$(mktemp -d)
status=0
for set in msmarco-trecdl19-subset dbpedia-entity-subset; do
    "$bin" -q bench "$data/$set" --precision f32 --no-chunk --exact --json > "$out/$set-exact.json"
    "$bin" -q bench "$data/$set" --precision f32 --no-chunk --json > "$out/$set-hnsw.json"
    python3 - "$data/$set/REFERENCE.md" "$out/$set-exact.json" "$out/$set-hnsw.json" <<'PY' || status=1
import json, re, sys
ref = dict(re.findall(r"^\| ([a-z@0-9]+) \| ([0-9.]+) \|$", open(sys.argv[1]).read(), re.M))
exact, hnsw = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
bad = 0
for k in ["ndcg@10", "recall@1", "recall@5", "recall@10", "recall@100", "map@100", "mrr@10"]:
    d = exact[k] - float(ref[k])
    ok = abs(d) <= 0.002
    bad += not ok
    print(f"{sys.argv[1].split('/')[-2]:28} {k:11} semsearch {exact[k]:.5f} reference {float(ref[k]):.5f} diff {d:+.5f} {'ok' if ok else 'FAIL'}")
ok = hnsw["ann_recall@10"] >= 0.99
bad += not ok
print(f"{'':28} ann_recall@10 (default ef) {hnsw['ann_recall@10']:.5f} {'ok' if ok else 'FAIL'}; embedding {exact['passages_per_s']} passages/s")
sys.exit(1 if bad else 0)
PY
done
"$bin" -q bench "$data/stsb" --precision f32 --json > "$out/stsb.json"
python3 - "$data/stsb/REFERENCE.md" "$out/stsb.json" <<'PY' || status=1
import json, re, sys
ref = dict(re.findall(r"^\| ([a-z]+) \| ([0-9.]+) \|$", open(sys.argv[1]).read(), re.M))
r = json.load(open(sys.argv[2]))
bad = 0
for k in ["spearman", "pearson"]:
    d = r[k] - float(ref[k]); ok = abs(d) <= 0.002; bad += not ok
    print(f"{'stsb':28} {k:11} semsearch {r[k]:.5f} reference {float(ref[k]):.5f} diff {d:+.5f} {'ok' if ok else 'FAIL'}")
sys.exit(1 if bad else 0)
PY
echo "reports in $out"
exit $status
