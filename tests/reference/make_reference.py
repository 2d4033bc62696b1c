"""Writes tests/reference/minilm_reference.json: sentence-transformers embeddings of varied texts.

The parity test (tests/parity.rs) embeds the same texts with newsclust and compares by cosine
similarity. Run it with sentence-transformers installed and the default model installed by
models/install-default.sh:

    python3 tests/reference/make_reference.py [MODEL_DIR]

The texts below were written for this project.
"""

import json
import platform
import sys
from pathlib import Path

import sentence_transformers
import tokenizers
import torch
import transformers
from sentence_transformers import SentenceTransformer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MODEL = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "models/sentence-transformers/all-MiniLM-L6-v2"

LONG_PARAGRAPH = (
    "The regional cloud provider said its third data centre campus would open in phases, starting "
    "with two halls of liquid-cooled racks for training clusters, followed by a storage building "
    "and a substation shared with the local grid operator. Engineers expect the first racks to draw "
    "power before the end of the quarter, while procurement teams are still negotiating delivery "
    "windows for accelerator boards, optical transceivers and high-bandwidth memory. "
)

TEXTS = [
    "GPU",
    "Chips.",
    "A startup raised money.",
    "Regulators open an antitrust probe into a search giant's advertising business.",
    "Hyperscaler signs a multi-year deal to rent accelerator capacity from a neocloud.",
    "Ransomware gang leaks data stolen from a hospital network; patients are notified by letter.",
    "New open-weight language model tops coding benchmarks while using half the memory of its predecessor.",
    "The foundry will start volume production on its 2 nm node in Q3 2026, with 30,000 wafers per month.",
    "Smartphone shipments grew 4.7% year over year to 302.1 million units, the analysts said.",
    "Version 3.14.1 fixes CVE-2026-12345, a heap overflow in the TLS handshake parser.",
    "Préstamo de 500 millones de euros para una fábrica de baterías en Castilla y León.",
    "Die Bundesnetzagentur prüft die Übernahme des Glasfaseranbieters durch den Konzern.",
    "東京のスタートアップが生成AIの新しいモデルを発表しました。",
    "Компания представила новый процессор для центров обработки данных.",
    "Emoji test 🚀🔥 launch day for the new headset 🥽",
    "naïve café résumé — smart quotes “like these” and an ellipsis…",
    "   leading and trailing spaces around a short headline   ",
    "UPPER CASE HEADLINE: CHIPMAKER CUTS GUIDANCE AFTER EXPORT RULES TIGHTEN",
    "mixed\ttabs\tand\nnew lines\nin one record",
    "The EU's AI Act obligations for general-purpose models start applying; providers must publish training-data summaries.",
    "Acquisition: the security vendor buys an identity start-up for $1.2bn in cash and stock.",
    "Two chip designers end their alliance, and one moves its custom accelerators to a rival foundry.",
    "Wearable maker recalls 120,000 smartwatches after reports of batteries overheating.",
    "0123456789 3.14159 2,718 1e-9 -42 +7 100%",
    LONG_PARAGRAPH * 2,
    LONG_PARAGRAPH * 6,
    "Breaking. " + "very " * 400 + "long headline about servers",
    "https://example.com/news/2026/05/cloud-outage-postmortem?utm_source=feed#section-2",
    "Q: Will the merger close? A: Regulators in three jurisdictions still need to approve it.",
    "a",
]


def main() -> None:
    model = SentenceTransformer(str(MODEL), device="cpu")
    embeddings = model.encode(TEXTS, batch_size=8, convert_to_numpy=True, normalize_embeddings=False)
    tokenizer = model.tokenizer
    n_tokens = [len(tokenizer(t, truncation=True, max_length=model.max_seq_length)["input_ids"]) for t in TEXTS]
    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "model_dir_sha256_safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "max_seq_length": model.max_seq_length,
        "versions": {
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "items": [
            {"text": t, "n_tokens": n, "embedding": [round(float(x), 7) for x in e]}
            for t, n, e in zip(TEXTS, n_tokens, embeddings)
        ],
    }
    (HERE / "minilm_reference.json").write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {len(TEXTS)} reference embeddings ({embeddings.shape[1]}-d)")


if __name__ == "__main__":
    main()
