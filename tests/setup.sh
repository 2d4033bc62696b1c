#!/bin/sh
# Installs what the tests need: the default model (models/install-default.sh) and a Python
# virtual environment at target/test-venv with duckdb, pyarrow and pandas (the README's "read the
# results" example and the Parquet readability checks run there) and moto's S3-compatible server
# (tests/object_store.rs starts it on 127.0.0.1) and Pillow (tests/report.rs reads its
# screenshots); Debian's chromium for tests/report.rs's headless browser. Idempotent.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
sh "$root/models/install-default.sh"
venv="$root/target/test-venv"
if ! "$venv/bin/python" -c "import duckdb, pyarrow, pandas, moto, boto3, flask, yaml, PIL" 2>/dev/null; then
  mkdir -p "$root/target"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/tests/python-requirements.txt"
fi
echo "test python ready: $venv/bin/python"
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ||
      echo "could not install chromium: tests/report.rs will say skipped"
  else
    echo "no chromium, and no root apt-get to install it: tests/report.rs will say skipped"
  fi
fi
command -v chromium >/dev/null 2>&1 && echo "test browser ready: $(command -v chromium)"
true
