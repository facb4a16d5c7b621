#!/usr/bin/python3
# Summarizes `ncu -i REP --page source --csv --print-source sass | gzip` output: per kernel block, stall totals by
# reason and the top instructions by samples. usage: sass_stalls.py FILE.csv.gz [block indexes] [--top N]
import csv, gzip, sys, collections, re
f = sys.argv[1]; want = [int(a) for a in sys.argv[2:] if a.isdigit()]
top = 30
rows = list(csv.reader(gzip.open(f, 'rt')))
blocks = []; cur = None
for r in rows:
    if r and r[0] == 'Kernel Name':
        cur = {'name': r[1], 'rows': []}; blocks.append(cur); continue
    if r and r[0] == 'Address': cur['hdr'] = r; continue
    if cur is not None and r: cur['rows'].append(r)
for i, b in enumerate(blocks):
    if want and i not in want: continue
    h = b['hdr']; ix = {k: j for j, k in enumerate(h)}
    stall_cols = [k for k in h if k.startswith('stall_') and 'Not Issued' not in k]
    tot = collections.Counter(); samples = 0; inst = 0
    per = []
    for r in b['rows']:
        s = int(r[ix['Warp Stall Sampling (All Samples)']] or 0); samples += s
        n = int(r[ix['Instructions Executed']] or 0); inst += n
        for k in stall_cols: tot[k] += int(r[ix[k]] or 0)
        per.append((s, n, r[ix['Address']][-5:], r[ix['Source']].strip(), {k: int(r[ix[k]] or 0) for k in stall_cols}))
    name = re.sub(r'qrt::cuda::launch::<unnamed>::', '', b['name'])[:90]
    print(f"=== [{i}] {name}  samples={samples} warp-inst={inst} lines={len(per)}")
    print('   ', ', '.join(f"{k[6:]}={v*100//max(samples,1)}%" for k, v in tot.most_common(8)))
    if want:
        ops = collections.Counter(); opn = collections.Counter()
        for s, n, a, src, st in per:
            op = src.split()[0] if src else '?'
            if op.startswith('@'): op = src.split()[1]
            op = op.split('.')[0]; ops[op] += s; opn[op] += n
        print('    by opcode (samples, executed):', ', '.join(f"{o}:{v}/{opn[o]}" for o, v in ops.most_common(16)))
        for s, n, a, src, st in sorted(per, key=lambda t: -t[0])[:top]:
            m = ', '.join(f"{k[6:]}={v}" for k, v in sorted(st.items(), key=lambda t: -t[1])[:3] if v)
            print(f"    {s:6d} {n:9d} {a} {src[:60]:60s} {m}")
