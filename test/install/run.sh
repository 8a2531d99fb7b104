#!/usr/bin/env bash
# ctest: install Tailor into a temporary prefix, build test/install/ against
# it, run it on a small model and check that the Tailor pass ran.
set -euo pipefail
BUILD=$1 SRC=$2 WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK"
cmake --install "$BUILD" --prefix "$WORK/prefix" >/dev/null
cmake -G Ninja -S "$SRC/test/install" -B "$WORK/build" \
  -DCMAKE_CXX_COMPILER=clang++-22 -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld \
  -DTailor_DIR="$WORK/prefix/lib/cmake/tailor" >"$WORK/configure.log" 2>&1 \
  || { cat "$WORK/configure.log"; exit 1; }
ninja -C "$WORK/build" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
cat >"$WORK/in.mlir" <<'MLIR'
func.func @f(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %w = "tailor.onnx.Constant"() {value = dense<1.0> : tensor<4x3xf32>} : () -> tensor<4x3xf32>
  %0 = "tailor.onnx.MatMul"(%x, %w) : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}
MLIR
"$WORK/build/embedder" "$WORK/in.mlir" | tee "$WORK/out.mlir"
grep -q "tailor.linear" "$WORK/out.mlir"
echo "embedder: tailor-raise ran through the installed package"
