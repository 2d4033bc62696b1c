"""sentence-transformers on the same texts as `newsclust embed`, for a side-by-side speed ratio.

    python3 benches/st_baseline.py --limit 2000 [--set ag|20ng] [--device cpu] [--batch-size 64]

Reads the first N articles of AG News test (`../shared/datasets/ag_news/test.csv`; or of 20
Newsgroups test with `--set 20ng`), builds the same text newsclust embeds (title + ". " +
description), and times `SentenceTransformer.encode`
(tokenizing included, batch 64, max length 256) after one warm-up batch. Prints one JSON line.
"""

import argparse
import json
import time

from agnews import ROOT, newsgroups, texts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--set", choices=["ag", "20ng"], default="ag")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--model", default=str(ROOT / "models/sentence-transformers/all-MiniLM-L6-v2"))
    args = ap.parse_args()
    import torch
    from sentence_transformers import SentenceTransformer

    docs = texts(limit=args.limit) if args.set == "ag" else newsgroups(args.limit)[1]
    model = SentenceTransformer(args.model, device=args.device)
    model.max_seq_length = 256
    model.encode(docs[: args.batch_size], batch_size=args.batch_size)
    started = time.perf_counter()
    model.encode(docs, batch_size=args.batch_size)
    seconds = time.perf_counter() - started
    n_tokens = sum(len(ids) for ids in model.tokenizer(docs, truncation=True, max_length=256)["input_ids"])
    print(json.dumps({
        "impl": "sentence-transformers", "batch_size": args.batch_size, "docs": len(docs), "tokens": n_tokens, "seconds": round(seconds, 3),
        "docs_per_s": round(len(docs) / seconds, 1), "tokens_per_s": round(n_tokens / seconds, 1),
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
