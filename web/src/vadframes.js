// Frames of the model's grid for speech detectors (phonedge/vad.py's _Framed): each frame's samples and its level,
// computed from its own samples only, whatever blocks they came in.

// Added to the mean square so that digital silence has a finite level (-120 dBFS).
const POWER_FLOOR = 1e-12;

/** RMS level in dBFS of each whole frame of x, each from its own samples (float64, as phonedge/vad.py's frame_levels). */
export function frameLevels(x, grid) {
  const count = grid.framesFor(x.length);
  const field = grid.receptiveField;
  const out = new Float64Array(count);
  for (let f = 0; f < count; f++) {
    let power = 0;
    for (let i = f * grid.stride, end = i + field; i < end; i++) power += x[i] * x[i];
    out[f] = 10 * Math.log10(power / field + POWER_FLOOR);
  }
  return out;
}

/** Cuts the stream into whole frames as samples arrive; the frames' loudness against the gate. */
export class FramedDetector {
  constructor(grid, gateDb) {
    this.grid = grid;
    this.gateDb = gateDb;
    this.buf = new Float32Array(0);  // samples from frame this.next's start on
    this.next = 0;
  }

  /** Append samples; the samples of the frames they complete, from the first one's start. */
  frames(x) {
    const joined = new Float32Array(this.buf.length + x.length);
    joined.set(this.buf);
    joined.set(x, this.buf.length);
    const count = this.grid.framesFor(joined.length);
    this.buf = joined.slice(count * this.grid.stride);
    this.next += count;
    return joined.subarray(0, this.grid.samplesFor(count));
  }

  /** Whether each whole frame of the window reaches the gate (all do without one). */
  loud(window) {
    const count = this.grid.framesFor(window.length);
    if (this.gateDb === null) return new Array(count).fill(true);
    return Array.from(frameLevels(window, this.grid), (db) => db >= this.gateDb);
  }

  /** How many stream samples deciding FRAME takes: its own field. */
  needed(frame) {
    return this.grid.samplesFor(frame + 1);
  }

  /** The stream ended: nothing is left to decide (a frame is decided once its field has arrived). */
  flush() {
    return [];
  }
}

