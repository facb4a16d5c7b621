#!/usr/bin/env python3
"""Warp-level emulator of qrt's INT8 implicit-GEMM convolution kernel (src/backends/cuda/qconv_igemm.cu).

Emulates, per CTA and per thread / lane, what igemmKernel<BM,BN,WM,WN,kStages,MINB> does:
  * pixelRow's address path, with its `unit` fast path (1x1, stride 1, no padding, oh == h, ow == w: pixel m is
    row m of x) taken exactly where the kernel takes it;
  * cp.async.cg 16-byte copies (src-size 0: zero fill) into a per-CTA shared-memory byte array at the swizzled
    addresses the kernel computes, with commit_group / wait_group bookkeeping (a copy lands at the wait that
    retires its group, the latest moment the PTX model allows);
  * ldmatrix.sync.aligned.m8n8.x4.shared.b16 (lanes 8j..8j+7 give the row addresses of matrix j; lane l gets in
    register j the 4 bytes at row l/4, bytes 4*(l%4).. of matrix j: PTX ISA "Warp-level matrix load instruction:
    ldmatrix");
  * mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 with the PTX ISA fragment layouts ("Matrix Fragments for
    mma.m16n8k32", .s8: A a0..a15 row g (+8 for i in 4..7, 12..15), col 4t + (i&3) (+16 for i >= 8); B b0..b7 row
    4t + (i&3) (+16 for i >= 4), col g; C/D c0..c3 row g (+8 for i >= 2), col 2t + (i&1); g = lane>>2, t = lane&3);
  * the int32 staging tile in shared memory, the residual z read from shared memory, and epilogueRows<kInt8, kZ>
    (its row bound min(BM, m_total - m0) and pointer steps): the int8 word of foldedWord<kZ> (fmaf approximated in
    float64 then rounded to float32; z bytes sign-extended by PTX prmt; one clamp to [qlo, qhi]; rounding by the
    float32 add of 1.5 * 2^23; three prmt byte permutes pack the word) and the float4 stores of storeFourFloat;
  * the CTA grid and tile order of launchTile;
  * igemmPersistentKernel (tiles 7-9, Persistent<...>::launch) for a chosen grid (--grid): the shared-memory layout
    (pipeline stages sa/sb, the int32 staged tile sc at kPipeBytes, then a ring of kStages BM x BN residual tiles),
    the early return of a CTA past the last tile, the loadNext lambda (TileLoader begin / load with SliceAt::next
    across tile boundaries, ld_tile / ld_count / ld.slice and their initial values, the residual tile queued with a
    tile's first slice into ring entry ld_count % kStages), the prologue of kStages - 1 commits, the depth loop over
    all of the CTA's slices (wait_group kStages - 2, barrier, load, commit, MMA), each tile's epilogue in the loop
    (stageAcc into sc, zeroAcc, barrier, epilogue of sc and ring entry count % kStages) and the final wait_group 0.
  Not modelled: the fp16 output (IgemmEpilogue::y_half: the float path's values rounded to fp16, 8-byte stores).
  * the downsample computed in the kernel (IgemmEpilogue::ds_x, tiles 0-6 and 10-20): the downsample's product through the
    same pipeline (its own loader geometry and weights), its staging, residualTileFromAcc's int8 words into the
    residual tile, the barrier, then the layer's own product; z must equal the separate downsample kernel's bytes;
  * wgmmaKernel (tiles 10-20 and 28-33, sm90a/qconv_wgmma.cu): its 1024-byte alignment of shared memory, the descriptors it
    builds (smemDesc), decoded by the PTX ISA's descriptor and 64-byte-swizzle rules into the 16-byte chunks the
    hardware reads (as the warpgroup's reads, for the race detector), the m64nNk32 .s32 accumulator fragment, and
    stageWgmmaAcc into the int32 tile; the epilogue is the tiled kernel's. Each wgmma is asynchronous: issued (its
    operand bytes marked), computed when a wgmma.wait_group retires its commit group (reading shared memory then),
    so the pipelined tiles (14, 15: wait_group 1, loads kStages - 2 slices ahead) are checked for a stage reloaded
    under a running wgmma.
  At startup a self-check tests the prmt model (sign-extending selectors, every byte value and position) and the
  magic-add rounding (low byte == round half to even, over a dense float32 grid of [-128, 127] with the .5 ties).

Besides the data, a race detector follows every shared-memory byte: which thread wrote it in which barrier interval
(and after which __syncwarp), whether a cp.async to it is still in flight, and which warps read it in the current
barrier interval. It reports reads of bytes with a copy in flight (a missing wait), reads of another warp's data
without a barrier between (RAW), writes or copies over bytes another warp read in the same interval or a wgmma in
flight reads (WAR), unordered
double writes (WAW), reads of never-written bytes, and out-of-bounds / misaligned shared or global accesses.

Run:  /usr/bin/python3 tools/dev/igemm_emulator.py            (all cases, tiles 0, 6, the persistent 7, 8, 9 at
                                                                grids 1, 3 and tiles + 1, the wgmma 10, 13, 14)
      /usr/bin/python3 tools/dev/igemm_emulator.py --all-tiles (every modelled instantiation, 0-20 and 28-33)
      /usr/bin/python3 tools/dev/igemm_emulator.py --grid 2,5  (the persistent tiles' grid sizes; 0: tiles + 1)
      /usr/bin/python3 tools/dev/igemm_emulator.py --mutate bswap|stage|nowait|nosync|ring|episync|nozero|align|kstep|dssync|ahead
      (self-test: injected bugs that the emulator must catch: B fragments swapped, a load into the stage being
      read, the depth loop waiting for one group less, the depth loop without its __syncthreads; persistent only:
      a residual ring of kStages - 1 entries, no barrier between stageAcc and a tile's epilogue, the accumulators
      not zeroed between tiles; wgmma only: shared memory not aligned to 1024, the second k-step 16 bytes in;
      pipelined wgmma only: the loads kStages - 1 slices ahead; downsample only: no barrier between its z tile and
      the layer's first loads)
"""
import argparse
import sys
import time
from collections import OrderedDict

import numpy as np

KBK = 64  # kIgemmDepth
KPAD = 128  # kIgemmKPad

# ----------------------------------------------------------------------------------------------------------------
# PTX fragment layouts (PTX ISA "Matrix Fragments for mma.m16n8k32", integer .s8)
_lane = np.arange(32)
_g = _lane >> 2
_t = _lane & 3


def _a_map():
    i = (4 * np.arange(4)[:, None] + np.arange(4)[None, :])  # [reg, byte] -> element index a_i
    row = _g[:, None, None] + 8 * ((((i >= 4) & (i < 8)) | (i >= 12)).astype(int))[None]
    col = 4 * _t[:, None, None] + (i & 3)[None] + 16 * (i >= 8).astype(int)[None]
    return row, col  # [lane, reg, byte]


def _b_map():
    i = (4 * np.arange(2)[:, None] + np.arange(4)[None, :])
    row = 4 * _t[:, None, None] + (i & 3)[None] + 16 * (i >= 4).astype(int)[None]  # k
    col = np.broadcast_to(_g[:, None, None], row.shape)  # n
    return row, col


def _c_map():
    i = np.arange(4)
    row = _g[:, None] + 8 * (i >= 2).astype(int)[None]
    col = 2 * _t[:, None] + (i & 1)[None]
    return row, col


A_ROW, A_COL = _a_map()
B_ROW, B_COL = _b_map()
C_ROW, C_COL = _c_map()
for r_, c_, shape in ((A_ROW, A_COL, (16, 32)), (B_ROW, B_COL, (32, 8)), (C_ROW, C_COL, (16, 8))):
    cover = np.zeros(shape, int)
    np.add.at(cover, (r_, c_), 1)
    assert (cover == 1).all(), "fragment layout does not cover the matrix once"


def mma_m16n8k32(acc, af, bf):
    """acc (MT,NT,32,4) int32 C fragments; af (MT,32,4) uint32 A registers; bf (NT,32,2) uint32 B registers."""
    mt_, nt_ = acc.shape[0], acc.shape[1]
    ab = np.ascontiguousarray(af.astype('<u4')).view(np.uint8).reshape(mt_, 32, 4, 4).view(np.int8)
    bb = np.ascontiguousarray(bf.astype('<u4')).view(np.uint8).reshape(nt_, 32, 2, 4).view(np.int8)
    a = np.zeros((mt_, 16, 32), np.int64)
    a[:, A_ROW, A_COL] = ab
    b = np.zeros((nt_, 32, 8), np.int64)
    b[:, B_ROW, B_COL] = bb
    c = np.zeros((mt_, nt_, 16, 8), np.int64)
    c[:, :, C_ROW, C_COL] = acc
    d = np.einsum('mik,nkj->mnij', a, b) + c
    d = ((d + 2 ** 31) % 2 ** 32 - 2 ** 31).astype(np.int32)  # s32 wraps (no .satfinite)
    return d[:, :, C_ROW, C_COL]


def swizzle(row, chunk):
    return row * KBK + ((chunk ^ ((row >> 1) & 3)) << 4)


# ----------------------------------------------------------------------------------------------------------------
class Hazards:
    def __init__(self):
        self.items = OrderedDict()

    def add(self, kind, count, ctx):
        if count <= 0:
            return
        if kind not in self.items:
            self.items[kind] = [0, ctx]
        self.items[kind][0] += int(count)

    def __bool__(self):
        return bool(self.items)

    def report(self, indent="    "):
        return "\n".join(f"{indent}{k}: {v[0]} byte(s), first at {v[1]}" for k, v in self.items.items())


class Smem:
    """One CTA's dynamic shared memory with a race detector; accesses are vectorized over threads."""

    def __init__(self, size, nthreads, haz, ctx, rng):
        self.size, self.haz, self.ctx = size, haz, ctx
        self.mem = rng.integers(0, 256, size, dtype=np.uint8)  # garbage, as real shared memory
        self.written = np.zeros(size, bool)
        self.pending = np.zeros(size, bool)
        self.w_phase = np.full(size, -1, np.int64)
        self.w_thread = np.full(size, -1, np.int64)
        self.w_wsub = np.zeros(size, np.int64)
        self.r_phase = np.full(size, -1, np.int64)
        self.r_mask = np.zeros(size, np.int64)
        self.phase = 0
        self.wsub = np.zeros((nthreads + 31) // 32, np.int64)
        self.committed = np.zeros(nthreads, np.int64)
        self.inflight = []  # (tids, group, dst, data)
        self.nthreads = nthreads
        self.async_read = np.zeros(size, np.int64)  # in-flight wgmma operand reads covering each byte

    def _where(self, what):
        return f"{self.ctx} phase {self.phase} ({what})"

    def _span(self, addr, k, what):
        addr = np.asarray(addr, np.int64)
        bad = (addr < 0) | (addr + k > self.size)
        if bad.any():
            self.haz.add(f"shared {what} out of bounds [size {self.size}]", bad.sum() * k, self._where(what))
            addr = np.where(bad, 0, addr)
        mis = addr % k != 0 if k in (4, 8, 16) else np.zeros(addr.shape, bool)
        if mis.any():
            self.haz.add(f"shared {what} misaligned", mis.sum() * k, self._where(what))
        return addr[:, None] + np.arange(k)

    def _check_write(self, tids, idx, what):
        warp = (tids >> 5)[:, None]
        bit = np.left_shift(1, warp)
        war = (self.r_phase[idx] == self.phase) & ((self.r_mask[idx] & ~bit) != 0)
        self.haz.add(f"WAR: {what} over bytes another warp read in the same barrier interval", war.sum(),
                     self._where(what))
        pend = self.pending[idx]
        self.haz.add(f"WAW: {what} to bytes with a cp.async still in flight", pend.sum(), self._where(what))
        self.haz.add(f"WAR: {what} over bytes an in-flight wgmma reads (reloaded before its wait_group)",
                     (self.async_read[idx] > 0).sum(), self._where(what))
        waw = self.written[idx] & (self.w_phase[idx] == self.phase) & ((self.w_thread[idx] >> 5) != warp)
        self.haz.add(f"WAW: {what} to bytes another warp wrote in the same barrier interval", waw.sum(),
                     self._where(what))
        flat = idx.ravel()
        if np.unique(flat).size != flat.size:
            self.haz.add(f"WAW: one {what} writes a byte from two threads", flat.size - np.unique(flat).size,
                         self._where(what))

    def cp_async(self, tids, dst, src, src_off, valid, what="cp.async"):
        tids = np.asarray(tids, np.int64)
        n = tids.size
        dst = np.broadcast_to(np.asarray(dst, np.int64), (n,))
        src_off = np.broadcast_to(np.asarray(src_off, np.int64), (n,))
        valid = np.broadcast_to(np.asarray(valid, bool), (n,))
        if n == 0:
            return
        idx = self._span(dst, 16, what)
        data = np.zeros((n, 16), np.uint8)
        if valid.any():
            so = src_off[valid]
            bad = (so < 0) | (so + 16 > src.size) | (so % 16 != 0)
            if bad.any():
                self.haz.add(f"global read out of bounds or misaligned ({what})", bad.sum() * 16, self._where(what))
                so = np.where(bad, 0, so)
            data[valid] = src[so[:, None] + np.arange(16)]
        self._check_write(tids, idx, what)
        self.pending[idx] = True
        self.inflight.append((tids, self.committed[tids].copy(), idx, data))

    def commit(self, tids):
        self.committed[tids] += 1

    def wait(self, tids, n_pending):
        """cp.async.wait_group n_pending by threads `tids`: their committed groups but the newest n land."""
        sel = np.zeros(self.nthreads, bool)
        sel[tids] = True
        keep = []
        for (t, grp, idx, data) in self.inflight:
            done = sel[t] & (grp < self.committed[t] - n_pending)
            if done.any():
                di = idx[done]
                self.mem[di] = data[done]
                self.pending[di] = False
                self.written[di] = True
                self.w_phase[di] = self.phase
                tt = np.broadcast_to(t[done][:, None], di.shape)
                self.w_thread[di] = tt
                self.w_wsub[di] = self.wsub[tt >> 5]
            if (~done).any():
                keep.append((t[~done], grp[~done], idx[~done], data[~done]))
        self.inflight = keep

    def barrier(self):
        self.phase += 1

    def syncwarp(self, warp):
        self.wsub[warp] += 1

    def read(self, tids, addr, k, what):
        tids = np.asarray(tids, np.int64)
        if tids.size == 0:
            return np.zeros((0, k), np.uint8)
        idx = self._span(addr, k, what)
        t = tids[:, None]
        warp = t >> 5
        self.haz.add(f"read of never-written shared bytes ({what})", (~self.written[idx]).sum(), self._where(what))
        self.haz.add(f"read with a cp.async in flight to the bytes: missing wait ({what})", self.pending[idx].sum(),
                     self._where(what))
        wt = self.w_thread[idx]
        vis = (wt == t) | (self.w_phase[idx] < self.phase) | (((wt >> 5) == warp) & (self.w_wsub[idx] < self.wsub[warp]))
        self.haz.add(f"RAW: read of bytes another thread wrote without a barrier between ({what})",
                     (self.written[idx] & ~vis).sum(), self._where(what))
        bit = np.broadcast_to(np.left_shift(1, warp), idx.shape)
        stale = self.r_phase[idx] != self.phase
        si = idx[stale]
        self.r_mask[si] = 0
        self.r_phase[si] = self.phase
        np.bitwise_or.at(self.r_mask, idx.ravel(), bit.ravel())
        return self.mem[idx]

    def write(self, tids, addr, data, what):
        tids = np.asarray(tids, np.int64)
        if tids.size == 0:
            return
        k = data.shape[1]
        idx = self._span(addr, k, what)
        self._check_write(tids, idx, what)
        self.mem[idx] = data
        self.written[idx] = True
        self.w_phase[idx] = self.phase
        tt = np.broadcast_to(tids[:, None], idx.shape)
        self.w_thread[idx] = tt
        self.w_wsub[idx] = self.wsub[tt >> 5]

    def finish(self):
        left = sum(int(r[2].size) for r in self.inflight)
        self.haz.add("cp.async still in flight at kernel exit", left, self._where("exit"))


def ldmatrix_x4(sm, tids, addr):
    """ldmatrix.sync.aligned.m8n8.x4.shared.b16 for one warp: addr[l] is the row address lanes give."""
    rows = sm.read(tids, addr, 16, "ldmatrix").reshape(4, 8, 16)  # [matrix j, row, byte]
    j = np.arange(4)[None, :, None]
    r = _g[:, None, None]
    b = (4 * _t)[:, None, None] + np.arange(4)[None, None, :]
    return np.ascontiguousarray(rows[j, r, b]).view('<u4').reshape(32, 4)  # [lane, reg]


# ----------------------------------------------------------------------------------------------------------------
class Geom:
    def __init__(self, n, c, h, w, m, kh, kw, sh=1, sw=1, ph=0, pw=0, dh=1, dw=1):
        self.n, self.c, self.h, self.w, self.m = n, c, h, w, m
        self.kh, self.kw, self.sh, self.sw, self.ph, self.pw, self.dh, self.dw = kh, kw, sh, sw, ph, pw, dh, dw
        self.oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        self.ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1

    def fits(self):  # igemmFits
        return self.c % 16 == 0 and self.m % 16 == 0 and self.c > 0 and self.m > 0


class Epi:  # IgemmEpilogue (qlo, qhi: the int8 path's clamp; the float path uses act, lo, hi)
    def __init__(self, mult, bias, z, z_scale, act, lo, hi, y_int8, qlo=-128.0, qhi=127.0):
        self.mult, self.bias, self.z, self.z_scale = mult, bias, z, np.float32(z_scale)
        self.act, self.lo, self.hi, self.y_int8 = act, np.float32(lo), np.float32(hi), y_int8
        self.qlo, self.qhi = np.float32(qlo), np.float32(qhi)
        self.ds = None  # the downsample computed in the kernel: dict(g, xb, wb, mult, bias) (IgemmEpilogue::ds_x)


def igemm_weights(wt, k, c, r, s):  # igemmWeights
    cp = (c + KBK - 1) // KBK * KBK
    kp = (k + KPAD - 1) // KPAD * KPAD
    taps = r * s
    out = np.zeros((kp, taps, cp), np.int8)
    out[:k, :, :c] = wt.reshape(k, c, taps).transpose(0, 2, 1)
    return out.reshape(-1)


def is_unit(g):  # igemmKernel's `unit`: a 1x1 layer of stride 1 without padding, pixel m is row m of x
    return (g.kh == 1 and g.kw == 1 and g.sh == 1 and g.sw == 1 and g.ph == 0 and g.pw == 0 and g.oh == g.h and
            g.ow == g.w)


def pixel_row(m, m_total, g, chunk, unit):
    ok = m < m_total
    mm = np.where(ok, m, 0)
    if unit:
        z = np.zeros_like(mm)
        return dict(ih0=z, iw0=z, off=mm * g.c + chunk * 16, ok=ok)
    ox = mm % g.ow
    t = mm // g.ow
    oy = t % g.oh
    nb = t // g.oh
    return dict(ih0=oy * g.sh - g.ph, iw0=ox * g.sw - g.pw, off=nb * g.h * g.w * g.c + chunk * 16, ok=ok)


def load_pixel_chunk(sm, tids, buf, row, chunk, p, sl, g, xb):
    fr, fs, c0 = sl
    ih = p['ih0'] + fr * g.dh
    iw = p['iw0'] + fs * g.dw
    ok = p['ok'] & (ih >= 0) & (ih < g.h) & (iw >= 0) & (iw < g.w) & (c0 + chunk * 16 < g.c)
    src = np.where(ok, p['off'] + (ih * g.w + iw) * g.c + c0, 0)
    sm.cp_async(tids, buf + swizzle(row, chunk), xb, src, ok, "cp.async x")


def mma_slice(sm, acc, a_s, b_s, a_row0, b_row0, warp, mutate):
    mt_n, nt_n = acc.shape[0], acc.shape[1]
    tids = warp * 32 + _lane
    for ks in range(2):
        af = np.zeros((mt_n, 32, 4), np.uint32)
        for mt in range(mt_n):
            row = a_row0 + mt * 16 + (_lane & 15)
            af[mt] = ldmatrix_x4(sm, tids, a_s + swizzle(row, ks * 2 + (_lane >> 4)))
        bf = np.zeros((nt_n, 32, 2), np.uint32)
        for np_ in range(nt_n // 2):
            row = b_row0 + np_ * 16 + (_lane & 7) + ((_lane >> 4) << 3)
            r = ldmatrix_x4(sm, tids, b_s + swizzle(row, ks * 2 + ((_lane >> 3) & 1)))
            if mutate == "bswap":
                r = r[:, [0, 2, 1, 3]]
            bf[2 * np_, :, 0] = r[:, 0]
            bf[2 * np_, :, 1] = r[:, 1]
            bf[2 * np_ + 1, :, 0] = r[:, 2]
            bf[2 * np_ + 1, :, 1] = r[:, 3]
        acc[:] = mma_m16n8k32(acc, af, bf)


def stage_acc(sm, sc, ldc, row0, col0, acc, warp):
    tids = warp * 32 + _lane
    for mt in range(acc.shape[0]):
        for nt in range(acc.shape[1]):
            row = row0 + mt * 16 + (_lane >> 2)
            col = col0 + nt * 8 + (_lane & 3) * 2
            lo = np.ascontiguousarray(acc[mt, nt][:, 0:2]).view(np.uint8).reshape(32, 8)
            hi = np.ascontiguousarray(acc[mt, nt][:, 2:4]).view(np.uint8).reshape(32, 8)
            sm.write(tids, sc + (row * ldc + col) * 4, lo, "stageAcc")
            sm.write(tids, sc + ((row + 8) * ldc + col) * 4, hi, "stageAcc")


def f32(v):
    return np.asarray(v, np.float64).astype(np.float32)


def prmt(a, b, sel):
    """PTX prmt.b32 d, a, b, c (default mode), elementwise: the bytes of {b, a} are numbered 0-3 (a) and 4-7 (b);
    result byte i takes nibble i of c: its low 3 bits select a byte, and where its msb (bit 3) is set the result
    byte is the selected byte's sign replicated (0x00 or 0xFF), else the byte itself."""
    a, b, sel = np.broadcast_arrays(np.asarray(a, np.uint32), np.asarray(b, np.uint32), np.asarray(sel, np.uint32))
    src = (b.astype(np.uint64) << np.uint64(32)) | a.astype(np.uint64)
    d = np.zeros(a.shape, np.uint32)
    for i in range(4):
        nib = (sel >> np.uint32(4 * i)) & np.uint32(0xF)
        byte = ((src >> ((nib & np.uint32(7)).astype(np.uint64) * np.uint64(8))) & np.uint64(0xFF)).astype(np.uint32)
        sign = np.where(byte & np.uint32(0x80), np.uint32(0xFF), np.uint32(0)).astype(np.uint32)
        byte = np.where(nib & np.uint32(8), sign, byte).astype(np.uint32)
        d |= byte << np.uint32(8 * i)
    return d


def signed_byte(w, j):  # signedByte<J>: byte j of w, sign-extended by prmt.b32 r, w, 0, sel
    sel = j | (8 | j) << 4 | (8 | j) << 8 | (8 | j) << 12
    return prmt(w, 0, sel).view(np.int32)


MAGIC = np.float32(12582912.0)  # 1.5 * 2^23


def folded_word(a, mv, bv, zw, e, kz):
    """foldedWord<kZ> for n threads: a (n,4) int32, mv/bv (n,4) float32, zw (n,) uint32 -> (n,) uint32."""
    b = []
    for j in range(4):
        acc = a[:, j].astype(np.float32)  # static_cast<float> (I2FP)
        v = f32(acc.astype(np.float64) * mv[:, j].astype(np.float64) + bv[:, j].astype(np.float64))  # fmaf
        if kz:
            zi = signed_byte(zw, j).astype(np.float32)
            v = f32(zi.astype(np.float64) * np.float64(e.z_scale) + v.astype(np.float64))  # fmaf
        v = np.minimum(np.maximum(v, e.qlo), e.qhi)  # fminf(fmaxf(v, qlo), qhi)
        b.append((v.astype(np.float32) + MAGIC).astype(np.float32).view(np.uint32))  # __fadd_rn, __float_as_uint
    return prmt(prmt(b[0], b[1], 0x0040), prmt(b[2], b[3], 0x0040), 0x5410)


def self_check():
    """The prmt model and the magic-add rounding; raises if either is wrong."""
    w = np.arange(256, dtype=np.uint32)
    for j in range(4):
        got = signed_byte(w << np.uint32(8 * j) | np.uint32(0x5A5A5A5A & ~(0xFF << (8 * j))), j)
        if not (got == w.astype(np.uint8).view(np.int8).astype(np.int32)).all():
            raise SystemExit(f"self-check FAILED: prmt sign-extension of byte {j}")
    x, y = np.uint32(0x33221100), np.uint32(0x77665544)
    for sel, want in ((0x3210, 0x33221100), (0x7654, 0x77665544), (0x0040, 0x00004400), (0x5410, 0x55441100),
                      (0x8888, 0x00000000)):
        if int(prmt(x, y, sel)) != want:
            raise SystemExit(f"self-check FAILED: prmt selector {sel:#06x}")
    if int(prmt(np.uint32(0x80), 0, 0x8880)) != 0xFFFFFF80 or int(prmt(0, np.uint32(0x7F00), 0x00D0)) != 0:
        raise SystemExit("self-check FAILED: prmt sign replication of the b operand or of byte 0")
    grid = np.concatenate([np.linspace(-128, 127, 1 << 20, dtype=np.float32), np.arange(-128, 127.5, 0.5, dtype=np.float32),
                           np.arange(-128, 128, dtype=np.float32) + np.float32(0.25)])
    grid = np.concatenate([grid, np.nextafter(grid, np.float32(0)), np.nextafter(grid, np.float32(1e9)),
                           np.nextafter(grid, np.float32(-1e9))])
    grid = np.clip(grid, np.float32(-128), np.float32(127)).astype(np.float32)
    low = ((grid + MAGIC).astype(np.float32).view(np.uint32) & np.uint32(0xFF)).astype(np.uint8).view(np.int8)
    want = np.rint(grid.astype(np.float64)).astype(np.int64).astype(np.int8)
    if not (low == want).all():
        bad = grid[low != want][:4]
        raise SystemExit(f"self-check FAILED: magic-add rounding, e.g. at {bad}")
    # the packing: four values to one word, bytes in order
    v = np.array([[-128.0, -0.5, 2.5, 127.0]], np.float32)
    e = Epi(None, None, None, 0.0, "none", 0, 0, True)
    word = folded_word(np.zeros((1, 4), np.int32), np.zeros((1, 4), np.float32), v, np.zeros(1, np.uint32), e, False)
    if list(word.view(np.uint8).view(np.int8)) != [-128, 0, 2, 127]:
        raise SystemExit(f"self-check FAILED: foldedWord packing gives {list(word.view(np.uint8).view(np.int8))}")


def exact_value(acc, mult, bias, zq, e):
    v = acc.astype(np.float32) * mult + bias  # __fmul_rn, __fadd_rn in float32
    if e.z is not None:
        v = v + e.z_scale * zq.astype(np.float32)
    if e.act == "relu":
        v = np.where(v < 0, np.float32(0), v)
    elif e.act == "clip":
        v = np.where(v < e.lo, e.lo, np.where(v > e.hi, e.hi, v))
    return v.astype(np.float32)


class Out:
    def __init__(self, g, y_int8):
        size = g.n * g.oh * g.ow * g.m
        self.y_int8 = y_int8
        self.bytes = np.zeros(size * (1 if y_int8 else 4), np.uint8)
        self.writes = np.zeros(size, np.int64)


def _store_check(out, haz, ctx, o):
    """y element offsets o (n,) of 4-element stores: a mask of the good ones; counts the writes."""
    nel = out.writes.size
    bad = (o < 0) | (o + 4 > nel) | (o % 4 != 0)
    if bad.any():
        haz.add("global y store out of bounds or misaligned", bad.sum(), ctx)
    np.add.at(out.writes, (o[~bad][:, None] + np.arange(4)).ravel(), 1)
    return ~bad


def store_word(out, haz, ctx, o, word):
    """*reinterpret_cast<unsigned*>(int8 y + o) = word for each thread."""
    if o.size == 0:
        return
    good = _store_check(out, haz, ctx, o)
    out.bytes[o[good][:, None] + np.arange(4)] = np.ascontiguousarray(word[good].astype('<u4')).view(
        np.uint8).reshape(-1, 4)


def store_four_float(out, haz, ctx, o, a, mv, bv, zw, e):
    """storeFourFloat (fp32 y) for a set of threads: o (n,) element offsets, a (n,4) int32, mv/bv (n,4), zw (n,)."""
    if o.size == 0:
        return
    zq = ((zw[:, None] >> (8 * np.arange(4))[None]) & 0xFF).astype(np.uint8).view(np.int8)
    good = _store_check(out, haz, ctx, o)
    v = exact_value(a[good], mv[good], bv[good], zq[good], e)
    bi = (o[good] * 4)[:, None] + np.arange(16)
    out.bytes[bi] = np.ascontiguousarray(v).view(np.uint8).reshape(-1, 16)


def load_four(p, c, haz, ctx):
    bad = (c < 0) | (c + 4 > p.size) | (c % 4 != 0)
    if bad.any():
        haz.add("global mult/bias read out of bounds", bad.sum(), ctx)
        c = np.where(bad, 0, c)
    return p[c[:, None] + np.arange(4)]


# ----------------------------------------------------------------------------------------------------------------
# (BM, BN, WM, WN, kStages, MINB) of qconvIgemm's instantiations: 0-6 igemmKernel (launchTile), 7-9
# igemmPersistentKernel (Persistent7/8/9)
TILES = {0: (128, 128, 2, 4, 4, 2), 1: (128, 64, 4, 2, 4, 2), 2: (64, 128, 2, 4, 4, 2), 3: (64, 64, 2, 2, 4, 4),
         4: (128, 64, 4, 2, 2, 3), 5: (64, 128, 2, 4, 2, 3), 6: (64, 64, 2, 2, 2, 6),
         7: (128, 64, 4, 2, 3, 2), 8: (64, 64, 2, 2, 4, 3), 9: (64, 128, 2, 4, 3, 2)}
PERSISTENT = {7, 8, 9}
# wgmmaKernel<BM, BN, kStages, MINB> (sm90a/qconv_wgmma.cu): IgemmConfig<BM, BN, BM / 16, 1, kStages, MINB>
WGMMA = {10: (128, 128, 4, 2), 11: (128, 64, 4, 2), 12: (64, 128, 4, 2), 13: (64, 64, 4, 3),
         14: (128, 128, 5, 2), 15: (128, 64, 5, 3), 16: (128, 64, 2, 4), 17: (64, 128, 2, 4),
         18: (128, 128, 4, 2), 19: (128, 64, 4, 3), 20: (128, 128, 5, 2),
         # 28-33 (session 10): more CTAs an SM, the register epilogue with them, three-stage pipelined
         28: (64, 128, 2, 5), 29: (64, 64, 2, 8), 30: (64, 128, 2, 5), 31: (64, 64, 2, 8),
         32: (128, 64, 3, 4), 33: (64, 128, 3, 4)}
WGMMA_PIPE = {14, 15, 20, 32, 33}  # WgmmaTile<..., kPipe = true>
WGMMA_REG_EPI = {18, 19, 20, 30, 31}  # WgmmaTile<..., kRegEpi = true>
TILES.update({t: (bm, bn, bm // 16, 1, st, mb) for t, (bm, bn, st, mb) in WGMMA.items()})


class Cfg:  # IgemmConfig<BM, BN, WM, WN, kStages, MINB>
    def __init__(self, cfg):
        self.BM, self.BN, self.WM, self.WN, self.S, self.MINB = cfg
        self.T = self.WM * self.WN * 32
        self.kWarpM, self.kWarpN = self.BM // self.WM, self.BN // self.WN
        self.MT, self.NT = self.kWarpM // 16, self.kWarpN // 8
        self.AC, self.BC = self.BM * 4 // self.T, self.BN * 4 // self.T
        self.LDC = self.BN + 8
        self.kPipeBytes = self.S * (self.BM + self.BN) * KBK
        self.kEpiBytes = self.BM * self.LDC * 4
        self.kSmem = max(self.kPipeBytes, self.kEpiBytes)
        self.kZBytes = self.BM * self.BN
        assert self.MT >= 1 and self.NT % 2 == 0, "warp tile: 16 rows by 16 columns at least"
        assert self.AC >= 1 and self.BC >= 1 and self.BM * 4 % self.T == 0 and self.BN * 4 % self.T == 0, "loader"
        assert self.T % (self.BN // 4) == 0, "epilogue: a thread keeps its channels"


class TileLoader:
    """TileLoader<Cfg>: a CTA's loads of one output tile's slices (begin at (m0, n0), then load walks the slices in
    order with SliceAt::next), vectorized over the CTA's threads."""

    def __init__(self, c, sm, g, xb, wb, m_total, unit, c_pad, wrow, sa, sb):
        self.c, self.sm, self.g, self.xb, self.wb = c, sm, g, xb, wb
        self.m_total, self.unit, self.c_pad, self.wrow, self.sa, self.sb = m_total, unit, c_pad, wrow, sa, sb
        self.tid = np.arange(c.T)
        self.chunk = self.tid & 3
        self.a_rows = self.b_src = None  # set by begin (uninitialised registers before)
        self.sl = (0, 0, 0)  # SliceAt{}: fr, fs, c0
        self.slice = 0

    def begin(self, m0, n0):
        c, tid = self.c, self.tid
        self.a_rows = [pixel_row(m0 + (tid >> 2) + i * (c.T // 4), self.m_total, self.g, self.chunk, self.unit)
                       for i in range(c.AC)]
        self.b_src = [(n0 + (tid >> 2) + i * (c.T // 4)) * self.wrow + self.chunk * 16 for i in range(c.BC)]
        self.sl = (0, 0, 0)
        self.slice = 0

    def load(self, stage):
        c, tid, sm = self.c, self.tid, self.sm
        for i in range(c.AC):
            load_pixel_chunk(sm, tid, self.sa + stage * c.BM * KBK, (tid >> 2) + i * (c.T // 4), self.chunk,
                             self.a_rows[i], self.sl, self.g, self.xb)
        b_dst = self.sb + stage * c.BN * KBK
        for i in range(c.BC):
            row = (tid >> 2) + i * (c.T // 4)
            sm.cp_async(tid, b_dst + swizzle(row, self.chunk), self.wb, self.b_src[i] + self.slice * KBK, True,
                        "cp.async w")
        fr, fs, c0 = self.sl  # SliceAt::next(c_pad, kw)
        c0 += KBK
        if c0 == self.c_pad:
            c0 = 0
            fs += 1
            if fs == self.g.kw:
                fs = 0
                fr += 1
        self.sl = (fr, fs, c0)
        self.slice += 1


def tile_chunk(bn, row, c16, swz):
    """tileChunk<BN, kSwz>: byte offset of 16-byte chunk c16 of row `row` in an int8 tile of bn-byte rows; swz: the
    chunk XORed by the row's place among the 128 / bn * 8 rows that share the banks."""
    if not swz:
        return row * bn + c16 * 16
    chunks, per_line = bn // 16, 128 // bn
    assert chunks * per_line == 8
    return row * bn + ((c16 ^ ((row // per_line) % chunks)) << 4)


def load_residual_tile(sm, c, sz, e, m0, n0, m_total, channels, swz=False):
    """loadResidualTile<BM, BN, kThreads, kSwz>: the residual's BM x BN tile at (m0, n0) into sz (zero fill past the
    last pixel or channel)."""
    tid = np.arange(c.T)
    zb = e.z.view(np.uint8)
    krc = c.BN // 16
    for base in range(0, c.BM * krc, c.T):  # for (i = tid; i < BM * kRowChunks; i += kThreads)
        i = base + tid
        act = i < c.BM * krc
        row, c16 = i // krc, i % krc
        m, co = m0 + row, n0 + c16 * 16
        ok = (m < m_total) & (co < channels)
        sm.cp_async(tid[act], (sz + tile_chunk(c.BN, row, c16, swz))[act], zb,
                    np.where(ok, m * channels + co, 0)[act], ok[act], "cp.async z")


def epilogue_tile(sm, c, out, haz, ctx, sc, sz, m0, n0, m_total, g, e):
    """epilogueTile<Cfg> -> epilogueRows<kInt8, kZ, BM, BN, T, LDC> (the dispatch on e.y_int8, e.z): sc, sz byte
    addresses of the staged int32 tile and of the residual tile."""
    tid = np.arange(c.T)
    BN, T, LDC = c.BN, c.T, c.LDC
    k_int8, k_z = e.y_int8, e.y_int8 and (e.z is not None or e.ds is not None)
    kVecs, kStep = BN // 4, T // (BN // 4)
    cv = tid % kVecs
    co = n0 + cv * 4
    live = co < g.m  # if (co >= channels) return;
    tl = tid[live]
    mv = load_four(e.mult, co[live], haz, ctx)
    bv = load_four(e.bias, co[live], haz, ctx)
    rows = min(c.BM, m_total - m0)  # the tile's pixels
    row = tl // kVecs
    a_ptr = sc + (row * LDC + cv[live] * 4) * 4  # byte addresses
    z_ptr = sz + row * BN + cv[live] * 4
    o = (m0 + row) * g.m + co[live]
    o_step = kStep * g.m
    with_z = k_z if k_int8 else e.z is not None
    while True:
        act = row < rows  # for (; row < rows; row += kStep, a_ptr += kStep * LDC, z_ptr += kStep * BN, o += o_step)
        if not act.any():
            break
        ta = tl[act]
        zw = np.zeros(ta.size, np.uint32)
        if with_z:
            zw = np.ascontiguousarray(sm.read(ta, z_ptr[act], 4, "z")).view('<u4').reshape(-1)
        a = np.ascontiguousarray(sm.read(ta, a_ptr[act], 16, "acc tile")).view('<i4').reshape(-1, 4)
        if k_int8:
            store_word(out, haz, ctx, o[act], folded_word(a, mv[act], bv[act], zw, e, k_z))
        else:
            store_four_float(out, haz, ctx, o[act], a, mv[act], bv[act], zw, e)
        row, a_ptr, z_ptr, o = row + kStep, a_ptr + kStep * LDC * 4, z_ptr + kStep * BN, o + o_step


def tile_at(c, bid, n_tiles, g):
    """startTile's TileAt for CTA bid of a tiled kernel: its tile's (m0, n0), the depth's slices and padded C."""
    cblocks = (g.c + KBK - 1) // KBK
    return (bid // n_tiles) * c.BM, (bid % n_tiles) * c.BN, g.kh * g.kw * cblocks, cblocks * KBK


def start_tile(c, sm, g, xb, wb, m_total, m0, n0, sa, sb, ahead=None):
    """startTile's loader and prologue (the residual tile aside): the loader begun at (m0, n0) for geometry g and its
    first kAhead (default kStages - 1) slices queued, a group each; returns the loader and the depth's slice count."""
    cb = (g.c + KBK - 1) // KBK
    slices = g.kh * g.kw * cb
    ld = TileLoader(c, sm, g, xb, wb, m_total, is_unit(g), cb * KBK, slices * KBK, sa, sb)
    ld.begin(m0, n0)
    tid = np.arange(c.T)
    for st in range(c.S - 1 if ahead is None else ahead):
        if st < slices:
            ld.load(st)
        sm.commit(tid)
    return ld, slices


def residual_tile_from_acc(sm, c, sz, sc, m0, n0, m_total, channels, ds):
    """residualTileFromAcc<BM, BN, kThreads, LDC>: the downsample's staged int32 tile (sc) as int8 z words into the
    residual tile sz (row pitch BN), folded with the downsample's constants, no activation."""
    tid = np.arange(c.T)
    kVecs, kStep = c.BN // 4, c.T // (c.BN // 4)
    cv = tid % kVecs
    co = n0 + cv * 4
    live = co < channels
    tl = tid[live]
    plain = Epi(None, None, None, 0.0, "none", 0.0, 0.0, True)
    mv = ds["mult"][co[live][:, None] + np.arange(4)]
    bv = ds["bias"][co[live][:, None] + np.arange(4)]
    rows = min(c.BM, m_total - m0)
    row = tl // kVecs
    while True:
        act = row < rows
        if not act.any():
            break
        ta = tl[act]
        a = np.ascontiguousarray(sm.read(ta, sc + (row[act] * c.LDC + cv[live][act] * 4) * 4, 16, "ds acc tile")) \
            .view('<i4').reshape(-1, 4)
        word = folded_word(a, mv[act], bv[act], np.zeros(ta.size, np.uint32), plain, False)
        sm.write(ta, sz + row[act] * c.BN + cv[live][act] * 4,
                 np.ascontiguousarray(np.asarray(word, np.uint32)).view(np.uint8).reshape(-1, 4), "ds z tile")
        row = row + kStep


def mma_all_warps(sm, c, acc, a_s, b_s, mutate):
    for w in range(c.WM * c.WN):
        wm, wn = w // c.WN, w % c.WN
        mma_slice(sm, acc[w], a_s, b_s, wm * c.kWarpM, wn * c.kWarpN, w, mutate)


def stage_all_warps(sm, c, sc, acc):
    for w in range(c.WM * c.WN):
        stage_acc(sm, sc, c.LDC, (w // c.WN) * c.kWarpM, (w % c.WN) * c.kWarpN, acc[w], w)


def igemm_kernel(cfg, xb, wb, out, g, e, m_total, n_tiles, bid, haz, rng, mutate):
    c = Cfg(cfg)
    BM, BN, S, T = c.BM, c.BN, c.S, c.T
    smem_size = c.kSmem + (c.kZBytes if e.z is not None or e.ds is not None else 0)  # launchTile's dynamic smem
    ctx = f"igemmKernel<{BM},{BN},{c.WM},{c.WN},{S}> CTA {bid}"
    sm = Smem(smem_size, T, haz, ctx, rng)
    sa, sb = 0, S * BM * KBK
    tid = np.arange(T)
    m0, n0, slices, c_pad = tile_at(c, bid, n_tiles, g)
    sz = c.kSmem
    if e.ds is not None:  # the downsample's product, then its int8 epilogue into the residual tile
        ld2, sl2 = start_tile(c, sm, e.ds["g"], e.ds["xb"], e.ds["wb"], m_total, m0, n0, sa, sb)
        acc = np.zeros((c.WM * c.WN, c.MT, c.NT, 32, 4), np.int32)
        for kt in range(sl2):
            sm.wait(tid, S - 2)
            sm.barrier()
            if kt + S - 1 < sl2:
                ld2.load((kt + S - 1) % S)
            sm.commit(tid)
            mma_all_warps(sm, c, acc, sa + (kt % S) * BM * KBK, sb + (kt % S) * BN * KBK, mutate)
        sm.wait(tid, 0)
        sm.barrier()
        stage_all_warps(sm, c, 0, acc)
        sm.barrier()
        residual_tile_from_acc(sm, c, sz, 0, m0, n0, m_total, g.m, e.ds)
        if mutate != "dssync":
            sm.barrier()
    ld = TileLoader(c, sm, g, xb, wb, m_total, is_unit(g), c_pad, slices * KBK, sa, sb)
    ld.begin(m0, n0)
    acc = np.zeros((c.WM * c.WN, c.MT, c.NT, 32, 4), np.int32)  # zeroAcc
    if e.z is not None:
        load_residual_tile(sm, c, sz, e, m0, n0, m_total, g.m)
    for st in range(S - 1):
        if st < slices:
            ld.load(st)
        sm.commit(tid)
    for kt in range(slices):
        sm.wait(tid, S - 1 if mutate == "nowait" else S - 2)
        if mutate != "nosync":
            sm.barrier()
        nxt = kt + S - 1
        if nxt < slices:
            ld.load((kt % S) if mutate == "stage" else (nxt % S))
        sm.commit(tid)
        mma_all_warps(sm, c, acc, sa + (kt % S) * BM * KBK, sb + (kt % S) * BN * KBK, mutate)
    sm.wait(tid, 0)
    sm.barrier()  # every warp is done with the pipeline's shared memory
    sc = 0
    stage_all_warps(sm, c, sc, acc)
    sm.barrier()
    epilogue_tile(sm, c, out, haz, ctx, sc, sz, m0, n0, m_total, g, e)
    sm.finish()


# ----------------------------------------------------------------------------------------------------------------
# wgmma (PTX ISA "Asynchronous Warpgroup Level Matrix Multiply-Accumulate"), modelled from the ISA's text, not from
# qrt's kernel: the shared-memory matrix descriptor's fields (start address >> 4 in bits 0-13, leading byte offset
# >> 4 in 16-29, stride byte offset >> 4 in 32-45, base offset in 49-51, swizzle mode in 62-63: 0 none, 1 128B,
# 2 64B, 3 32B), the K-major canonical layout of a swizzled operand (core matrices of 8 rows x 16 bytes; the rows of
# an 8-row group one swizzle width apart, consecutive 16-byte chunks of K within the width, 8-row groups SBO apart;
# the swizzle XORs address bits 4.. with bits 7.. of the computed address: 64B mode: bits 4-5 ^= bits 7-8), and the
# accumulator fragment of m64nNk32 .s32 (warp w of the warpgroup, lane l: d[4j + q] at row 16w + l/4 + 8 (q >= 2),
# column 8j + 2 (l % 4) + (q & 1)).


def smem_desc(addr):
    """qconv_wgmma.cu smemDesc: the descriptor the kernel builds for a tile starting at shared address addr."""
    return ((addr & 0x3FFFF) >> 4) | (1 << 16) | ((512 >> 4) << 32) | (2 << 62)


def desc_chunk_addresses(desc, rows, k_bytes):
    """The shared byte address of each 16-byte chunk (row r, chunk c of the K extent) the hardware reads for a K-major
    operand of `rows` rows and k_bytes of depth described by desc."""
    start = (desc & 0x3FFF) << 4
    sbo = ((desc >> 32) & 0x3FFF) << 4
    base_off = (desc >> 49) & 7
    mode = desc >> 62
    assert base_off == 0, "a base offset is not modelled"
    width = {1: 128, 2: 64, 3: 32}[mode]  # swizzled modes only (qrt's tiles)
    bits = {1: 3, 2: 2, 3: 1}[mode]
    r = np.arange(rows)[:, None]
    c = np.arange(k_bytes // 16)[None, :]
    linear = start + (r // 8) * sbo + (r % 8) * width + c * 16
    return linear ^ (((linear >> 7) & ((1 << bits) - 1)) << 4)  # [rows, chunks]


D_ROW = (_lane >> 2)[:, None] + 8 * (np.arange(4) >= 2).astype(int)[None, :]  # within a warp's 16 rows, [lane, q]
D_COL = 2 * (_lane & 3)[:, None] + (np.arange(4) & 1)[None, :]


class WgmmaQueue:
    """A warpgroup's wgmma.mma_async operations in flight: each is issued (its operand bytes marked as read by the
    async proxy: a write to them before it retires is a WAR hazard) and computed when a wgmma.wait_group retires its
    group, reading shared memory then (the latest the hardware may read it)."""

    def __init__(self, sm):
        self.sm, self.open, self.groups = sm, [], []

    def issue(self, acc, wg, desc_a, desc_b, bn):
        marks = [desc_chunk_addresses(d, rows, 32).reshape(-1)[:, None] + np.arange(16)
                 for d, rows in ((desc_a, 64), (desc_b, bn))]
        for m in marks:
            np.add.at(self.sm.async_read, np.clip(m, 0, self.sm.size - 1).ravel(), 1)
        self.open.append((acc, wg, desc_a, desc_b, bn, marks))

    def commit(self):  # wgmma.commit_group
        self.groups.append(self.open)
        self.open = []

    def wait(self, n):  # wgmma.wait_group n
        while len(self.groups) > n:
            for acc, wg, desc_a, desc_b, bn, marks in self.groups.pop(0):
                for m in marks:
                    np.add.at(self.sm.async_read, np.clip(m, 0, self.sm.size - 1).ravel(), -1)
                wgmma_m64k32(self.sm, acc, wg, desc_a, desc_b, bn)

    def finish(self):
        n = len(self.open) + sum(len(g) for g in self.groups)
        self.sm.haz.add("wgmma still in flight (not waited for)", n, self.sm._where("exit"))


def wgmma_m64k32(sm, acc, wg, desc_a, desc_b, bn):
    """wgmma.mma_async.m64n{bn}k32.s32.s8.s8 of warpgroup wg: acc [4 warps, 32 lanes, bn / 2] int32 (+=). The
    operands are read from shared memory as the warpgroup's 128 threads' 16-byte reads (race detection)."""
    tids = wg * 128 + np.arange(128)
    a_addr = desc_chunk_addresses(desc_a, 64, 32)  # [64, 2]
    b_addr = desc_chunk_addresses(desc_b, bn, 32)  # [bn, 2]
    a = sm.read(tids, a_addr.reshape(-1), 16, "wgmma A").reshape(64, 32).view(np.int8).astype(np.int64)
    bb = b_addr.reshape(-1)
    b = np.concatenate([sm.read(tids[:min(128, bb.size - i)], bb[i:i + 128], 16, "wgmma B")
                        for i in range(0, bb.size, 128)]).reshape(bn, 32).view(np.int8).astype(np.int64)
    d = a @ b.T  # [64, bn]
    for w in range(4):
        for j in range(bn // 8):
            acc[w, :, 4 * j:4 * j + 4] += d[16 * w + D_ROW, 8 * j + D_COL].astype(np.int32)


def stage_wgmma_acc(sm, sc, ldc, row0, d, warp):
    """stageWgmmaAcc<BN>: warp `warp`'s registers d [32, BN / 2] into the int32 tile."""
    tids = warp * 32 + _lane
    row = row0 + (_lane >> 2)
    for j in range(d.shape[1] // 4):
        col = j * 8 + (_lane & 3) * 2
        lo = np.ascontiguousarray(d[:, 4 * j:4 * j + 2]).view(np.uint8).reshape(32, 8)
        hi = np.ascontiguousarray(d[:, 4 * j + 2:4 * j + 4]).view(np.uint8).reshape(32, 8)
        sm.write(tids, sc + (row * ldc + col) * 4, lo, "stageWgmmaAcc")
        sm.write(tids, sc + ((row + 8) * ldc + col) * 4, hi, "stageWgmmaAcc")


def folded_pair(a0, a1, m, b, zp, z_scale, qlo, qhi, kz):
    """foldedPair<kZ> (sm90a/qconv_wgmma.cu) for n threads: a0, a1 (n,) int32, m, b (n, 2) float32, zp (n,) uint32
    (the residual's two bytes) -> (n,) uint32, the two bytes in the low half."""
    r = []
    for i, a in enumerate((a0, a1)):
        v = f32(a.astype(np.float32).astype(np.float64) * m[:, i].astype(np.float64) + b[:, i].astype(np.float64))
        if kz:
            zi = signed_byte(zp, i).astype(np.float32)
            v = f32(zi.astype(np.float64) * np.float64(z_scale) + v.astype(np.float64))
        v = np.minimum(np.maximum(v, np.float32(qlo)), np.float32(qhi))
        r.append((v.astype(np.float32) + MAGIC).astype(np.float32).view(np.uint32))
    return prmt(r[0], r[1], 0x0040) & np.uint32(0xFFFF)


def pairs_to_tile(sm, c, dst, sz, acc, n0, channels, mult, bias, z_scale, qlo, qhi, kz, what):
    """pairsToTile<BN, kZ>: every warp's wgmma accumulators (acc [BM / 64, 4, 32, BN / 2]; d[4j + 2h + i]: row
    warp * 16 + lane / 4 + 8h, column 8j + 2 (lane % 4) + i) through foldedPair into the swizzled int8 tile dst,
    the residual's two bytes from the tile sz; channel pairs past `channels` are not written."""
    for w in range(c.T // 32):
        d = acc[w // 4, w % 4]  # [32 lanes, BN / 2]
        tids = w * 32 + _lane
        row0 = w * 16 + (_lane >> 2)
        for j in range(c.BN // 8):
            col = j * 8 + (_lane & 3) * 2
            live = n0 + col < channels
            if not live.any():
                continue
            cc = n0 + col[live]
            bad = cc + 2 > mult.size
            if bad.any():
                sm.haz.add("global mult/bias pair read out of bounds", bad.sum(), sm._where(what))
                cc = np.where(bad, 0, cc)
            m = np.stack([mult[cc], mult[cc + 1]], 1).astype(np.float32)
            b = np.stack([bias[cc], bias[cc + 1]], 1).astype(np.float32)
            for h in range(2):
                off = tile_chunk(c.BN, row0[live] + 8 * h, col[live] >> 4, True) + (col[live] & 15)
                zp = np.zeros(off.size, np.uint32)
                if kz:
                    zp = np.ascontiguousarray(sm.read(tids[live], sz + off, 2, f"{what}: z pair")).view('<u2') \
                        .reshape(-1).astype(np.uint32)
                pair = folded_pair(d[live, 4 * j + 2 * h], d[live, 4 * j + 2 * h + 1], m, b, zp, z_scale, qlo, qhi,
                                   kz)
                sm.write(tids[live], dst + off,
                         np.ascontiguousarray(pair.astype('<u2')).view(np.uint8).reshape(-1, 2), f"{what}: pair")


def store_tile(sm, c, out, haz, ctx, ty, m0, n0, m_total, channels):
    """storeTile<BM, BN, kThreads>: the swizzled int8 y tile to y in 16-byte stores (rows past the last pixel and
    channels past the last not written)."""
    tid = np.arange(c.T)
    krc = c.BN // 16
    for base in range(0, c.BM * krc, c.T):
        i = base + tid
        row, c16 = i // krc, i % krc
        m, co = m0 + row, n0 + c16 * 16
        act = (i < c.BM * krc) & (m < m_total) & (co < channels)
        if not act.any():
            continue
        data = sm.read(tid[act], ty + tile_chunk(c.BN, row[act], c16[act], True), 16, "y tile")
        o = m[act] * channels + co[act]
        for q in range(4):  # a 16-byte store as four words, for the store checks
            store_word(out, haz, ctx, o + 4 * q,
                       np.ascontiguousarray(data[:, 4 * q:4 * q + 4]).view('<u4').reshape(-1))


def wgmma_kernel(cfg, xb, wb, out, g, e, m_total, n_tiles, bid, haz, rng, mutate, pipe=False, reg_epi=False):
    """wgmmaKernel<BM, BN, kStages, MINB, kPipe> (startTile / nextSlice / finishTile of qconv_igemm_device.cuh),
    CTA bid. Shared memory starts at a random multiple of 16 below the 1024-byte boundary the kernel aligns it to.
    pipe: a slice's wgmmas left in flight (wait_group 1) and the loads kStages - 2 slices ahead (kAhead).
    reg_epi: the register epilogue (int8 y; WgmmaTile::kRegEpi): z and y as swizzled int8 tiles, no int32 staging."""
    c = Cfg(cfg)
    if reg_epi and not e.y_int8:
        reg_epi = False  # launchWgmma: float y runs the staged form
    BM, BN, S, T = c.BM, c.BN, c.S, c.T
    z = e.z is not None
    z_at = c.kPipeBytes if reg_epi else c.kSmem  # WgmmaTile::kZAt
    smem_size = z_at + (c.kZBytes if z or e.ds is not None else 0) + 1024  # WgmmaTile::smem
    ctx = f"wgmmaKernel<{BM},{BN},{S}> CTA {bid}"
    raw = int(rng.integers(0, 64)) * 16  # the dynamic shared memory's address (mod 1024)
    sm = Smem(raw + smem_size, T, haz, ctx, rng)
    base = raw + ((1024 - (raw & 1023)) & 1023)
    if mutate == "align":
        base = raw
    sa, sb = base, base + S * BM * KBK
    tid = np.arange(T)
    m0, n0, slices, c_pad = tile_at(c, bid, n_tiles, g)
    sz = base + z_at
    # WgmmaTile::kAhead (the "ahead" mutation: the pipelined form with the plain form's lookahead)
    ahead = S - 2 if pipe and mutate != "ahead" else S - 1
    queues = [WgmmaQueue(sm) for _ in range(BM // 64)]

    def product(ld, slices):  # wait, fence, barrier, load, commit, two wgmmas a slice, wait_group
        acc = np.zeros((BM // 64, 4, 32, BN // 2), np.int32)
        for kt in range(slices):
            sm.wait(tid, ahead if mutate == "nowait" else ahead - 1)  # cpAsyncWait<kAhead - 1>, fence.proxy.async
            if mutate != "nosync":
                sm.barrier()  # __syncthreads
            nxt = kt + ahead
            if nxt < slices:
                ld.load((kt % S) if mutate == "stage" else (nxt % S))
            sm.commit(tid)
            for wg in range(BM // 64):
                a_s = sa + (kt % S) * BM * KBK + wg * 64 * KBK
                b_s = sb + (kt % S) * BN * KBK
                k2 = 16 if mutate == "kstep" else 32
                queues[wg].issue(acc[wg], wg, smem_desc(a_s), smem_desc(b_s), BN)
                queues[wg].issue(acc[wg], wg, smem_desc(a_s + k2), smem_desc(b_s + k2), BN)
                queues[wg].commit()
                queues[wg].wait(1 if pipe else 0)
        for q in queues:  # wgmmaWait<0> after the loop
            q.wait(0)
        return acc

    def stage(acc):
        for w in range(T // 32):
            stage_wgmma_acc(sm, base, c.LDC, w * 16, acc[w // 4, w % 4], w)

    if e.ds is not None:  # the downsample's product, then its int8 z into the residual tile
        ld2, sl2 = start_tile(c, sm, e.ds["g"], e.ds["xb"], e.ds["wb"], m_total, m0, n0, sa, sb, ahead)
        acc = product(ld2, sl2)
        if reg_epi:  # from the accumulators (pairsToTile), then the wait and the barrier
            pairs_to_tile(sm, c, sz, sz, acc, n0, g.m, e.ds["mult"], e.ds["bias"], 0.0, -128.0, 127.0, False, "ds")
            sm.wait(tid, 0)
        else:  # downsampleTile: staged, then residualTileFromAcc
            sm.wait(tid, 0)
            sm.barrier()
            stage(acc)
            sm.barrier()
            residual_tile_from_acc(sm, c, sz, base, m0, n0, m_total, g.m, e.ds)
        if mutate != "dssync":
            sm.barrier()
    ld = TileLoader(c, sm, g, xb, wb, m_total, is_unit(g), c_pad, slices * KBK, sa, sb)
    ld.begin(m0, n0)
    if z:
        load_residual_tile(sm, c, sz, e, m0, n0, m_total, g.m, swz=reg_epi)
    for st in range(ahead):
        if st < slices:
            ld.load(st)
        sm.commit(tid)
    acc = product(ld, slices)
    sm.wait(tid, 0)  # finishTile, or the register epilogue's wait
    sm.barrier()
    if reg_epi:
        kz = z or e.ds is not None
        pairs_to_tile(sm, c, base, sz, acc, n0, g.m, e.mult, e.bias, e.z_scale if kz else 0.0, e.qlo, e.qhi, kz, "y")
        if mutate != "episync":
            sm.barrier()
        store_tile(sm, c, out, haz, ctx, base, m0, n0, m_total, g.m)
    else:
        stage(acc)
        sm.barrier()
        epilogue_tile(sm, c, out, haz, ctx, base, sz, m0, n0, m_total, g, e)
    for q in queues:
        q.finish()
    sm.finish()


def persistent_smem(c, z):  # Persistent<...>::smem(z)
    return c.kPipeBytes + c.kEpiBytes + (c.S * c.kZBytes if z else 0)


def igemm_persistent_kernel(cfg, xb, wb, out, g, e, m_total, n_tiles, tiles, bid, grid, haz, rng, mutate, stats):
    """igemmPersistentKernel<BM, BN, WM, WN, kStages, MINB>, CTA blockIdx.x = bid of gridDim.x = grid."""
    c = Cfg(cfg)
    BM, BN, S, T = c.BM, c.BN, c.S, c.T
    assert c.kSmem <= c.kPipeBytes + c.kEpiBytes  # Persistent's static_assert
    step = grid
    first = bid
    if first >= tiles:  # the whole CTA, before any barrier
        stats["idle"] += 1
        return
    ctx = f"igemmPersistentKernel<{BM},{BN},{c.WM},{c.WN},{S}> CTA {bid}/{grid}"
    sm = Smem(persistent_smem(c, e.z is not None), T, haz, ctx, rng)
    sa, sb = 0, S * BM * KBK
    sc = c.kPipeBytes  # int* sc = smem + kPipeBytes (byte address)
    sz = c.kPipeBytes + c.kEpiBytes  # kStages residual tiles (with z)
    # the residual ring's entries (mutation: one short; kStages - 1 would do where a tile has 2 or more slices, so
    # the 1-slice cases catch it: the load of tile j + kStages - 1's residual lands on the entry tile j's epilogue
    # reads in the same barrier interval)
    ring = S - 1 if mutate == "ring" else S
    tid = np.arange(T)
    cblocks = (g.c + KBK - 1) // KBK
    slices = g.kh * g.kw * cblocks
    c_pad, wrow = cblocks * KBK, slices * KBK
    unit = is_unit(g)
    total = ((tiles - 1 - first) // step + 1) * slices  # this CTA's slices, all tiles (C: non-negative operands)
    ld = TileLoader(c, sm, g, xb, wb, m_total, unit, c_pad, wrow, sa, sb)
    st8 = dict(ld_tile=first, ld_count=0)

    def load_next(stage):  # the loadNext lambda
        if ld.slice == slices:
            st8["ld_tile"] += step
            st8["ld_count"] += 1
            ld.slice = 0
        if ld.slice == 0:
            t_ = st8["ld_tile"]
            stats["ahead"] = max(stats["ahead"], st8["ld_count"] - count)  # tiles the loader is ahead of the MMAs
            if not 0 <= t_ < tiles:
                haz.add("loader begins a tile past the last one", 1, ctx)
            m0, n0 = (t_ // n_tiles) * BM, (t_ % n_tiles) * BN
            ld.begin(m0, n0)
            if e.z is not None:
                load_residual_tile(sm, c, sz + (st8["ld_count"] % ring) * BM * BN, e, m0, n0, m_total, g.m)
        ld.load(stage)

    ld.slice = slices  # so that the first load begins tile `first`
    st8["ld_tile"] = first - step
    st8["ld_count"] = -1
    acc = np.zeros((c.WM * c.WN, c.MT, c.NT, 32, 4), np.int32)  # zeroAcc
    tile, count, kt = first, 0, 0  # the tile the MMAs are on (set before the prologue here, for the stats)
    for st in range(S - 1):
        if st < total:
            load_next(st)
        sm.commit(tid)
    for it in range(total):
        sm.wait(tid, S - 1 if mutate == "nowait" else S - 2)
        if mutate != "nosync":
            sm.barrier()  # slice it (and its tile's residual) landed; it - 1's stage, sc and the ring are free
        nxt = it + S - 1
        if nxt < total:
            load_next((it % S) if mutate == "stage" else (nxt % S))
        sm.commit(tid)
        mma_all_warps(sm, c, acc, sa + (it % S) * BM * KBK, sb + (it % S) * BN * KBK, mutate)
        kt += 1
        if kt == slices:  # the tile's last slice: its epilogue, while the next tiles load
            if tile >= tiles:
                haz.add("epilogue of a tile past the last one", 1, ctx)
            stage_all_warps(sm, c, sc, acc)
            if mutate != "nozero":
                acc[:] = 0  # zeroAcc
            if mutate != "episync":
                sm.barrier()  # the staged tile is complete
            epilogue_tile(sm, c, out, haz, ctx, sc, sz + (count % ring) * BM * BN, (tile // n_tiles) * BM,
                          (tile % n_tiles) * BN, m_total, g, e)
            kt = 0
            tile += step
            count += 1
    sm.wait(tid, 0)
    sm.finish()
    stats["ctas"] += 1
    stats["max_tiles"] = max(stats["max_tiles"], count)


# ----------------------------------------------------------------------------------------------------------------
def reference(x, wt, g, mult, bias, z, z_scale, act, lo, hi, y_int8, y_scale):
    xs = x.reshape(g.n, g.h, g.w, g.c).astype(np.int64)
    acc = np.zeros((g.n, g.oh, g.ow, g.m), np.int64)
    oy = np.arange(g.oh)
    ox = np.arange(g.ow)
    for r in range(g.kh):
        for s in range(g.kw):
            ih = oy * g.sh - g.ph + r * g.dh
            iw = ox * g.sw - g.pw + s * g.dw
            vh = (ih >= 0) & (ih < g.h)
            vw = (iw >= 0) & (iw < g.w)
            win = xs[:, np.clip(ih, 0, g.h - 1)][:, :, np.clip(iw, 0, g.w - 1)]
            win = win * (vh[None, :, None, None] & vw[None, None, :, None])
            acc += np.einsum('nhwc,mc->nhwm', win, wt[:, :, r, s].astype(np.int64))
    acc = acc.reshape(-1, g.m)
    v = acc * mult.astype(np.float64) + bias.astype(np.float64)
    if z is not None:
        v = v + np.float64(z_scale) * z.reshape(-1, g.m).astype(np.float64)
    if act == "relu":
        v = np.maximum(v, 0)
    elif act == "clip":
        v = np.clip(v, lo, hi)
    # the same in float32 with the CUDA float path's roundings (exactValue)
    v32 = acc.astype(np.float32) * mult + bias
    if z is not None:
        v32 = v32 + np.float32(z_scale) * z.reshape(-1, g.m).astype(np.float32)
    if act == "relu":
        v32 = np.where(v32 < 0, np.float32(0), v32)
    elif act == "clip":
        v32 = np.where(v32 < np.float32(lo), np.float32(lo), np.where(v32 > np.float32(hi), np.float32(hi), v32))
    if y_int8:
        return np.clip(np.rint(v / y_scale), -128, 127).astype(np.int8), None, acc
    return v, v32, acc


CASES = [
    # name, geometry, act, z, y_int8
    dict(name="1x1 C64->M64 z relu int8 (3x9x11)", g=Geom(3, 64, 9, 11, 64, 1, 1), act="relu", z=True, y_int8=True),
    dict(name="3x3 s2 p1 C32->M128 int8 no z", g=Geom(2, 32, 13, 11, 128, 3, 3, 2, 2, 1, 1), act="none", z=False,
         y_int8=True),
    dict(name="1x1 C192->M96 int8 (3 slices)", g=Geom(2, 192, 7, 9, 96, 1, 1), act="none", z=False, y_int8=True),
    dict(name="1x1 C48->M32 float out", g=Geom(2, 48, 6, 7, 32, 1, 1), act="none", z=False, y_int8=False),
    dict(name="3x3 p1 C80->M80 z int8", g=Geom(1, 80, 9, 10, 80, 3, 3, 1, 1, 1, 1), act="none", z=True, y_int8=True),
    # padding and dilation (2x2 taps x 1 slice = 4 slices), clip, z, n_tiles 3 (BN 64) / 2 (BN 128)
    dict(name="2x2 d2 p1 C64->M144 z clip int8", g=Geom(2, 64, 8, 7, 144, 2, 2, 1, 1, 1, 1, 2, 2), act="clip",
         z=True, y_int8=True),
    # a 1x1 unit layer of 4 slices with several pixel tiles (and a partial last one for BM 128)
    dict(name="1x1 C256->M64 z relu int8 (4 slices)", g=Geom(1, 256, 20, 20, 64, 1, 1), act="relu", z=True,
         y_int8=True),
    # float output with residual and relu
    dict(name="3x1 p(1,0) C16->M48 z relu float", g=Geom(2, 16, 9, 8, 48, 3, 1, 1, 1, 1, 0), act="relu", z=True,
         y_int8=False),
    # 1x1 layers off pixelRow's unit path: stride 2; padding (border pixels of zeros)
    dict(name="1x1 s2 C64->M32 z clip int8", g=Geom(2, 64, 9, 10, 32, 1, 1, 2, 2), act="clip", z=True,
         y_int8=True),
    dict(name="1x1 p1 C32->M64 relu int8", g=Geom(1, 32, 6, 5, 64, 1, 1, 1, 1, 1, 1), act="relu", z=False,
         y_int8=True),
    # for the persistent tiles: many tiles a CTA (the residual ring wraps around at grid 1 and 3), a partial last
    # pixel tile and a partial channel tile. 1 slice a tile: the loader runs kStages - 1 tiles ahead.
    dict(name="1x1 C64->M80 z relu int8 (1 slice, many tiles)", g=Geom(1, 64, 25, 40, 80, 1, 1), act="relu", z=True,
         y_int8=True),
    # 2 slices a tile, off the unit path (stride 2)
    dict(name="1x1 s2 C128->M96 z clip int8 (2 slices, many tiles)", g=Geom(2, 128, 39, 40, 96, 1, 1, 2, 2),
         act="clip", z=True, y_int8=True),
    # float output with the residual, 1 slice, several tiles
    dict(name="1x1 C32->M64 z float (1 slice, many tiles)", g=Geom(1, 32, 20, 26, 64, 1, 1), act="none", z=True,
         y_int8=False),
    # the downsample computed in the kernel (IgemmEpilogue::ds_x; tiles 0-6): z from a 1x1 QConv of another input
    # (ds: its channels and stride), ResNet's layer1 form (stride 1, 2 slices) and a strided one off the unit path
    dict(name="1x1 C64->M128 ds(C128 s1) relu int8", g=Geom(2, 64, 9, 10, 128, 1, 1), act="relu", z=True,
         y_int8=True, ds=dict(c=128, s=1)),
    dict(name="3x3 s2 p1 C32->M80 ds(C48 s2) int8", g=Geom(2, 32, 11, 9, 80, 3, 3, 2, 2, 1, 1), act="none", z=True,
         y_int8=True, ds=dict(c=48, s=2)),
]


def make_case(case, rng):
    g = case["g"]
    x = rng.integers(-128, 128, g.n * g.h * g.w * g.c).astype(np.int8)
    wt = rng.integers(-128, 128, (g.m, g.c, g.kh, g.kw)).astype(np.int8)
    x_scale = np.float32(0.02)
    w_scale = rng.uniform(0.001, 0.01, g.m).astype(np.float32)
    mult = (x_scale * w_scale).astype(np.float32)  # x_scale * w_scale[c] in float
    bias = rng.uniform(-2.0, 2.0, g.m).astype(np.float32)
    z = rng.integers(-128, 128, g.n * g.oh * g.ow * g.m).astype(np.int8) if case["z"] else None
    z_scale = np.float32(0.05)
    # y_scale so that the outputs spread over the int8 range
    acc_typ = 128 * 64 * np.sqrt(g.c * g.kh * g.kw) * float(mult.mean())
    y_scale = np.float32(max(acc_typ / 40.0, 1e-3))
    lo, hi = np.float32(-1.5), np.float32(2.5)
    return g, x, wt, mult, bias, z, z_scale, y_scale, lo, hi


def host_epilogue(case, mult, bias, z, z_scale, y_scale, lo, hi):
    """qconv_igemm.cpp reshapeOwn: the int8 epilogue's constants divided by y_scale in float, and the one clamp's
    bounds qlo, qhi (the activation's, within [-128, 127])."""
    if case["y_int8"]:
        y_scale = np.float32(y_scale)
        flo, fhi = np.float32(lo) / y_scale, np.float32(hi) / y_scale
        act = case["act"]
        qlo = np.float32(0) if act == "relu" else (flo if act == "clip" else np.float32(-128))
        qhi = fhi if act == "clip" else np.float32(127)
        qlo = min(max(qlo, np.float32(-128)), np.float32(127))
        qhi = min(max(qhi, np.float32(-128)), np.float32(127))
        return Epi((mult / y_scale).astype(np.float32), (bias / y_scale).astype(np.float32), z,
                   np.float32(z_scale) / y_scale, act, flo, fhi, True, qlo, qhi)
    return Epi(mult, bias, z, z_scale, case["act"], lo, hi, False)


def direct_int8(acc, e, z, m):
    """The int8 epilogue written plainly from the accumulators (fmaf, activation, round half to even, saturate, as
    the kernel's foldedByte before foldedWord): the emulated foldedWord must give the same bytes."""
    mult = np.broadcast_to(e.mult, acc.shape).astype(np.float64)
    bias = np.broadcast_to(e.bias, acc.shape).astype(np.float64)
    v = f32(acc.astype(np.float32).astype(np.float64) * mult + bias)
    if z is not None:
        v = f32(z.reshape(-1, m).astype(np.float64) * np.float64(e.z_scale) + v.astype(np.float64))
    if e.act == "relu":
        v = np.maximum(v, np.float32(0))
    elif e.act == "clip":
        v = np.minimum(np.maximum(v, e.lo), e.hi)
    return np.clip(np.rint(v.astype(np.float64)), -128, 127).astype(np.int8)


def compare(case, g, out, ref, ref32, direct):
    m_total = g.n * g.oh * g.ow
    msgs = []
    ok = True
    w = out.writes.reshape(m_total, g.m)
    if (w != 1).any():
        ok = False
        msgs.append(f"{(w == 0).sum()} y elements never written, {(w > 1).sum()} written more than once")
    if case["y_int8"]:
        y = out.bytes.view(np.int8).reshape(m_total, g.m).astype(np.int64)
        d = np.abs(y - ref.astype(np.int64))
        n1, nbig = int((d == 1).sum()), int((d > 1).sum())
        sat = int(((ref == 127) | (ref == -128)).sum())
        nd = int((y != direct.astype(np.int64)).sum())
        msgs.append(f"int8: {nd} element(s) differ from the plain epilogue, vs float64 {n1} differ by 1, {nbig} by "
                    f"more (of {d.size}; {sat} saturated in ref)")
        if nd > 0 or nbig > 0 or n1 > max(3, d.size // 1000):
            ok = False
    else:
        y = out.bytes.view(np.float32).reshape(m_total, g.m)
        exact = int((y != ref32).sum())
        dif = float(np.max(np.abs(y - ref)))
        msgs.append(f"float: {exact} element(s) not bit-equal to the float32 reference order (exactValue's "
                    f"roundings), max abs diff vs float64 {dif:.2e} (max |y| {float(np.max(np.abs(ref))):.2f})")
        if exact > 0 or dif > 1e-4 * max(1.0, float(np.max(np.abs(ref)))):
            ok = False
    return ok, "; ".join(msgs)


def parse_grids(text):
    """--grid: CTA counts of the persistent launches; 0 stands for tiles + 1 (one tile a CTA, as
    Persistent::grid gives for a layer of at most one wave of tiles, plus one CTA past the last tile: its early
    return)."""
    return [int(v) for v in text.split(",")]


def downsample_case(case, g, z_scale, rng):
    """A case's downsample (case["ds"]): its geometry (1x1, stride s, onto g's output grid), input, weights and
    constants, and z as the separate downsample QConv on the implicit GEMM makes it (folded constants, round half to
    even, saturated): the emulated kernel's z must be these bytes."""
    d = case["ds"]
    s_ = d["s"]
    g2 = Geom(g.n, d["c"], g.oh * s_, g.ow * s_, g.m, 1, 1, s_, s_)
    assert (g2.oh, g2.ow) == (g.oh, g.ow)
    x2 = rng.integers(-128, 128, g2.n * g2.h * g2.w * g2.c).astype(np.int8)
    w2 = rng.integers(-128, 128, (g.m, g2.c, 1, 1)).astype(np.int8)
    mult2 = (np.float32(0.03) * rng.uniform(0.001, 0.01, g.m).astype(np.float32)).astype(np.float32)
    bias2 = rng.uniform(-2.0, 2.0, g.m).astype(np.float32)
    acc2 = reference(x2, w2, g2, mult2, bias2, None, 0.0, "none", 0.0, 0.0, True, np.float32(1.0))[2]
    zs = np.float32(z_scale)
    fm, fb = (mult2 / zs).astype(np.float32), (bias2 / zs).astype(np.float32)
    z = direct_int8(acc2, Epi(fm, fb, None, 0.0, "none", 0.0, 0.0, True), None, g.m).reshape(-1)
    ds = dict(g=g2, xb=x2.view(np.uint8), wb=igemm_weights(w2, g.m, g2.c, 1, 1).view(np.uint8), mult=fm, bias=fb)
    return z, ds


def run(args):
    self_check()
    print("self-check: prmt (sign-extending selectors, 256 bytes x 4 positions) and magic-add rounding OK")
    rng = np.random.default_rng(args.seed)
    tiles = list(TILES) if args.all_tiles else [int(t) for t in args.tiles.split(",")]
    grids = parse_grids(args.grid)
    results = []
    for case in CASES:
        g, x, wt, mult, bias, z, z_scale, y_scale, lo, hi = make_case(case, rng)
        assert g.fits()
        ds = None
        if "ds" in case:
            z, ds = downsample_case(case, g, z_scale, rng)
        ref, ref32, acc = reference(x, wt, g, mult, bias, z, z_scale, case["act"], lo, hi, case["y_int8"], y_scale)
        e = host_epilogue(case, mult, bias, z, z_scale, y_scale, lo, hi)
        if ds is not None:  # z is made in the kernel, not read
            e.z, e.ds = None, ds
        direct = direct_int8(acc, e, z, g.m) if case["y_int8"] else None
        xb = x.view(np.uint8)
        wb = igemm_weights(wt, g.m, g.c, g.kh, g.kw).view(np.uint8)
        m_total = g.n * g.oh * g.ow
        slices = g.kh * g.kw * ((g.c + KBK - 1) // KBK)
        print(f"case: {case['name']}  [N={g.n} H={g.h} W={g.w} -> OH={g.oh} OW={g.ow}, pixels {m_total}, "
              f"slices {slices}{', unit' if is_unit(g) else ''}]", flush=True)
        for tile in tiles:
            if ds is not None and tile in PERSISTENT:
                continue  # the downsample runs in the tiled kernels only (reshapeDownsample)
            cfg = TILES[tile]
            n_tiles = (g.m + cfg[1] - 1) // cfg[1]
            n_out = ((m_total + cfg[0] - 1) // cfg[0]) * n_tiles  # output tiles
            runs = [0] if tile not in PERSISTENT else list(dict.fromkeys(gr if gr > 0 else n_out + 1 for gr in grids))
            for grid in runs:
                t0 = time.time()
                haz = Hazards()
                out = Out(g, case["y_int8"])
                name = f"ig{tile} <{cfg[0]},{cfg[1]},{cfg[2]},{cfg[3]},{cfg[4]}>"
                if tile in PERSISTENT:
                    stats = dict(ctas=0, idle=0, max_tiles=0, ahead=0)
                    for bid in range(grid):
                        igemm_persistent_kernel(cfg, xb, wb, out, g, e, m_total, n_tiles, n_out, bid, grid, haz, rng,
                                                args.mutate, stats)
                    name += f" grid {grid}"
                    info = (f"{n_out} tiles, {stats['ctas']} CTAs (+{stats['idle']} idle), up to "
                            f"{stats['max_tiles']} tiles a CTA, loader up to {stats['ahead']} tile(s) ahead")
                elif tile in WGMMA:
                    pipe, reg = tile in WGMMA_PIPE, tile in WGMMA_REG_EPI
                    name = f"ig{tile} wgmma <{cfg[0]},{cfg[1]},{cfg[4]}{',pipe' if pipe else ''}{',reg' if reg else ''}>"
                    for bid in range(n_out):
                        wgmma_kernel(cfg, xb, wb, out, g, e, m_total, n_tiles, bid, haz, rng, args.mutate, pipe, reg)
                    info = f"{n_out} CTAs"
                else:
                    for bid in range(n_out):
                        igemm_kernel(cfg, xb, wb, out, g, e, m_total, n_tiles, bid, haz, rng, args.mutate)
                    info = f"{n_out} CTAs"
                ok, msg = compare(case, g, out, ref, ref32, direct)
                ok = ok and not haz
                print(f"  {'PASS' if ok else 'FAIL'} {name:34s} {info}  {msg}  ({time.time() - t0:.1f}s)",
                      flush=True)
                if haz:
                    print("    hazards:\n" + haz.report("      "))
                results.append((case["name"], name, ok))
    print("\nsummary:")
    for c, k, ok in results:
        print(f"  {'PASS' if ok else 'FAIL'}  {c:46s} {k}")
    npass = sum(ok for *_, ok in results)
    print(f"{npass}/{len(results)} passed" + (f"  (mutation '{args.mutate}' injected)" if args.mutate else ""))
    return 0 if npass == len(results) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiles", default="0,6,7,8,9,10,13,14",
                    help="instantiations (indices of kIgemmTiles; 7-9 persistent, 10-20 and 28-33 wgmma, 14-15, 20, 32-33 pipelined)")
    ap.add_argument("--all-tiles", action="store_true", help="every modelled instantiation, 0-20 and 28-33")
    ap.add_argument("--grid", default="1,3,0",
                    help="grid sizes (CTAs) of the persistent tiles, comma-separated; 0: tiles + 1 (default 1,3,0)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mutate", choices=["bswap", "stage", "nowait", "nosync", "ring", "episync", "nozero", "align",
                                         "kstep", "dssync", "ahead"],
                    default=None, help="inject a bug (self-test of the emulator)")
    args = ap.parse_args()
    sys.exit(run(args))


if __name__ == "__main__":
    main()
