#!/usr/bin/env bash
# Time `make demo` from an empty work folder (the embedded model's converted checkpoint stays
# cached in ~/.cache/tenet; add 1-2 minutes for its first conversion on a fresh machine).
# Run: bash bench/demo_timing.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf work/demo
echo "$(date -u +%F) $(hostname) $(nproc) cores: make demo"
start=$(date +%s)
make demo | tee /tmp/tenet-demo.log
end=$(date +%s)
echo "make demo: $((end - start)) s"
