#!/bin/sh
# The GPU verification, run on the GPU machine from the repository root with gpu-kit/ carried
# over (benches/gpu/prepare.sh makes it). Writes everything under $OUT (default /tmp/gpu-out).
# 1. newsclust bench: cuda f32/f16/bf16 on all 7,600 AG News texts, CPU f32 on 1,000;
# 2. whole embed jobs (file to Parquet) on cuda f32/f16/bf16 and CPU f32 (500 texts, for parity);
# 3. benches/gpu/compare.py: sentence-transformers and PyTorch (SDPA fp16) on the same texts and
#    weights, cosines newsclust vs PyTorch and CPU vs GPU, GPU vs CPU k-means (ARI).
set -u
OUT=${OUT:-/tmp/gpu-out}
# Each step runs even if an earlier one failed; failures are listed at the end.
failed=""
step() { name=$1; shift; "$@" || failed="$failed $name"; }
mkdir -p "$OUT"
kit=gpu-kit
NV=$(dirname "$(find / -xdev -name libcublas.so.13 -path '*nvidia/cu13*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH="$NV${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
[ -d /usr/local/nvidia/lib64 ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:/usr/local/nvidia/lib64"
bin=/tmp/newsclust
xz -dc "$kit/newsclust.xz" > "$bin" && chmod +x "$bin"
# Same weights on both sides: the f16 copy widened back to f32.
python3 - "$kit/model" <<'PYEOF'
import sys, os
from safetensors.numpy import load_file, save_file
d = sys.argv[1]
t = load_file(os.path.join(d, "model.f16.safetensors"))
save_file({k: (v.astype("float32") if v.dtype.kind == "f" else v) for k, v in t.items()}, os.path.join(d, "model.safetensors"))
PYEOF
model="$kit/model"
head -n 1000 "$kit/ag_news.csv" > /tmp/ag1000.csv
head -n 500 "$kit/ag_news.csv" > /tmp/ag500.csv
cols="--no-header --columns label,title,text"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu.txt" 2>&1 || echo "no nvidia-smi" > "$OUT/gpu.txt"
cat "$OUT/gpu.txt"

step bench_cuda "$bin" bench -i "$kit/ag_news.csv" $cols -m "$model" --devices cuda --dtypes f32,f16,bf16 --batch-size 256 --repeat 3 -o "$OUT/bench_cuda.parquet"
step bench_cpu "$bin" bench -i /tmp/ag1000.csv $cols -m "$model" --devices cpu --dtypes f32 --repeat 1 -o "$OUT/bench_cpu.parquet"

for dt in f32 f16 bf16; do
  start=$(date +%s.%N)
  step "embed_cuda_$dt" "$bin" embed -q -i "$kit/ag_news.csv" $cols -m "$model" --device cuda --dtype $dt --batch-size 256 -o "$OUT/emb_cuda_$dt.parquet"
  end=$(date +%s.%N)
  python3 -c "print('embed whole job cuda $dt: %.2f s' % ($end - $start))" | tee -a "$OUT/jobs.txt"
done
step embed_cpu "$bin" embed -q -i /tmp/ag500.csv $cols -m "$model" --device cpu -o "$OUT/emb_cpu_f32_500.parquet"
step kmeans_cuda "$bin" cluster -q --embeddings "$OUT/emb_cuda_f32.parquet" --k 4 --device cuda -o "$OUT/km_cuda"
step kmeans_cpu "$bin" cluster -q --embeddings "$OUT/emb_cuda_f32.parquet" --k 4 --device cpu -o "$OUT/km_cpu"
# The device falls back when asked for a GPU that is not there, and says so.
"$bin" embed -q -i /tmp/ag500.csv $cols -m "$model" --device cuda:7 -o "$OUT/never.parquet" 2> "$OUT/cuda7.txt" || echo "cuda:7 exit $?" >> "$OUT/cuda7.txt"
CUDA_VISIBLE_DEVICES= "$bin" embed -i /tmp/ag500.csv $cols -m "$model" --limit 20 -o "$OUT/auto_nogpu.parquet" 2> "$OUT/auto_nogpu.txt" || true

[ -n "${SKIP_COMPARE:-}" ] || step compare python3 benches/gpu/compare.py --kit "$kit" --out "$OUT"
echo "failed steps:${failed:- none}"
