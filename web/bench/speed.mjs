// Time rec.predict in Node: node web/bench/speed.mjs BUNDLE SAMPLES.f32 --backend web|node --threads N
//   --lengths 16000,48000 --repeats 10; prints one JSON object (milliseconds per length: min, median).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { load } from '../src/index.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    backend: { type: 'string', default: 'web' },
    threads: { type: 'string', default: '1' },
    lengths: { type: 'string', default: '16000,48000' },
    repeats: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
  },
});
const [bundle, samplesPath] = positionals;
const bytes = readFileSync(samplesPath);
const samples = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
const loadStart = performance.now();
const rec = await load(bundle, { backend: values.backend, threads: Number(values.threads) });
const loadMs = performance.now() - loadStart;
const results = {};
for (const length of values.lengths.split(',').map(Number)) {
  const x = samples.subarray(0, length);
  for (let i = 0; i < Number(values.warmup); i++) await rec.predict(x, 16000);
  const times = [];
  let label = null;
  for (let i = 0; i < Number(values.repeats); i++) {
    const t0 = performance.now();
    label = (await rec.predict(x, 16000)).text;
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  results[length] = { min_ms: times[0], median_ms: times[Math.floor(times.length / 2)], text: label };
}
const memory = process.memoryUsage();
process.stdout.write(`${JSON.stringify({ backend: rec.runner.backend, threads: Number(values.threads), load_ms: loadMs,
  rss_mib: memory.rss / 2 ** 20, results })}\n`);
