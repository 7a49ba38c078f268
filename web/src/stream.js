// Live audio (phonedge/stream.py): a Stream turns blocks of samples into partial and final events; finals equal
// predict on the segment's samples. A speech detector (vad.js) decides every frame of the model's grid, endpointing
// (endpoint.js) cuts segments from those decisions with fixed margins, windows over an open segment give partials,
// and each segment's final is computed once its last sample has arrived and held until the endpoint confirms it.
// Everything is decided on the frame grid, so events never depend on block sizes.
import { pyRound } from './chunking.js';
import { pathConfidence } from './decoding.js';
import { InvalidAudioError, StreamClosedError, StreamRateError } from './errors.js';
import { Endpointer } from './endpoint.js';
import { labelFields, pyRoundTo, tokenToDict } from './result.js';
import { logSoftmax32 } from './scoring.js';
import { streamOptions } from './streamoptions.js';
import { makeDetector } from './vad.js';

export { STREAM_DEFAULTS, streamOptions } from './streamoptions.js';

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

function concat32(a, b) {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** One live audio source on a recogniser. accept/finish are async (the model and Silero run in ONNX Runtime). */
export class Stream {
  constructor(recognizer, options = {}) {
    this.engine = recognizer;
    this.options = streamOptions(options);
    const o = this.options;
    const grid = recognizer.decoding.grid;
    this.grid = grid;
    this.rate = grid.sampleRate;
    this.stride = grid.stride;
    this.field = grid.receptiveField;
    this.decider = recognizer.decoding.decider(o.labels, o.classify);
    const step = grid.step;
    this.rules = {
      silence: Math.max(1, pyRound(o.endpoint_silence_s / step)), pre: pyRound(o.pre_speech_s / step),
      post: pyRound(o.post_speech_s / step), maxFrames: Math.max(1, pyRound(o.max_segment_s / step)),
    };
    this.hop = Math.max(1, pyRound(o.hop_s / step));
    this.left = pyRound(o.left_s / step);
    this.right = pyRound(o.right_s / step);
    this.first = o.first_partial_s === null ? null : Math.max(1, pyRound(o.first_partial_s / step));
    this.reset();  // makes the detector: a missing model or a wrong setting fails here
  }

  get decoding() {
    return this.engine.decoding;
  }

  /** The rate the model runs at; blocks must come at it. */
  get modelRate() {
    return this.rate;
  }

  /** The rate of the blocks given (fixed by the first accept), or null before any. */
  get sampleRate() {
    return this.inRate;
  }

  /** Seconds of audio accepted so far. */
  get time() {
    return this.n / this.rate;
  }

  /** The speech detector in use: 'silero', 'energy' or 'callable'. */
  get detector() {
    return this.speechDetector.kind;
  }

  /** Forget everything: a new stream, time 0. */
  reset() {
    const o = this.options;
    this.speechDetector = makeDetector(o.detector, this.grid, o.energy_gate_db,
      { vad: o.vad, model: o.vad_model, installed: this.engine.vadModel ?? null });
    this.endpoint = new Endpointer(this.rules);
    this.inRate = null;
    this.buf = new Float32Array(0);
    this.pending = [];  // blocks after buf, not yet joined
    this.buf0 = 0;  // stream sample index of buf[0]
    this.n = 0;
    this.closed = false;
    this.segmentReset();
  }

  segmentReset() {
    this.lp = null;  // committed log-probs (flat, frames x classes) of the open segment from its start
    this.classes = 0;
    this.onset = 0;  // the open segment's first speech frame
    this.held = null;  // the open segment's final, computed before the endpoint
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
    this.inRate ??= this.rate;
    const x = Float32Array.from(samples);
    for (let i = 0; i < x.length; i++) {
      if (!Number.isFinite(x[i])) throw new InvalidAudioError('stream block: samples are NaN or infinite');
    }
    const events = await this.append(x);
    this.trim();
    return events;
  }

  /** End the stream: decide the rest, close the open segment (its final); resolves to the last events. */
  async finish() {
    if (this.closed) throw new StreamClosedError('this stream is already finished; call reset() to start a new one');
    this.closed = true;
    const total = this.grid.framesFor(this.n);
    const events = await this.frames(await this.speechDetector.flush(total));
    const span = this.endpoint.finish(total);
    if (span) {
      events.push(await this.final(span, this.n / this.rate));
      this.segmentReset();
    }
    return events;
  }

  async append(x) {
    if (!x.length) return [];
    this.pending.push(x);
    this.n += x.length;
    return this.frames(await this.speechDetector.push(x));
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

  /** Run the endpoint over newly decided frames; partials and finals as the frames allow. */
  async frames(speech) {
    const events = [];
    const ep = this.endpoint;
    for (const said of speech) {
      const f = ep.pos;
      const at = Math.min(this.speechDetector.needed(f), this.n) / this.rate;  // when this frame's decision can be known
      const wasOpen = ep.open !== null;
      const closed = ep.push(said);
      if (closed) {
        events.push(await this.final(closed, at));
        this.segmentReset();
        continue;
      }
      if (ep.open === null) continue;
      if (!wasOpen) {
        this.segmentReset();
        this.onset = f;
      }
      if (said) this.held = null;  // more speech: a final computed early no longer fits
      else if (this.held === null && ep.endIfClosed === f + 1) this.held = await this.final([ep.open, f + 1], at);
      if (this.options.partials && this.held === null) events.push(...await this.duePartials(f + 1, at));
    }
    return events;
  }

  /** A window when speech came since the last committed frame and hop frames (and the right context) are decided
   * past it: it commits all frames since then and gives a partial. */
  async duePartials(decidedTo, at) {
    const seg = this.endpoint.open;
    const classes = this.classes;
    const covered = seg + (this.lp === null ? 0 : this.lp.length / classes);
    const commitTo = decidedTo - this.right;
    if (this.endpoint.last < covered) return [];
    if (this.lp === null && this.first !== null) {
      if (commitTo < this.onset + this.first) return [];
    } else if (commitTo - covered < this.hop) {
      return [];
    }
    const first = Math.max(seg, covered - this.left);
    const start = first * this.stride;
    const logits = await this.engine.windowLogits(this.samples(start, start + this.grid.samplesFor(decidedTo - first)));
    this.classes = logits.classes;
    const lp = logSoftmax32(logits.data, logits.classes);
    const kept = lp.subarray((covered - first) * logits.classes, (commitTo - first) * logits.classes);
    this.lp = this.lp === null ? kept.slice() : concat32(this.lp, kept);
    const partial = this.partial(seg, lp.subarray((commitTo - first) * logits.classes), commitTo, at);
    return partial === null ? [] : [partial];
  }

  /** The open segment so far: committed frames give stable tokens, the rest tentative ones. */
  partial(seg, tentativeLp, committedTo, emittedAt) {
    const classes = this.classes;
    const view = concat32(this.lp, tentativeLp);
    const [text, tokens] = this.decoding.tokens(view, seg);
    const lastCommitted = (committedTo - 1) * this.grid.step;  // ended before it: later windows cannot touch it
    const stable = tokens.filter((t) => t.end <= lastCommitted);
    const key = JSON.stringify([tokens.map((t) => [t.id, t.start]), stable.length]);
    if (key === this.lastPartial) return null;
    this.lastPartial = key;
    return event({ kind: 'partial', text, tokens, stable, tentative: tokens.slice(stable.length),
      start: (seg * this.stride) / this.rate, end: (seg + view.length / classes) * this.grid.step,
      emitted_at: emittedAt, confidence: pathConfidence(view, classes), start_sample: seg * this.stride });
  }

  /** predict on the closed segment's samples, its token times moved to stream time. */
  async final([startFrame, endFrame], emittedAt) {
    const start = startFrame * this.stride;
    // Samples for exactly endFrame - startFrame output frames; at the end, all that is left.
    const stop = this.closed && endFrame >= this.grid.framesFor(this.n) ? this.n
      : Math.min(this.n, start + this.grid.samplesFor(endFrame - startFrame));
    const held = this.held;
    this.held = null;
    if (held !== null && held.start_sample === start && held.end_sample === stop) {
      return event({ ...held, emitted_at: Math.max(held.emitted_at, emittedAt) });
    }
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

  /** Drop samples no segment, window or pre-speech margin can need again. */
  trim() {
    const keep = this.endpoint.earliestNeeded() * this.stride;
    if (keep > this.buf0) {
      this.samples(keep, keep);  // join pending blocks first
      this.buf = this.buf.slice(keep - this.buf0);
      this.buf0 = keep;
    }
  }
}
