#!/bin/bash
# The dev models of the CUDA kernels (tools/dev: the int8 implicit GEMM's emulator, the stem kernels'
# tap pairs and pooled ring, the ping-pong, streaming and resident-weight tiles' mbarrier protocols) run clean, and each of their
# mutations (a deliberate bug in the modelled index math or protocol) is caught: a model that cannot
# fail checks nothing. Pure Python (/usr/bin/python3, no GPU).
# usage: dev_models_test.sh SOURCE_DIR
set -u
SRC=$1
PY=/usr/bin/python3
fail=0
expect() {  # expect ok|fail tool args...
  local want=$1; shift
  if $PY "$SRC/tools/dev/$@" > /tmp/dev_models_$$.log 2>&1; then got=ok; else got=fail; fi
  if [ "$got" != "$want" ]; then
    echo "FAILED: $* (expected $want, got $got):"; tail -5 /tmp/dev_models_$$.log; fail=1
  else
    echo "ok: $* ($want)"
  fi
}
expect ok pingpong_protocol.py --trials 1500
for m in order parity release zparity; do expect fail pingpong_protocol.py --trials 1500 --mutate $m; done
expect ok stream_protocol.py --trials 1500
for m in ahead parity zearly nobarrier; do expect fail stream_protocol.py --trials 1500 --mutate $m; done
expect ok resident_protocol.py --trials 1500
for m in noread nobarrier parity ahead; do expect fail resident_protocol.py --trials 1500 --mutate $m; done
expect ok stem_pairs_emulator.py
for m in pitch odd; do expect fail stem_pairs_emulator.py --mutate $m; done
expect ok stem_pool_emulator.py
for m in halo swizzle; do expect fail stem_pool_emulator.py --mutate $m; done
expect ok igemm_emulator.py
expect ok igemm_emulator.py --tiles 16,17,28,29,30,31,32,33
for m in stage ahead; do expect fail igemm_emulator.py --tiles 0,14,30 --mutate $m; done
rm -f /tmp/dev_models_$$.log
exit $fail
