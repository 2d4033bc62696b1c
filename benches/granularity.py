"""Granularity study for issue 15: fine k-means, a Ward tree over its centres, cuts refined by k-means.

    python3 benches/granularity.py NAME=EMBEDDINGS.parquet:GOLD_K [...] [--fine 150] [--max-c 40]

Each EMBEDDINGS is a `newsclust embed` output with a `label` column. For seeds 1 and 7 it:
1. fits k-means with `--fine` centres (capped at N/3);
2. merges those centres bottom-up by Ward's criterion (centres weighted by their sizes) into a tree;
3. for every count c in 2..max-c, cuts the tree at c and refines the cut with Lloyd's iterations
   started from the merged centres.
It prints, per c: NMI against the gold labels, the agreement (ARI) of the two seeds' refined cuts
("stability"), and the Ward cost of the merge from c to c-1; then k-means told the gold k
(n_init 10) for reference, and the count the largest-stability-drop rule would choose.
Needs numpy, scipy, scikit-learn and pyarrow; it does not call the newsclust binary. The rule
`--k auto` settled on (src/cluster/auto_k.rs) is measured through the binary by benches/auto_k.py.
"""

import argparse

import numpy as np
import pyarrow.parquet as pq
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def ward_cuts(centres, sizes):
    """Every cut of the Ward tree over weighted centres: {count: fine centre -> group}, merge costs."""
    sums = [centres[i] * sizes[i] for i in range(len(centres))]
    weights = [float(s) for s in sizes]
    group = np.arange(len(centres))
    alive = list(range(len(centres)))
    cuts, costs = {len(alive): group.copy()}, {}
    while len(alive) > 1:
        means = np.array([sums[g] / weights[g] for g in alive])
        w = np.array([weights[g] for g in alive])
        gaps = ((means[:, None, :] - means[None, :, :]) ** 2).sum(-1)
        cost = gaps * (w[:, None] * w[None, :]) / (w[:, None] + w[None, :])
        np.fill_diagonal(cost, np.inf)
        a, b = np.unravel_index(np.argmin(cost), cost.shape)
        costs[len(alive)] = float(cost[a, b])
        ga, gb = alive[a], alive[b]
        sums.append(sums[ga] + sums[gb])
        weights.append(weights[ga] + weights[gb])
        new = len(sums) - 1
        group[(group == ga) | (group == gb)] = new
        alive = [g for g in alive if g not in (ga, gb)] + [new]
        cuts[len(alive)] = group.copy()
    return cuts, costs


def refined(x, fine_labels, cut, c):
    doc = cut[fine_labels]
    starts = np.array([x[doc == g].mean(0) for g in np.unique(doc)])
    return KMeans(c, init=starts, n_init=1, max_iter=30).fit(x).labels_


def study(name, path, gold_k, fine, max_c):
    table = pq.read_table(path, columns=["label", "embedding"]).to_pydict()
    x = np.array(table["embedding"], dtype=np.float32)
    gold = [str(g) for g in table["label"]]
    fine = min(fine, len(x) // 3)
    top = min(max_c, fine - 1)
    runs = {}
    for seed in (1, 7):
        km = KMeans(fine, n_init=1, random_state=seed).fit(x)
        cuts, costs = ward_cuts(km.cluster_centers_, np.bincount(km.labels_, minlength=fine))
        runs[seed] = {c: (refined(x, km.labels_, cuts[c], c), costs.get(c, 0.0)) for c in range(2, top + 1)}
    print(f"\n{name}: {len(x)} rows, gold k {gold_k}, fine k {fine}\n")
    print("| c | NMI (seed 1) | stability | Ward cost c→c-1 |\n|---|---|---|---|")
    stability = {}
    for c in range(2, top + 1):
        a, cost = runs[1][c]
        stability[c] = adjusted_rand_score(a, runs[7][c][0])
        print(f"| {c} | {normalized_mutual_info_score(gold, a):.4f} | {stability[c]:.3f} | {cost:.2f} |")
    base = [normalized_mutual_info_score(gold, KMeans(gold_k, n_init=10, random_state=s).fit(x).labels_)
            for s in (1, 7, 42)]
    drop = max(range(2, top), key=lambda c: stability[c] - stability[c + 1])
    print(f"\nk-means at the gold k: NMI {np.mean(base):.4f} (seeds 1, 7, 42: "
          f"{', '.join(f'{b:.4f}' for b in base)}); largest stability drop after c = {drop}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+", help="NAME=EMBEDDINGS.parquet:GOLD_K")
    ap.add_argument("--fine", type=int, default=150)
    ap.add_argument("--max-c", type=int, default=40)
    args = ap.parse_args()
    for spec in args.sets:
        name, rest = spec.split("=", 1)
        path, gold_k = rest.rsplit(":", 1)
        study(name, path, int(gold_k), args.fine, args.max_c)


if __name__ == "__main__":
    main()
