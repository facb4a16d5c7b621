#!/usr/bin/env python3
"""Pixel-level emulator of qrt's stem + max-pool kernel (src/backends/cuda/stem_pool.cu, stemPoolKernel).

Emulates the kernel's index math, not its lanes: the segments of pooled rows per image (StemGeometry::segs, as
preparePool chooses them for a given number of resident blocks), the steps of two convolution rows from the
segment's halo row, the input window staged again when a step leaves it (its rows, pitch and zero fill as
stageWindow), the patch offsets of the ktab table (NCHW patch order), each computed pixel's base offset b0 in the
window, the fp16 rounding after bias and ReLU, the ring of four rows (slot r & 3, 16-byte chunks XORed by the
pixel's parity), the pooled rows emitted as soon as their three rows are in the ring, and the NHWC output
offsets; against a float64 convolution + ReLU + fp16 rounding + 3x3/2/1 max pool. The lanes' fragment layouts and
the epilogue's quad transpose are the row-tile kernel's (stem_device.cuh), which the GPU tests cover.

usage: stem_pool_emulator.py [--mutate halo|swizzle]   (prints each case's largest difference; exits non-zero on
a mismatch). --mutate checks the emulator itself: a segment without its halo row, or a ring read without the
parity swizzle, must fail.
"""
import argparse
import sys

import numpy as np

MUTATE = None


def emulate(x, w, b, sh=2, sw=2, ph=3, pw=3, slots=264, kPoolPasses=4):
    N,C,H,W = x.shape; M,_,kh,kw = w.shape
    oh=(H+2*ph-kh)//sh+1; ow=(W+2*pw-kw)//sw+1
    assert ow<=128
    pool_h=(oh-1)//2+1; pool_w=(ow-1)//2+1
    tw=(ow+15)//16*16
    SR=(2*kPoolPasses-1)*sh+kh; WP=((tw-1)*sw+kw+1)&~1
    taps=kh*kw; K=taps*C; k_pad=(K+15)//16*16
    # ktab (NCHW patch order (c, r, s))
    off=np.zeros(k_pad,dtype=np.int64); wk=np.zeros((M,k_pad))
    for k in range(k_pad):
        if k<K:
            c=k//taps; t=k%taps; off[k]=(c*SR+t//kw)*WP+t%kw
            wk[:,k]=w[:,c,t//kw,t%kw]
    segs=1
    while N*segs<slots and pool_h//(segs*2)>=4: segs*=2
    seg_rows=(pool_h+segs-1)//segs
    y=np.full((N,pool_h,pool_w,M),np.nan)
    for n in range(N):
        for seg in range(segs):
            py0=seg*seg_rows; py1=min(pool_h,py0+seg_rows)
            if py0>=py1: continue
            r_first=max(0,2*py0-(0 if MUTATE=="halo" else 1)); r_last=min(oh-1,2*py1-1)
            WR=2*kPoolPasses; win0=r_first-WR; nxt=py0
            ring=np.full((4*tw*64,),np.nan)  # byte-level not needed: element index = ((r&3)*tw+ox)*64 + swizzled chunk*8 + c
            r=r_first
            while r<=r_last:
                r_hi=min(r+1,r_last)
                if r_hi>=win0+WR:
                    win0=r
                    iy0=win0*sh-ph; ix0=-pw
                    X=np.zeros(C*SR*WP)
                    for cr in range(C*SR):
                        c=cr//SR; iy=iy0+cr-c*SR
                        for col in range(WP):
                            ix=ix0+col
                            if 0<=iy<H and 0<=ix<W: X[cr*WP+col]=x[n,c,iy,ix]
                for mt in (0,1):
                    if r+mt>r_last: break
                    row=min(r+mt,r_last)
                    for warp in range(tw//16):
                        for p in range(16):
                            ox=warp*16+p
                            b0=(row-win0)*sh*WP+ox*sw
                            v=wk@X[b0+off]+b      # the fragment loop's sum over k
                            v=np.maximum(v,0).astype(np.float16).astype(np.float64)
                            if ox<ow:
                                for ch in range(M//8):
                                    sl=((r+mt)&3)*tw+ox
                                    sch=ch^((ox&1)<<2)
                                    ring[sl*64+sch*8:sl*64+sch*8+8]=v[ch*8:ch*8+8]
                while nxt<py1 and min(2*nxt+1,oh-1)<=r_hi:
                    py=nxt
                    for px in range(pool_w):
                        for ch in range(M//8):
                            best=None
                            for dy in range(3):
                                rr=2*py-1+dy
                                if rr<0 or rr>=oh: continue
                                for dx in range(3):
                                    ox=2*px-1+dx
                                    if ox<0 or ox>=ow: continue
                                    sl=(rr&3)*tw+ox; sch=ch if MUTATE=="swizzle" else ch^((ox&1)<<2)
                                    v=ring[sl*64+sch*8:sl*64+sch*8+8]
                                    best=v if best is None else np.maximum(best,v)
                            y[n,py,px,ch*8:ch*8+8]=best
                    nxt+=1
                r+=2
    return y


def reference(x,w,b,sh=2,sw=2,ph=3,pw=3):
    N,C,H,W=x.shape; M,_,kh,kw=w.shape
    oh=(H+2*ph-kh)//sh+1; ow=(W+2*pw-kw)//sw+1
    xp=np.zeros((N,C,H+2*ph,W+2*pw)); xp[:,:,ph:ph+H,pw:pw+W]=x
    c=np.zeros((N,M,oh,ow))
    for i in range(kh):
        for j in range(kw):
            c+=np.einsum('nchw,mc->nmhw',xp[:,:,i:i+sh*oh:sh,j:j+sw*ow:sw],w[:,:,i,j])
    c=np.maximum(c+b[None,:,None,None],0).astype(np.float16).astype(np.float64)
    cp=np.full((N,M,oh+2,ow+2),-np.inf); cp[:,:,1:-1,1:-1]=c
    poh=(oh-1)//2+1; pow_=(ow-1)//2+1
    p=np.full((N,M,poh,pow_),-np.inf)
    for i in range(3):
        for j in range(3):
            p=np.maximum(p,cp[:,:,i:i+2*poh:2,j:j+2*pow_:2])
    return p.transpose(0,2,3,1)


def main():
    global MUTATE
    ap = argparse.ArgumentParser()
    ap.add_argument("--mutate", choices=["halo", "swizzle"])
    MUTATE = ap.parse_args().mutate
    rng = np.random.default_rng(0)
    bad = 0
    for (N, C, H, W, M) in [(2, 3, 64, 64, 64), (1, 3, 50, 46, 8), (3, 3, 33, 20, 16), (1, 3, 224, 100, 8)]:
        x = rng.standard_normal((N, C, H, W)); w = rng.standard_normal((M, C, 7, 7)) * 0.1; b = rng.standard_normal(M) * 0.1
        for slots in (264, 4):  # resident blocks: few segments, or many (halo rows)
            got = emulate(x, w, b, slots=slots); want = reference(x, w, b)
            err = np.inf if np.isnan(got).any() else np.abs(got - want).max()
            print((N, C, H, W, M), slots, "max err", err)
            bad += not err < 1e-2
    print("mismatch" if bad else "ok: every case matches the reference")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
