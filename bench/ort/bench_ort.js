#!/usr/bin/env node
// ONNX Runtime's side of the CPU benchmark: the same measurement as `qrt bench`, on the same
// random input values, through onnxruntime-node (CPU execution provider).
//
//   node bench/ort/bench_ort.js MODEL.onnx [--batch N] [--shapes name:1x3x224x224,...] [--threads N]
//        [--warmup N] [--iterations N | --duration S] [--seed N] [--json FILE]
//
// Session: intraOpNumThreads = --threads, interOpNumThreads = 1 (sequential execution),
// graphOptimizationLevel 'all'. Each run is timed around `await session.run(feeds)` with
// process.hrtime, so the promise round trip (tens of microseconds) counts against ORT.
// onnxruntime-node comes from tests/ort/node_modules (scripts/fetch-npm-assets installs it).
//
// JSON: median_ms, mean_ms, p90_ms, p99_ms, min_ms, max_ms, throughput (samples/s = batch / mean),
// batch, iterations, threads, peak_rss_mb (process maxRSS: node itself included), baseline_rss_mb
// (maxRSS before the session was created), load_ms (session creation), ort_version.
'use strict';

const fs = require('fs');
const path = require('path');

function fail(msg) {
  process.stderr.write(`bench_ort: ${msg}\n`);
  process.exit(1);
}

// ---- Random inputs: the same values as tools/qrt/cmd_bench.cpp (keep the two in step) ----

// Mulberry32; every step in 32-bit integer arithmetic, as the C++ side computes it.
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

// seed + FNV-1a of the input's name (UTF-8 bytes), mod 2^32.
function inputSeed(seed, name) {
  let h = 2166136261;
  for (const c of Buffer.from(name, 'utf8')) h = Math.imul(h ^ c, 16777619) >>> 0;
  return (seed + h) >>> 0;
}

// Floats uniform in [-1, 1); integers in [0, 4); bools half true.
const TYPES = {
  float32: {array: Float32Array, kind: 'float'},
  float64: {array: Float64Array, kind: 'float'},
  int64: {array: BigInt64Array, kind: 'bigint'},
  int32: {array: Int32Array, kind: 'int'},
  int16: {array: Int16Array, kind: 'int'},
  int8: {array: Int8Array, kind: 'int'},
  uint8: {array: Uint8Array, kind: 'int'},
  uint16: {array: Uint16Array, kind: 'int'},
  bool: {array: Uint8Array, kind: 'bool'},
};

function randomTensor(ort, name, type, dims, seed) {
  const t = TYPES[type];
  if (!t) fail(`input '${name}' has type ${type}: no random values for it`);
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new t.array(n);
  const next = mulberry32(inputSeed(seed, name));
  for (let i = 0; i < n; i++) {
    const u = next() / 4294967296;
    if (t.kind === 'float') data[i] = 2 * u - 1;
    else if (t.kind === 'bool') data[i] = u < 0.5 ? 1 : 0;
    else if (t.kind === 'bigint') data[i] = BigInt(Math.floor(u * 4));
    else data[i] = Math.floor(u * 4);
  }
  return new ort.Tensor(type, data, dims);
}

// ---- Arguments and shapes ----

function parseArgs(argv) {
  const a = {model: null, batch: 0, shapes: {}, threads: 0, warmup: 2, iterations: 0, duration: 0, seed: 1, json: null};
  const int = (flag, v, min) => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < min) fail(`${flag} expects an integer >= ${min}, got '${v}'`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : fail(`${f} needs a value`));
    if (f === '--batch') a.batch = int(f, val(), 1);
    else if (f === '--threads') a.threads = int(f, val(), 0);
    else if (f === '--warmup') a.warmup = int(f, val(), 0);
    else if (f === '--iterations') a.iterations = int(f, val(), 1);
    else if (f === '--seed') a.seed = int(f, val(), 0);
    else if (f === '--json') a.json = val();
    else if (f === '--duration') {
      a.duration = Number(val());
      if (!(a.duration > 0)) fail(`--duration expects seconds > 0`);
    } else if (f === '--shapes') {
      for (const item of val().split(',')) {
        const colon = item.lastIndexOf(':');
        if (colon <= 0) fail(`bad --shapes entry '${item}': expected NAME:1x3x224x224`);
        const dims = item.slice(colon + 1).split('x').map(Number);
        if (dims.some((d) => !Number.isInteger(d) || d < 0)) fail(`bad --shapes entry '${item}'`);
        a.shapes[item.slice(0, colon)] = dims;
      }
    } else if (f === '-h' || f === '--help') {
      process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 16).join('\n') + '\n');
      process.exit(0);
    } else if (f.startsWith('-')) fail(`unknown option ${f}`);
    else if (a.model === null) a.model = f;
    else fail(`unexpected argument ${f}`);
  }
  if (a.model === null) fail('usage: node bench_ort.js MODEL.onnx [options] (--help)');
  if (a.iterations > 0 && a.duration > 0) fail('give --iterations or --duration, not both');
  if (a.iterations === 0 && a.duration === 0) a.duration = 3;
  return a;
}

// As `qrt bench`: --shapes first, then --batch for a symbolic first dim, then 1.
function resolveShape(meta, args) {
  const declared = meta.shape || [];
  const given = args.shapes[meta.name];
  const dims = declared.map((d, i) => (given ? given[i] : d));
  if (given && given.length !== declared.length) fail(`--shapes ${meta.name}: rank ${given.length}, the input has rank ${declared.length}`);
  if (dims.length > 0 && typeof declared[0] !== 'number') dims[0] = args.batch > 0 ? args.batch : typeof dims[0] === 'number' ? dims[0] : 1;
  dims.forEach((d, i) => {
    if (typeof d !== 'number' || d < 0) fail(`input '${meta.name}' dim ${i} is dynamic (${declared[i]}): give --shapes ${meta.name}:...`);
  });
  return dims;
}

// ---- Statistics (as tools/qrt/cmd_bench.cpp) ----

function summarize(ms) {
  const s = [...ms].sort((x, y) => x - y);
  const n = s.length;
  const pct = (p) => s[Math.min(Math.max(Math.ceil((p / 100) * n), 1), n) - 1];
  const total = s.reduce((x, y) => x + y, 0);
  const m = Math.floor(n / 2);
  return {
    min_ms: s[0], max_ms: s[n - 1], mean_ms: total / n,
    median_ms: n % 2 ? s[m] : 0.5 * (s[m - 1] + s[m]),
    p90_ms: pct(90), p99_ms: pct(99), total_ms: total,
  };
}

const rssMb = () => process.resourceUsage().maxRSS / 1024;  // maxRSS is in KiB

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require(path.join(__dirname, '../../tests/ort/node_modules/onnxruntime-node'));
  } catch (e) {
    fail(`onnxruntime-node is not installed in tests/ort (run scripts/fetch-npm-assets): ${e.message}`);
  }
  const baseline = rssMb();
  const options = {executionProviders: ['cpu'], graphOptimizationLevel: 'all', executionMode: 'sequential', interOpNumThreads: 1};
  if (args.threads > 0) options.intraOpNumThreads = args.threads;
  let t0 = process.hrtime.bigint();
  let session;
  try {
    session = await ort.InferenceSession.create(args.model, options);
  } catch (e) {
    fail(`${args.model}: ${e.message}`);
  }
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;

  const feeds = {};
  const inputs = [];
  for (const meta of session.inputMetadata) {
    if (!meta.isTensor) fail(`input '${meta.name}' is not a tensor`);
    const dims = resolveShape(meta, args);
    feeds[meta.name] = randomTensor(ort, meta.name, meta.type, dims, args.seed);
    inputs.push({name: meta.name, dtype: meta.type, dims});
  }
  const batch = inputs.length > 0 && inputs[0].dims.length > 0 ? Math.max(inputs[0].dims[0], 1) : 1;
  const run = async () => {
    try {
      return await session.run(feeds);
    } catch (e) {
      fail(`${args.model}: run failed: ${e.message}`);
    }
  };

  t0 = process.hrtime.bigint();
  for (let i = 0; i < args.warmup; i++) await run();
  const warmupMs = Number(process.hrtime.bigint() - t0) / 1e6;

  const ms = [];
  const start = process.hrtime.bigint();
  for (;;) {
    const t = process.hrtime.bigint();
    await run();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
    if (args.iterations > 0 ? ms.length >= args.iterations : elapsed >= args.duration * 1000) break;
  }
  const s = summarize(ms);
  const result = {
    model: args.model, ort_version: ort.env.versions.common,
    median_ms: s.median_ms, mean_ms: s.mean_ms, p90_ms: s.p90_ms, p99_ms: s.p99_ms, min_ms: s.min_ms, max_ms: s.max_ms,
    throughput: (batch * 1000) / s.mean_ms, batch, iterations: ms.length, warmup: args.warmup, warmup_ms: warmupMs,
    threads: args.threads, peak_rss_mb: rssMb(), baseline_rss_mb: baseline, load_ms: loadMs, seed: args.seed, inputs,
  };
  await session.release();

  process.stdout.write(`onnxruntime ${result.ort_version}: ${args.model}\n`);
  for (const i of inputs) process.stdout.write(`  input ${i.name}: ${i.dtype} ${i.dims.join('x')} (random, seed ${args.seed})\n`);
  process.stdout.write(`Throughput: ${result.throughput.toFixed(2)} samples/s (batch ${batch})\n`);
  process.stdout.write(`Latency: min = ${s.min_ms.toFixed(4)} ms, max = ${s.max_ms.toFixed(4)} ms, mean = ${s.mean_ms.toFixed(4)} ms, ` +
                       `median = ${s.median_ms.toFixed(4)} ms, percentile(90%) = ${s.p90_ms.toFixed(4)} ms, ` +
                       `percentile(99%) = ${s.p99_ms.toFixed(4)} ms\n`);
  process.stdout.write(`Timed runs: ${ms.length} in ${(s.total_ms / 1000).toFixed(3)} s; session load ${loadMs.toFixed(1)} ms; ` +
                       `peak RSS ${result.peak_rss_mb.toFixed(1)} MiB (node alone ${baseline.toFixed(1)} MiB)\n`);
  if (args.json) {
    fs.mkdirSync(path.dirname(path.resolve(args.json)), {recursive: true});
    fs.writeFileSync(args.json, JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(`wrote ${args.json}\n`);
  }
}

main();
