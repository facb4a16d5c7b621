#!/usr/bin/env python3
"""Plays the synchronisation protocol of qrt's warp-specialized ping-pong igemm kernel (tile 26,
src/backends/cuda/sm90a/qconv_wgmma.cu: wgmmaPingPongKernel) under random timings.

Agents, as the kernel runs them: the slice producer (thread 0: for each of the CTA's tiles j, each slice
kt: wait empty[s] parity ((it / S) & 1) ^ 1, arm full[s], queue the TMA), the residual producer (thread 32:
consumer c's n-th tile goes to ring tile t = c D + n % D of the D z / y tiles a consumer has: wait zempty[t]
parity ((n / D) & 1) ^ 1, arm zfull[t], queue the TMA), and two consumers (consumer c: tiles c, c + 2, ...;
wait order[c], then per slice wait full[s] parity (it / S) & 1, queue the wgmma group, wait until one group
is pending and release the previous slice's stage; at the end wait for all, release the last stage, arrive
order[1 - c]; wait zfull[t] parity (n / D) & 1, read z / write y in the tile, store, arrive zempty[t]).

mbarriers as the hardware keeps them (a phase completes when its pending arrivals reach zero and its
transaction bytes have landed; try_wait.parity(P) passes when the current phase's parity differs from P),
TMA copies landing after a random delay, wgmma groups reading their stage until the consumer waits them out.
Checks: every wgmma reads the slice it was queued for, fully landed, and no TMA writes a stage or a z tile
while anyone still reads it; every agent finishes (no deadlock). --mutate order|parity|release must fail.

usage: pingpong_protocol.py [--trials N] [--mutate order|parity|release|zparity]
"""
import sys

from protocol_sim import Barrier, Violation, play_agents, run_trials


def play(rng, S, D, slices, mine, with_z, mutate):
    full = [Barrier() for _ in range(S)]
    empty = [Barrier() for _ in range(S)]
    zfull = [Barrier() for _ in range(2 * D)]
    zempty = [Barrier() for _ in range(2 * D)]
    order = [Barrier() for _ in range(2)]
    stage = [None] * S        # the slice a stage holds (None: being written)
    readers = [set() for _ in range(S)]  # wgmma groups reading the stage
    ztile = [None] * (2 * D)
    zbusy = [False] * (2 * D)
    inflight = []             # (landing tick, kind, index, value)
    tick = [0]

    def tma(kind, idx, value, bar, nbytes):
        if kind == "stage":
            if readers[idx]:
                raise Violation(f"TMA writes stage {idx} (slice {value}) while groups {readers[idx]} read it")
            stage[idx] = None
        else:
            if zbusy[idx]:
                raise Violation(f"TMA writes z tile {idx} while its consumer uses it")
            ztile[idx] = None
        inflight.append((tick[0] + rng.randint(1, 20), kind, idx, value, bar, nbytes))

    def producer():
        for j in range(mine):
            for kt in range(slices):
                it = j * slices + kt
                s = it % S
                par = ((it // S) & 1) ^ 1
                yield lambda s=s, par=par: empty[s].passed(par)
                full[s].expect_tx(2)
                tma("stage", s, it, full[s], 2)

    def zproducer():
        if not with_z:
            return
        for j in range(mine):
            n = j >> 1
            t = (j & 1) * D + n % D
            yield lambda t=t, n=n: zempty[t].passed(((n // D) & 1) ^ 1)
            zfull[t].expect_tx(1)
            tma("z", t, j, zfull[t], 1)

    def consumer(c):
        n = 0
        for j in range(c, mine, 2):
            if j > 0 and mutate != "order":
                par = ((n - 1) if c == 0 else n) & 1
                yield lambda c=c, par=par: order[c].passed(par)
            groups = []  # (group id, stage)
            for kt in range(slices):
                it = j * slices + kt
                s = it % S
                par = (it // S) & 1
                if mutate == "parity":
                    par ^= 1 if it >= S else 0
                yield lambda s=s, par=par: full[s].passed(par)
                if stage[s] != it:
                    raise Violation(f"consumer {c} queues slice {it} on stage {s}, which holds {stage[s]}")
                gid = (c, it)
                readers[s].add(gid)
                groups.append((gid, s))
                yield lambda: True  # the group runs a while
                # wgmma.wait_group 1: every group but the last is done
                for g, gs in groups[:-1]:
                    readers[gs].discard(g)
                groups = groups[-1:]
                if kt > 0:
                    prev = (it - 1) % S
                    if mutate == "release" and kt == 1:
                        pass  # forgets to release
                    else:
                        empty[prev].arrive()
            for g, gs in groups:
                readers[gs].discard(g)
            empty[(j * slices + slices - 1) % S].arrive()
            order[1 - c].arrive()
            t = c * D + n % D
            if with_z:
                par = (n // D) & 1
                if mutate == "zparity" and n >= D:
                    par ^= 1
                yield lambda t=t, par=par: zfull[t].passed(par)
                if ztile[t] != j:
                    raise Violation(f"consumer {c} reads z of tile {ztile[t]} for tile {j}")
            zbusy[t] = True
            yield lambda: True  # epilogue and store
            yield lambda: True
            zbusy[t] = False
            if with_z:
                zempty[t].arrive()
            n += 1

    def land(copy):
        _, what, idx, value, bar, nbytes = copy
        if what == "stage":
            stage[idx] = value
        else:
            ztile[idx] = value
        bar.complete_tx(nbytes)

    play_agents(rng, [producer(), zproducer(), consumer(0), consumer(1)], inflight, tick, land)


def main():
    return run_trials(
        ["order", "parity", "release", "zparity"],
        lambda rng: dict(S=rng.choice([2, 3, 4, 6]), D=rng.choice([1, 2, 4]), slices=rng.choice([1, 2, 3, 4, 8, 16]),
                         mine=rng.choice([1, 2, 3, 5, 8, 13]), with_z=rng.random() < 0.7),
        play)


if __name__ == "__main__":
    sys.exit(main())
