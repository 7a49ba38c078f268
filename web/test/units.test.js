// Small rules checked on their own: Python's JSON number format, windows, WAV reading, errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChunkPlan, pyRound } from '../src/chunking.js';
import { CTCDecoder } from '../src/ctc.js';
import { decodeWav, prepareAudio } from '../src/audio.js';
import { AudioDecodeError, AudioTooShortError, InvalidAudioError, ModelBundleError } from '../src/errors.js';
import { parseManifest } from '../src/manifest.js';
import { pyDumps, pyFloat } from '../src/pyjson.js';
import { ctcLogLikelihood, logSoftmax32 } from '../src/scoring.js';

test('floats print as Python repr prints them', () => {
  const cases = [[1, '1.0'], [0.06, '0.06'], [1e-5, '1e-05'], [1.2e-7, '1.2e-07'], [0.0001, '0.0001'], [1e16, '1e+16'],
    [2.5e-5, '2.5e-05'], [0.6435, '0.6435'], [0, '0.0'], [-3.5, '-3.5'], [123456789.5, '123456789.5']];
  for (const [x, text] of cases) assert.equal(pyFloat(x), text);
  assert.equal(pyDumps({ id: 3, start: 0, token_ids: [1, 2], text: 'é"' }),
    '{"id": 3, "start": 0.0, "token_ids": [1, 2], "text": "é\\""}');
});

test('round halves to even like Python', () => {
  assert.deepEqual([0.5, 1.5, 2.5, 2.6, 31.25].map(pyRound), [0, 2, 2, 3, 31]);
});

test('windows tile the frames of long audio exactly once', () => {
  const plan = new ChunkPlan();
  const n = 16000 * 25 + 123;
  const windows = plan.windows(n, 16000, 320, 400);
  let frames = 0;
  for (const w of windows) frames += w.keepTo - w.keepFrom;
  assert.equal(frames, Math.floor((n - 400) / 320) + 1);
  assert.equal(windows[0].start, 0);
  assert.ok(windows.every((w) => w.start % 320 === 0));
});

test('character tokenizers: word delimiter as space, lower case, clean-up', () => {
  const spec = { kind: 'Wav2Vec2CTCTokenizer', vocab: ['<pad>', '|', 'A', 'B', '.'], pad_token: '<pad>', unk_token: '<unk>',
    word_delimiter_token: '|', do_lower_case: true, clean_up_tokenization_spaces: true };
  const dec = new CTCDecoder(spec, 6);
  assert.equal(dec.text([2, 1, 3, 1, 4]), 'a b.');
  assert.deepEqual(dec.tokenText([5]), ['<unk>']);
});

test('CTC likelihood: a lone frame, a repeat that cannot fit', () => {
  const lp = logSoftmax32(new Float32Array([0, 1, 2]), 3);
  assert.ok(Math.abs(ctcLogLikelihood(lp, 3, [2], 0) - lp[2]) < 1e-12);
  assert.equal(ctcLogLikelihood(lp, 3, [2, 2], 0), -Infinity);
});

test('WAV reading: 16-bit stereo down-mixed; not a WAV is a decode error', () => {
  const frames = 4;
  const buf = new ArrayBuffer(44 + frames * 4);
  const v = new DataView(buf);
  const put = (at, s) => [...s].forEach((c, i) => v.setUint8(at + i, c.charCodeAt(0)));
  put(0, 'RIFF'); v.setUint32(4, 36 + frames * 4, true); put(8, 'WAVE'); put(12, 'fmt ');
  v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 2, true); v.setUint32(24, 8000, true);
  v.setUint32(28, 32000, true); v.setUint16(32, 4, true); v.setUint16(34, 16, true); put(36, 'data'); v.setUint32(40, frames * 4, true);
  for (let i = 0; i < frames; i++) { v.setInt16(44 + i * 4, 16384, true); v.setInt16(46 + i * 4, 0, true); }
  const { samples, sampleRate } = decodeWav(new Uint8Array(buf));
  assert.equal(sampleRate, 8000);
  assert.deepEqual([...samples], [0.25, 0.25, 0.25, 0.25]);
  assert.throws(() => decodeWav(new Uint8Array(10)), AudioDecodeError);
});

test('audio errors: too short, NaN, bad rate', () => {
  assert.throws(() => prepareAudio(new Float32Array(100), 16000, 16000, 400), AudioTooShortError);
  assert.throws(() => prepareAudio(new Float32Array([NaN, ...new Float32Array(500)]), 16000, 16000, 400), InvalidAudioError);
  assert.throws(() => prepareAudio(new Float32Array(500), 0, 16000, 400), InvalidAudioError);
});

test('manifest: another format version says to re-export', () => {
  assert.throws(() => parseManifest({ format: 'phonedge-bundle', format_version: 9 }), /re-export/);
  assert.throws(() => parseManifest({ format: 'x' }), ModelBundleError);
});
