// Time rec.predict in the browser (web/harness.html?run=bench.js&threads=N&lengths=16000,48000&repeats=10), the same
// measurement as speed.mjs in Node; the result lands in #result as JSON (benchmarks/platforms/web_speed.py reads it).
import { load } from './phonedge/index.js';

const params = new URLSearchParams(location.search);
const threads = Number(params.get('threads') || 1);
const repeats = Number(params.get('repeats') || 10);
const warmup = Number(params.get('warmup') || 3);
const lengths = (params.get('lengths') || '16000,48000').split(',').map(Number);

async function memoryBytes() {
  // Needs cross-origin isolation; counts the page's JS and WebAssembly memory.
  if (!self.crossOriginIsolated || !performance.measureUserAgentSpecificMemory) return null;
  return (await performance.measureUserAgentSpecificMemory()).bytes;
}

async function main() {
  const samples = new Float32Array(await (await fetch('./samples.f32')).arrayBuffer());
  const loadStart = performance.now();
  const rec = await load(new URL('./bundle/', location.href).href, { backend: 'web', threads });
  const loadMs = performance.now() - loadStart;
  const results = {};
  for (const length of lengths) {
    const x = samples.subarray(0, length);
    for (let i = 0; i < warmup; i++) await rec.predict(x, 16000);
    const times = [];
    let text = null;
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      text = (await rec.predict(x, 16000)).text;
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    results[length] = { min_ms: times[0], median_ms: times[Math.floor(times.length / 2)], text };
  }
  const out = { backend: 'chromium', threads, isolated: self.crossOriginIsolated, load_ms: loadMs,
    memory_bytes: await memoryBytes(), results };
  document.getElementById('result').textContent = JSON.stringify(out);
}

main().catch((err) => { document.getElementById('result').textContent = `error: ${err.message ?? err}`; });
