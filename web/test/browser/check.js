// Predict every case of cases.json (samples in samples.f32) in the browser; tests/test_web_page.py compares.
import { load } from './phonedge/index.js';

async function main() {
  const cases = await (await fetch('./cases.json')).json();
  const samples = new Float32Array(await (await fetch('./samples.f32')).arrayBuffer());
  const rec = await load(new URL('./bundle/', location.href).href, { backend: 'web', threads: 1 });
  const out = [];
  for (const c of cases) {
    out.push(await rec.predict(samples.subarray(c.offset, c.offset + c.length), 16000));
  }
  document.getElementById('result').textContent = JSON.stringify(out);
}

main().catch((err) => { document.getElementById('result').textContent = `error: ${err.message ?? err}`; });
