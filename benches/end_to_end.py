"""Whole-job CPU wall time: `newsclust run` against sentence-transformers + BERTopic, same texts.

    python3 benches/end_to_end.py [--limit 7600]

newsclust: one `run` process (model load, read, tokenize, embed, cluster with HDBSCAN, c-TF-IDF
labels, write Parquet). BERTopic: model load, `SentenceTransformer.encode` (batch 64, max length
256) and `BERTopic().fit_transform` with its defaults (UMAP, HDBSCAN, c-TF-IDF). First N
articles of AG News test. Needs sentence-transformers and bertopic for this python.
"""

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from agnews import ROOT, head_csv, texts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=7600)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        head_csv(tmp / "in.csv", args.limit)
        started = time.perf_counter()
        subprocess.run([str(ROOT / "target/release/newsclust"), "run", "-q", "--device", "cpu", "--input", str(tmp / "in.csv"),
                        "--no-header", "--columns", "label,title,text", "--algorithm", "hdbscan", "--out", str(tmp / "nc")], check=True)
        ours = time.perf_counter() - started

        started = time.perf_counter()
        from bertopic import BERTopic
        from sentence_transformers import SentenceTransformer
        docs = texts(tmp / "in.csv")
        model = SentenceTransformer(str(ROOT / "models/sentence-transformers/all-MiniLM-L6-v2"), device="cpu")
        model.max_seq_length = 256
        emb = model.encode(docs, batch_size=64)
        BERTopic().fit_transform(docs, emb)
        theirs = time.perf_counter() - started
    print(f"{args.limit} articles: newsclust run (HDBSCAN) {ours:.1f} s | sentence-transformers + BERTopic {theirs:.1f} s "
          f"| newsclust is {theirs / ours:.2f}x faster")


if __name__ == "__main__":
    main()
