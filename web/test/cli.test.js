// node web/bin/phonedge.mjs predict prints the lines `phonedge predict --json` prints.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeWav, load } from '../src/index.js';
import { assertSame, FIXTURES, fixtureCases, HAVE_FIXTURES, readF32, readJson, SKIP_FIXTURES, WEB } from './helpers.js';

const BIN = join(WEB, 'bin', 'phonedge.mjs');

function linesOf(text) {
  return text.trim().split('\n').map((line) => JSON.parse(line));
}

for (const [flags, expectedFile] of [[['--timestamps'], 'cli.jsonl'], [[], 'cli_plain.jsonl']]) {
  test(`predict --json ${flags.join(' ')} prints Python's lines`, { skip: SKIP_FIXTURES }, () => {
    const expectedText = readFileSync(join(FIXTURES, expectedFile), 'utf-8');
    const expected = linesOf(expectedText);
    const paths = expected.map((e) => e.path);
    const out = execFileSync(process.execPath, [BIN, 'predict', '--model', fixtureCases().bundle, '--json',
      '--backend', 'node', ...flags, ...paths], { encoding: 'utf-8' });
    const got = linesOf(out);
    got.forEach((line, i) => assertSame(line, expected[i], paths[i]));
    // Python's formatting too (separators, key order, floats as Python writes them: 1.0, 1e-05): the lines are
    // identical but for the last digit of a float that numpy's float32 exp rounded the other way.
    const shape = (text) => text.trim().replace(/-?\d+\.\d+(e[-+]\d+)?/g, 'F');
    assert.equal(shape(out), shape(expectedText));
  });
}

test('a missing file is an error line and exit status 1, the others still print', { skip: SKIP_FIXTURES }, () => {
  const good = linesOf(readFileSync(join(FIXTURES, 'cli_plain.jsonl'), 'utf-8'))[0].path;
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
