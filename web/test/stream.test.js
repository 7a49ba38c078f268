// rec.stream() gives the events of Python's Stream for the same samples and block sizes (fixtures from make_fixtures.py).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { load } from '../src/index.js';
import { StreamClosedError, StreamRateError } from '../src/errors.js';
import { assertSame, fixtureCases, HAVE_FIXTURES, readF32, readJson, SKIP_FIXTURES } from './helpers.js';

async function events(rec, x, block, options) {
  const stream = rec.stream(options);
  const out = [];
  for (let start = 0; start < x.length; start += block) out.push(...await stream.accept(x.subarray(start, start + block)));
  out.push(...await stream.finish());
  return out.map((e) => e.toDict());
}

test('stream events equal Python\'s: partials, finals, labels, for every block size', { skip: SKIP_FIXTURES }, async () => {
  const { cases } = readJson('streams.json');
  const audio = readF32('streams.f32');
  const rec = await load(fixtureCases().bundle, { backend: 'node', threads: 1 });
  assert.ok(cases.length >= 5);
  for (const c of cases) {
    const x = audio.subarray(c.samples[0], c.samples[0] + c.samples[1]);
    assertSame(await events(rec, x, c.block, c.options), c.events, c.name);
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

test('unknown stream options are refused', { skip: !HAVE_FIXTURES && SKIP_FIXTURES }, async () => {
  const rec = await load(fixtureCases().bundle, { backend: 'node', threads: 1 });
  assert.throws(() => rec.stream({ hop: 1 }), /unknown stream option/);
  assert.throws(() => rec.stream({ post_speech_s: 2 }), /must not exceed/);
});
