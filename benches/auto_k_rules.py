"""Variants of `--k auto`'s choice, scored offline on the same fits: how its rule was chosen.

    python3 benches/auto_k_rules.py NAME=EMBEDDINGS.parquet:GOLD_K [...] [--seeds 1,...,10,42]
        [--cache DIR] [--top 20] [--bin PATH]

`--k auto` measures a stability and a silhouette at every count (`k_scores` in run.json); the rule
that turns them into a count is a few lines (`pick` and `scale` in src/cluster/auto_k.rs), and the
measurements do not depend on it. So this runs `newsclust cluster --k auto --seed S` once per set
and seed, keeps each run's `k_scores`, and scores every variant of the rule on them: the count
each variant would choose, whether it lies in [0.75x, 1.5x] of the gold count, and whether
k-means at that count (`cluster --k K --seed S`, which is what `--k auto` runs once it has
chosen) reaches the NMI of k-means at the gold count within 0.005. Variants: the silhouette
averaged over 1-4 neighbours each side; the scale at its highest value or at the first peak
within a slack of it; a floor of 1/2, 3/5, 2/3 or 3/4 of the scale; each count's stability
compared with the best or the mean of the next 1-5 counts; the silhouette's weight 0-2. It prints
the best variants, then the shipped rule's and the rule before's. The runs and NMIs are kept in `--cache` (JSON), so
a second call costs nothing; the first runs `--k auto` once per set and seed and k-means once per
count in band that some variant chooses (on a 2-core machine, for the four sets of
benches/auto_k.py and eleven seeds, about half an hour). Needs only a release build and this
python.
"""

import argparse
import itertools
import json
import tempfile
from pathlib import Path

from auto_k import cluster  # one `cluster` run scored by `eval`: (topics, NMI, seconds)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = (4, 0.0, (2, 3), 1, "max", 1)
# The rule of 1edd65c: two neighbours, the first peak within 1.5%, a floor of 3/5, the best of three.
BEFORE = (2, 0.015, (3, 5), 3, "max", 1)


def scale(scores, smooth, slack):
    """The count where the smoothed silhouette peaks: the first peak within `slack` of its top."""
    sil = [s["silhouette"] for s in scores]
    n = len(sil)
    sm = [sum(sil[max(0, i - smooth):i + smooth + 1]) / len(sil[max(0, i - smooth):i + smooth + 1])
          for i in range(n)]
    top = max(sm)
    for i in range(n):
        peak = (i == 0 or sm[i] >= sm[i - 1]) and (i + 1 == n or sm[i] >= sm[i + 1])
        if peak and sm[i] >= top - slack * abs(top):
            return scores[i]["k"]
    return 2


def choose(scores, smooth, slack, floor, look, agg, weight):
    """The count one variant chooses."""
    stab = [s["stability"] for s in scores]
    lowest = -(-scale(scores, smooth, slack) * floor[0] // floor[1])
    best = None
    for i, s in enumerate(scores):
        finer = stab[i + 1:i + 1 + look]
        if not finer or s["k"] < lowest:
            continue
        ref = max(finer) if agg == "max" else sum(finer) / len(finer)
        value = s["silhouette"] ** weight * (s["stability"] - ref)
        if best is None or value > best[1]:
            best = (s["k"], value)
    return best[0] if best else scores[0]["k"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+", help="NAME=EMBEDDINGS.parquet:GOLD_K")
    ap.add_argument("--seeds", default="1,2,3,4,5,6,7,8,9,10,42")
    ap.add_argument("--cache", default=str(ROOT / "target/auto_k_rules"))
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--bin", default=str(ROOT / "target/release/newsclust"))
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    cache_file = Path(args.cache) / "cache.json"
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {"scores": {}, "nmi": {}}
    sets = []
    for spec in args.sets:
        name, rest = spec.split("=", 1)
        emb, gold = rest.rsplit(":", 1)
        sets.append((name, emb, int(gold)))

    def nmi(name, emb, k, seed):
        key = f"{name}:{k}:{seed}"
        if key not in cache["nmi"]:
            with tempfile.TemporaryDirectory() as tmp:
                cache["nmi"][key] = cluster(args.bin, emb, tmp, k, seed)[1]
            cache_file.write_text(json.dumps(cache))
        return cache["nmi"][key]

    for name, emb, gold in sets:
        for seed in seeds:
            key = f"{name}:{seed}"
            if key not in cache["scores"]:
                with tempfile.TemporaryDirectory() as tmp:
                    topics, value, _ = cluster(args.bin, emb, tmp, "auto", seed)
                    cache["scores"][key] = json.loads(Path(tmp, "run.json").read_text())["k_scores"]
                cache["nmi"][f"{name}:{topics}:{seed}"] = value
                cache_file.write_text(json.dumps(cache))

    def judge(variant):
        met, band, per_set = 0, 0, {}
        for name, emb, gold in sets:
            ok = 0
            for seed in seeds:
                k = choose(cache["scores"][f"{name}:{seed}"], *variant)
                if not 0.75 * gold <= k <= 1.5 * gold:
                    continue
                band += 1
                ok += nmi(name, emb, k, seed) >= nmi(name, emb, gold, seed) - 0.005
            per_set[name] = ok
            met += ok
        return met, band, per_set

    variants = list(itertools.product([1, 2, 3, 4], [0.0, 0.005, 0.01, 0.015, 0.02, 0.03],
                                      [(1, 2), (3, 5), (2, 3), (3, 4)], [1, 2, 3, 4, 5],
                                      ["max", "mean"], [0, 1, 2]))
    judged = sorted(((judge(v), v) for v in variants), key=lambda r: (-r[0][0], -r[0][1]))
    total = len(sets) * len(seeds)
    print("| both targets | in band | per set | smoothing | slack | floor | next counts | compared with | silhouette weight |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (met, band, per_set), v in judged[:args.top]:
        print(f"| {met} of {total} | {band} | {' '.join(f'{k} {n}' for k, n in per_set.items())} "
              f"| {v[0]} | {v[1]} | {v[2][0]}/{v[2][1]} | {v[3]} | {v[4]} | {v[5]} |")
    print()
    for title, rule in (("shipped rule (src/cluster/auto_k.rs)", SHIPPED), ("the rule before", BEFORE)):
        (met, band, per_set), _ = next(r for r in judged if r[1] == rule)
        print(f"{title}: both targets {met} of {total}, in band {band}, "
              f"{' '.join(f'{k} {n}' for k, n in per_set.items())}")


if __name__ == "__main__":
    main()
