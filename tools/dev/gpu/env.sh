# Sourced on the GPU machine from the repository root (after pack.sh's pack travelled in
# .gpucarry-lead): unpacks it into $P=/tmp/p once, puts the packed libraries and the machine's cuDNN
# and cuBLASLt on LD_LIBRARY_PATH, makes $OUT, and defines stamp (seconds since sourcing) and
# runtests "bin:GTestFilter ..." [timeout] (one process a test, as a CUDA fault is sticky for its
# process; results in $OUT/tests.log, one "rc=<code> <bin> <test>" line each).
P=/tmp/p
if [ ! -x $P/bin/qrt ]; then mkdir -p $P && tar xJf .gpucarry-lead/pack.tar.xz -C $P; fi
LIBDIRS=$P/lib
for f in $(find /opt /usr/local/cuda*/ /usr/lib /usr/local/lib -name 'libcudnn.so.9' -o -name 'libcublasLt.so.13' 2>/dev/null); do
  LIBDIRS=$LIBDIRS:$(dirname "$f")
done
export ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
export LD_LIBRARY_PATH=$LIBDIRS:${LD_LIBRARY_PATH:-}
export QRT_FMNIST_NPY=$P/models/fmnist.npy
export QRT_PPOCR_DET=$P/models/ppocr_det.onnx  # run_gpu_bench.sh's default detector (third_party/ is not carried)
mkdir -p $OUT
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
runtests() {
  local to=${2:-300}
  for spec in $1; do
    local bin=${spec%%:*} filt=${spec#*:}
    for t in $($P/bin/tests/$bin --gtest_list_tests --gtest_filter="$filt" | awk '/^[^ ]/{s=$1} /^  /{print s $1}'); do
      QRT_RESNET_DIR=${QRT_RESNET_DIR:-} timeout $to $P/bin/tests/$bin --gtest_filter="$t" >> $OUT/tests.log 2>&1
      echo "rc=$? $bin $t" | tee -a $OUT/tests.log
    done
  done
}
