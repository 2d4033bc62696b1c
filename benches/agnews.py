"""AG News test (`../shared/datasets/ag_news/test.csv`, see its SOURCE.md) as the bench scripts use it.

The rows are `label,title,description`; the text newsclust embeds for them (default `--text-fields
title,text`, `--separator ". "`) is the trimmed, non-empty parts joined by ". ". Every reference
implementation here must embed exactly that text, so it is written once.
"""

import csv
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "../shared/datasets/ag_news/test.csv"
# 20 Newsgroups test (see its SOURCE.md): long posts, most past the model's 256 tokens.
NEWSGROUPS = ROOT / "../shared/datasets/20newsgroups_bydate_test"


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


def newsgroups(limit):
    """The first `limit` 20 Newsgroups records (shards in name order) as JSONL lines, and the
    text newsclust embeds for each (title + ". " + text, trimmed, empty parts left out)."""
    lines, out = [], []
    for shard in sorted(NEWSGROUPS.glob("*.jsonl")):
        for line in shard.read_text(encoding="utf-8").splitlines():
            if len(lines) == limit:
                return lines, out
            r = json.loads(line)
            lines.append(line)
            out.append(". ".join(p.strip() for p in (r.get("title") or "", r.get("text") or "") if p.strip()))
    return lines, out
