// Live audio (phonedge/stream.py): a Stream turns blocks of samples into partial and final events; finals equal
// predict on the segment's samples. Everything lies on the model's frame grid, so events never depend on block sizes.
import { ChunkPlan, pyRound, WindowCursor } from './chunking.js';
import { checkClassify } from './decide.js';
import { pathConfidence } from './decoding.js';
import { InvalidAudioError, PhonedgeError, StreamClosedError, StreamRateError } from './errors.js';
import { Endpointer } from './endpoint.js';
import { labelFields, pyRoundTo, tokenToDict } from './result.js';
import { logSoftmax32 } from './scoring.js';
import { frameEnergyDb, SPEECH_GATE_DB } from './speech.js';

/** The stream settings and their defaults, in seconds (phonedge/stream.py StreamOptions says how they were chosen). */
export const STREAM_DEFAULTS = {
  left_s: 0.5, hop_s: 0.3, right_s: 0.2, endpoint_silence_s: 0.4, pre_speech_s: 0.3, post_speech_s: 0.3,
  edge_margin_s: 0.02, max_segment_s: 15.0, energy_gate_db: SPEECH_GATE_DB, partials: true, labels: null, classify: 'ctc',
};

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
  for (const name of ['left_s', 'right_s', 'pre_speech_s', 'post_speech_s', 'edge_margin_s']) {
    if (!(o[name] >= 0)) throw new PhonedgeError(`StreamOptions.${name} must be >= 0, got ${o[name]}`);
  }
  if (o.post_speech_s > o.endpoint_silence_s) {
    throw new PhonedgeError(`StreamOptions.post_speech_s (${o.post_speech_s}) must not exceed endpoint_silence_s `
      + `(${o.endpoint_silence_s}): the kept tail is part of the silence that ends a segment`);
  }
  checkClassify(o.classify);
  return o;
}

/** A stream event's plain-dict form, key for key as StreamEvent.to_dict. */
export function eventToDict(e) {
  return {
    kind: e.kind, text: e.text, start: pyRoundTo(e.start, 4), end: pyRoundTo(e.end, 4),
    emitted_at: pyRoundTo(e.emitted_at, 4), confidence: pyRoundTo(e.confidence, 6),
    tokens: e.tokens.map(tokenToDict), stable: e.stable.map(tokenToDict), tentative: e.tentative.map(tokenToDict),
    ...labelFields(e),
  };
}

function event(fields) {
  return { label: null, label_probs: null, label_score: null, label_reason: null, start_sample: 0, end_sample: 0,
    ...fields, toDict() { return eventToDict(this); } };
}

/** One live audio source on a recogniser. accept/finish are async (the model runs in ONNX Runtime). */
export class Stream {
  constructor(recognizer, options = {}) {
    this.engine = recognizer;
    this.options = streamOptions(options);
    const grid = recognizer.decoding.grid;
    this.grid = grid;
    this.rate = grid.sampleRate;
    this.stride = grid.stride;
    this.field = grid.receptiveField;
    this.plan = new ChunkPlan(this.options.left_s + this.options.hop_s + this.options.right_s,
      this.options.left_s, this.options.right_s);
    const step = grid.step;
    const o = this.options;
    this.rules = {
      silence: Math.max(1, pyRound(o.endpoint_silence_s / step)), pre: pyRound(o.pre_speech_s / step),
      post: pyRound(o.post_speech_s / step), maxFrames: Math.max(1, pyRound(o.max_segment_s / step)),
      margin: pyRound(o.edge_margin_s / step),
    };
    this.reset();
  }

  get decoding() {
    return this.engine.decoding;
  }

  /** Seconds of audio accepted so far. */
  get time() {
    return this.n / this.rate;
  }

  /** Forget everything: a new stream, time 0. */
  reset() {
    this.decider = this.decoding.decider(this.options.labels, this.options.classify);
    this.cursor = new WindowCursor(this.plan, this.rate, this.stride, this.field);
    this.endpoint = new Endpointer(this.rules);
    this.buf = new Float32Array(0);
    this.pending = [];
    this.buf0 = 0;
    this.n = 0;
    this.lp = null;  // committed frames' log-probs (flat, frames x classes) from frame lp0 on
    this.lp0 = 0;
    this.classes = 0;
    this.closed = false;
    this.lastPartial = null;
  }

  /** Feed one block of mono samples at the model rate (Float32Array); resolves to the new events. */
  async accept(samples, sampleRate = null) {
    if (this.closed) throw new StreamClosedError('this stream is finished; call reset() to start a new one');
    if (sampleRate !== null && sampleRate !== undefined && sampleRate !== this.rate) {
      const Err = Number.isInteger(sampleRate) && sampleRate > 0 ? StreamRateError : InvalidAudioError;
      throw new Err(`a block at ${sampleRate} Hz: this stream takes ${this.rate} Hz blocks; resample first `
        + `(in a browser, open the AudioContext at ${this.rate} Hz)`);
    }
    const x = samples instanceof Float32Array ? samples : Float32Array.from(samples);
    for (let i = 0; i < x.length; i++) {
      if (!Number.isFinite(x[i])) throw new InvalidAudioError('stream block: samples are NaN or infinite');
    }
    if (x.length) {
      this.pending.push(x.slice());
      this.n += x.length;
    }
    return this.advance(false);
  }

  /** End the stream: decode the rest, close the open segment; resolves to the last events. */
  async finish() {
    if (this.closed) throw new StreamClosedError('this stream is already finished; call reset() to start a new one');
    this.closed = true;
    const events = await this.advance(true);
    const span = this.endpoint.finish(this.grid.framesFor(this.n));
    if (span) events.push(await this.final(span, this.n / this.rate));
    return events;
  }

  samples(start, stop) {
    if (this.pending.length) {
      const joined = new Float32Array(this.buf.length + this.pending.reduce((k, p) => k + p.length, 0));
      joined.set(this.buf);
      let at = this.buf.length;
      for (const p of this.pending) { joined.set(p, at); at += p.length; }
      this.buf = joined;
      this.pending = [];
    }
    return this.buf.subarray(start - this.buf0, stop - this.buf0);
  }

  async advance(final) {
    const events = [];
    for (const chunk of [...this.cursor.advance(this.n, final)]) events.push(...await this.window(chunk));
    this.trim();
    return events;
  }

  async window(chunk) {
    const x = this.samples(chunk.start, chunk.stop);
    const logits = await this.engine.windowLogits(x);
    const classes = logits.classes;
    this.classes = classes;
    const lp = logSoftmax32(logits.data, classes);
    const [speech, loud] = this.speech(x, lp, classes);
    const committedTo = Math.floor(chunk.start / this.stride) + chunk.keepTo;
    const kept = lp.subarray(chunk.keepFrom * classes, chunk.keepTo * classes);
    this.lp = this.lp === null ? kept.slice() : concat32(this.lp, kept);
    const emittedAt = chunk.stop / this.rate;
    const events = [];
    const spans = this.endpoint.window(speech.slice(chunk.keepFrom, chunk.keepTo), speech.slice(chunk.keepTo),
      committedTo, loud === null ? null : loud.slice(chunk.keepFrom));
    for (const span of spans) events.push(await this.final(span, emittedAt));
    if (this.options.partials && this.endpoint.open !== null) {
      const partial = this.partial(lp.subarray(chunk.keepTo * classes), committedTo, emittedAt);
      if (partial) events.push(partial);
    }
    return events;
  }

  speech(x, lp, classes) {
    const frames = lp.length / classes;
    const speech = this.decoding.ctc.emitting(lp);
    if (this.options.energy_gate_db === null) return [speech, null];
    const levels = frameEnergyDb(x, frames, this.stride, this.field);
    const loud = Array.from(levels, (db) => db >= this.options.energy_gate_db);
    return [speech.map((s, f) => s && loud[f]), loud];
  }

  partial(tentativeLp, committedTo, emittedAt) {
    const segStart = this.endpoint.open;
    const classes = this.classes;
    const view = concat32(this.lp.subarray(Math.max(0, segStart - this.lp0) * classes),
      tentativeLp.subarray(Math.max(0, segStart - committedTo) * classes));
    const [text, tokens] = this.decoding.tokens(view, segStart);
    const lastCommitted = (committedTo - 1) * this.grid.step;
    const stable = tokens.filter((t) => t.end <= lastCommitted);
    const key = JSON.stringify([tokens.map((t) => [t.id, t.start]), stable.length]);
    if (key === this.lastPartial) return null;
    this.lastPartial = key;
    return event({ kind: 'partial', text, tokens, stable, tentative: tokens.slice(stable.length),
      start: (segStart * this.stride) / this.rate, end: (segStart + view.length / classes) * this.grid.step,
      emitted_at: emittedAt, confidence: pathConfidence(view, classes), start_sample: segStart * this.stride });
  }

  async final([startFrame, endFrame], emittedAt) {
    const start = startFrame * this.stride;
    const stop = this.closed && endFrame >= this.grid.framesFor(this.n) ? this.n
      : Math.min(this.n, this.grid.samplesFor(endFrame));
    this.lastPartial = null;
    const samples = this.samples(start, stop).slice();
    const offset = start / this.rate;
    if (samples.length < this.field) {
      return event({ kind: 'final', text: '', tokens: [], stable: [], tentative: [], start: offset, end: stop / this.rate,
        emitted_at: emittedAt, confidence: 0, label_reason: this.decider.labels.length ? 'too_short' : null,
        start_sample: start, end_sample: stop });
    }
    const pred = this.decoding.prediction(await this.engine.logits(samples), samples, this.decider);
    const tokens = pred.tokens.map((t) => ({ ...t, start: t.start + offset, end: t.end + offset }));
    return event({ kind: 'final', text: pred.text, tokens, stable: [...tokens], tentative: [], start: offset,
      end: stop / this.rate, emitted_at: emittedAt, confidence: pred.confidence, label: pred.label,
      label_probs: pred.label_probs, label_score: pred.label_score, label_reason: pred.label_reason,
      start_sample: start, end_sample: stop });
  }

  trim() {
    const keepFrame = this.endpoint.earliestNeeded();
    const keep = Math.min(this.cursor.nextStart, keepFrame * this.stride);
    if (keep > this.buf0) {
      this.samples(keep, keep);
      this.buf = this.buf.slice(keep - this.buf0);
      this.buf0 = keep;
    }
    if (this.lp !== null && keepFrame > this.lp0) {
      this.lp = this.lp.slice((keepFrame - this.lp0) * this.classes);
      this.lp0 = keepFrame;
    }
  }
}

function concat32(a, b) {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
