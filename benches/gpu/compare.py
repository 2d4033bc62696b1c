"""Side-by-side numbers for benches/gpu/run.sh: PyTorch and sentence-transformers on the texts and
weights newsclust used, embedding parity, and GPU vs CPU k-means. Prints a Markdown table.

    python3 benches/gpu/compare.py --kit gpu-kit --out /tmp/gpu-out [--device cuda] [--repeated ag_x10.csv ag_x30.csv] [--no-sdpa]

Ratios it prints: newsclust's embedding stage (`bench`, embed docs/s) against PyTorch SDPA on the
same texts, and newsclust's whole `embed` job (file to Parquet, wall time from run.sh's jobs.txt)
against sentence-transformers `encode` fp32 (the faster of batch 64 and 256) on the same texts.
A job named `..._xK` read the texts K times over: it is set against sentence-transformers on the
largest repeated set measured with at most K copies (its rate stops changing past a few
thousand texts; the ratio's label says which set).
"""

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from agnews import texts  # noqa: E402  (benches/agnews.py, one folder up)


def vectors(path):
    return np.array(pq.read_table(path).column("embedding").to_pylist(), dtype=np.float32)


def min_cos(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(1).min())


def torch_sdpa(model_dir, docs, device, dtype, batch=256):
    """Embedding stage alone: HF AutoModel with SDPA attention on length-sorted batches, mean pooling."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, attn_implementation="sdpa", dtype=dtype).to(device).eval()
    enc = [tok(d, truncation=True, max_length=256)["input_ids"] for d in docs]
    order = sorted(range(len(docs)), key=lambda i: -len(enc[i]))
    batches = []
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        n = max(len(enc[i]) for i in idx)
        ids = torch.zeros((len(idx), n), dtype=torch.long)
        mask = torch.zeros((len(idx), n), dtype=torch.long)
        for r, i in enumerate(idx):
            ids[r, :len(enc[i])] = torch.tensor(enc[i])
            mask[r, :len(enc[i])] = 1
        batches.append((idx, ids.to(device), mask.to(device)))
    out = np.zeros((len(docs), model.config.hidden_size), dtype=np.float32)

    def run():
        with torch.inference_mode():
            for idx, ids, mask in batches:
                h = model(input_ids=ids, attention_mask=mask).last_hidden_state
                m = mask.unsqueeze(-1).to(h.dtype)
                pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
                out[idx] = pooled.cpu().numpy()

    run()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        run()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return out, best


def st_encode(st, docs, batch):
    t = time.perf_counter()
    vec = st.encode(docs, batch_size=batch, convert_to_numpy=True)
    return vec, time.perf_counter() - t


def job_walls(out):
    """Wall seconds of run.sh's whole embed jobs, by name."""
    walls = {}
    p = out / "jobs.txt"
    if p.exists():
        for line in p.read_text().splitlines():
            if line.endswith(" s wall"):
                name, rest = line.split(": ", 1)
                walls[name] = float(rest.split()[0])
    return walls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kit", default="gpu-kit")
    ap.add_argument("--out", default="/tmp/gpu-out")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--repeated", nargs="*", default=[],
                    help="the same texts K times over, named ..._xK.csv (run.sh writes them)")
    ap.add_argument("--no-sdpa", action="store_true",
                    help="sentence-transformers only: no PyTorch SDPA embedding stage (jobs.sh)")
    args = ap.parse_args()
    import torch
    from sentence_transformers import SentenceTransformer
    from sklearn.metrics import adjusted_rand_score

    kit, out = Path(args.kit), Path(args.out)
    model_dir = str(kit / "model")
    docs = texts(kit / "ag_news.csv", args.limit)
    n = len(docs)
    rows = []
    st = SentenceTransformer(model_dir, device=args.device)
    st.max_seq_length = 256
    st.encode(docs[:256], batch_size=64)
    st_best = None
    for batch in (64, 256):
        vec, secs = st_encode(st, docs, batch)
        rows.append((f"sentence-transformers encode fp32, batch {batch} (tokenizing included)", n / secs))
        if st_best is None or n / secs > st_best[1]:
            st_best = (batch, n / secs)
            st_vec = vec
    # Texts per second of sentence-transformers by copies of the texts (1: the texts once).
    st_rate = {1: st_best[1]}
    for path in args.repeated:
        copies = int(re.search(r"_x(\d+)", Path(path).name).group(1))
        many = texts(path)
        _, secs = st_encode(st, many, st_best[0])
        st_rate[copies] = len(many) / secs
        rows.append((f"sentence-transformers encode fp32, batch {st_best[0]}, {len(many)} texts", st_rate[copies]))
    del st
    pt32, s32, pt_best16 = None, None, None
    if not args.no_sdpa:
        pt32, s32 = torch_sdpa(model_dir, docs, args.device, torch.float32)
        rows.append(("PyTorch SDPA fp32, embedding stage, batch 256", n / s32))
    if args.device == "cuda" and not args.no_sdpa:
        for batch in (256, 1024):
            _, s16 = torch_sdpa(model_dir, docs, args.device, torch.float16, batch=batch)
            rows.append((f"PyTorch SDPA fp16, embedding stage, batch {batch}", n / s16))
            pt_best16 = max(pt_best16 or 0, n / s16)
    result = {"docs": n, "throughput_docs_per_s": dict(rows)}
    parity = {}
    for dt in ["f32", "f16", "bf16", "f16_cuda_cores", "f16_no_queue"]:
        p = out / f"emb_cuda_{dt}.parquet"
        if p.exists():
            v = vectors(p)[:n]
            what = dt.replace("_cuda_cores", ", attention on the CUDA cores").replace("_no_queue", ", batches not queued")
            parity[f"newsclust cuda {what} vs sentence-transformers fp32 (min cosine)"] = min_cos(v, st_vec)
    if pt32 is not None:
        parity["PyTorch SDPA fp32 vs sentence-transformers fp32 (min cosine)"] = min_cos(pt32, st_vec)
    cpu = out / "emb_cpu_f32_500.parquet"
    if cpu.exists() and (out / "emb_cuda_f32.parquet").exists():
        parity["newsclust cpu f32 vs cuda f32, 500 texts (min cosine)"] = min_cos(vectors(cpu), vectors(out / "emb_cuda_f32.parquet")[:500])
    def topics(name):
        return pq.read_table(out / name / "documents.parquet").column("topic_id").to_pylist()
    if (out / "km_cuda").exists() and (out / "km_cpu").exists():
        parity["k-means GPU vs CPU, same seed (ARI)"] = adjusted_rand_score(topics("km_cuda"), topics("km_cpu"))
    if (out / "km_cuda").exists() and (out / "km_cuda_candle").exists():
        parity["k-means GPU, our kernels vs candle's ops (ARI)"] = adjusted_rand_score(topics("km_cuda"), topics("km_cuda_candle"))
    result["parity"] = parity
    benches = {}
    for p in sorted(out.glob("bench_*.json")):
        benches[p.stem] = json.loads(p.read_text())
    result["bench"] = benches
    ratios = {}
    for stem, rows_of in benches.items():
        if stem.startswith(("bench_cuda_padded", "bench_profile")) or not stem.startswith("bench_cuda"):
            continue
        for row in rows_of:
            if pt_best16 and row["dtype"] == "f16":
                ratios["newsclust embedding stage f16 %s, %s (bench, batch %d) / PyTorch SDPA fp16 (best batch)" % (row["forward"], stem, row["batch_size"])] = row["embed_docs_per_s"] / pt_best16
    for row in benches.get("bench_cuda", []):
        if row["dtype"] == "f32" and s32:
            ratios["newsclust embedding stage f32 (bench) / PyTorch SDPA fp32"] = row["embed_docs_per_s"] / (n / s32)
    walls = job_walls(out)
    for name, secs in walls.items():
        if not name.startswith("embed_") or "cpu" in name:
            continue
        m = re.search(r"_x(\d+)", name)
        copies = int(m.group(1)) if m else 1
        ref = max(k for k in st_rate if k <= copies)
        docs = copies * n
        ratios[f"{name} whole job ({docs} texts, {docs / secs:.0f} docs/s) / sentence-transformers encode fp32 on {ref * n} texts"] = (docs / secs) / st_rate[ref]
    result["ratios"] = ratios
    (out / "summary.json").write_text(json.dumps(result, indent=1))
    print(f"| reference on {args.device} | docs/s |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v:.0f} |")
    print("\n| parity | value |\n|---|---|")
    for k, v in parity.items():
        print(f"| {k} | {v:.6f} |")
    print("\n| ratio | value |\n|---|---|")
    for k, v in ratios.items():
        print(f"| {k} | {v:.2f} |")


if __name__ == "__main__":
    main()
