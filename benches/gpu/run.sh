#!/bin/sh
# The GPU verification, run on the GPU machine from the repository root with gpu-kit/ carried
# over (benches/gpu/prepare.sh makes it). Writes everything under $OUT (default /tmp/gpu-out).
# Defaults on a GPU: packed pass, attention on tensor cores (f16/bf16), the next batch queued
# before the last is back. "before" below is the setting these replaced (--attention
# cuda-cores, --queue-batches false).
# 0. Whole embed jobs on a fresh JIT cache (CUDA_CACHE_PATH empty, as on a new cloud machine),
#    with the kernels' machine code (the default) and with their PTX (--cuda-ptx),
#    and a k-means on another fresh cache, then again on the same (the driver compiles
#    candle's PTX kernels once);
# 1. newsclust bench on AG News test (7,600 texts): cuda f32/f16/bf16 at batch 1024, f16/bf16
#    with attention on the CUDA cores, f16 without queued batches, f16 before, f16 at batch
#    256, the padded pass (f16, f32), per-stage profiles (--profile), and the CPU on
#    1,000 texts;
# 2. whole embed jobs (file to Parquet, wall time) on cuda f32/f16/bf16 for 7,600 texts and for
#    the same texts 10, 30 and 100 times over (76,000 to 760,000; f16 at 76,000 three times,
#    with -v: every batch's time, the writer's, and main-to-exit time against the wall; once
#    more freeing the GPU before exiting, --teardown; once without loading cuBLAS
#    beside the driver's initialisation, --cuda-preload false; once syncing each row group
#    before the next, --write-sync wait), each setting of attention and queueing, and
#    CPU f32 on 500;
# 3. GPU vs CPU k-means, `--device cuda:7`, and a run with the GPU hidden (CPU fallback);
# 4. the CUDA body of tests/parity.rs (when prepare.sh packed the test binary);
# 5. benches/gpu/compare.py: sentence-transformers and PyTorch SDPA on the same texts and
#    weights, cosines newsclust vs sentence-transformers and CPU vs GPU, k-means ARI.
. benches/gpu/setup.sh
x10="-i /tmp/ag_x10.csv $cols_x10 -m $model --device cuda -o /tmp/emb_x10.parquet"
x100="-i /tmp/ag_x100.csv $cols_x10 -m $model --device cuda -o /tmp/emb_x100.parquet"
before="--attention cuda-cores"
# 0. A new machine's jobs: nothing compiled yet in the driver's JIT cache (an empty one each).
# The first also pays for the machine's first CUDA use: compare the second and the third.
mkdir -p /tmp/jit-empty-1 /tmp/jit-empty-2 /tmp/jit-empty-3
JOB_ENV="CUDA_CACHE_PATH=/tmp/jit-empty-1" job embed_fresh_f16_x10 -v $x10 --dtype f16
JOB_ENV="CUDA_CACHE_PATH=/tmp/jit-empty-2" job embed_fresh_ptx_f16_x10 -v $x10 --dtype f16 --cuda-ptx
JOB_ENV="CUDA_CACHE_PATH=/tmp/jit-empty-3" job embed_fresh_again_f16_x10 -v $x10 --dtype f16
"$bin" embed -q -i "$ag" $cols -m "$model" --device cuda --dtype f32 -o /tmp/emb_km.parquet
kmeans_on_empty_cache /tmp/emb_km.parquet

b() { "$bin" bench -i "$ag" $cols -m "$model" --devices cuda --batch-size 1024 --repeat 3 "$@"; }
step bench_default b --dtypes f32,f16,bf16 -o "$OUT/bench_cuda.parquet"
step bench_cuda_cores b --dtypes f16,bf16 --attention cuda-cores -o "$OUT/bench_cuda_cores.parquet"
step bench_no_queue "$bin" bench --queue-batches false -i "$ag" $cols -m "$model" --devices cuda --dtypes f16 --batch-size 1024 --repeat 3 -o "$OUT/bench_cuda_no_queue.parquet"
step bench_before "$bin" bench --queue-batches false -i "$ag" $cols -m "$model" --devices cuda --dtypes f16 $before --batch-size 1024 --repeat 3 -o "$OUT/bench_cuda_before.parquet"
step bench_b256 b --dtypes f16 --batch-size 256 -o "$OUT/bench_cuda_b256.parquet"
step bench_padded b --dtypes f32,f16 --forward padded --batch-size 256 -o "$OUT/bench_cuda_padded.parquet"
# (cudarc's event tracking and the memory pool's default release were measured on 2026-11-26:
# no difference and -7%, README; both switches are gone.)
step profile "$bin" bench --profile -i "$ag" $cols -m "$model" --devices cuda --dtypes f16,f32 --batch-size 1024 --repeat 1 -o "$OUT/bench_profile.parquet" 2> "$OUT/profile.txt"
cat "$OUT/profile.txt"
step bench_cpu "$bin" bench -i /tmp/ag1000.csv $cols -m "$model" --devices cpu --dtypes f32 --repeat 1 -o "$OUT/bench_cpu.parquet"

for dt in f32 f16 bf16; do
  job "embed_cuda_$dt" -i "$ag" $cols -m "$model" --device cuda --dtype $dt -o "$OUT/emb_cuda_$dt.parquet"
done
job embed_cuda_f16_cuda_cores -i "$ag" $cols -m "$model" --device cuda --dtype f16 $before -o "$OUT/emb_cuda_f16_cuda_cores.parquet"
job embed_cuda_f16_no_queue -i "$ag" $cols -m "$model" --device cuda --dtype f16 -o "$OUT/emb_cuda_f16_no_queue.parquet" --queue-batches false
job embed_cuda_f16_padded -i "$ag" $cols -m "$model" --device cuda --dtype f16 --forward padded --batch-size 256 -o /tmp/emb_padded.parquet
job embed_cuda_f16_x10 -v $x10 --dtype f16
job embed_cuda_f16_x10_again -v $x10 --dtype f16
job embed_cuda_f16_x10_third -v $x10 --dtype f16
# The same, freeing the model, the GPU's memory and its context before exiting, as before the
# command line exited at once (`_exit`) instead; without loading cuBLAS and cuRAND beside the
# driver's initialisation; syncing each row group before the next.
job embed_cuda_f16_x10_teardown -v $x10 --dtype f16 --teardown
job embed_cuda_f16_x10_no_preload -v $x10 --dtype f16 --cuda-preload false
job embed_cuda_f16_x10_sync_wait -v $x10 --dtype f16 --write-sync wait
job embed_cuda_f16_x10_cuda_cores -v $x10 --dtype f16 $before
job embed_cuda_f16_x10_no_queue -v $x10 --dtype f16 --queue-batches false
job embed_cuda_f16_x10_before -v $x10 --dtype f16 $before --queue-batches false
job embed_cuda_bf16_x10 -v $x10 --dtype bf16
job embed_cuda_f32_x10 -v $x10 --dtype f32
job embed_cuda_f16_x30 -v -i /tmp/ag_x30.csv $cols_x10 -m "$model" --device cuda --dtype f16 -o /tmp/emb_x30.parquet
rm -f /tmp/emb_x30.parquet
job embed_cuda_f16_x100 -v $x100 --dtype f16
job embed_cuda_f16_x100_sync_wait -v $x100 --dtype f16 --write-sync wait
job embed_cuda_f16_x100_before -v $x100 --dtype f16 $before --queue-batches false
rm -f /tmp/emb_x100.parquet
# Process start and exit alone.
{ start=$(date +%s.%N); "$bin" --version; end=$(date +%s.%N); "$PY" -c "print('newsclust --version: %.3f s wall' % ($end - $start))"; } | tee -a "$OUT/jobs.txt"
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
  step parity_test env NEWSCLUST_TEST_MODEL="$model" /tmp/parity --include-ignored --nocapture --test-threads 1 > "$OUT/parity_test.txt" 2>&1
  tail -n 25 "$OUT/parity_test.txt"
fi

[ -n "${SKIP_COMPARE:-}" ] || step compare "$PY" benches/gpu/compare.py --kit "$kit" --out "$OUT" --repeated /tmp/ag_x10.csv /tmp/ag_x30.csv
echo "failed steps:${failed:- none}; whole script $(( $(date +%s) - t0 )) s" | tee "$OUT/failed.txt"
pack
rm -rf "$OUT"/*.parquet "$OUT"/km_* "$OUT"/*.txt "$OUT"/*.log "$OUT"/*.json
