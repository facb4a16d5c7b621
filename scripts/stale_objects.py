#!/usr/bin/env python3
# usage: scripts/stale_objects.py BUILD_DIR
# Lists objects of a ninja build dir that may have been compiled from an older version of one of
# their inputs: an input modified after the compile started (mtime > obj mtime - duration).
# Why: ninja trusts mtimes, so an object compiled while one of its sources or headers was being
# edited (the edit landing after the compiler read the file, before it wrote the object) looks up
# to date forever. It happened twice in this repository (a stale BuildOptions layout in the CLI;
# a quantize_before_maxpool.o without its positive-scale check, copied into every build dir made
# from that one). Delete what this lists (`rm -f $(scripts/stale_objects.py B | cut -d' ' -f1)`
# in B) and rebuild before packing binaries for the GPU machine or measuring.
import os
import subprocess
import sys
b = sys.argv[1]
log = {}
for line in open(os.path.join(b, '.ninja_log')):
    if line.startswith('#'): continue
    p = line.rstrip('\n').split('\t')
    if len(p) < 5: continue
    s, e, mt, out = int(p[0]), int(p[1]), int(p[2]), p[3]
    log[out] = (s, e, mt)
deps = subprocess.run(['ninja', '-C', b, '-t', 'deps'], capture_output=True, text=True).stdout
cur = None; bad = []
for line in deps.splitlines():
    if line and not line.startswith(' '):
        cur = line.split(':')[0]; continue
    f = line.strip()
    if not f or cur not in log: continue
    s, e, _ = log[cur]
    path = os.path.join(b, cur)
    if not os.path.exists(path): continue
    start = os.path.getmtime(path) - (e - s) / 1000.0 - 0.5
    fp = f if os.path.isabs(f) else os.path.join(b, f)
    if os.path.exists(fp) and os.path.getmtime(fp) > start:
        bad.append((cur, f))
seen = set()
for o, f in bad:
    if o not in seen: print(o, '<-', f); seen.add(o)
