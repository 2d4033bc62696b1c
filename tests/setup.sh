#!/bin/sh
# Installs what the tests need: the default model (models/install-default.sh) and a Python
# virtual environment at target/test-venv with duckdb, pyarrow and pandas (the README's "read the
# results" example and the Parquet readability checks run there) and moto's S3-compatible server
# (tests/object_store.rs starts it on 127.0.0.1). Idempotent.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
sh "$root/models/install-default.sh"
venv="$root/target/test-venv"
if ! "$venv/bin/python" -c "import duckdb, pyarrow, pandas, moto, boto3, flask, yaml" 2>/dev/null; then
  mkdir -p "$root/target"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/tests/python-requirements.txt"
fi
echo "test python ready: $venv/bin/python"
