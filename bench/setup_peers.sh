#!/usr/bin/env bash
# Creates bench/.venv with the peers the benchmarks compare against, from PyPI.
# Safe to run again: an existing venv is kept and only missing packages are installed.
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$bench_dir/.venv"
packages=(torch jax numpy onnxruntime)  # each imports under its own name

if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating $venv"
    "${PYTHON:-python3}" -m venv "$venv"
fi

missing=()
for package in "${packages[@]}"; do
    "$venv/bin/python" -c "import $package" 2>/dev/null || missing+=("$package")
done

if (( ${#missing[@]} )); then
    echo "installing ${missing[*]}"
    "$venv/bin/python" -m pip install "${missing[@]}"
else
    echo "peers already installed in $venv"
fi
"$venv/bin/python" -c "import torch, jax, numpy, onnxruntime as ort
print('torch', torch.__version__, '| jax', jax.__version__,
      '| numpy', numpy.__version__, '| onnxruntime', ort.__version__)"
