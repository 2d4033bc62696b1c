"""How well `--k auto` chooses the number of topics, beside k-means told the gold count.

    python3 benches/auto_k.py NAME=EMBEDDINGS.parquet:GOLD_K [...] [--seeds 1,7,42] [--bin PATH]

Each EMBEDDINGS is a `newsclust embed` output with a gold `label` column. For every seed it runs
`newsclust cluster --k auto --seed S --naming keywords` and `--k GOLD_K` on the same vectors, scores
both with `newsclust eval --json` (NMI against the gold column) and prints one row per set and seed:
the count chosen, its ratio to the gold count, whether it lies in [0.75x, 1.5x], its NMI, the NMI
of k-means at the gold count and their difference, and the seconds of each command; then, per set,
how many runs lie in the band and meet both targets, and the mean NMI difference. `--bin` runs
another build (an older one, to compare rules on the same vectors). Needs only a release build and
this python; it reads nothing but the files named.
"""

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cluster(binary, emb, out, k, seed):
    """Runs one `cluster`; returns (topics, NMI, seconds)."""
    start = time.perf_counter()
    subprocess.run(
        [binary, "cluster", "-q", "--embeddings", emb, "--out", out, "--k", str(k),
         "--seed", str(seed), "--naming", "keywords"],
        check=True,
    )
    seconds = time.perf_counter() - start
    run = json.loads((Path(out) / "run.json").read_text())
    scored = subprocess.run(
        [binary, "eval", "-q", "--documents", str(Path(out) / "documents.parquet"), "--json"],
        check=True, capture_output=True, text=True,
    )
    nmi = json.loads(scored.stdout)["all"]["nmi"]
    return run["counts"]["topics"], nmi, seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+", help="NAME=EMBEDDINGS.parquet:GOLD_K")
    ap.add_argument("--seeds", default="1,7,42")
    ap.add_argument("--bin", default=str(ROOT / "target/release/newsclust"))
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print("| set | seed | chosen | × gold | in band | NMI | NMI at gold k | difference | seconds auto / gold |")
    print("|---|---|---|---|---|---|---|---|---|")
    met = total = 0
    per_set = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            name, rest = spec.split("=", 1)
            emb, gold = rest.rsplit(":", 1)
            gold = int(gold)
            rows = []
            for seed in seeds:
                k, nmi, secs = cluster(args.bin, emb, f"{tmp}/{name}-{seed}-auto", "auto", seed)
                _, ref, ref_secs = cluster(args.bin, emb, f"{tmp}/{name}-{seed}-gold", gold, seed)
                ratio = k / gold
                band = 0.75 <= ratio <= 1.5
                good = band and nmi >= ref - 0.005
                met += good
                total += 1
                rows.append((band, good, nmi - ref))
                print(f"| {name} | {seed} | {k} | {ratio:.2f} | {'yes' if band else 'no'} | {nmi:.3f} "
                      f"| {ref:.3f} | {nmi - ref:+.3f} | {secs:.1f} / {ref_secs:.1f} |", flush=True)
            per_set.append((name, rows))
    print()
    for name, rows in per_set:
        n = len(rows)
        print(f"{name}: in band {sum(r[0] for r in rows)} of {n}, both targets {sum(r[1] for r in rows)} "
              f"of {n}, mean NMI difference {sum(r[2] for r in rows) / n:+.4f}")
    print(f"both targets (count in band, NMI within 0.005 of the gold k's): {met} of {total}")


if __name__ == "__main__":
    main()
