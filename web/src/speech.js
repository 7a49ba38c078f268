// Acoustic evidence of speech on the frame grid (phonedge/speech.py): loud frames, and tonal ones (tones, hum, chords).

// Frames quieter than this RMS level (dBFS, over the frame's receptive field) are not speech; the stream's gate too.
export const SPEECH_GATE_DB = -50.0;
const TONAL_LINES = 4;
const TONAL_SHARE = 0.995;
const LINE_HALF_WIDTH = 1;  // bins of the 512-point spectrum credited to each spectral line (phonedge/speech.py)
const FFT = 512;
// Added to the mean square so that digital silence has a finite level (-120 dBFS).
const POWER_FLOOR = 1e-12;

/** RMS level in dBFS of each frame's receptive field (samples f*stride to f*stride+field), in float64. */
export function frameEnergyDb(x, frames, stride, receptiveField) {
  const squares = new Float64Array(x.length + 1);
  for (let i = 0; i < x.length; i++) squares[i + 1] = squares[i] + x[i] * x[i];
  const out = new Float64Array(frames);
  for (let f = 0; f < frames; f++) {
    const power = (squares[f * stride + receptiveField] - squares[f * stride]) / receptiveField;
    out[f] = 10 * Math.log10(power + POWER_FLOOR);
  }
  return out;
}

/** How many frames are loud enough to be speech, their summed energy, and the energy of the tonal ones. */
export class SpeechEvidence {
  constructor(loudFrames = 0, loudEnergy = 0, tonalEnergy = 0) {
    Object.assign(this, { loudFrames, loudEnergy, tonalEnergy });
  }

  /** The evidence of this audio followed by other's. */
  merged(other) {
    return new SpeechEvidence(this.loudFrames + other.loudFrames, this.loudEnergy + other.loudEnergy,
      this.tonalEnergy + other.tonalEnergy);
  }

  /** No frame reaches the speech gate. */
  get silent() {
    return this.loudFrames === 0;
  }

  /** Tonal frames hold at least half of the loud frames' energy. */
  get tonal() {
    return this.loudFrames > 0 && 2 * this.tonalEnergy >= this.loudEnergy;
  }
}

let hann = null;

/** Count the loud and the tonal frames of mono samples at the grid's rate. */
export function speechEvidence(samples, grid) {
  const frames = grid.framesFor(samples.length);
  const field = grid.receptiveField;
  if (!hann || hann.length !== field) {
    hann = new Float32Array(field);  // np.hanning(field).astype(float32)
    for (let n = 0; n < field; n++) hann[n] = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / (field - 1));
  }
  const levels = frameEnergyDb(samples, frames, grid.stride, field);
  let loud = 0;
  let loudEnergy = 0;
  let tonalEnergy = 0;
  const frame = new Float32Array(field);
  for (let f = 0; f < frames; f++) {
    if (!(levels[f] >= SPEECH_GATE_DB)) continue;
    const energy = 10 ** (levels[f] / 10);
    loud += 1;
    loudEnergy += energy;
    for (let n = 0; n < field; n++) frame[n] = samples[f * grid.stride + n] * hann[n];
    if (lineShare(frame) >= TONAL_SHARE) tonalEnergy += energy;
  }
  return new SpeechEvidence(loud, loudEnergy, tonalEnergy);
}

/** The share of a frame's energy in the TONAL_LINES strongest lines of its 1024-point spectrum. */
function lineShare(frame) {
  const power = rfftPower(frame, FFT);
  let total = 1e-30;
  for (let k = 0; k < power.length; k++) total += power[k];
  let taken = 0;
  for (let line = 0; line < TONAL_LINES; line++) {
    let peak = 0;
    for (let k = 1; k < power.length; k++) if (power[k] > power[peak]) peak = k;
    for (let offset = -LINE_HALF_WIDTH; offset <= LINE_HALF_WIDTH; offset++) {
      const col = Math.min(power.length - 1, Math.max(0, peak + offset));
      taken += power[col];
      power[col] = 0;
    }
  }
  return taken / total;
}

/** |rfft(x, n)|^2, bins 0..n/2, by an iterative radix-2 FFT in float64. */
function rfftPower(x, n) {
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let i = 0; i < Math.min(n, x.length); i++) re[i] = x[i];
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) { [re[i], re[j]] = [re[j], re[i]]; [im[i], im[j]] = [im[j], im[i]]; }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const angle = (-2 * Math.PI) / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < len / 2; k++) {
        const wr = Math.cos(angle * k);
        const wi = Math.sin(angle * k);
        const a = i + k;
        const b = a + len / 2;
        const tr = re[b] * wr - im[b] * wi;
        const ti = re[b] * wi + im[b] * wr;
        re[b] = re[a] - tr; im[b] = im[a] - ti;
        re[a] += tr; im[a] += ti;
      }
    }
  }
  const out = new Float64Array(n / 2 + 1);
  for (let k = 0; k <= n / 2; k++) out[k] = re[k] * re[k] + im[k] * im[k];
  return out;
}
