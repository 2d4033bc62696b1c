"""Writes tests/reference/metrics_reference.json: clustering scores computed by scikit-learn,
for the unit test of src/eval.rs.

    python3 tests/reference/make_metrics_reference.py
"""

import json
import random
from pathlib import Path

import sklearn
from sklearn import metrics

HERE = Path(__file__).resolve().parent


def case(gold, pred):
    return {
        "gold": gold, "pred": pred,
        "nmi": metrics.normalized_mutual_info_score(gold, pred),
        "ari": metrics.adjusted_rand_score(gold, pred),
        "homogeneity": metrics.homogeneity_score(gold, pred),
        "completeness": metrics.completeness_score(gold, pred),
        "v_measure": metrics.v_measure_score(gold, pred),
    }


def main() -> None:
    rng = random.Random(7)
    cases = [
        case([0, 0, 1, 1], [1, 1, 0, 0]),                  # same partition, other names
        case([0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 2]),
        case([0, 0, 0, 1, 1, 1], [0, 1, 2, 3, 4, 5]),      # all singletons
        case([0, 1, 2, 3], [0, 0, 0, 0]),                  # one cluster
        case([3, 3, 3, 3], [0, 0, 1, 1]),                  # one class
    ]
    gold = [rng.randrange(4) for _ in range(500)]
    noisy = [g if rng.random() < 0.7 else rng.randrange(6) for g in gold]
    cases.append(case(gold, noisy))
    cases.append(case(gold, [rng.randrange(10) for _ in range(500)]))
    out = {"sklearn": sklearn.__version__, "cases": cases}
    (HERE / "metrics_reference.json").write_text(json.dumps(out) + "\n")
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
