#!/usr/bin/env bash
# The speed comparison of issue 4, every figure from one run on this machine: semsearch against
# sentence-transformers, onnxruntime, hnswlib and faiss (the scripts in ../shared/baselines), on
# the same inputs:
#   - embedding: the 5,000 msmarco passages (one per line), model load excluded, batches of 32;
#   - ANN: the 200k×384 synthetic set that ../shared/baselines/synth.py generates (Gaussian
#     mixture, 1000 clusters, seed 42), M=16, efC=200, 2 build threads, k=10 at ef 32/64/128;
#   - cold process: start to printed answers (semsearch `ask` on a 200k-passage index built over
#     the synthetic vectors by examples/synth_index; Python: load the model and embed one question);
#   - warm query (embed + search) and opening the 200k index (examples/ask_latency);
#   - peak RSS of that `ask`, against the size of the index's vectors plus graph.
# Each measurement runs RUNS times (default 3), engines interleaved; the table gives medians.
# Embedding is measured with 2 threads and again with RAYON_NUM_THREADS=1 (onnxruntime --threads 1),
# in f32 and int8 (semsearch `--precision int8`; onnxruntime's dynamic quantization of the same
# ONNX export, benches/ort_int8.py), on the widest path and with SEMSEARCH_SIMD=avx512 (VNNI without
# AMX) and =avx2 (no int8 dot-product instruction). The AVX2 rows run a second build,
# `--no-default-features` (target/avx2): SEMSEARCH_SIMD caps semsearch's own kernels, but candle's
# f32 products run on gemm, which picks AVX-512 at run time when the crate's x86-v4 feature is on,
# so without that build "AVX2 f32" would be AVX-512 f32. onnxruntime picks its own kernels at run
# time and has no switch to force AVX2, so its rows are its widest path. The same build with
# SEMSEARCH_SIMD=avxvnni is a CPU with AVX-VNNI and no AVX-512 (Alder Lake and later clients).
# ONLY=embed measures embedding alone (about 12 minutes a round).
# Usage: benches/speed-vs-baselines.sh [RUNS]      env: WORK (default /tmp/semsearch-speed),
#        BASELINES_VENV (see ../shared/baselines/README.md), PREV=DIR adds a column for an earlier
#        build: DIR holds its semsearch, embed_throughput and ann_synth binaries (e.g. built in a
#        git worktree of the previous main; its embed_throughput takes the engine name PREV_ENGINE,
#        default packed). Takes about 20 minutes a run on 2 cores, plus the venv once.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared
if [ ! -d "$shared/baselines" ]; then
    echo "SKIPPED: $shared/baselines is absent" >&2
    exit 0
fi
runs=${1:-3}
work=${WORK:-/tmp/semsearch-speed}
mkdir -p "$work/out"
rm -f "$work"/out/*
cargo build --release --quiet --examples
cargo build --release --quiet --no-default-features --example embed_throughput --target-dir target/avx2
avx2=./target/avx2/release/examples/embed_throughput
bin=./target/release/semsearch
"$bin" -q model fetch
model=$("$bin" model path)
V=$(bash "$shared/baselines/setup.sh" "$model" | tail -1)
py="$V/bin/python"
[ -f "$V/minilm-int8.onnx" ] || "$py" benches/ort_int8.py "$V/minilm.onnx" "$V/minilm-int8.onnx" 2> /dev/null

texts="$work/msmarco-texts.txt"
python3 - "$shared/data/msmarco-trecdl19-subset/corpus.jsonl" > "$texts" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    t = json.loads(line).get("text", "").replace("\n", " ").strip()
    if t:
        print(t)
PY
if [ "${ONLY:-}" != embed ]; then
    [ -f "$work/synth/gt10.u32" ] || "$py" "$shared/baselines/synth.py" "$work/synth"
    [ -f "$work/ix200k/meta.json" ] || ./target/release/examples/synth_index "$work/synth" "$work/ix200k" > /dev/null
fi
question="How much will Alibaba invest in AI?"

# Whole-process wall time and peak RSS of one command, as a JSON line.
cold() {
    local tag=$1; shift
    python3 - "$tag" "$@" <<'PY'
import json, os, subprocess, sys, time
t = time.perf_counter()
p = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, ru = os.wait4(p.pid, 0)
wall = (time.perf_counter() - t) * 1000
print(json.dumps(dict(tag=sys.argv[1], wall_ms=wall, peak_rss_mb=ru.ru_maxrss / 1024, status=os.waitstatus_to_exitcode(status))))
PY
}
ort_cold="import numpy as np, onnxruntime as ort; from tokenizers import Tokenizer
so = ort.SessionOptions(); so.intra_op_num_threads = 2
s = ort.InferenceSession('$V/minilm.onnx', so, providers=['CPUExecutionProvider'])
tok = Tokenizer.from_file('$model/tokenizer.json'); tok.no_padding(); tok.enable_truncation(256)
e = tok.encode('$question'); ids = np.array([e.ids], np.int64); m = np.array([e.attention_mask], np.int64)
h = s.run(None, {'input_ids': ids, 'attention_mask': m, 'token_type_ids': np.zeros_like(ids)})[0]
v = h.mean(1); print(v / np.linalg.norm(v))"
st_cold="from sentence_transformers import SentenceTransformer
print(SentenceTransformer('$model', device='cpu').encode(['$question'], normalize_embeddings=True))"

for r in $(seq "$runs"); do
    echo "run $r of $runs" >&2
    for threads in 2 1; do
        tag() { python3 -c 'import json,sys; [print(json.dumps(dict(json.loads(l), engine=sys.argv[1], threads=int(sys.argv[2])))) for l in sys.stdin]' "$1" "$threads"; }
        "$py" "$shared/baselines/embed.py" ort "$model" "$texts" --threads "$threads" | tag ort >> "$work/out/embed.jsonl"
        RAYON_NUM_THREADS=$threads ./target/release/examples/embed_throughput packed "$texts" | tag semsearch >> "$work/out/embed.jsonl"
        "$py" "$shared/baselines/embed.py" ort "$model" "$texts" --threads "$threads" --onnx "$V/minilm-int8.onnx" | tag ort-int8 >> "$work/out/embed.jsonl"
        RAYON_NUM_THREADS=$threads ./target/release/examples/embed_throughput int8 "$texts" | tag semsearch-int8 >> "$work/out/embed.jsonl"
        SEMSEARCH_SIMD=avx512 RAYON_NUM_THREADS=$threads ./target/release/examples/embed_throughput int8 "$texts" | tag semsearch-int8-avx512 >> "$work/out/embed.jsonl"
        SEMSEARCH_SIMD=avx2 RAYON_NUM_THREADS=$threads "$avx2" packed "$texts" | tag semsearch-avx2 >> "$work/out/embed.jsonl"
        SEMSEARCH_SIMD=avx2 RAYON_NUM_THREADS=$threads "$avx2" int8 "$texts" | tag semsearch-int8-avx2 >> "$work/out/embed.jsonl"
        SEMSEARCH_SIMD=avxvnni RAYON_NUM_THREADS=$threads "$avx2" int8 "$texts" | tag semsearch-int8-avxvnni >> "$work/out/embed.jsonl"
        if [ -n "${PREV:-}" ]; then
            RAYON_NUM_THREADS=$threads "$PREV/embed_throughput" "${PREV_ENGINE:-packed}" "$texts" | tag previous >> "$work/out/embed.jsonl"
        fi
    done
    [ "${ONLY:-}" = embed ] && continue
    threads=2
    "$py" "$shared/baselines/embed.py" st "$model" "$texts" | tag st >> "$work/out/embed.jsonl"
    ./target/release/examples/embed_throughput reference "$texts" | tag reference >> "$work/out/embed.jsonl"
    "$py" "$shared/baselines/ann.py" "$work/synth" >> "$work/out/ann-python.jsonl"
    ./target/release/examples/ann_synth "$work/synth" >> "$work/out/ann-semsearch.jsonl"
    if [ -n "${PREV:-}" ]; then
        "$PREV/ann_synth" "$work/synth" >> "$work/out/ann-previous.jsonl"
    fi
    "$bin" --index "$work/ix200k" -q ask "$question" > /dev/null   # warm the page cache
    for i in 1 2 3; do
        cold semsearch "$bin" --index "$work/ix200k" -q ask "$question" >> "$work/out/cold.jsonl"
        cold reference env SEMSEARCH_ENGINE=reference "$bin" --index "$work/ix200k" -q ask "$question" >> "$work/out/cold.jsonl"
        if [ -n "${PREV:-}" ]; then
            cold previous "$PREV/semsearch" --index "$work/ix200k" -q ask "$question" >> "$work/out/cold.jsonl"
        fi
    done
    cold onnxruntime env HF_HUB_OFFLINE=1 "$py" -c "$ort_cold" >> "$work/out/cold.jsonl"
    cold sentence-transformers env HF_HUB_OFFLINE=1 "$py" -c "$st_cold" >> "$work/out/cold.jsonl"
    ./target/release/examples/ask_latency "$work/ix200k" >> "$work/out/warm.jsonl"
done
index_bytes=$(python3 -c 'import glob, os, sys; print(sum(os.path.getsize(p) for p in glob.glob(sys.argv[1] + "/seg-*.f32") + glob.glob(sys.argv[1] + "/seg-*.graph")))' "$work/ix200k")
python3 - "$work/out" "$index_bytes" "${ONLY:-}" <<'PY'
import json, statistics as st, sys, os
out, index_mb, only = sys.argv[1], int(sys.argv[2]) / 2**20, sys.argv[3]
def rows(name):
    p = os.path.join(out, name)
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []
med = lambda xs: st.median(xs) if xs else float("nan")
emb = {}
for r in rows("embed.jsonl"):
    emb.setdefault((r["engine"], r.get("threads", 2)), []).append(r["passages_per_s"])
e = {k: med(v) for k, v in emb.items()}
py = rows("ann-python.jsonl"); ours = rows("ann-semsearch.jsonl"); prev = rows("ann-previous.jsonl")
build = {"hnswlib": med([r["hnswlib"]["build_s"] for r in py]), "faiss": med([r["faiss"]["build_s"] for r in py]),
         "semsearch": med([r["build_s"] for r in ours]), "previous": med([r["build_s"] for r in prev])}
linked = [r.get("unreachable_linked") for r in ours]
def lat(ef):
    d = {}
    for eng in ("hnswlib", "faiss"):
        s = [x for r in py for x in r[eng]["search"] if x["ef"] == ef]
        d[eng] = (med([x["median_us"] for x in s]), med([x["recall_at_10"] for x in s]))
    for eng, rs in (("semsearch", ours), ("previous", prev)):
        # `walks` since format 6 (the product's walk on 8-bit codes first), `sweep` before.
        s = [x for r in rs for x in (r["sweep"] if "sweep" in r else r["walks"][0]["sweep"]) if x["ef"] == ef]
        d[eng] = (med([x["search_p50_us"] for x in s]), med([x["recall@10"] for x in s]))
    return d
cold = {}
for r in rows("cold.jsonl"):
    cold.setdefault(r["tag"], []).append(r)
c = {k: (med([x["wall_ms"] for x in v]), med([x["peak_rss_mb"] for x in v])) for k, v in cold.items()}
warm = rows("warm.jsonl")
n = len(py)
nan = float("nan")
print("| threads | instructions | semsearch f32 | semsearch int8 | int8 / f32 | onnxruntime f32 | onnxruntime int8 | semsearch int8 / onnxruntime int8 |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for t in (2, 1):
    for label, f32, i8 in (("widest (AMX here)", "semsearch", "semsearch-int8"), ("SEMSEARCH_SIMD=avx512 (VNNI)", "semsearch", "semsearch-int8-avx512"),
                           ("AVX2 build, SEMSEARCH_SIMD=avxvnni", "semsearch-avx2", "semsearch-int8-avxvnni"),
                           ("AVX2 build, SEMSEARCH_SIMD=avx2", "semsearch-avx2", "semsearch-int8-avx2")):
        a, b, o, oi = e.get((f32, t), nan), e.get((i8, t), nan), e.get(("ort", t), nan), e.get(("ort-int8", t), nan)
        print(f"| {t} | {label} | {a:.1f} | **{b:.1f}** | {b / a:.2f}× | {o:.1f} | {oi:.1f} | {b / oi:.2f}× |")
print()
if only == "embed":
    sys.exit(0)
print(f"runs: {n}; medians; ratios are semsearch / other\n")
def row(cells):
    print("| " + " | ".join(cells) + " |")
row(["what", "sentence-transformers", "onnxruntime", "candle BertModel (SEMSEARCH_ENGINE=reference)", "previous main", "hnswlib", "faiss HNSWFlat", "**semsearch**"])
row(["---"] * 8)
for t in (2, 1):
    ours_e, ort_e, prev_e = e.get(("semsearch", t), nan), e.get(("ort", t), nan), e.get(("previous", t), nan)
    row([f"embed, passages/s, {t} thread{'s' if t > 1 else ''}", f"{e.get(('st', t), nan):.1f}" if t == 2 else "", f"{ort_e:.1f}",
         f"{e.get(('reference', t), nan):.1f}" if t == 2 else "", f"{prev_e:.1f}", "", "",
         f"**{ours_e:.1f}** ({ours_e / ort_e:.2f}× onnxruntime, {ours_e / prev_e:.2f}× previous)"])
row(["200k×384, M=16, efC=200: build s", "", "", "", f"{build['previous']:.1f}", f"{build['hnswlib']:.1f}", f"{build['faiss']:.1f}",
     f"**{build['semsearch']:.1f}** ({build['semsearch'] / build['hnswlib']:.2f}× hnswlib; rows linked in by the reachability check: {linked})"])
for ef in (32, 64, 128):
    d = lat(ef)
    f = lambda k: f"{d[k][0]:.0f} µs ({d[k][1]:.4f})"
    row([f"k=10, ef={ef}: median latency (recall@10)", "", "", "", f("previous"), f("hnswlib"), f("faiss"),
         f"**{f('semsearch')}** ({d['semsearch'][0] / d['hnswlib'][0]:.2f}× hnswlib)"])
if warm:
    row(["open the 200k index (model excluded)", "", "", "", "", "", "", f"**{med([w['open_ms'] for w in warm]):.1f} ms**"])
    row(["warm query on 200k (embed + search): p50 / p95", "", "", "", "", "", "",
         f"**{med([w['embed_search_p50_ms'] for w in warm]):.2f} / {med([w['embed_search_p95_ms'] for w in warm]):.2f} ms**"])
g = lambda k, i: c.get(k, (nan,) * 2)[i]
row(["cold process: start to answer (semsearch: `ask` on 200k)", f"{g('sentence-transformers', 0):.0f} ms", f"{g('onnxruntime', 0):.0f} ms",
     f"{g('reference', 0):.0f} ms", f"{g('previous', 0):.0f} ms", "", "", f"**{g('semsearch', 0):.0f} ms** ({g('semsearch', 0) / g('previous', 0):.2f}× previous)"])
row(["peak RSS of that process", f"{g('sentence-transformers', 1):.0f} MiB", f"{g('onnxruntime', 1):.0f} MiB", f"{g('reference', 1):.0f} MiB", f"{g('previous', 1):.0f} MiB", "", "",
     f"**{g('semsearch', 1):.0f} MiB** ({g('semsearch', 1) / index_mb:.2f}× vectors+graph = {index_mb:.0f} MiB)"])
PY
