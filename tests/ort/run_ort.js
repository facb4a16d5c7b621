#!/usr/bin/env node
// Runs an ONNX model with ONNX Runtime (CPU, through onnxruntime-node) on .npy inputs and writes
// every output as OUT_DIR/<output name>.npy: the peer that qrt's outputs are compared with.
//
//   node run_ort.js MODEL.onnx OUT_DIR name=FILE.npy [name=FILE.npy ...] [--threads N]
//
// A model with a single input also accepts a bare FILE.npy. Output file names keep
// [A-Za-z0-9._-] and replace any other character with '_' (as `qrt run` does).
// .npy support: little-endian float32/float64/int64/int32/int8/uint8/bool, C order, format 1-3.
'use strict';

const fs = require('fs');
const path = require('path');

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);  // "\x93NUMPY"

// numpy descr <-> ONNX Runtime tensor type and typed array.
const DTYPES = [
  {descr: ['<f4'], type: 'float32', array: Float32Array},
  {descr: ['<f8'], type: 'float64', array: Float64Array},
  {descr: ['<i8'], type: 'int64', array: BigInt64Array},
  {descr: ['<i4'], type: 'int32', array: Int32Array},
  {descr: ['|i1', '<i1'], type: 'int8', array: Int8Array},
  {descr: ['|u1', '<u1'], type: 'uint8', array: Uint8Array},
  {descr: ['|b1'], type: 'bool', array: Uint8Array},
];

function fail(msg) {
  process.stderr.write(`run_ort: ${msg}\n`);
  process.exit(1);
}

// Parses the header's Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }
function parseNpyHeader(header, file) {
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) fail(`${file}: unreadable .npy header ${JSON.stringify(header)}`);
  if (fortran[1] === 'True') fail(`${file}: Fortran-order arrays are not supported`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) fail(`${file}: bad shape (${shape[1]})`);
  const dtype = DTYPES.find((t) => t.descr.includes(descr[1]));
  if (!dtype) fail(`${file}: dtype ${descr[1]} is not supported`);
  return {dtype, dims};
}

function readNpy(file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    fail(`${file}: ${e.message}`);
  }
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) fail(`${file}: not a .npy file`);
  const major = buf[6];
  const lenBytes = major === 1 ? 2 : 4;
  if (major < 1 || major > 3) fail(`${file}: .npy format version ${major} is not supported`);
  const headerLen = lenBytes === 2 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const dataStart = 8 + lenBytes + headerLen;
  const {dtype, dims} = parseNpyHeader(buf.toString('latin1', 8 + lenBytes, dataStart), file);
  const count = dims.reduce((a, b) => a * b, 1);
  const bytes = count * dtype.array.BYTES_PER_ELEMENT;
  if (buf.length - dataStart !== bytes) {
    fail(`${file}: shape (${dims}) needs ${bytes} data bytes, file has ${buf.length - dataStart}`);
  }
  // Copy into a fresh ArrayBuffer: typed arrays need aligned offsets.
  const data = new dtype.array(buf.buffer.slice(buf.byteOffset + dataStart, buf.byteOffset + dataStart + bytes));
  return {type: dtype.type, dims, data};
}

function writeNpy(file, type, dims, data) {
  const dtype = DTYPES.find((t) => t.type === type);
  if (!dtype) fail(`${file}: cannot write output of type ${type}`);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${dtype.descr[0]}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Format 1.0: magic, version, uint16 header length; the whole preamble is padded with spaces
  // to a multiple of 64 bytes and ends in a newline.
  const unpadded = MAGIC.length + 2 + 2 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  MAGIC.copy(pre, 0);
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}

function parseArgs(argv) {
  const args = {threads: 0, feeds: [], positional: []};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--threads') {
      args.threads = Number(argv[++i]);
      if (!Number.isInteger(args.threads) || args.threads < 0) fail(`--threads needs a count, got ${argv[i]}`);
    } else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node run_ort.js MODEL.onnx OUT_DIR name=FILE.npy [...] [--threads N]\n');
      process.exit(0);
    } else if (args.positional.length < 2) {
      args.positional.push(a);
    } else {
      const eq = a.indexOf('=');
      args.feeds.push(eq > 0 ? {name: a.slice(0, eq), file: a.slice(eq + 1)} : {name: null, file: a});
    }
  }
  if (args.positional.length < 2 || args.feeds.length === 0) {
    fail('usage: node run_ort.js MODEL.onnx OUT_DIR name=FILE.npy [...] [--threads N]');
  }
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const [modelPath, outDir] = args.positional;
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    fail(`onnxruntime-node is not installed (run scripts/fetch-npm-assets): ${e.message}`);
  }

  const options = {executionProviders: ['cpu'], interOpNumThreads: 1};
  if (args.threads > 0) options.intraOpNumThreads = args.threads;
  let session;
  try {
    session = await ort.InferenceSession.create(modelPath, options);
  } catch (e) {
    fail(`${modelPath}: ${e.message}`);
  }

  const feeds = {};
  for (const f of args.feeds) {
    let name = f.name;
    if (name === null) {
      if (session.inputNames.length !== 1) fail(`${f.file}: name the input (model inputs: ${session.inputNames.join(', ')})`);
      name = session.inputNames[0];
    }
    if (!session.inputNames.includes(name)) fail(`${modelPath}: no input named '${name}' (inputs: ${session.inputNames.join(', ')})`);
    const t = readNpy(f.file);
    feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  }
  const missing = session.inputNames.filter((n) => !(n in feeds));
  if (missing.length > 0) fail(`${modelPath}: no value given for input(s) ${missing.join(', ')}`);

  const start = process.hrtime.bigint();
  let results;
  try {
    results = await session.run(feeds);
  } catch (e) {
    fail(`${modelPath}: run failed: ${e.message}`);
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;

  fs.mkdirSync(outDir, {recursive: true});
  for (const name of session.outputNames) {
    const t = results[name];
    const file = path.join(outDir, name.replace(/[^A-Za-z0-9._-]/g, '_') + '.npy');
    writeNpy(file, t.type, t.dims, t.data);
    process.stdout.write(`${name}: ${t.type} [${t.dims.join(',')}] -> ${file}\n`);
  }
  process.stdout.write(`onnxruntime ${ort.env.versions.common}: ${ms.toFixed(1)} ms\n`);
  await session.release();
}

main();
