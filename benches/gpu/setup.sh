#!/bin/sh
# Sourced by benches/gpu/run.sh and benches/gpu/jobs.sh on the GPU machine (repository root,
# gpu-kit/ carried over): unpacks the kit, widens the f16 weights back to f32 for both sides,
# writes AG News 10, 30 and 100 times over, and defines step, job, pack and
# kmeans_on_empty_cache.
set -u
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/gpu-out}
# Each step runs even if an earlier one failed; failures are listed at the end.
failed=""
t0=$(date +%s)
step() { name=$1; shift; echo "== $name (at $(( $(date +%s) - t0 )) s)" >&2; "$@" || failed="$failed $name"; }
mkdir -p "$OUT"
kit=gpu-kit
# The device tool brings back a limited number of files: the small ones go into one archive,
# $OUT/results.tgz, made after the jobs (in case a later step overruns) and again at the end.
pack() { rm -rf /tmp/results && mkdir -p /tmp/results && cp "$OUT"/*.txt "$OUT"/*.log "$OUT"/*.json /tmp/results/ 2>/dev/null
  tar czf /tmp/results.tgz -C /tmp results && mv /tmp/results.tgz "$OUT/"; }
NV=$(dirname "$(find / -xdev -name libcublas.so.13 -path '*nvidia/cu13*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH="$NV${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
[ -d /usr/local/nvidia/lib64 ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:/usr/local/nvidia/lib64"
bin=/tmp/newsclust
xz -dc "$kit/newsclust.xz" > "$bin" && chmod +x "$bin"
# Same weights on both sides: the f16 copy widened back to f32.
xz -dc "$kit/model/model.f16.safetensors.xz" > /tmp/model.f16.safetensors
xz -dc "$kit/ag_news.csv.xz" > "$kit/ag_news.csv"
"$PY" - "$kit/model" <<'PYEOF'
import sys, os
from safetensors.numpy import load_file, save_file
d = sys.argv[1]
t = load_file("/tmp/model.f16.safetensors")
save_file({k: (v.astype("float32") if v.dtype.kind == "f" else v) for k, v in t.items()}, os.path.join(d, "model.safetensors"))
PYEOF
model="$kit/model"
ag="$kit/ag_news.csv"
head -n 1000 "$ag" > /tmp/ag1000.csv
head -n 500 "$ag" > /tmp/ag500.csv
# AG News 10, 30 and 100 times over, each copy with its own ids (the label column is the id here).
"$PY" - "$ag" <<'PYEOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))
for times in (10, 30, 100):
    with open(f"/tmp/ag_x{times}.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        for k in range(times):
            for i, (_, t, d) in enumerate(rows):
                w.writerow([f"{k}-{i}", t, d])
PYEOF
cols="--no-header --columns label,title,text"
cols_x10="--no-header --columns id,title,text"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; nproc; lscpu | grep 'Model name'; } > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

# A whole job, timed from outside; JOB_ENV="VAR=value ..." sets its environment.
job() { name=$1; shift; start=$(date +%s.%N); step "$name" env ${JOB_ENV:-} "$bin" embed "$@" 2> "$OUT/$name.log"; end=$(date +%s.%N);
  "$PY" -c "print('$name: %.2f s wall' % ($end - $start))" | tee -a "$OUT/jobs.txt"; grep -E "INFO wrote|from main to exit|freed in|footer|last rows|libraries loaded|writer's thread" "$OUT/$name.log" | tee -a "$OUT/jobs.txt"; }
# k-means (k = 20) of the f32 vectors in $1 on the GPU on an empty JIT cache, then again on the
# same cache: what the driver compiles on a new machine's first k-means (candle's PTX kernels:
# 17.8 s on 2026-11-26; ours are machine code).
kmeans_on_empty_cache() {
  mkdir -p /tmp/jit-empty-km
  for k in fresh again; do
    start=$(date +%s.%N)
    step "kmeans_$k" env CUDA_CACHE_PATH=/tmp/jit-empty-km "$bin" cluster -v --embeddings "$1" --k 20 --device cuda -o /tmp/km_jit 2> "$OUT/kmeans_$k.log"
    end=$(date +%s.%N); "$PY" -c "print('cluster --device cuda, JIT cache $k: %.2f s wall' % ($end - $start))" | tee -a "$OUT/jobs.txt"
    grep -E "kernels loaded" "$OUT/kmeans_$k.log" | head -1 | tee -a "$OUT/jobs.txt"
  done
}
