#!/usr/bin/env bash
# Installs the independent NAM loader (PyPI `neural-amp-modeler`) into ./venv-nam, beside .venv,
# where tests/formats/test_nam_package.py finds it. Its own environment: it pulls ~1.8 GB
# (pytorch-lightning, transformers, librosa...). nam 0.12.3 reads the legacy 0.5 .nam files
# leanamp writes for the widely installed plugin; nam 0.13 (beside it, --no-deps) reads 0.7.
set -euo pipefail
cd "$(dirname "$0")/.."
env_dir="${1:-venv-nam}"
if "$env_dir/bin/python" -c "import nam" 2>/dev/null && [ -d "$env_dir/nam-0.13/nam" ]; then
  echo "nam environment ready in $env_dir"
  exit 0
fi
python3 -m venv "$env_dir"
# Pin the CPU torch first so nam's unpinned torch requirement is already satisfied.
"$env_dir/bin/pip" install -q torch==2.13.0
"$env_dir/bin/pip" install -q neural-amp-modeler==0.12.3
"$env_dir/bin/pip" install -q --no-deps --target "$env_dir/nam-0.13" neural-amp-modeler==0.13.0
echo "nam environment ready in $env_dir"
