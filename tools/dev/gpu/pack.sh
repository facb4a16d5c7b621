#!/bin/bash
# Packs what a GPU-machine call needs into .gpucarry-lead/pack.tar.xz (git-ignored through
# .git/info/exclude; name .gpucarry-lead in the device tool's `carry`): qrt, qrt_gpu_bench, the CUDA
# test binaries (TESTS="build-lead/tests/a ..." for a subset), the shared libraries they link that the
# device machine lacks (Debian's protobuf, onnx, oneDNN, libpng, ...; cuDNN, cuBLASLt and the CUDA
# runtime are the machine's), the PP-OCRv4 detector and, where present, .gpucarry-lead/fmnist.npy.
# The device side: `source tools/dev/gpu/env.sh` unpacks it into /tmp/p and sets LD_LIBRARY_PATH.
# BUILD=build-lead by default.
set -euo pipefail
cd "$(dirname "$0")/../../.."
B=${BUILD:-build-lead}
P=/tmp/gpupack; rm -rf $P; mkdir -p $P/bin/tests $P/lib $P/models .gpucarry-lead
cp $B/qrt $B/qrt_gpu_bench $P/bin/
cp ${TESTS:-$B/tests/cuda_*_test} $P/bin/tests/
for b in $P/bin/qrt $P/bin/qrt_gpu_bench $P/bin/tests/*; do ldd $b; done | awk '/=>/{print $3}' | sort -u |
  grep -v -E "/(libc|libm|libstdc\+\+|libgcc_s|ld-linux|libcuda|libcudnn|libcublas|libcublasLt|libcudart|libpthread|libdl|librt|libnvrtc)[.-]" |
  while read -r l; do cp -L "$l" $P/lib/; done
cp third_party/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx $P/models/ppocr_det.onnx
[ -f .gpucarry-lead/fmnist.npy ] && cp .gpucarry-lead/fmnist.npy $P/models/
tar cJf .gpucarry-lead/pack.tar.xz -C $P .
ls -la .gpucarry-lead/pack.tar.xz
# The device tool refuses a call whose working tree (tracked and untracked-not-ignored files) and carry
# come to more than 64 MiB (session 16: all fourteen test binaries, 89 MB packed): say so here.
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
carry=$(du -sb .gpucarry-lead | cut -f1)
total=$(( tree + carry ))
echo "working tree $(( tree >> 20 )) MiB + .gpucarry-lead $(( carry >> 20 )) MiB = $(( total >> 20 )) MiB (limit 64)"
if [ $total -gt $(( 64 << 20 )) ]; then
  echo "pack.sh: over the device tool's 64 MiB: pack fewer test binaries (TESTS=...)" >&2
  exit 1
fi
