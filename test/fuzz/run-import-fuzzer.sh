#!/usr/bin/env bash
# ctest: a bounded libFuzzer run of the ONNX importer (ASan + UBSan build),
# seeded with the lit tests' models. Any crash or sanitizer report fails.
# A fixed seed keeps CI reproducible; TAILOR_FUZZ_SEED=0 picks a random one.
set -euo pipefail
FUZZER=$1 WORK=$2 PYTHON=$3 SRC=$4
if [ ! -x "$FUZZER" ]; then
  echo "missing $FUZZER: build it with scripts/test (the build-asan/ build)" >&2
  exit 1
fi
rm -rf "$WORK" && mkdir -p "$WORK/corpus" "$WORK/models"
"$PYTHON" "$SRC/test/lit/Import/Inputs/make_models.py" "$WORK/models" >/dev/null
cp "$WORK"/models/*.onnx "$WORK/corpus/"
cd "$WORK"
"$FUZZER" corpus -seed=${TAILOR_FUZZ_SEED:-1} -runs=${TAILOR_FUZZ_RUNS:-20000} -max_total_time=${TAILOR_FUZZ_SECONDS:-60} \
  -max_len=4096 -timeout=20 -rss_limit_mb=4096 2>&1 | tail -n 5
