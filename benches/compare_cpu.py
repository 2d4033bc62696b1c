"""newsclust embed vs sentence-transformers on the CPU: same texts, same sitting, as a ratio.

    python3 benches/compare_cpu.py [--limit 2000] [--rounds 2] [--set ag|20ng] [--st-batch-size 64]

Needs a release build (`cargo build --release`), the default model (models/install-default.sh),
sentence-transformers for this python, and ../shared/datasets/ag_news/test.csv (with `--set 20ng`,
../shared/datasets/20newsgroups_bydate_test: long posts; sentence-transformers ran fastest there at
batch 32).
newsclust (default batch size) is timed as the whole job (process start, model load and checksum, read, tokenize,
embed, write Parquet); sentence-transformers as `encode` alone (tokenizing included) after a
warm-up, so the ratio is conservative for newsclust.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agnews import ROOT, head_csv, newsgroups


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--set", choices=["ag", "20ng"], default="ag")
    ap.add_argument("--st-batch-size", type=int, default=64)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.set == "ag":
            head_csv(tmp / "in.csv", args.limit)
            source = ["--input", str(tmp / "in.csv"), "--no-header", "--columns", "label,title,text"]
        else:
            (tmp / "in.jsonl").write_text("\n".join(newsgroups(args.limit)[0]) + "\n", encoding="utf-8")
            source = ["--input", str(tmp / "in.jsonl")]
        for r in range(1, args.rounds + 1):
            started = time.perf_counter()
            subprocess.run(
                [str(ROOT / "target/release/newsclust"), "embed", "-q", "--device", "cpu", *source,
                 "--out", str(tmp / "emb.parquet")],
                check=True,
            )
            nc = args.limit / (time.perf_counter() - started)
            out = subprocess.run(
                [sys.executable, str(ROOT / "benches/st_baseline.py"), "--limit", str(args.limit), "--set", args.set,
                 "--batch-size", str(args.st_batch_size)],
                check=True, capture_output=True, text=True,
            ).stdout.strip().splitlines()[-1]
            st = json.loads(out)
            tokens = st["tokens"]  # same tokenizer, same truncation: the same token count for both
            print(f"round {r}: newsclust {nc:.1f} docs/s, {nc * tokens / args.limit:.0f} tokens/s (whole job) | "
                  f"sentence-transformers {st['docs_per_s']:.1f} docs/s, {st['tokens_per_s']:.0f} tokens/s "
                  f"(encode, batch {st['batch_size']}; torch {st['torch']}, {st['torch_threads']} threads) | ratio {nc / st['docs_per_s']:.2f}")


if __name__ == "__main__":
    main()
