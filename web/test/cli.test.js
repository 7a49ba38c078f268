// node web/bin/phonedge.mjs predict prints the lines `phonedge predict --json` prints.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeWav, load } from '../src/index.js';
import { assertSame, fixtureCases, HAVE_FIXTURES, readF32, readJson, SKIP_FIXTURES, WEB } from './helpers.js';

const BIN = join(WEB, 'bin', 'phonedge.mjs');

function linesOf(text) {
  return text.trim().split('\n').map((line) => JSON.parse(line));
}

const CLI_RUNS = HAVE_FIXTURES ? readJson('cli.json') : {};

for (const [name, run] of Object.entries(CLI_RUNS)) {
  test(`predict ${run.flags.join(' ')} prints Python's lines (${name})`, () => {
    const out = execFileSync(process.execPath, [BIN, 'predict', '--model', fixtureCases().bundle, '--backend', 'node',
      ...run.flags, ...run.paths], { encoding: 'utf-8' });
    if (!run.flags.includes('--json')) {
      assert.equal(out, run.output);
      return;
    }
    const expected = linesOf(run.output);
    linesOf(out).forEach((line, i) => assertSame(line, expected[i], run.paths[i]));
    // Python's formatting too (separators, key order, floats as Python writes them: 1.0, 1e-05): the lines are
    // identical but for the last digit of a float that numpy's float32 exp rounded the other way.
    const shape = (text) => text.trim().replace(/-?\d+\.\d+(e[-+]\d+)?/g, 'F');
    assert.equal(shape(out), shape(run.output));
  });
}

test('the fixtures hold every flag set', { skip: SKIP_FIXTURES }, () => {
  assert.ok(Object.keys(CLI_RUNS).length >= 6);
});

test('a missing file is an error line and exit status 1, the others still print', { skip: SKIP_FIXTURES }, () => {
  const good = CLI_RUNS.json.paths[0];
  let status = 0;
  let stdout = '';
  let stderr = '';
  try {
    execFileSync(process.execPath, [BIN, 'predict', '--model', fixtureCases().bundle, '--json', good, 'missing.wav'],
      { encoding: 'utf-8', stdio: 'pipe' });
  } catch (err) {
    ({ status, stdout, stderr } = err);
  }
  assert.equal(status, 1);
  assert.equal(stdout.trim().split('\n').length, 1);
  assert.match(stderr, /missing\.wav/);
});

test('8 kHz files resampled in JS give the labels and text Python gives through soxr', { skip: SKIP_FIXTURES }, async () => {
  const answers = readJson('resampled.json');
  const soxr = readF32('soxr16k.f32');
  const rec = await load(fixtureCases().bundle, { backend: 'node', threads: 1 });
  let at = 0;
  let worst = Infinity;
  for (const [name, a] of Object.entries(answers)) {
    const { samples, sampleRate } = decodeWav(new Uint8Array(readFileSync(a.path)), name);
    assert.equal(sampleRate, 8000);
    const y = rec.readAudio(samples, sampleRate);
    const ref = soxr.subarray(at, at + a.samples);
    at += a.samples;
    assert.equal(y.length, ref.length, name);
    let err = 0;
    let power = 0;
    for (let i = 0; i < ref.length; i++) { err += (y[i] - ref[i]) ** 2; power += ref[i] ** 2; }
    worst = Math.min(worst, 10 * Math.log10(power / err));
    const got = await rec.predict(samples, sampleRate);
    assert.equal(got.text, a.expected.text, name);
    assert.equal(got.label, a.expected.label, name);
  }
  assert.ok(worst > 50, `worst signal-to-difference against soxr ${worst.toFixed(1)} dB`);
});
