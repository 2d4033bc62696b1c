#!/bin/sh
# Builds the CUDA binary here (no GPU needed, ../shared/gpu/build-cuda.sh) and packs what the GPU
# machine needs into gpu-kit/ (ignored by git; under the 64 MiB transfer cap):
#   newsclust.xz            the --features cuda binary (cudarc loads the driver at run time)
#   parity.xz               tests/parity.rs built with --features cuda (its CUDA body runs there)
#   model/                  all-MiniLM-L6-v2 config + tokenizer + weights in f16, xz-compressed
#                           (the f32 file is 90 MB)
#   ag_news.csv.xz          AG News test (../shared is not on the GPU machine)
# Then, on the GPU machine: sh benches/gpu/run.sh (the device tool: carry gpu-kit).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
shared="$root/../shared"
patch=$("$shared/gpu/build-cuda.sh" dl-patch)
# The cudarc patch rewrites Cargo.lock (a path source): keep the committed one.
cp Cargo.lock "$root/target/Cargo.lock.keep" 2>/dev/null || { mkdir -p "$root/target"; cp Cargo.lock "$root/target/Cargo.lock.keep"; }
trap 'cp "$root/target/Cargo.lock.keep" "$root/Cargo.lock"' EXIT
CARGO_TARGET_DIR="$root/target-cuda" "$shared/gpu/build-cuda.sh" cargo build --release --features cuda $patch
"$shared/gpu/build-cuda.sh" check "$root/target-cuda/release/newsclust" || true
parity=$(CARGO_TARGET_DIR="$root/target-cuda" "$shared/gpu/build-cuda.sh" cargo test --release --features cuda $patch \
  --test parity --no-run --message-format=json | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
rm -rf gpu-kit
mkdir -p gpu-kit/model/1_Pooling
strip -o gpu-kit/newsclust target-cuda/release/newsclust
xz -9 -T0 gpu-kit/newsclust
strip -o gpu-kit/parity "$parity"
xz -9 -T0 gpu-kit/parity
src=models/sentence-transformers/all-MiniLM-L6-v2
for f in config.json tokenizer.json tokenizer_config.json special_tokens_map.json modules.json \
         sentence_bert_config.json config_sentence_transformers.json 1_Pooling/config.json; do
  cp "$src/$f" "gpu-kit/model/$f"
done
PY=${PYTHON:-python3}
"$PY" - "$src/model.safetensors" gpu-kit/model/model.f16.safetensors <<'PYEOF'
import sys
from safetensors.numpy import load_file, save_file
tensors = load_file(sys.argv[1])
save_file({k: (v.astype("float16") if v.dtype.kind == "f" else v) for k, v in tensors.items()}, sys.argv[2])
PYEOF
xz -9 -T0 gpu-kit/model/model.f16.safetensors
xz -9 -c "$shared/datasets/ag_news/test.csv" > gpu-kit/ag_news.csv.xz
du -sh gpu-kit; ls -la gpu-kit gpu-kit/model
