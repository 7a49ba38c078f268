// Speech detectors for live audio (phonedge/vad.py): which frames of the model's grid hold speech, decided block by
// block. Frame f (samples f*stride to f*stride+field) is decided from a fixed stretch of the stream, so the answers
// never depend on how the audio was cut into blocks. Every kind also requires the frame to reach the energy gate
// when one is set. Silero VAD's detector lives in silero.js.
import { MissingExtraError, PhonedgeError } from './errors.js';
import { SILERO_RATES, SileroDetector } from './silero.js';
import { FramedDetector } from './vadframes.js';

/** The detector names a stream's `detector` option takes. */
export const DETECTORS = ['auto', 'silero', 'energy'];
/** Speech = frame level at least the gate (the dependency-free detector). */
export class EnergyDetector extends FramedDetector {
  /** This detector's name, as Stream.detector gives it. */
  get kind() {
    return 'energy';
  }

  /** Decide the frames these samples complete. */
  push(x) {
    return this.loud(this.frames(x));
  }
}

/** Speech = vad(the frame's stride of samples, rate), and loud enough; vad may return a promise. */
export class CallableDetector extends FramedDetector {
  constructor(grid, gateDb, vad) {
    super(grid, gateDb);
    this.vad = vad;
  }

  /** This detector's name, as Stream.detector gives it. */
  get kind() {
    return 'callable';
  }

  /** Ask the function about each frame these samples complete, in order. */
  async push(x) {
    const window = this.frames(x);
    const loud = this.loud(window);
    const s = this.grid.stride;
    const out = [];
    for (let f = 0; f < loud.length; f++) {
      const said = Boolean(await this.vad(window.slice(f * s, (f + 1) * s), this.grid.sampleRate));
      out.push(said && loud[f]);
    }
    return out;
  }
}

/**
 * The detector a stream's options ask for. 'auto': Silero when `model` (a stream's vad_model) is given, or when
 * `installed` (the recogniser's loaded Silero model) is there and the model rate suits it; else energy.
 */
export function makeDetector(kind, grid, gateDb, { vad = null, model = null, installed = null } = {}) {
  if (vad !== null) return new CallableDetector(grid, gateDb, vad);
  let chosen = kind;
  if (chosen === 'auto') {
    chosen = model !== null || (installed !== null && SILERO_RATES.includes(grid.sampleRate)) ? 'silero' : 'energy';
  }
  if (chosen === 'silero') {
    const silero = model ?? installed;
    if (silero === null) {
      throw new MissingExtraError('the Silero VAD detector needs its model file: load it with '
        + "loadVadModel('silero_vad.onnx') and pass it as vad_model, or load(bundle, {vadModel})");
    }
    return new SileroDetector(grid, gateDb, silero);
  }
  if (chosen === 'energy') {
    if (gateDb === null) throw new PhonedgeError('the energy detector needs energy_gate_db (a level in dBFS), not null');
    return new EnergyDetector(grid, gateDb);
  }
  throw new PhonedgeError(`unknown detector ${JSON.stringify(kind)}; use 'auto', 'silero' or 'energy'`);
}
