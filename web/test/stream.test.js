// rec.stream() gives the events of Python's Stream for the same samples, block patterns and speech detector
// (fixtures from make_fixtures.py / stream_fixtures.py): energy, Silero VAD and a user's function.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { load, loadVadModel } from '../src/index.js';
import { MissingExtraError, StreamClosedError, StreamRateError } from '../src/errors.js';
import { assertSame, fixtureCases, HAVE_FIXTURES, readF32, readJson, SKIP_FIXTURES } from './helpers.js';

const streams = HAVE_FIXTURES ? readJson('streams.json') : null;
const SKIP_SILERO = SKIP_FIXTURES || (streams.silero_skipped ?? false);

/** The JS twin of stream_fixtures.py's peak_vad. */
function peakVad(peak) {
  return (frame) => frame.some((v) => Math.abs(v) > peak);
}

async function events(rec, x, c, vadModel) {
  const options = { ...c.options };
  if (options.vad === 'peak') options.vad = peakVad(streams.peak);
  if (options.detector === 'silero') options.vad_model = vadModel;
  const stream = rec.stream(options);
  assert.equal(stream.detector, c.detector, `${c.name}: detector`);
  const out = [];
  const blocks = c.blocks ?? new Array(Math.ceil(x.length / c.block)).fill(c.block);
  let at = 0;
  for (const size of blocks) {
    out.push(...await stream.accept(x.subarray(at, at + size)));
    at += size;
  }
  out.push(...await stream.finish());
  return out.map((e) => e.toDict());
}

async function checkCases(detectors) {
  const audio = readF32('streams.f32');
  const rec = await load(fixtureCases().bundle, { backend: 'node', threads: 1 });
  const vadModel = streams.silero_model ? await loadVadModel(streams.silero_model, { backend: 'node' }) : null;
  const cases = streams.cases.filter((c) => detectors.includes(c.detector));
  assert.ok(cases.length >= 5, `${cases.length} cases for ${detectors}`);
  assert.ok(cases.some((c) => c.blocks), 'random block sizes');
  for (const c of cases) {
    const x = audio.subarray(c.samples[0], c.samples[0] + c.samples[1]);
    assertSame(await events(rec, x, c, vadModel), c.events, c.name);
  }
  return cases;
}

test('stream events equal Python\'s: partials, finals, labels, for every block size', { skip: SKIP_FIXTURES }, async () => {
  const cases = await checkCases(['energy', 'callable']);
  const reasons = new Set(cases.flatMap((c) => c.events.map((e) => e.label_reason)));
  for (const reason of ['no_speech', 'out_of_set', null]) assert.ok(reasons.has(reason), `a final with label_reason ${reason}`);
});

test('Silero VAD stream events equal Python\'s, for every block size', { skip: SKIP_SILERO }, async () => {
  await checkCases(['silero']);
});

test('the detectors decide Python\'s frames whatever the blocks; Silero\'s probabilities are Python\'s (native and WebAssembly)',
  { skip: SKIP_FIXTURES }, async () => {
    const { makeDetector } = await import('../src/vad.js');
    const { FrameGrid } = await import('../src/grid.js');
    const data = readJson('vad.json');
    const audio = readF32('streams.f32');
    const grid = new FrameGrid(data.sample_rate, 320, 400);
    const engines = data.silero_model ? [['node', 1e-5, await loadVadModel(data.silero_model, { backend: 'node' })],
      ['web', 1e-4, await loadVadModel(data.silero_model, { backend: 'web' })]] : [['none', 0, null]];
    for (const c of data.cases) {
      const x = audio.subarray(c.samples[0], c.samples[0] + c.samples[1]);
      const kind = c.detector.split('_')[0];
      for (const [engine, tol, vadModel] of kind === 'silero' ? engines : engines.slice(0, 1)) {
        for (const block of [x.length, 1600, 331]) {
          const detector = makeDetector(kind === 'callable' ? 'auto' : kind, grid, c.gate_db,
            { vad: kind === 'callable' ? peakVad(data.peak) : null, model: kind === 'silero' ? vadModel : null });
          const probs = [];
          if (kind === 'silero') {
            const run = detector.model.run.bind(detector.model);
            detector.model = { run: async (...args) => { const out = await run(...args); probs.push(out[0]); return out; } };
          }
          const said = [];
          for (let at = 0; at < x.length; at += block) said.push(...await detector.push(x.subarray(at, at + block)));
          said.push(...await detector.flush(grid.framesFor(x.length)));
          const where = `${c.detector} (${engine}) on ${c.audio} in blocks of ${block}`;
          assert.equal(said.map((s) => (s ? '1' : '0')).join(''), c.speech, where);
          // onnxruntime-web's WebAssembly kernels differ from native x86's by a few 1e-6 (measured 2026-12-06).
          if (c.probs) assertSame(probs, c.probs, where, { rel: 0, abs: tol });
        }
      }
    }
  });

test('a finished stream refuses blocks; a block at another rate is refused', { skip: SKIP_FIXTURES }, async () => {
  const rec = await load(fixtureCases().bundle, { backend: 'node', threads: 1 });
  const stream = rec.stream();
  await assert.rejects(stream.accept(new Float32Array(800), 8000), StreamRateError);
  await stream.accept(new Float32Array(1600));
  await stream.finish();
  await assert.rejects(stream.accept(new Float32Array(10)), StreamClosedError);
  stream.reset();
  assert.deepEqual(await stream.finish(), []);
});

test('stream options are checked: unknown names, margins, detectors', { skip: !HAVE_FIXTURES && SKIP_FIXTURES }, async () => {
  const rec = await load(fixtureCases().bundle, { backend: 'node', threads: 1 });
  assert.throws(() => rec.stream({ hop: 1 }), /unknown stream option/);
  assert.throws(() => rec.stream({ post_speech_s: 2 }), /must not exceed/);
  assert.throws(() => rec.stream({ detector: 'webrtc' }), /detector must be one of/);
  assert.throws(() => rec.stream({ vad: 3 }), /must be a function/);
  assert.throws(() => rec.stream({ vad_model: 'silero_vad.onnx' }), /loadVadModel/);
  assert.throws(() => rec.stream({ detector: 'silero' }), MissingExtraError);
  assert.throws(() => rec.stream({ detector: 'energy', energy_gate_db: null }), /needs energy_gate_db/);
  assert.equal(rec.stream().detector, 'energy', 'auto without a Silero model');
  assert.equal(rec.stream({ vad: () => true }).detector, 'callable');
  await assert.rejects(loadVadModel('/nonexistent/silero_vad.onnx'), /Silero VAD model not found/);
});

test('auto picks Silero when the recogniser holds its model', { skip: SKIP_SILERO }, async () => {
  const rec = await load(fixtureCases().bundle, { backend: 'node', threads: 1, vadModel: streams.silero_model });
  assert.equal(rec.stream().detector, 'silero');
  assert.equal(rec.stream({ detector: 'energy' }).detector, 'energy');
});
