// Silero VAD (phonedge/vad.py's SileroDetector): its ONNX file run by ONNX Runtime on 32 ms chunks at fixed stream
// positions, with hysteresis (speech starts at ON and lasts while the probability is at least OFF); a frame takes
// the decision of the chunk holding its centre, and must reach the energy gate when one is set.
import { isUrl } from './bundle.js';
import { PhonedgeError } from './errors.js';
import { ortModule } from './session.js';
import { FramedDetector } from './vadframes.js';

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
// Silero VAD's documented input: 512 new samples at 16 kHz (256 at 8 kHz) after 64 (32) of context.
const CHUNK = { 16000: 512, 8000: 256 };
const CONTEXT = { 16000: 64, 8000: 32 };
const STATE_DIMS = [2, 1, 128];
/** The model rates Silero VAD runs at. */
export const SILERO_RATES = [16000, 8000];
/** Speech starts at a chunk probability of ON and lasts while it is at least OFF. */
export const ON = 0.5;
export const OFF = 0.35;
/** The file name phonedge web gives the model beside the bundle. */
export const SILERO_FILE = 'silero_vad.onnx';

/** One loaded Silero VAD graph, shared by every stream (each keeps its own state). */
export class SileroModel {
  constructor(ort, session, source) {
    Object.assign(this, { ort, session, source });
    this.outputNames = [...session.outputNames];
  }

  /** One chunk (after its context) through the graph: [speech probability, next state]. */
  async run(feed, state, rate) {
    const { Tensor } = this.ort;
    const out = await this.session.run({
      input: new Tensor('float32', feed, [1, feed.length]),
      state: new Tensor('float32', state, STATE_DIMS),
      sr: new Tensor('int64', BigInt64Array.of(BigInt(rate)), []),
    });
    return [out[this.outputNames[0]].data[0], Float32Array.from(out[this.outputNames[1]].data)];
  }
}

async function modelBytes(source) {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  const where = String(source);
  if (isUrl(where) && !(isNode && where.startsWith('file:'))) {
    let response;
    try {
      response = await fetch(where);
    } catch (err) {
      throw new PhonedgeError(`cannot fetch the Silero VAD model ${where}: ${err.message}`);
    }
    if (!response.ok) throw new PhonedgeError(`Silero VAD model not found: ${where} (HTTP ${response.status})`);
    return new Uint8Array(await response.arrayBuffer());
  }
  if (!isNode) throw new PhonedgeError(`${where}: give the Silero VAD model as a URL in a browser`);
  const path = where.startsWith('file:') ? (await import('node:url')).fileURLToPath(where) : where;
  try {
    return new Uint8Array(await (await import('node:fs/promises')).readFile(path));
  } catch (err) {
    if (err.code === 'ENOENT' || err.code === 'EISDIR') throw new PhonedgeError(`Silero VAD model not found: ${path}`);
    throw err;
  }
}

/**
 * Load Silero VAD's ONNX file (a path in Node, a URL, or its bytes) on one thread, as phonedge/vad.py does.
 * Options: backend ('auto' | 'web' | 'node'), ort (a loaded ONNX Runtime module, e.g. the recogniser's).
 */
export async function loadVadModel(source, { backend = 'auto', ort = null } = {}) {
  const bytes = await modelBytes(source);
  const chosen = ort ? { ort, name: backend === 'web' ? 'web' : 'given' } : await ortModule(backend);
  const options = { graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 };
  if (chosen.name === 'web') options.executionProviders = ['wasm'];
  try {
    return new SileroModel(chosen.ort, await chosen.ort.InferenceSession.create(bytes, options), String(source));
  } catch (err) {
    throw new PhonedgeError(`cannot load the Silero VAD model ${source}: ${err.message}`);
  }
}

/** Silero VAD with hysteresis, on chunks at fixed stream positions, and the energy gate. */
export class SileroDetector extends FramedDetector {
  constructor(grid, gateDb, model) {
    super(grid, gateDb);
    const rate = grid.sampleRate;
    if (!SILERO_RATES.includes(rate)) {
      throw new PhonedgeError(`Silero VAD runs at 8000 or 16000 Hz, not the model's ${rate} Hz; use detector='energy'`);
    }
    if (!(model instanceof SileroModel)) {
      throw new PhonedgeError('vad_model must be a Silero VAD model loaded with loadVadModel(...)');
    }
    this.model = model;
    this.chunk = CHUNK[rate];
    this.state = new Float32Array(STATE_DIMS.reduce((a, b) => a * b));
    this.context = new Float32Array(CONTEXT[rate]);
    this.raw = new Float32Array(0);  // samples of the chunk being filled
    this.chunks = [];  // decisions of chunks chunk0 on
    this.chunk0 = 0;
    this.speaking = false;
    this.loudPending = [];  // loudness of frames frame0 on, not yet decided
    this.frame0 = 0;
  }

  /** This detector's name, as Stream.detector gives it. */
  get kind() {
    return 'silero';
  }

  chunkOf(frame) {
    return Math.floor((frame * this.grid.stride + Math.floor(this.grid.receptiveField / 2)) / this.chunk);
  }

  /** The end of the chunk holding the frame's centre (or the frame's field, if later). */
  needed(frame) {
    return Math.max((this.chunkOf(frame) + 1) * this.chunk, this.grid.samplesFor(frame + 1));
  }

  async run(chunk) {
    const feed = new Float32Array(this.context.length + chunk.length);
    feed.set(this.context);
    feed.set(chunk, this.context.length);
    const [p, state] = await this.model.run(feed, this.state, this.grid.sampleRate);
    this.state = state;
    this.context = chunk.slice(chunk.length - this.context.length);
    this.speaking = p >= (this.speaking ? OFF : ON);
    this.chunks.push(this.speaking);
  }

  /** Run the chunks these samples complete; decide the frames whose chunks are done. */
  async push(x) {
    this.loudPending = this.loudPending.concat(this.loud(this.frames(x)));
    const raw = new Float32Array(this.raw.length + x.length);
    raw.set(this.raw);
    raw.set(x, this.raw.length);
    const whole = Math.floor(raw.length / this.chunk) * this.chunk;
    for (let at = 0; at < whole; at += this.chunk) await this.run(raw.subarray(at, at + this.chunk));
    this.raw = raw.slice(whole);
    return this.decide();
  }

  /** Finish the last chunk with zeros, then decide every frame left. */
  async flush() {
    if (this.raw.length) {
      const last = new Float32Array(this.chunk);
      last.set(this.raw);
      await this.run(last);
      this.raw = new Float32Array(0);
    }
    return this.decide();
  }

  decide() {
    const done = this.chunk0 + this.chunks.length;
    let count = 0;
    while (count < this.loudPending.length && this.chunkOf(this.frame0 + count) < done) count += 1;
    const out = [];
    for (let i = 0; i < count; i++) out.push(this.chunks[this.chunkOf(this.frame0 + i) - this.chunk0] && this.loudPending[i]);
    this.loudPending = this.loudPending.slice(count);
    this.frame0 += count;
    const drop = this.chunkOf(this.frame0) - this.chunk0;
    if (drop > 0) {
      this.chunks = this.chunks.slice(drop);
      this.chunk0 += drop;
    }
    return out;
  }
}
