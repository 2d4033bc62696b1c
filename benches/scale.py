"""Clustering at scale (issue 14, item 5): synthetic embeddings files of N rows made around real
AG News vectors, clustered by `newsclust cluster`; peak RSS, seconds per million rows, and NMI
against the mixture's truth.

The mixture: the 7,600 AG News test vectors (embedded by newsclust, `--embeddings`) are split by
k-means into K=20 groups; row i of the synthetic file takes group c with the groups' own
frequencies, and its vector is a real member of c plus Gaussian noise of the group's own spread
(per dimension, a quarter of it), renormalized, so that the groups overlap as real news does. Its
title is the member's title with the row number, its `label` is c (the truth). Files are written
in row groups of 8,192 rows by pyarrow, never held whole in memory.

    python benches/scale.py --embeddings target/speed/ag.parquet --rows 100000 1000000 4000000

Prints one line per size and mode (`--stream off`: every vector in memory; `--stream on`: k-means
in passes over the row groups): rows, peak RSS (MiB), wall seconds, seconds per million rows, NMI
of the assignments against the truth. Sizes above --in-memory-up-to run streaming only. Needs numpy, pyarrow and the release binary; GNU time
(`/usr/bin/time -v`) reports the peak RSS. Synthetic files are cached under target/scale/.
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target/release/newsclust"
GROUPS = 20
CHUNK = 8192


def kmeans(x, k, seed, iters=30):
    """A plain Lloyd k-means (cosine, unit rows) to find the mixture's groups."""
    rng = np.random.default_rng(seed)
    c = x[rng.choice(len(x), k, replace=False)]
    for _ in range(iters):
        a = np.argmax(x @ c.T, axis=1)
        for j in range(k):
            m = x[a == j]
            if len(m):
                v = m.mean(0)
                c[j] = v / np.linalg.norm(v)
    return np.argmax(x @ c.T, axis=1)


def make(path, rows, source, seed=7):
    table = pq.read_table(source, columns=["title", "embedding"])
    x = np.stack(table.column("embedding").to_numpy(zero_copy_only=False)).astype(np.float32)
    titles = table.column("title").to_pylist()
    groups = kmeans(x, GROUPS, seed)
    members = [np.flatnonzero(groups == j) for j in range(GROUPS)]
    weights = np.array([len(m) for m in members], dtype=np.float64)
    weights /= weights.sum()
    spread = np.stack([x[m].std(0) if len(m) > 1 else np.zeros(x.shape[1]) for m in members])
    rng = np.random.default_rng(seed)
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("title", pa.string()),
            ("text", pa.string()),
            ("label", pa.string()),
            ("embedding", pa.list_(pa.float32(), x.shape[1])),
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, schema, compression="zstd") as w:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            c = rng.choice(GROUPS, n, p=weights)
            picks = np.array([members[j][rng.integers(len(members[j]))] for j in c])
            v = x[picks] + rng.standard_normal((n, x.shape[1])).astype(np.float32) * (spread[c] / 4)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            ids = [f"s{start + i}" for i in range(n)]
            t = [f"{titles[p]} ({start + i})" for i, p in enumerate(picks)]
            batch = pa.record_batch(
                [
                    pa.array(ids),
                    pa.array(t),
                    pa.array([""] * n),
                    pa.array([str(j) for j in c]),
                    pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), x.shape[1]),
                ],
                schema=schema,
            )
            w.write_batch(batch, row_group_size=CHUNK)
    tmp.rename(path)


def measure(path, out, k, stream, seed):
    cmd = [
        "/usr/bin/time", "-v", str(BIN), "cluster", "-q", "--embeddings", str(path), "-o", str(out),
        "--k", str(k), "--n-init", "1", "--naming", "keywords", "--stream", stream,
        "--seed", str(seed),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(done.stderr)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", done.stderr).group(1)
    secs = sum(float(p) * 60**i for i, p in enumerate(reversed(wall.split(":"))))
    ev = subprocess.run(
        [str(BIN), "eval", "--documents", str(out / "documents.parquet"), "--json"],
        capture_output=True, text=True, check=True,
    )
    nmi = json.loads(ev.stdout)
    return rss / 1024, secs, nmi


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--embeddings", type=Path, default=ROOT / "target/speed/ag.parquet")
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--k", type=int, default=GROUPS)
    ap.add_argument(
        "--modes", nargs="+", default=["off", "on"], choices=["off", "on"],
        help="--stream values to run: off = every vector in memory, on = passes over row groups",
    )
    ap.add_argument(
        "--in-memory-up-to", type=int, default=1_000_000,
        help="sizes above this run streaming only (in memory, 4M rows need about 19 GB)",
    )
    ap.add_argument(
        "--seeds", type=int, nargs="+", default=[42],
        help="--seed values; with several, each mode's mean NMI is printed too",
    )
    args = ap.parse_args()
    print("rows | --stream | seed | peak RSS MiB | wall s | s per 1M rows | NMI vs truth")
    for rows in args.rows:
        path = ROOT / f"target/scale/synthetic-{rows}.parquet"
        if not path.exists():
            make(path, rows, args.embeddings)
        for mode in args.modes:
            if mode == "off" and rows > args.in_memory_up_to:
                continue
            scores = []
            for seed in args.seeds:
                out = ROOT / f"target/scale/out-{rows}-{mode}-{seed}"
                rss, secs, ev = measure(path, out, args.k, mode, seed)
                nmi = round(ev["all"]["nmi"], 4)
                scores.append(nmi)
                print(
                    f"{rows} | {mode} | {seed} | {rss:.0f} | {secs:.1f} | "
                    f"{secs / rows * 1e6:.1f} | {nmi}"
                )
                sys.stdout.flush()
            if len(scores) > 1:
                print(f"{rows} | {mode} | mean of {len(scores)} | | | | {np.mean(scores):.4f}")


if __name__ == "__main__":
    main()
