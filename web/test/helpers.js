// Shared by the JS tests: Python's fixtures (web/fixtures/make_fixtures.py) and the equality rule.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { INT_KEYS } from '../src/pyjson.js';

export const WEB = dirname(dirname(fileURLToPath(import.meta.url)));
/** Where make_fixtures.py wrote its output: $PHONEDGE_WEB_FIXTURES, else web/fixtures/out. */
export const FIXTURES = process.env.PHONEDGE_WEB_FIXTURES || join(WEB, 'fixtures', 'out');
export const HAVE_FIXTURES = existsSync(join(FIXTURES, 'cases.json'));
export const SKIP_FIXTURES = HAVE_FIXTURES ? false
  : `no Python fixtures in ${FIXTURES}: run python web/fixtures/make_fixtures.py BUNDLE ${FIXTURES} (make test does)`;

// Floats (confidences, probabilities) may differ by this much relative, or by one unit of the last of the six
// decimals Python rounds them to: numpy's float32 exp is not correctly rounded (and differs between CPUs' SIMD paths).
export const REL_TOL = 1e-5;
export const ABS_TOL = 1.0000001e-6;

export function readJson(name) {
  return JSON.parse(readFileSync(join(FIXTURES, name), 'utf-8'));
}

export function readF32(name) {
  const b = readFileSync(join(FIXTURES, name));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

/** Assert that a result equals Python's: strings, ints and keys exactly, floats within the tolerance. */
export function assertSame(actual, expected, where = '', { rel = REL_TOL, abs = ABS_TOL } = {}, isInt = false) {
  if (typeof expected === 'number' && !isInt) {
    assert.equal(typeof actual, 'number', `${where}: expected a number`);
    const diff = Math.abs(actual - expected);
    assert.ok(diff <= abs || diff <= rel * Math.abs(expected), `${where}: ${actual} vs Python's ${expected}`);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${where}: expected an array`);
    assert.equal(actual.length, expected.length, `${where}: length ${actual.length} vs Python's ${expected.length}`);
    expected.forEach((v, i) => assertSame(actual[i], v, `${where}[${i}]`, { rel, abs }, isInt));
    return;
  }
  if (expected !== null && typeof expected === 'object') {
    assert.deepEqual(Object.keys(actual), Object.keys(expected), `${where}: keys`);
    for (const key of Object.keys(expected)) {
      assertSame(actual[key], expected[key], `${where}.${key}`, { rel, abs }, INT_KEYS.has(key));
    }
    return;
  }
  assert.equal(actual, expected, `${where}`);
}

/** The fixture cases with their samples and Python logits attached. */
export function fixtureCases() {
  const data = readJson('cases.json');
  const samples = readF32('samples.f32');
  const logits = readF32('logits.f32');
  const cases = data.cases.map((c) => ({
    ...c,
    x: samples.subarray(c.samples[0], c.samples[0] + c.samples[1]),
    pyLogits: { data: logits.subarray(c.logits[0], c.logits[0] + c.logits[1] * c.logits[2]), frames: c.logits[1], classes: c.logits[2] },
  }));
  return { bundle: data.bundle, sampleRate: data.sample_rate, cases };
}
