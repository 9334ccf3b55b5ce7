// gguf_js.cjs — Hugging Face's own GGUF implementation (the npm package
// @huggingface/gguf, installed under scripts/npm by scripts/setup.sh --test)
// on goodhart's files, for tests/convert/test_hf.c. Nothing here is
// goodhart's code: the parser and the metadata writer are the package's.
//
//   node gguf_js.cjs read FILE
//     prints {"version", "kv": {KEY: {"type", "subType"?, "value"}},
//     "tensors": [{"name", "shape", "dtype", "offset"}]} as the package parses
//     FILE (numbers that do not fit a double are strings)
//   node gguf_js.cjs rewrite IN OUT NAME
//     writes OUT: IN's metadata re-serialized by the package's writer
//     (buildGgufHeader) with general.name = NAME and one key added
//     (general.description), then IN's tensor infos and tensor data as they
//     are — the package edits metadata; it has no API to write tensors.
"use strict";
const fs = require("fs");
const path = require("path");
const { gguf, buildGgufHeader, GGUFValueType } = require(
  path.resolve(__dirname, "../../scripts/npm/node_modules/@huggingface/gguf"));

const plain = (v) => typeof v === "bigint" ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString())
  : Array.isArray(v) ? v.map(plain) : v;

async function read(file) {
  const r = await gguf(file, { allowLocalFile: true, typedMetadata: true });
  const kv = {};
  for (const [k, e] of Object.entries(r.typedMetadata)) {
    if (k === "version" || k === "tensor_count" || k === "kv_count") continue;
    kv[k] = { type: e.type, value: plain(e.value) };
    if ("subType" in e) kv[k].subType = e.subType;
  }
  const tensors = r.tensorInfos.map((t) => ({ name: t.name, shape: t.shape.map(plain), dtype: t.dtype,
    offset: plain(t.offset) }));
  process.stdout.write(JSON.stringify({ version: r.metadata.version, kv, tensors }) + "\n");
}

async function rewrite(inp, out, name) {
  const r = await gguf(inp, { allowLocalFile: true, typedMetadata: true });
  const md = r.typedMetadata;
  md["general.name"] = { type: GGUFValueType.STRING, value: name };
  md["general.description"] = { type: GGUFValueType.STRING, value: "metadata written by @huggingface/gguf" };
  const align = md["general.alignment"] ? Number(md["general.alignment"].value) : 32;
  const bytes = fs.readFileSync(inp);
  const header = await buildGgufHeader(new Blob([bytes]), md, {
    littleEndian: r.littleEndian, tensorInfoByteRange: r.tensorInfoByteRange, alignment: align });
  const head = Buffer.from(await header.arrayBuffer());
  fs.writeFileSync(out, Buffer.concat([head, bytes.subarray(Number(r.tensorDataOffset))]));
}

const [cmd, a, b, c] = process.argv.slice(2);
const job = cmd === "read" ? read(a) : cmd === "rewrite" ? rewrite(a, b, c) : Promise.reject(new Error("usage"));
job.catch((e) => { process.stderr.write(`gguf_js.cjs: ${e.stack || e}\n`); process.exit(1); });
