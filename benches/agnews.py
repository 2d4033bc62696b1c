"""AG News test (`../shared/datasets/ag_news/test.csv`, see its SOURCE.md) as the bench scripts use it.

The rows are `label,title,description`; the text newsclust embeds for them (default `--text-fields
title,text`, `--separator ". "`) is the trimmed, non-empty parts joined by ". ". Every reference
implementation here must embed exactly that text, so it is written once.
"""

import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "../shared/datasets/ag_news/test.csv"


def texts(path=SOURCE, limit=None):
    """The embedded text of each row, the first `limit` rows (all when None)."""
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for i, (_, title, description) in enumerate(csv.reader(f)):
            if limit is not None and i >= limit:
                break
            out.append(". ".join(p.strip() for p in (title, description) if p.strip()))
    return out


def head_csv(dst, limit, path=SOURCE):
    """Writes the first `limit` lines of the CSV to `dst` (AG News has no quoted newlines)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines(keepends=True)[:limit]
    Path(dst).write_text("".join(lines), encoding="utf-8")
