#!/usr/bin/env python3
"""Plays the synchronisation protocol of qrt's streaming TMA igemm kernel (tiles 41-42,
src/backends/cuda/sm90a/qconv_wgmma.cu: wgmmaTmaStreamKernel) under random timings.

The kernel, as W warpgroups run it (thread 0, in warpgroup 0, issues every TMA): stream slice s of the CTA's
tiles (tile j = s / slices) lands in stage s % S on full[s % S]. Before the loop thread 0 issues slices
0 .. A - 1 (A = S - 2) and tile 0's residual into z buffer 0 (zfull[0]). Per tile j: thread 0 issues tile j + 1's
residual into buffer (j + 1) & 1; per slice s: every warpgroup waits full[s % S] parity (s / S) & 1, block
barrier, thread 0 issues slice s + A, each warpgroup queues its wgmma group on the stage and waits until at
most one group is pending (wait_group 1); after the tile's slices, wait_group 0, stage the accumulators into
the int32 tile, wait zfull[j & 1] parity (j >> 1) & 1, barrier, epilogue (reads the int32 tile and z buffer
j & 1), barrier.

mbarriers as the hardware keeps them (one arrival, with expect_tx, and the transaction bytes: a phase completes
when both are in; try_wait.parity(P) passes when the phase count's parity differs from P); TMA copies land after
a random delay; a wgmma group reads its stage until its warpgroup waits it out. Checks: every wgmma reads the
slice it was queued for, landed; every epilogue reads its own tile's residual, landed; no TMA writes a stage
that a pending group reads or a z buffer that an epilogue reads; the int32 tile is not restaged while another
warpgroup's epilogue reads it; every warpgroup finishes (no deadlock).
--mutate ahead|parity|zearly|nobarrier must fail.

usage: stream_protocol.py [--trials N] [--mutate ahead|parity|zearly|nobarrier]
"""
import sys

from protocol_sim import Barrier, BlockBarrier, Violation, play_agents, run_trials


def play(rng, S, W, slices, mine, with_z, mutate):
    A = S - 2 + (1 if mutate == "ahead" else 0)
    total = mine * slices
    full = [Barrier() for _ in range(S)]
    zfull = [Barrier() for _ in range(2)]
    stage = [None] * S                   # the slice a stage holds (None: being written)
    readers = [set() for _ in range(S)]  # (warpgroup, slice) groups reading the stage
    ztile = [None, None]
    zreaders = [set(), set()]
    sc_readers = set()                   # warpgroups in the epilogue (reading the int32 tile)
    inflight = []                        # (landing tick, kind, index, value, barrier)
    tick = [0]
    barrier = BlockBarrier(W).arrive  # the block barrier

    def tma(kind, idx, value, b):
        if kind == "stage":
            if readers[idx]:
                raise Violation(f"TMA writes stage {idx} (slice {value}) while groups {readers[idx]} read it")
            stage[idx] = None
        else:
            if zreaders[idx]:
                raise Violation(f"TMA writes z buffer {idx} (tile {value}) while epilogues {zreaders[idx]} read it")
            ztile[idx] = None
        b.expect_tx(1)
        inflight.append((tick[0] + rng.randint(1, 25), kind, idx, value, b))

    def issue(s):
        tma("stage", s % S, s, full[s % S])

    def issue_z(j):
        tma("z", j & 1, j, zfull[j & 1])

    def warpgroup(w):
        if w == 0:
            for s in range(min(A, total)):
                issue(s)
            if with_z and mine > 0:
                issue_z(0)
        groups = []
        for j in range(mine):
            if w == 0 and with_z and j + 1 < mine:
                if mutate == "zearly" and j + 2 < mine:
                    issue_z(j + 2)  # a tile too early: its buffer's reader may still be in its epilogue
                elif mutate != "zearly":
                    issue_z(j + 1)
            for kt in range(slices):
                s = j * slices + kt
                par = (s // S) & 1
                if mutate == "parity" and s >= S:
                    par ^= 1
                yield lambda s=s, par=par: full[s % S].passed(par)
                if mutate != "nobarrier":
                    yield barrier(w)
                if w == 0 and s + A < total:
                    issue(s + A)
                if stage[s % S] != s:
                    raise Violation(f"warpgroup {w} queues slice {s} on stage {s % S}, which holds {stage[s % S]}")
                readers[s % S].add((w, s))
                groups.append((w, s))
                yield lambda: True  # the group runs a while
                for g in groups[:-1]:  # wait_group 1
                    readers[g[1] % S].discard(g)
                groups = groups[-1:]
            for g in groups:  # wait_group 0
                readers[g[1] % S].discard(g)
            groups = []
            if sc_readers:
                raise Violation(f"warpgroup {w} restages the int32 tile while {sc_readers} read it")
            yield lambda: True  # staging
            if with_z:
                yield lambda j=j: zfull[j & 1].passed((j >> 1) & 1)
            yield barrier(w)
            if with_z and ztile[j & 1] != j:
                raise Violation(f"warpgroup {w} reads z of tile {ztile[j & 1]} for tile {j}")
            sc_readers.add(w)
            zreaders[j & 1].add(w)
            yield lambda: True  # epilogue
            yield lambda: True
            sc_readers.discard(w)
            zreaders[j & 1].discard(w)
            if mutate != "nobarrier":
                yield barrier(w)

    def land(copy):
        _, what, idx, value, b = copy
        if what == "stage":
            stage[idx] = value
        else:
            ztile[idx] = value
        b.complete_tx(1)

    play_agents(rng, [warpgroup(w) for w in range(W)], inflight, tick, land)


def main():
    return run_trials(
        ["ahead", "parity", "zearly", "nobarrier"],
        lambda rng: dict(S=rng.choice([3, 4, 5, 6]), W=rng.choice([1, 2]), slices=rng.choice([1, 2, 3, 4, 8, 16]),
                         mine=rng.choice([1, 2, 3, 5, 8, 13]), with_z=rng.random() < 0.7),
        play)


if __name__ == "__main__":
    sys.exit(main())
