#!/usr/bin/env python3
"""Plays the synchronisation protocol of qrt's resident-weight igemm kernel (tiles 44-47,
src/backends/cuda/sm90a/qconv_resident.cu: residentKernel) under random timings: its buffers' TMA loads, the
wgmma reads, the in-place epilogue and the TMA stores of y (session 16).

The kernel, as W warpgroups run it (thread 0, in warpgroup 0, issues every TMA): K buffers, each one tile's x
and residual z, which the epilogue overwrites with y. issue(j) (thread 0): wait until no bulk store still
reads shared memory (cp.async.bulk.wait_group.read 0), arm bar[j % K] and queue tile j's loads into buffer
j % K. Before the loop thread 0 issues tiles 0 .. K - 2. Per tile j: thread 0 issues tile j + K - 1 (into
the buffer of tile j - 1); every warpgroup waits bar[j % K] parity (j / K) & 1, queues its wgmmas on the
buffer's x and waits them out (wait_group 0), then writes its rows of y over the buffer's z (the epilogue),
fences its writes for the async proxy, and meets the block barrier; thread 0 then queues the TMA store that
reads the buffer (its y tile) and commits it. At the end thread 0 waits for every store.

mbarriers as the hardware keeps them (protocol_sim.Barrier); TMA loads land and stores finish reading after
random delays. Checks: every wgmma reads the x of the tile it was queued for, landed; every epilogue writes
over its own tile's landed z; every store reads a y tile that every warpgroup has finished; no TMA load
writes a buffer that a wgmma, an epilogue or a store still reads; every agent finishes (no deadlock).
--mutate noread|nobarrier|parity|ahead must fail.

usage: resident_protocol.py [--trials N] [--mutate noread|nobarrier|parity|ahead]
"""
import sys

from protocol_sim import Barrier, BlockBarrier, Violation, play_agents, run_trials


def play(rng, K, W, mine, mutate):
    ahead = K - 1 + (1 if mutate == "ahead" else 0)
    bars = [Barrier() for _ in range(K)]
    buf = [None] * K                    # ("x", j): tile j's x and z landed; ("y", j): its y written; None: loading
    wg_readers = [set() for _ in range(K)]   # warpgroups whose wgmmas read the buffer
    epi = [set() for _ in range(K)]          # warpgroups writing their y rows into the buffer
    y_done = [set() for _ in range(K)]       # warpgroups whose y rows of the buffer's tile are written
    store_reading = [None] * K               # the tile whose TMA store still reads the buffer
    inflight = []                            # (landing tick, kind, buffer, tile)
    tick = [0]
    barrier = BlockBarrier(W).arrive  # the block barrier

    def load(j):
        b = j % K
        if wg_readers[b] or epi[b] or store_reading[b] is not None:
            raise Violation(f"TMA loads tile {j} into buffer {b} while wgmmas {wg_readers[b]}, epilogues "
                            f"{epi[b]} or the store of tile {store_reading[b]} use it")
        buf[b] = None
        y_done[b] = set()
        bars[b].expect_tx(1)
        inflight.append((tick[0] + rng.randint(1, 30), "load", b, j))

    def no_store_reads():
        return all(s is None for s in store_reading)

    def warpgroup(w):
        if w == 0:
            for j in range(min(ahead, mine)):
                if mutate != "noread":
                    yield no_store_reads
                load(j)
        for j in range(mine):
            b = j % K
            if w == 0 and j + ahead < mine:
                if mutate != "noread":
                    yield no_store_reads  # bulkWaitRead<0>
                load(j + ahead)
            par = (j // K) & 1
            if mutate == "parity" and j >= K:
                par ^= 1
            yield lambda b=b, par=par: bars[b].passed(par)
            if buf[b] != ("x", j):
                raise Violation(f"warpgroup {w} queues tile {j}'s wgmmas on buffer {b}, which holds {buf[b]}")
            wg_readers[b].add(w)
            yield lambda: True  # the wgmmas run
            wg_readers[b].discard(w)  # wait_group 0
            if buf[b] != ("x", j):
                raise Violation(f"warpgroup {w}'s epilogue of tile {j} finds buffer {b} holding {buf[b]}")
            epi[b].add(w)
            yield lambda: True  # reads z, writes its rows of y
            epi[b].discard(w)
            y_done[b].add(w)
            if mutate != "nobarrier":
                yield barrier(w)
            if w == 0:
                if y_done[b] != set(range(W)):
                    raise Violation(f"the store of tile {j} reads buffer {b} before warpgroups "
                                    f"{set(range(W)) - y_done[b]} wrote their rows")
                store_reading[b] = j
                inflight.append((tick[0] + rng.randint(1, 30), "store", b, j))
        if w == 0:
            yield no_store_reads  # the stores complete before the CTA ends

    def land(copy):
        _, kind, b, j = copy
        if kind == "load":
            buf[b] = ("x", j)
            bars[b].complete_tx(1)
        else:
            store_reading[b] = None

    play_agents(rng, [warpgroup(w) for w in range(W)], inflight, tick, land)


def main():
    return run_trials(
        ["noread", "nobarrier", "parity", "ahead"],
        lambda rng: dict(K=rng.choice([2, 3]), W=rng.choice([1, 2]), mine=rng.choice([1, 2, 3, 4, 5, 8, 13])),
        play)


if __name__ == "__main__":
    sys.exit(main())
