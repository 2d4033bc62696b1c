"""newsclust embed vs sentence-transformers on the CPU: same texts, same sitting, as a ratio.

    python3 benches/compare_cpu.py [--limit 2000] [--rounds 2]

Needs a release build (`cargo build --release`), the default model (models/install-default.sh),
sentence-transformers for this python, and ../shared/datasets/ag_news/test.csv.
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

from agnews import ROOT, head_csv


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        head_csv(tmp / "in.csv", args.limit)
        for r in range(1, args.rounds + 1):
            started = time.perf_counter()
            subprocess.run(
                [str(ROOT / "target/release/newsclust"), "embed", "-q", "--device", "cpu", "--input", str(tmp / "in.csv"),
                 "--no-header", "--columns", "label,title,text", "--out", str(tmp / "emb.parquet")],
                check=True,
            )
            nc = args.limit / (time.perf_counter() - started)
            out = subprocess.run(
                [sys.executable, str(ROOT / "benches/st_baseline.py"), "--limit", str(args.limit)],
                check=True, capture_output=True, text=True,
            ).stdout.strip().splitlines()[-1]
            st = json.loads(out)
            tokens = st["tokens"]  # same tokenizer, same truncation: the same token count for both
            print(f"round {r}: newsclust {nc:.1f} docs/s, {nc * tokens / args.limit:.0f} tokens/s (whole job) | "
                  f"sentence-transformers {st['docs_per_s']:.1f} docs/s, {st['tokens_per_s']:.0f} tokens/s "
                  f"(encode; torch {st['torch']}, {st['torch_threads']} threads) | ratio {nc / st['docs_per_s']:.2f}")


if __name__ == "__main__":
    main()
