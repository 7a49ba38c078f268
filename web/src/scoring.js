// Class scores from model output (phonedge/scoring.py): log-softmax, exact CTC likelihood per class, edit distance.
import { InvalidInputError } from './errors.js';
import { pairwiseSum } from './features.js';

const LOGE2 = Math.LN2;

/** Row-wise log-softmax of float32 logits (frames x classes) in float32, as numpy computes it. */
export function logSoftmax32(logits, classes) {
  const frames = logits.length / classes;
  const out = new Float32Array(logits.length);
  const shifted = new Float32Array(classes);
  const exps = new Float32Array(classes);
  for (let t = 0; t < frames; t++) {
    const row = t * classes;
    let peak = -Infinity;
    for (let c = 0; c < classes; c++) peak = Math.max(peak, logits[row + c]);
    if (!Number.isFinite(peak)) peak = 0;
    for (let c = 0; c < classes; c++) {
      shifted[c] = logits[row + c] - peak;
      exps[c] = Math.exp(shifted[c]);
    }
    let total = Math.fround(Math.log(pairwiseSum(exps)));
    if (!Number.isFinite(total)) total = 0;
    for (let c = 0; c < classes; c++) out[row + c] = shifted[c] - total;
  }
  return out;
}

/** numpy's logaddexp in float64. */
export function logAddExp(x, y) {
  if (x === y) return x + LOGE2;
  const tmp = x - y;
  if (tmp > 0) return x + Math.log1p(Math.exp(-tmp));
  if (tmp <= 0) return y + Math.log1p(Math.exp(tmp));
  return tmp;
}

/** Exact log p(target | frames) by the CTC forward algorithm; -Infinity when the target cannot fit. */
export function ctcLogLikelihood(lp, classes, target, blank) {
  const frames = lp.length / classes;
  checkTarget(target, classes, blank);
  let repeats = 0;
  for (let i = 1; i < target.length; i++) if (target[i] === target[i - 1]) repeats++;
  if (frames < target.length + repeats) return -Infinity;
  if (target.length === 0) return sumBlank(lp, classes, blank, frames);
  const size = 2 * target.length + 1;
  const extended = new Int32Array(size).fill(blank);
  for (let i = 0; i < target.length; i++) extended[2 * i + 1] = target[i];
  // A path may jump over a blank only between two different labels.
  const canSkip = new Uint8Array(size);
  for (let s = 3; s < size; s += 2) canSkip[s] = target[(s - 1) / 2] !== target[(s - 3) / 2] ? 1 : 0;
  let alpha = new Float64Array(size).fill(-Infinity);
  alpha[0] = lp[extended[0]];
  alpha[1] = lp[extended[1]];
  let next = new Float64Array(size);
  for (let t = 1; t < frames; t++) {
    const row = t * classes;
    for (let s = 0; s < size; s++) {
      const stay = s === 0 ? alpha[0] : logAddExp(alpha[s], alpha[s - 1]);
      const skip = s >= 2 && canSkip[s] ? alpha[s - 2] : -Infinity;
      next[s] = logAddExp(stay, skip) + lp[row + extended[s]];
    }
    [alpha, next] = [next, alpha];
  }
  return logAddExp(alpha[size - 1], alpha[size - 2]);
}

function sumBlank(lp, classes, blank, frames) {
  const column = new Float64Array(frames);
  for (let t = 0; t < frames; t++) column[t] = lp[t * classes + blank];
  return pairwiseSum64(column, 0, frames);
}

/** numpy's pairwise summation in float64. */
export function pairwiseSum64(values, from, n) {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += values[from + i];
    return res;
  }
  if (n <= 128) {
    const r = new Float64Array(8);
    for (let j = 0; j < 8; j++) r[j] = values[from + j];
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += values[from + i + j];
    let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += values[from + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum64(values, from, n2) + pairwiseSum64(values, from + n2, n - n2);
}

function checkTarget(target, classes, blank) {
  for (const id of target) {
    if (!Number.isInteger(id) || id < 0 || id >= classes) {
      throw new InvalidInputError(`target ${JSON.stringify(target)} holds ids outside the vocabulary of ${classes}`);
    }
    if (id === blank) throw new InvalidInputError(`target ${JSON.stringify(target)} holds the blank id ${blank}`);
  }
}

/** Softmax over class log-likelihoods in float64; uniform when all are -Infinity. */
export function posteriorsFromLogLikelihoods(scores) {
  if (scores.length === 0) throw new InvalidInputError('expected a non-empty vector of log-likelihoods');
  if (scores.every((s) => s === -Infinity)) return scores.map(() => 1 / scores.length);
  let peak = Math.max(...scores);
  if (!Number.isFinite(peak)) peak = 0;
  const shifted = scores.map((s) => s - peak);
  let total = Math.log(pairwiseSum64(shifted.map(Math.exp), 0, shifted.length));
  if (!Number.isFinite(total)) total = 0;
  return shifted.map((s) => Math.exp(s - total));
}

/** Levenshtein distance between two unit sequences. */
export function editDistance(a, b) {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next.push(Math.min(row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1), row[j] + 1, next[j - 1] + 1));
    }
    row = next;
  }
  return row[b.length];
}

/** Index of the class transcript closest to units by edit distance; ties go to the lowest index. */
export function nearestClass(units, classUnits) {
  if (classUnits.length === 0) throw new InvalidInputError('class_units is empty: give at least one class transcript');
  let best = 0;
  let bestDistance = Infinity;
  classUnits.forEach((candidate, i) => {
    const d = editDistance(units, candidate);
    if (d < bestDistance) { best = i; bestDistance = d; }
  });
  return best;
}
