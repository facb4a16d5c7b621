"""The pieces qrt's kernel-protocol players share (pingpong_protocol.py, stream_protocol.py,
resident_protocol.py): an mbarrier as
the hardware keeps it, the violation they raise, the scheduler that plays agents (generators yielding the
condition they wait on) against TMA copies landing after random delays, and the trial driver."""
import argparse
import random


class Barrier:
    """An mbarrier: a phase completes when its pending arrivals reach zero and its transaction bytes have
    landed; try_wait.parity(P) passes when the completed-phase count's parity differs from P."""

    def __init__(self, count=1):
        self.count = count
        self.pending = count
        self.tx = 0
        self.phase = 0  # phases completed

    def _check(self):
        if self.pending == 0 and self.tx == 0:
            self.phase += 1
            self.pending = self.count

    def arrive(self):
        self.pending -= 1
        self._check()

    def expect_tx(self, n):  # mbarrier.arrive.expect_tx
        self.tx += n
        self.pending -= 1
        self._check()

    def complete_tx(self, n):
        self.tx -= n
        self._check()

    def passed(self, parity):
        return (self.phase & 1) != parity


class BlockBarrier:
    """__syncthreads (or a named barrier) among `parties` agents: arrive(w) returns the predicate the agent
    waits on, true once every party has arrived in that generation."""

    def __init__(self, parties):
        self.parties = parties
        self.gen = 0
        self.arrived = set()

    def arrive(self, w):
        gen = self.gen
        self.arrived.add(w)
        if len(self.arrived) == self.parties:
            self.arrived = set()
            self.gen += 1
        return lambda: self.gen > gen


class Violation(Exception):
    pass


def play_agents(rng, agents, inflight, tick, land):
    """Runs `agents` (generators yielding a zero-argument predicate: the condition each waits on) and the
    copies in `inflight` (lists whose first element is the tick they land at) in a random order of the
    runnable steps until all are done; land(copy) applies a landed copy. tick: a one-element list, the
    clock the agents' copies are scheduled against. Raises Violation on a deadlock."""
    n = len(agents)
    waits = [None] * n
    done = [False] * n

    def step(i):
        try:
            waits[i] = next(agents[i])
        except StopIteration:
            done[i] = True

    for i in range(n):
        step(i)
    while not all(done) or inflight:
        tick[0] += 1
        runnable = [i for i in range(n) if not done[i] and waits[i]()]
        landing = [k for k, f in enumerate(inflight) if f[0] <= tick[0]]
        choices = [("a", i) for i in runnable] + [("l", k) for k in landing]
        if not choices:
            if not inflight:
                raise Violation(f"deadlock: agents done {done}")
            continue
        kind, k = rng.choice(choices)
        if kind == "a":
            step(k)
        else:
            land(inflight.pop(k))


def run_trials(mutations, draw, play):
    """The players' command line: --trials N (default 3000) and --mutate M (one of `mutations`). Each trial
    draws a configuration (draw(rng) -> dict of play's keyword arguments) and plays it (play(rng, mutate=M,
    **config)); the first three violations are printed, then how many trials were clean. Returns the exit
    status: 1 where any trial raised a Violation (a mutation must), else 0."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=3000)
    ap.add_argument("--mutate", choices=mutations)
    a = ap.parse_args()
    rng = random.Random(1)
    bad = 0
    for t in range(a.trials):
        config = draw(rng)
        try:
            play(rng, mutate=a.mutate, **config)
        except Violation as e:
            bad += 1
            if bad <= 3:
                print(f"trial {t} ({', '.join(f'{k} {v}' for k, v in config.items())}): {e}")
    print(f"{a.trials - bad} of {a.trials} trials clean" + (f" (mutation {a.mutate})" if a.mutate else ""))
    return 1 if bad else 0
