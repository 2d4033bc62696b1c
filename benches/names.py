"""How well newsclust names its topics, beside BERTopic naming the very same clusters.

    PY=~/.cache/newsclust-anchor/venv/bin/python   # sentence-transformers + bertopic 0.17.4
    $PY benches/names.py [--sets sample,ag4,ag20,20ng] [--seeds 1,7,42] [--work DIR] [--no-bertopic]

For each set it embeds once (release build, CPU, cached under --work), then per seed clusters
with `newsclust cluster` and scores, with `../shared/tools/label_quality.py` (labels cut to 4
words):
  newsclust         the `label` column (phrase + theme, this build)
  keywords          the `keyword_label` column (the two c-TF-IDF words newsclust used before)
  bertopic_*        `../shared/tools/bertopic_labels.py --mode same`: BERTopic 0.17.4 naming the
                    same clusters (c-TF-IDF, c-TF-IDF + English stop words, KeyBERTInspired, and
                    KeyBERTInspired + stop words)
It prints retrieval and gold agreement per set (mean over seeds), their mean over sets, the
targets of issue 13, and checks every newsclust label: at most 4 words, no twin, no filler word
(`src/topics/vocab/`), no word variant twice ("startups startup"). `--gallery` prints labels
before and after with each topic's theme instead; `--calibrate` each topic's nearest theme and
its similarity, to judge by reading (benches/theme_calibration.tsv).
"""

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "../shared"
BIN = ROOT / "target/release/newsclust"
MODEL = ROOT / "models/sentence-transformers/all-MiniLM-L6-v2"
sys.path.insert(0, str(SHARED / "tools"))
sys.path.insert(0, str(ROOT / "benches"))

AG_NAMES = {"1": "world news", "2": "sports", "3": "business", "4": "science and technology"}


def sets():
    """name -> (embed args, k, gold names or None)."""
    ng = sorted(str(p) for p in (SHARED / "datasets/20newsgroups_bydate_test").glob("*.jsonl"))
    return {
        "sample": (["-i", str(ROOT / "datasets/tech_news_sample.jsonl")], 8, None),
        "ag4": ("ag", 4, AG_NAMES),
        "ag20": ("ag", 20, AG_NAMES),
        "20ng": (["-i", *ng], 20, None),
        "techcrunch": (["-i", str(SHARED / "datasets/techcrunch_titles_2015_2017/techcrunch_titles.jsonl")], "auto", None),
    }


def embed(work, name, spec):
    """The set's embeddings.parquet, embedded once."""
    key = "ag" if spec == "ag" else name
    out = work / "emb" / key
    if (out / "embeddings.parquet").exists():
        return out / "embeddings.parquet"
    if spec == "ag":
        import agnews
        work.mkdir(parents=True, exist_ok=True)
        head = work / "ag3000.csv"
        agnews.head_csv(head, 3000)
        spec = ["-i", str(head), "--no-header", "--columns", "label,title,text"]
    subprocess.run([str(BIN), "embed", "-q", *spec, "--device", "cpu", "--out", str(out / "embeddings.parquet")], check=True)
    return out / "embeddings.parquet"


def score(run_dir, column, gold_names, name, emb):
    import label_quality
    argv = ["--documents", str(run_dir / "documents.parquet"), "--topics", str(run_dir / "topics.parquet"),
            "--model", str(MODEL), "--label-column", column, "--json", "--name", name, "--embeddings", str(emb)]
    if gold_names:
        path = run_dir.parent / "gold_names.json"
        path.write_text(json.dumps(gold_names))
        argv += ["--gold-names", str(path)]
    with contextlib.redirect_stdout(io.StringIO()):
        return label_quality.main(argv)


def words_of(vocab_file):
    out = set()
    for line in (ROOT / "src/topics/vocab" / vocab_file).read_text().splitlines():
        w = line.split("#")[0].strip()
        if w and not w.endswith("+"):
            out.add(w)
    return out


FILLER = words_of("filler.txt") | words_of("stop_words.txt")


def stem(w):
    """Plural, verb and noun endings off: "startups"/"startup", "funding"/"fund", "pricing"/"prices"."""
    w = w.lower()
    for a, b in (("ies", "y"), ("es", ""), ("s", "")):
        if len(w) > 3 and w.endswith(a) and not w.endswith("ss"):
            w = w[: -len(a)] + b
            break
    for a in ("ing", "ion", "ed", "e"):
        if w.endswith(a) and len(w) - len(a) >= 3:
            return w[: -len(a)]
    return w


def problems(labels):
    """What is wrong with a list of labels (empty when nothing)."""
    bad = []
    if len(set(l.lower() for l in labels)) != len(labels):
        bad.append("twins")
    for l in labels:
        ws = re.split(r"\s+", l.strip())
        if not l.strip():
            bad.append("an empty label")
        if len(ws) > 4:
            bad.append(f"{l!r}: over 4 words")
        filler = [w for w in ws if w.lower() in FILLER and ws.index(w) in (0, len(ws) - 1)]
        if filler:
            bad.append(f"{l!r}: filler {filler}")
        stems = [stem(w) for w in ws]
        if len(set(stems)) != len(stems):
            bad.append(f"{l!r}: a repeated stem")
    return bad


def assignments(run_dir):
    import pyarrow.parquet as pq
    d = pq.read_table(run_dir / "documents.parquet", columns=["id", "topic_id"]).to_pydict()
    return [list(x) for x in zip(d["id"], d["topic_id"])]


def topics_of(run_dir):
    import pyarrow.parquet as pq
    return pq.read_table(run_dir / "topics.parquet").to_pandas()


def main():
    global BIN
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default="sample,ag4,ag20,20ng")
    ap.add_argument("--seeds", default="1,7,42")
    ap.add_argument("--work", default=str(ROOT / "target/names"))
    ap.add_argument("--no-bertopic", action="store_true")
    ap.add_argument("--gallery", action="store_true", help="print labels before/after and themes")
    ap.add_argument("--calibrate", action="store_true",
                    help="print each topic's nearest theme and similarity (threshold 0), to judge")
    ap.add_argument("--cluster-args", default="", help="more `newsclust cluster` flags")
    ap.add_argument("--bin", default=str(BIN), help="the newsclust binary (default: the release build)")
    a = ap.parse_args()
    BIN = Path(a.bin)
    work = Path(a.work)
    seeds = [int(s) for s in a.seeds.split(",")]
    table, bad, started = {}, [], time.time()
    for name in a.sets.split(","):
        spec, k, gold_names = sets()[name]
        emb = embed(work, name, spec)
        for seed in seeds:
            run_dir = work / "runs" / f"{name}-s{seed}"
            extra = ["--theme-threshold", "0"] if a.calibrate else []
            subprocess.run([str(BIN), "cluster", "-q", "--embeddings", str(emb), "--k", str(k), "--seed", str(seed),
                            "--device", "cpu", "--out", str(run_dir), *extra, *a.cluster_args.split()], check=True)
            t = topics_of(run_dir)
            if a.calibrate:
                for _, r in t.sort_values("theme_similarity", ascending=False).iterrows():
                    print("\t".join([name, f"{r['theme_similarity']:.3f}", str(r["theme"]), str(r["phrase"]),
                                     ", ".join(list(r["keywords"])[:6])]))
                continue
            if a.gallery:
                print(f"\n### {name} (k={k}, seed {seed})\n")
                print("| size | before (keywords) | after (label) | theme |\n|---:|---|---|---|")
                for _, r in t.sort_values("size", ascending=False).iterrows():
                    theme = r["theme"] if isinstance(r["theme"], str) else "–"
                    print(f"| {r['size']} | {r['keyword_label']} | {r['label']} | {theme} |")
                continue
            bad += [f"{name} seed {seed}: {p}" for p in problems(list(t["label"]))]
            rows = {"newsclust": score(run_dir, "label", gold_names, name, emb),
                    "keywords": score(run_dir, "keyword_label", gold_names, name, emb)}
            if not a.no_bertopic:
                bt = work / "bertopic" / f"{name}-s{seed}"
                # BERTopic names the clusters, not our labels: its output is kept while the clusters
                # (set, k, seed and the clustering itself) stay the same.
                done = all((bt / f"same_{r}" / "topics.parquet").exists() for r in ("ctfidf", "ctfidf_sw", "keybert", "keybert_sw"))
                same = done and (bt / "assignments.json").exists() and \
                    json.loads((bt / "assignments.json").read_text()) == assignments(run_dir)
                if not same:
                    bt.mkdir(parents=True, exist_ok=True)
                    (bt / "assignments.json").write_text(json.dumps(assignments(run_dir)))
                with open(work / "bertopic.log", "a") as log:
                    if not same:
                        subprocess.run([sys.executable, str(SHARED / "tools/bertopic_labels.py"), "--run", str(run_dir),
                                        "--model", str(MODEL), "--mode", "same", "--seed", str(seed), "--out", str(bt),
                                        "--embeddings", str(emb)], check=True, stdout=log, stderr=log)
                for rep in ("ctfidf", "ctfidf_sw", "keybert", "keybert_sw"):
                    rows[f"bertopic_{rep}"] = score(bt / f"same_{rep}", "label", gold_names, name, emb)
            for who, r in rows.items():
                table.setdefault(name, {}).setdefault(who, []).append(
                    (r["retrieval_acc"], r.get("gold_agreement", float("nan"))))
            print(f"{name} seed {seed}: " + ", ".join(f"{w} {r['retrieval_acc']:.3f}/{r.get('gold_agreement', float('nan')):.3f}"
                                                     for w, r in rows.items()), file=sys.stderr, flush=True)
    if a.gallery or a.calibrate:
        return
    who = list(next(iter(table.values())).keys())
    mean = lambda xs: sum(xs) / len(xs)
    print(f"\nretrieval / gold agreement, mean over seeds {a.seeds} ({time.time() - started:.0f} s)\n")
    print("| labeller | " + " | ".join(table) + " | mean |")
    print("|---|" + "---|" * (len(table) + 1))
    means = {}
    for w in who:
        cells, rs, gs = [], [], []
        for name in table:
            r = mean([x[0] for x in table[name][w]])
            g = mean([x[1] for x in table[name][w]])
            rs.append(r)
            gs.append(g)
            cells.append(f"{r:.3f} / {g:.3f}")
        means[w] = (mean(rs), mean(gs))
        print(f"| {w} | " + " | ".join(cells) + f" | {means[w][0]:.3f} / {means[w][1]:.3f} |")
    print()
    nc = means["newsclust"]
    print(f"target retrieval >= 0.80: {nc[0]:.3f} {'met' if nc[0] >= 0.80 else 'NOT met'}")
    print(f"target gold agreement >= 0.85: {nc[1]:.3f} {'met' if nc[1] >= 0.85 else 'NOT met'}")
    if not a.no_bertopic:
        for name in table:
            best = {m: max(mean([x[m] for x in table[name][w]]) for w in who if w.startswith("bertopic"))
                    for m in (0, 1)}
            ours = [mean([x[m] for x in table[name]["newsclust"]]) for m in (0, 1)]
            ok = ours[0] >= best[0] and ours[1] >= best[1]
            print(f"{name}: newsclust {ours[0]:.3f} / {ours[1]:.3f} vs best BERTopic {best[0]:.3f} / {best[1]:.3f}: "
                  f"{'at least as good' if ok else 'BEHIND'}")
    print("label checks: " + ("all labels pass" if not bad else f"{len(bad)} problems"))
    for b in bad:
        print("  " + b)


if __name__ == "__main__":
    main()
