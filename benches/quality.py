"""Topic quality of newsclust next to scikit-learn KMeans and BERTopic on the same embeddings.

    python3 benches/quality.py EMBEDDINGS.parquet [--gold-column label] [--out DIR]

EMBEDDINGS is a `newsclust embed` output with a gold label column (e.g. AG News or 20 Newsgroups).
Runs, on those vectors: newsclust k-means with k = number of gold classes, k = auto, and the
HDBSCAN path; scikit-learn KMeans(n_init=10); BERTopic with its defaults (UMAP → HDBSCAN →
c-TF-IDF) given the same embeddings. Prints NMI, ARI, topics, unassigned share and seconds.
Needs scikit-learn and bertopic for this python and a release build.
"""

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target/release/newsclust"


def row(name, gold, pred, seconds, topics):
    pred = ["-1" if p is None else str(p) for p in pred]
    unassigned = sum(p == "-1" for p in pred) / len(pred)
    print(f"| {name} | {normalized_mutual_info_score(gold, pred):.4f} | {adjusted_rand_score(gold, pred):.4f} | "
          f"{topics} | {100 * unassigned:.1f}% | {seconds:.1f} |", flush=True)


def newsclust(emb, out, args):
    started = time.perf_counter()
    subprocess.run([str(BIN), "cluster", "-q", "--embeddings", str(emb), "--out", str(out), *args], check=True)
    seconds = time.perf_counter() - started
    docs = pq.read_table(out / "documents.parquet").to_pydict()
    run = json.loads((out / "run.json").read_text())
    return docs["topic_id"], seconds, run["counts"]["topics"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("embeddings")
    ap.add_argument("--gold-column", default="label")
    args = ap.parse_args()
    table = pq.read_table(args.embeddings).to_pydict()
    gold = [str(g) for g in table[args.gold_column]]
    x = np.array(table["embedding"], dtype=np.float32)
    docs = [f"{t}. {b}" for t, b in zip(table["title"], table["text"])]
    k = len(set(gold))
    print(f"{args.embeddings}: {len(gold)} documents, {k} gold classes\n")
    print("| method | NMI | ARI | topics | unassigned | seconds |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pred, s, t = newsclust(args.embeddings, tmp / "k", ["--k", str(k)])
        row(f"newsclust k-means k={k}", gold, pred, s, t)
        pred, s, t = newsclust(args.embeddings, tmp / "auto", ["--k", "auto"])
        row("newsclust k-means k=auto", gold, pred, s, t)
        pred, s, t = newsclust(args.embeddings, tmp / "h", ["--algorithm", "hdbscan"])
        row("newsclust HDBSCAN (defaults)", gold, pred, s, t)
    started = time.perf_counter()
    km = KMeans(n_clusters=k, n_init=10, random_state=42).fit(x)
    row(f"scikit-learn KMeans k={k} n_init=10", gold, km.labels_.tolist(), time.perf_counter() - started, k)
    from bertopic import BERTopic
    started = time.perf_counter()
    topics, _ = BERTopic().fit_transform(docs, x)
    row("BERTopic defaults (UMAP+HDBSCAN)", gold, [None if t == -1 else t for t in topics],
        time.perf_counter() - started, len(set(topics) - {-1}))


if __name__ == "__main__":
    main()
