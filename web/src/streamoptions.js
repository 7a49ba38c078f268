// The settings of a live stream (phonedge/stream.py StreamOptions): names, defaults and the checks, in seconds.
import { checkClassify } from './decide.js';
import { PhonedgeError } from './errors.js';
import { SileroModel } from './silero.js';
import { SPEECH_GATE_DB } from './speech.js';
import { DETECTORS } from './vad.js';

/**
 * The stream settings and their defaults (phonedge/stream.py StreamOptions says what each means and how they were
 * chosen). detector: 'auto' (Silero when a model is loaded: vad_model, or load(bundle, {vadModel})), 'silero' or
 * 'energy'; vad_model: a model from loadVadModel; vad: a function (frame, sampleRate) => boolean (or a promise of
 * one) called on every frame's stride, which then is the detector.
 */
export const STREAM_DEFAULTS = Object.freeze({
  left_s: 0.1, hop_s: 0.5, right_s: 0.0, first_partial_s: 0.15, endpoint_silence_s: 0.25, pre_speech_s: 0.15,
  post_speech_s: 0.1, max_segment_s: 15.0, detector: 'auto', vad_model: null, energy_gate_db: SPEECH_GATE_DB,
  vad: null, partials: true, labels: null, classify: 'ctc',
});

/** Checked stream options: the defaults with OVERRIDES (unknown names and impossible settings refused). */
export function streamOptions(overrides = {}) {
  const unknown = Object.keys(overrides).filter((k) => !(k in STREAM_DEFAULTS)).sort();
  if (unknown.length) {
    throw new PhonedgeError(`unknown stream option(s) ${unknown}; known: ${Object.keys(STREAM_DEFAULTS).sort()}`);
  }
  const o = { ...STREAM_DEFAULTS, ...overrides };
  for (const name of ['hop_s', 'endpoint_silence_s', 'max_segment_s']) {
    if (!(o[name] > 0)) throw new PhonedgeError(`StreamOptions.${name} must be > 0, got ${o[name]}`);
  }
  if (o.first_partial_s !== null && !(o.first_partial_s > 0)) {
    throw new PhonedgeError(`StreamOptions.first_partial_s must be > 0 or null, got ${o.first_partial_s}`);
  }
  for (const name of ['left_s', 'right_s', 'pre_speech_s', 'post_speech_s']) {
    if (!(o[name] >= 0)) throw new PhonedgeError(`StreamOptions.${name} must be >= 0, got ${o[name]}`);
  }
  if (o.post_speech_s > o.endpoint_silence_s) {
    throw new PhonedgeError(`StreamOptions.post_speech_s (${o.post_speech_s}) must not exceed endpoint_silence_s `
      + `(${o.endpoint_silence_s}): the kept tail is part of the silence that ends a segment`);
  }
  if (!DETECTORS.includes(o.detector)) {
    throw new PhonedgeError(`StreamOptions.detector must be one of ${DETECTORS}, got ${JSON.stringify(o.detector)}`);
  }
  if (o.vad !== null && typeof o.vad !== 'function') {
    throw new PhonedgeError('StreamOptions.vad must be a function vad(frame, sampleRate) -> boolean');
  }
  if (o.vad_model !== null && !(o.vad_model instanceof SileroModel)) {
    throw new PhonedgeError('StreamOptions.vad_model must be a Silero VAD model: await loadVadModel(pathOrUrl)');
  }
  checkClassify(o.classify);
  return o;
}
