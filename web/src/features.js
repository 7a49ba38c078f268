// wav2vec2 input normalisation, bit for bit as phonedge/features.py computes it with numpy in float32.

// Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm adds this to the variance (a float32 in numpy's sum).
const VARIANCE_EPSILON = Math.fround(1e-7);
// numpy's pairwise summation: blocks of at most 128 summed with 8 accumulators.
const PW_BLOCKSIZE = 128;

const f = Math.fround;

/** Float32 sum of values[from, from+n) in numpy's pairwise order (np.add.reduce on float32). */
export function pairwiseSum(values, from = 0, n = values.length - from) {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res = f(res + values[from + i]);
    return res;
  }
  if (n <= PW_BLOCKSIZE) {
    const r = new Float32Array(8);
    for (let j = 0; j < 8; j++) r[j] = values[from + j];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] = f(r[j] + values[from + i + j]);
    }
    let res = f(f(f(r[0] + r[1]) + f(r[2] + r[3])) + f(f(r[4] + r[5]) + f(r[6] + r[7])));
    for (; i < n; i++) res = f(res + values[from + i]);
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return f(pairwiseSum(values, from, n2) + pairwiseSum(values, from + n2, n - n2));
}

/** Zero mean, unit variance over one utterance, in float32 like the Hugging Face extractor. */
export function normalize(samples, doNormalize = true) {
  const x = samples instanceof Float32Array ? samples : Float32Array.from(samples);
  if (!doNormalize) return x;
  const n = x.length;
  const mean = f(pairwiseSum(x) / n);
  const centred = new Float32Array(n);
  for (let i = 0; i < n; i++) centred[i] = x[i] - mean;
  const squares = new Float32Array(n);
  for (let i = 0; i < n; i++) squares[i] = centred[i] * centred[i];
  const variance = f(pairwiseSum(squares) / n);
  const std = f(Math.sqrt(f(variance + VARIANCE_EPSILON)));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = centred[i] / std;
  return out;
}
