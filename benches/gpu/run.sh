#!/bin/sh
# The GPU verification, run on the GPU machine from the repository root with gpu-kit/ carried
# over (benches/gpu/prepare.sh makes it). Writes everything under $OUT (default /tmp/gpu-out).
# 0. Whole embed jobs on a fresh JIT cache (CUDA_CACHE_PATH empty, as on a new cloud machine),
#    with the kernels' machine code (the default) and with their PTX (NEWSCLUST_CUDA_JIT=1);
# 1. newsclust bench on AG News test (7,600 texts): cuda f32/f16/bf16 with the packed forward
#    pass at batch 1024, f16/bf16 with attention on tensor cores, f16 with the next batch queued
#    (NEWSCLUST_OVERLAP=1) with either attention kernel, f16 at batch 256, the padded
#    pass (f16, f32), per-stage profiles (NEWSCLUST_PROFILE=1), and the CPU on 1,000 texts;
# 2. whole embed jobs (file to Parquet, wall time) on cuda f32/f16/bf16 for 7,600 texts and for
#    the same texts 10, 30 and 100 times over (76,000 to 760,000; f16 at 76,000 three times, once
#    with -v: every batch's time, and main-to-exit time against the wall; once more freeing
#    the GPU before exiting, NEWSCLUST_TEARDOWN=1; once without loading cuBLAS beside the
#    driver's initialisation, NEWSCLUST_CUDA_PRELOAD=0), f16/bf16 with
#    attention on tensor cores, with the next batch queued before the last is back
#    (NEWSCLUST_OVERLAP=1), both, and CPU f32 on 500;
# 3. GPU vs CPU k-means, `--device cuda:7`, and a run with the GPU hidden (CPU fallback);
# 4. the CUDA body of tests/parity.rs (when prepare.sh packed the test binary);
# 5. benches/gpu/compare.py: sentence-transformers and PyTorch SDPA on the same texts and
#    weights, cosines newsclust vs sentence-transformers and CPU vs GPU, k-means ARI.
set -u
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/gpu-out}
# Each step runs even if an earlier one failed; failures are listed at the end.
failed=""
step() { name=$1; shift; echo "== $name" >&2; "$@" || failed="$failed $name"; }
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
  "$PY" -c "print('$name: %.2f s wall' % ($end - $start))" | tee -a "$OUT/jobs.txt"; grep -E "INFO wrote|from main to exit|freed in|footer|last rows|libraries loaded" "$OUT/$name.log" | tee -a "$OUT/jobs.txt"; }
# 0. A new machine's jobs: nothing compiled yet in the driver's JIT cache (an empty one each).
# The first also pays for the machine's first CUDA use: compare the second and the third.
mkdir -p /tmp/jit-empty-1 /tmp/jit-empty-2 /tmp/jit-empty-3
JOB_ENV="CUDA_CACHE_PATH=/tmp/jit-empty-1" job embed_fresh_f16_x10 -v -i /tmp/ag_x10.csv $cols_x10 -m "$model" --device cuda --dtype f16 -o /tmp/emb_x10.parquet
JOB_ENV="CUDA_CACHE_PATH=/tmp/jit-empty-2 NEWSCLUST_CUDA_JIT=1" job embed_fresh_ptx_f16_x10 -v -i /tmp/ag_x10.csv $cols_x10 -m "$model" --device cuda --dtype f16 -o /tmp/emb_x10.parquet
JOB_ENV="CUDA_CACHE_PATH=/tmp/jit-empty-3" job embed_fresh_again_f16_x10 -v -i /tmp/ag_x10.csv $cols_x10 -m "$model" --device cuda --dtype f16 -o /tmp/emb_x10.parquet

b() { "$bin" bench -i "$ag" $cols -m "$model" --devices cuda "$@"; }
step bench_packed b --dtypes f32,f16,bf16 --batch-size 1024 --repeat 3 -o "$OUT/bench_cuda.parquet"
step bench_tc b --dtypes f16,bf16 --batch-size 1024 --attention tensor-cores --repeat 3 -o "$OUT/bench_cuda_tc.parquet"
step bench_overlap env NEWSCLUST_OVERLAP=1 "$bin" bench -i "$ag" $cols -m "$model" --devices cuda --dtypes f16 --batch-size 1024 --repeat 3 -o "$OUT/bench_cuda_overlap.parquet"
step bench_tc_overlap env NEWSCLUST_OVERLAP=1 "$bin" bench -i "$ag" $cols -m "$model" --devices cuda --dtypes f16 --attention tensor-cores --batch-size 1024 --repeat 3 -o "$OUT/bench_cuda_tc_overlap.parquet"
step bench_b256 b --dtypes f16 --batch-size 256 --repeat 3 -o "$OUT/bench_cuda_b256.parquet"
step bench_padded b --dtypes f32,f16 --forward padded --batch-size 256 --repeat 3 -o "$OUT/bench_cuda_padded.parquet"
# (cudarc's event tracking, NEWSCLUST_CUDA_EVENTS=1, and the memory pool's default release,
# NEWSCLUST_CUDA_POOL=release, were measured on 2026-11-26: no difference and -7%; README.)
step profile env NEWSCLUST_PROFILE=1 "$bin" bench -i "$ag" $cols -m "$model" --devices cuda --dtypes f16,f32 --batch-size 1024 --repeat 1 -o "$OUT/bench_profile.parquet" 2> "$OUT/profile.txt"
step profile_tc env NEWSCLUST_PROFILE=1 "$bin" bench -i "$ag" $cols -m "$model" --devices cuda --dtypes f16 --attention tensor-cores --batch-size 1024 --repeat 1 -o "$OUT/bench_profile_tc.parquet" 2> "$OUT/profile_tc.txt"
cat "$OUT/profile.txt" "$OUT/profile_tc.txt"
step bench_cpu "$bin" bench -i /tmp/ag1000.csv $cols -m "$model" --devices cpu --dtypes f32 --repeat 1 -o "$OUT/bench_cpu.parquet"

for dt in f32 f16 bf16; do
  job "embed_cuda_$dt" -i "$ag" $cols -m "$model" --device cuda --dtype $dt -o "$OUT/emb_cuda_$dt.parquet"
done
for dt in f16 bf16; do
  job "embed_cuda_${dt}_tc" -i "$ag" $cols -m "$model" --device cuda --dtype $dt --attention tensor-cores -o "$OUT/emb_cuda_${dt}_tc.parquet"
done
JOB_ENV="NEWSCLUST_OVERLAP=1" job embed_cuda_f16_overlap -i "$ag" $cols -m "$model" --device cuda --dtype f16 -o "$OUT/emb_cuda_f16_overlap.parquet"
JOB_ENV="NEWSCLUST_OVERLAP=1" job embed_cuda_f16_tc_overlap -i "$ag" $cols -m "$model" --device cuda --dtype f16 --attention tensor-cores -o "$OUT/emb_cuda_f16_tc_overlap.parquet"
job embed_cuda_f16_again -i "$ag" $cols -m "$model" --device cuda --dtype f16 -o /tmp/emb_again.parquet
job embed_cuda_f16_padded -i "$ag" $cols -m "$model" --device cuda --dtype f16 --forward padded --batch-size 256 -o /tmp/emb_padded.parquet
job embed_cuda_f16_x10 -i /tmp/ag_x10.csv $cols_x10 -m "$model" --device cuda --dtype f16 -o /tmp/emb_x10.parquet
job embed_cuda_f16_x10_again -i /tmp/ag_x10.csv $cols_x10 -m "$model" --device cuda --dtype f16 -o /tmp/emb_x10.parquet
job embed_cuda_f16_x10_verbose -v -i /tmp/ag_x10.csv $cols_x10 -m "$model" --device cuda --dtype f16 -o /tmp/emb_x10.parquet
# The same, freeing the model, the GPU's memory and its context before exiting, as before the
# command line exited at once (`_exit`) instead.
JOB_ENV="NEWSCLUST_TEARDOWN=1" job embed_cuda_f16_x10_teardown -v -i /tmp/ag_x10.csv $cols_x10 -m "$model" --device cuda --dtype f16 -o /tmp/emb_x10.parquet
# And without loading cuBLAS and cuRAND beside the driver's initialisation.
JOB_ENV="NEWSCLUST_CUDA_PRELOAD=0" job embed_cuda_f16_x10_no_preload -v -i /tmp/ag_x10.csv $cols_x10 -m "$model" --device cuda --dtype f16 -o /tmp/emb_x10.parquet
job embed_cuda_bf16_x10 -i /tmp/ag_x10.csv $cols_x10 -m "$model" --device cuda --dtype bf16 -o /tmp/emb_x10.parquet
job embed_cuda_f16_tc_x10 -i /tmp/ag_x10.csv $cols_x10 -m "$model" --device cuda --dtype f16 --attention tensor-cores -o /tmp/emb_x10.parquet
job embed_cuda_f16_tc_x10_again -v -i /tmp/ag_x10.csv $cols_x10 -m "$model" --device cuda --dtype f16 --attention tensor-cores -o /tmp/emb_x10.parquet
JOB_ENV="NEWSCLUST_OVERLAP=1" job embed_cuda_f16_overlap_x10 -i /tmp/ag_x10.csv $cols_x10 -m "$model" --device cuda --dtype f16 -o /tmp/emb_x10.parquet
JOB_ENV="NEWSCLUST_OVERLAP=1" job embed_cuda_f16_tc_overlap_x10 -v -i /tmp/ag_x10.csv $cols_x10 -m "$model" --device cuda --dtype f16 --attention tensor-cores -o /tmp/emb_x10.parquet
JOB_ENV="NEWSCLUST_OVERLAP=1" job embed_cuda_f16_tc_overlap_x10_again -i /tmp/ag_x10.csv $cols_x10 -m "$model" --device cuda --dtype f16 --attention tensor-cores -o /tmp/emb_x10.parquet
JOB_ENV="NEWSCLUST_OVERLAP=1" job embed_cuda_f16_tc_overlap_x100 -v -i /tmp/ag_x100.csv $cols_x10 -m "$model" --device cuda --dtype f16 --attention tensor-cores -o /tmp/emb_x100.parquet
job embed_cuda_f16_tc_x100 -v -i /tmp/ag_x100.csv $cols_x10 -m "$model" --device cuda --dtype f16 --attention tensor-cores -o /tmp/emb_x100.parquet
job embed_cuda_f16_x30 -v -i /tmp/ag_x30.csv $cols_x10 -m "$model" --device cuda --dtype f16 -o /tmp/emb_x30.parquet
job embed_cuda_f16_x100 -v -i /tmp/ag_x100.csv $cols_x10 -m "$model" --device cuda --dtype f16 -o /tmp/emb_x100.parquet
rm -f /tmp/emb_x30.parquet /tmp/emb_x100.parquet
# Process start and exit alone.
{ start=$(date +%s.%N); "$bin" --version; end=$(date +%s.%N); "$PY" -c "print('newsclust --version: %.3f s wall' % ($end - $start))"; } | tee -a "$OUT/jobs.txt"
job embed_cuda_f32_x10 -i /tmp/ag_x10.csv $cols_x10 -m "$model" --device cuda --dtype f32 -o /tmp/emb_x10_f32.parquet
job embed_cpu -i /tmp/ag500.csv $cols -m "$model" --device cpu -o "$OUT/emb_cpu_f32_500.parquet"
step kmeans_cuda "$bin" cluster -q --embeddings "$OUT/emb_cuda_f32.parquet" --k 4 --device cuda -o "$OUT/km_cuda"
step kmeans_cpu "$bin" cluster -q --embeddings "$OUT/emb_cuda_f32.parquet" --k 4 --device cpu -o "$OUT/km_cpu"
# A GPU that is not there is an error (exit 2); with the GPU hidden, auto falls back to the CPU.
"$bin" embed -q -i /tmp/ag500.csv $cols -m "$model" --device cuda:7 -o "$OUT/never.parquet" 2> "$OUT/cuda7.txt"; echo "cuda:7 exit $?" >> "$OUT/cuda7.txt"
CUDA_VISIBLE_DEVICES= "$bin" embed -i /tmp/ag500.csv $cols -m "$model" --limit 20 -o "$OUT/auto_nogpu.parquet" 2> "$OUT/auto_nogpu.txt"; echo "exit $?" >> "$OUT/auto_nogpu.txt"
cat "$OUT/cuda7.txt" "$OUT/auto_nogpu.txt"

pack
# 4. The test suite's CUDA body (tests/parity.rs), when prepare.sh packed its binary.
if [ -f "$kit/parity.xz" ]; then
  xz -dc "$kit/parity.xz" > /tmp/parity && chmod +x /tmp/parity
  step parity_test env NEWSCLUST_TEST_MODEL="$model" /tmp/parity --nocapture --test-threads 1 > "$OUT/parity_test.txt" 2>&1
  tail -n 25 "$OUT/parity_test.txt"
fi

[ -n "${SKIP_COMPARE:-}" ] || step compare "$PY" benches/gpu/compare.py --kit "$kit" --out "$OUT" --repeated /tmp/ag_x10.csv /tmp/ag_x30.csv
echo "failed steps:${failed:- none}" | tee "$OUT/failed.txt"
pack
rm -rf "$OUT"/*.parquet "$OUT"/km_* "$OUT"/*.txt "$OUT"/*.log "$OUT"/*.json
