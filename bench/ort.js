// ONNX Runtime CPU side of bench/run. Prints one JSON object.
//   node ort.js matmul MODEL THREADS RUNS
//   node ort.js generate MODEL THREADS PROMPT_LEN NEW_TOKENS [PREFILL_RUNS [VOCAB]]
//   node ort.js logits MODEL THREADS PROMPT_LEN VOCAB [LEVEL]   (the prefill's
//       last position's logits, for the exported models' check; LEVEL is
//       ORT's graph optimization level, default all)
const ort = require('onnxruntime-node');

function now() { return Number(process.hrtime.bigint()) / 1e6; }

async function session(model, threads, level = 'all') {
  const t0 = now();
  const s = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1,
    executionMode: 'sequential', graphOptimizationLevel: level});
  return [s, now() - t0];
}

async function matmul(model, threads, runs) {
  const [s, loadMs] = await session(model, threads);
  const dims = [1024, 1024];
  const a = new Float32Array(dims[0] * dims[1]).map((_, i) => (i % 7) * 0.1);
  const feeds = {A: new ort.Tensor('float32', a, dims)};
  for (let i = 0; i < 3; i++) await s.run(feeds);
  const t0 = now();
  for (let i = 0; i < runs; i++) await s.run(feeds);
  return {ms: (now() - t0) / runs, load_ms: loadMs};
}

/// Prompt token i is (i * 7919) % vocab, as in generate.
async function logits(model, threads, promptLen, vocabSize, level) {
  const [s] = await session(model, threads, level || 'all');
  const feeds = {};
  const ids = [];
  for (let i = 0; i < promptLen; i++) ids.push(BigInt((i * 7919) % vocabSize));
  feeds[s.inputNames[0]] = new ort.Tensor('int64', BigInt64Array.from(ids), [1, ids.length]);
  const meta = s.inputMetadata || [];
  for (const [i, name] of s.inputNames.slice(1).entries()) {
    const m = meta[i + 1];
    const shape = (m && m.shape) ? m.shape.map((d, j) => typeof d === 'number' ? d : (j === 0 ? 1 : 0)) : null;
    if (!shape) throw new Error('no shape metadata for ' + name);
    feeds[name] = new ort.Tensor('float32', new Float32Array(0), shape);
  }
  const out = (await s.run(feeds))[s.outputNames[0]];
  const vocab = out.dims[2], last = out.dims[1] - 1;
  return {logits: Array.from(out.data.slice(last * vocab, (last + 1) * vocab))};
}

async function generate(model, threads, promptLen, newTokens, prefillRuns, vocabSize) {
  const [s, loadMs] = await session(model, threads);
  const pasts = s.inputNames.slice(1);
  // Shapes of the past inputs: [batch, kv_heads, past, head_dim].
  const meta = s.inputMetadata || [];
  const feeds = {};
  let ids = [];
  for (let i = 0; i < promptLen; i++) ids.push(BigInt((i * 7919) % vocabSize));
  const idsTensor = (v) => new ort.Tensor('int64', BigInt64Array.from(v), [1, v.length]);
  feeds[s.inputNames[0]] = idsTensor(ids);
  for (const [i, name] of pasts.entries()) {
    const m = meta[i + 1];
    const shape = (m && m.shape) ? m.shape.map((d, j) => typeof d === 'number' ? d : (j === 0 ? 1 : 0)) : null;
    if (!shape) throw new Error('no shape metadata for ' + name);
    feeds[name] = new ort.Tensor('float32', new Float32Array(0), shape);
  }
  // The prefill: one warm-up, then the median of `prefillRuns` runs (the
  // same protocol as tailor-run --prefill-runs).
  let out = await s.run(feeds);
  const times = [];
  for (let r = 0; r < prefillRuns; r++) {
    const t = now();
    out = await s.run(feeds);
    times.push(now() - t);
  }
  times.sort((a, b) => a - b);
  const prefillMs = times[Math.floor(times.length / 2)];
  let t0;
  const generated = [];
  t0 = now();
  for (let step = 0; step < newTokens; step++) {
    const logits = out[s.outputNames[0]];
    const vocab = logits.dims[2], last = logits.dims[1] - 1;
    let best = 0, bestV = -Infinity;
    for (let v = 0; v < vocab; v++) {
      const x = logits.data[last * vocab + v];
      if (x > bestV) { bestV = x; best = v; }
    }
    generated.push(best);
    feeds[s.inputNames[0]] = idsTensor([BigInt(best)]);
    for (const [i, name] of pasts.entries()) feeds[name] = out[s.outputNames[i + 1]];
    out = await s.run(feeds);
  }
  const decodeMs = (now() - t0) / newTokens;
  return {prefill_ms: prefillMs, decode_ms: decodeMs, load_ms: loadMs, generated};
}

(async () => {
  const [mode, model, threads, a, b, c, d] = process.argv.slice(2);
  const r = mode === 'matmul'
      ? await matmul(model, +threads, +a)
      : mode === 'logits'
      ? await logits(model, +threads, +a, +b, c)
      : await generate(model, +threads, +a, +b, +(c || 5), +(d || 32000));
  console.log(JSON.stringify(r));
})().catch((e) => { console.error(e.message); process.exit(1); });
