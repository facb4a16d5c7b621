#!/usr/bin/python3
"""Turns qrt_micro_bench JSON output into a markdown table: per case, the cpu and the reference
backend's enqueue time, their ratio and GFLOP/s.

usage: bench/micro/report.py RUN.json [RUN.json ...] > table.md

Each file is one `qrt_micro_bench --benchmark_out=RUN.json --benchmark_out_format=json` run,
ideally with --benchmark_repetitions=N (the table then shows medians, and the spread of the cpu
time as min-max over the repetitions). One table per file: runs with different --threads go in
different files.

Columns: wall-clock medians (µs) and GFLOP/s from them; "µs (thread)" is the calling thread's
CPU time per run (with --threads=1 all of the work, and on a loaded machine the better estimate
of the uncontended cost: wall time also counts the time the thread waited for a core); "own
layer" is the share of the cpu engine's run spent in the case's own layer rather than in the
Identity layout changes around it (the layer_share counter).
"""
import json
import sys


def fmt_us(us):
    return f"{us:.1f}" if us < 100 else f"{us:.0f}"


def fmt_flop(f):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if f >= scale:
            return f"{f / scale:.3g} {unit}"
    return f"{f:.0f}"


def table(path):
    with open(path) as f:
        data = json.load(f)
    ctx = data["context"]
    # run_name "Family/case/backend/real_time": per run, its median (or single) time and GFLOP/s,
    # and the spread over repetitions.
    runs = {}
    for b in data["benchmarks"]:
        if b.get("error_occurred"):
            key = b["run_name"].rsplit("/", 1)[0]
            runs.setdefault(key, {})["error"] = b.get("error_message", "error")
            continue
        key = b["run_name"].rsplit("/", 1)[0] if b["run_name"].endswith("/real_time") else b["run_name"]
        r = runs.setdefault(key, {"reps": []})
        if b["run_type"] == "iteration":
            r.setdefault("reps", []).append(b["real_time"])
            r.setdefault("label", b.get("label", ""))
            r.setdefault("flop", b.get("FLOP", 0))
            if "median" not in r:
                r["time"], r["gflops"], r["cpu_time"] = b["real_time"], b.get("GFLOP", 0), b["cpu_time"]
                r["share"] = b.get("layer_share")
        elif b.get("aggregate_name") == "median":
            r["median"] = True
            r["time"], r["gflops"], r["cpu_time"] = b["real_time"], b.get("GFLOP", 0), b["cpu_time"]
            r["share"] = b.get("layer_share")
        assert b["time_unit"] == "us", b["time_unit"]
    cases = []
    for key in runs:
        case, backend = key.rsplit("/", 1)
        if case not in cases:
            cases.append(case)
    out = []
    reps = max((len(r.get("reps", [])) for r in runs.values()), default=1)
    out.append(f"threads: {ctx.get('qrt_threads', '?')}; repetitions: {reps} "
               f"({'medians' if reps > 1 else 'one run each'}); load average at the start: "
               f"{', '.join(f'{x:.2f}' for x in ctx.get('load_avg', []))}")
    out.append("")
    out.append("| case | FLOP | cpu µs | cpu min-max µs | reference µs | reference / cpu | cpu GFLOP/s | reference GFLOP/s "
               "| cpu µs (thread) | reference µs (thread) | own layer | cpu layers |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for case in cases:
        cpu, ref = runs.get(case + "/cpu", {}), runs.get(case + "/reference", {})
        if "error" in cpu or "error" in ref:
            out.append(f"| `{case}` | | {cpu.get('error', '')} | | {ref.get('error', '')} | | | | | | | |")
            continue
        ct, rt = cpu.get("time"), ref.get("time")
        spread = (f"{fmt_us(min(cpu['reps']))}-{fmt_us(max(cpu['reps']))}"
                  if len(cpu.get("reps", [])) > 1 else "")
        ratio = f"{rt / ct:.1f}x" if ct and rt else ""
        share = cpu.get("share")
        out.append("| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            case, fmt_flop(cpu.get("flop", ref.get("flop", 0))),
            fmt_us(ct) if ct else "", spread, fmt_us(rt) if rt else "", ratio,
            f"{cpu['gflops']:.1f}" if ct else "", f"{ref['gflops']:.1f}" if rt else "",
            fmt_us(cpu["cpu_time"]) if ct else "", fmt_us(ref["cpu_time"]) if rt else "",
            f"{share * 100:.0f}%" if share is not None else "", cpu.get("label", "")))
    return "\n".join(out)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("\n\n".join(table(p) for p in sys.argv[1:]))


if __name__ == "__main__":
    main()
