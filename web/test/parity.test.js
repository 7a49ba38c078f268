// The JS runtime gives Python's answers: same samples in, same Prediction.to_dict() out (fixtures from make_fixtures.py).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { load } from '../src/index.js';
import { predictionToDict } from '../src/result.js';
import { assertSame, fixtureCases, HAVE_FIXTURES, SKIP_FIXTURES } from './helpers.js';

const fixtures = HAVE_FIXTURES ? fixtureCases() : null;

test('the rules (log-softmax, greedy CTC, times, confidences, class decision) on Python logits give Python JSON',
  { skip: SKIP_FIXTURES }, async () => {
    const rec = await load(fixtures.bundle, { threads: 1 });
    for (const c of fixtures.cases) {
      const decider = rec.decoding.decider();
      assertSame(predictionToDict(rec.decoding.prediction(c.pyLogits, c.x, decider)), c.expected, c.name);
    }
  });

test('onnxruntime-node: samples in, Python JSON out on the 120 FSDD test utterances, 6 non-speech signals and a 24 s chunked input',
  { skip: SKIP_FIXTURES }, async () => {
    const rec = await load(fixtures.bundle, { backend: 'node', threads: 1 });
    assert.equal(rec.runner.backend, 'node');
    assert.ok(fixtures.cases.length >= 127);
    assert.ok(fixtures.cases.some((c) => c.expected.label_reason === 'no_speech'), 'a no_speech case');
    assert.ok(fixtures.cases.some((c) => c.x.length > 10 * fixtures.sampleRate), 'a case past the 10 s window');
    for (const c of fixtures.cases) {
      const logits = await rec.logits(c.x);
      assert.deepEqual(logits.data, c.pyLogits.data, `${c.name}: logits differ from Python's`);
      assertSame(await rec.predict(c.x, fixtures.sampleRate), c.expected, c.name);
    }
  });

test('onnxruntime-web (the browser engine, WebAssembly): same text, tokens, times and labels; probabilities near',
  { skip: SKIP_FIXTURES }, async () => {
    // Its int8 MatMul kernels are not native x86's: logits differ by up to about 0.06 on this bundle, which moves
    // confidences and probabilities by up to 0.016 (0.022 for a token of a 24 s input of a fresh export) and the open-set score by up to 0.11 nats (measured 2026-12-06).
    const rec = await load(fixtures.bundle, { backend: 'web', threads: 1 });
    assert.equal(rec.runner.backend, 'web');
    for (const c of fixtures.cases) {
      const got = await rec.predict(c.x, fixtures.sampleRate);
      const e = c.expected;
      assert.equal(got.text, e.text, c.name);
      assert.equal(got.label, e.label, c.name);
      assert.deepEqual(got.tokens.map((t) => [t.id, t.start, t.end]), e.tokens.map((t) => [t.id, t.start, t.end]), c.name);
      assert.equal(got.label_reason, e.label_reason, c.name);
      // The score sums over frames, so its difference grows with the length: 0.25 nats, or 0.1% of a long one's score.
      const scoreTol = Math.max(0.25, 1e-3 * Math.abs(e.label_score));
      assert.ok(Math.abs(got.label_score - e.label_score) <= scoreTol, `${c.name}: label_score ${got.label_score} vs ${e.label_score}`);
      assertSame({ ...got, label_score: 0 }, { ...e, label_score: 0 }, c.name, { rel: 0, abs: 0.05 });
    }
  });
