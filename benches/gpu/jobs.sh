#!/bin/sh
# The whole-job target alone, in a short run: `newsclust embed` from file to Parquet with the
# defaults (f16, attention on tensor cores, batches queued, row groups encoded side by side)
# on AG News 1, 10, 30 and 100 times over, beside sentence-transformers `encode` on the same
# texts (benches/gpu/compare.py --no-sdpa, on the 7,600 and 76,000 texts), each 76,000-text
# job three times, and once with the settings before tensor cores and queued batches were the
# defaults; a new machine's first jobs and k-means on an empty JIT cache; k-means on the GPU
# (our kernels, candle's ops) against the CPU; the CUDA body of tests/parity.rs. Run on the GPU
# machine from the repository root with gpu-kit/ carried over.
. benches/gpu/setup.sh
x10="-i /tmp/ag_x10.csv $cols_x10 -m $model --device cuda -o /tmp/emb_x10.parquet"
# A new machine's first CUDA use and first JIT compilations of candle's kernels, apart (not
# counted: compare.py sets only jobs named embed_* against sentence-transformers).
job first_use_f16 -v $x10 --dtype f16
job first_use_f32 -v -i "$ag" $cols -m "$model" --device cuda --dtype f32 -o /tmp/emb_km.parquet
kmeans_on_empty_cache /tmp/emb_km.parquet
for dt in f32 f16 bf16; do
  job "embed_cuda_$dt" -i "$ag" $cols -m "$model" --device cuda --dtype $dt -o "$OUT/emb_cuda_$dt.parquet"
done
job embed_cuda_f16_x10 -v $x10 --dtype f16
job embed_cuda_f16_x10_again -v $x10 --dtype f16
job embed_cuda_f16_x10_third -v $x10 --dtype f16
job embed_cuda_f16_x10_before -v $x10 --dtype f16 --attention cuda-cores --queue-batches false
job embed_cuda_bf16_x10 -v $x10 --dtype bf16
job embed_cuda_f32_x10 -v $x10 --dtype f32
job embed_cuda_f16_x30 -v -i /tmp/ag_x30.csv $cols_x10 -m "$model" --device cuda --dtype f16 -o /tmp/emb_x30.parquet
rm -f /tmp/emb_x30.parquet
job embed_cuda_f16_x100 -v -i /tmp/ag_x100.csv $cols_x10 -m "$model" --device cuda --dtype f16 -o /tmp/emb_x100.parquet
rm -f /tmp/emb_x100.parquet
# k-means (k = 4) on the f32 vectors: on the GPU with our kernels, with candle's ops
# (--kmeans-kernels candle), and on the CPU; compare.py sets them side by side (ARI).
step kmeans_cuda "$bin" cluster -q --embeddings "$OUT/emb_cuda_f32.parquet" --k 4 --device cuda -o "$OUT/km_cuda"
step kmeans_cuda_candle "$bin" cluster --kmeans-kernels candle -q --embeddings "$OUT/emb_cuda_f32.parquet" --k 4 --device cuda -o "$OUT/km_cuda_candle"
step kmeans_cpu "$bin" cluster -q --embeddings "$OUT/emb_cuda_f32.parquet" --k 4 --device cpu -o "$OUT/km_cpu"
pack
if [ -f "$kit/parity.xz" ]; then
  xz -dc "$kit/parity.xz" > /tmp/parity && chmod +x /tmp/parity
  step parity_test env NEWSCLUST_TEST_MODEL="$model" /tmp/parity --include-ignored --nocapture --test-threads 1 > "$OUT/parity_test.txt" 2>&1
  tail -n 25 "$OUT/parity_test.txt"
fi
step compare "$PY" benches/gpu/compare.py --no-sdpa --kit "$kit" --out "$OUT" --repeated /tmp/ag_x10.csv
echo "failed steps:${failed:- none}; whole script $(( $(date +%s) - t0 )) s" | tee "$OUT/failed.txt"
pack
rm -rf "$OUT"/*.parquet "$OUT"/km_* "$OUT"/*.txt "$OUT"/*.log "$OUT"/*.json
