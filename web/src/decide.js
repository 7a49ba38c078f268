// Class decisions (phonedge/decide.py): the one place that turns model output into a label, its probabilities,
// its open-set score and, without a label, the reason.
import { PhonedgeError } from './errors.js';
import { transcriptIds, transcriptUnits } from './ctc.js';
import { ctcLogLikelihood, nearestClass, pairwiseSum64, posteriorsFromLogLikelihoods } from './scoring.js';

export const CLASSIFY_METHODS = ['ctc', 'nearest'];
export const REASONS = ['no_speech', 'out_of_set', 'too_short'];
// The threshold of a bundle exported without reject calibration (phonedge/decide.py says how it was chosen).
export const DEFAULT_REJECT_THRESHOLD = -2.0;

/** Throw unless classify names a decision method. */
export function checkClassify(classify) {
  if (!CLASSIFY_METHODS.includes(classify)) {
    throw new PhonedgeError(`classify must be one of ${CLASSIFY_METHODS.join(', ')}, got ${JSON.stringify(classify)}`);
  }
}

/** The open-set threshold: the given one, else the bundle's calibrated one, else the default; null: closed set. */
export function openSetThreshold(manifest, { rejectThreshold = null, openSet = true } = {}) {
  if (!openSet) return null;
  const threshold = rejectThreshold ?? manifest.decision?.reject_threshold ?? DEFAULT_REJECT_THRESHOLD;
  if (typeof threshold !== 'number' || Number.isNaN(threshold)) {
    throw new PhonedgeError(`reject_threshold must be a number (nats), got ${JSON.stringify(threshold)}`);
  }
  return threshold;
}

/** A decision: {label, probs, score, reason}; all null without class labels. */
export function decision(label = null, probs = null, score = null, reason = null) {
  return { label, probs, score, reason };
}

/** Log-probability of the model's own best path: the most likely symbol on every frame. */
export function freePathLogProb(lp, classes) {
  const frames = lp.length / classes;
  const peaks = new Float64Array(frames);
  for (let t = 0; t < frames; t++) {
    let peak = -Infinity;
    for (let c = 0; c < classes; c++) peak = Math.max(peak, lp[t * classes + c]);
    peaks[t] = peak;
  }
  return pairwiseSum64(peaks, 0, frames);
}

/** Decides between class labels for one tokenizer, by CTC likelihood or nearest transcript, open-set. */
export class ClassDecider {
  constructor(tokenizer, labels, classify = 'ctc', threshold = DEFAULT_REJECT_THRESHOLD) {
    checkClassify(classify);
    Object.assign(this, { tokenizer, labels: [...labels], classify, threshold });
    this.names = this.labels.map((l) => l.label);
    this.targets = this.labels.map((l) => {
      try {
        return transcriptIds(tokenizer, l.transcript);
      } catch (err) {
        throw new PhonedgeError(`class ${JSON.stringify(l.label)}: ${err.message}`);
      }
    });
    this.units = this.labels.map((l) => transcriptUnits(tokenizer, l.transcript));
  }

  /** Whether every decodable sound gets a class. */
  get closed() {
    return this.threshold === null;
  }

  /** The decision for one utterance's log-probs (frames x classes) and greedy text; evidence: a SpeechEvidence. */
  decide(lp, classes, text, evidence = null) {
    if (!this.labels.length) return decision();
    const blank = this.tokenizer.blank_id;
    let best;
    let probs = null;
    let fit;
    if (this.classify === 'ctc') {
      const scores = this.targets.map((target) => ctcLogLikelihood(lp, classes, target, blank));
      if (scores.every((s) => s === -Infinity)) {
        return decision(null, Object.fromEntries(this.names.map((n) => [n, 1 / this.names.length])), null, 'too_short');
      }
      const posteriors = posteriorsFromLogLikelihoods(scores);
      best = 0;
      posteriors.forEach((p, i) => { if (p > posteriors[best]) best = i; });
      probs = Object.fromEntries(this.names.map((n, i) => [n, posteriors[i]]));
      fit = scores[best];
    } else {
      best = nearestClass(transcriptUnits(this.tokenizer, text), this.units);
      fit = ctcLogLikelihood(lp, classes, this.targets[best], blank);
    }
    const label = this.names[best];
    if (fit === -Infinity) return this.closed ? decision(label) : decision(null, null, null, 'too_short');
    const score = fit - freePathLogProb(lp, classes);
    if (this.closed) return decision(label, probs, score);
    if (!text || (evidence && (evidence.silent || evidence.tonal))) return decision(null, probs, score, 'no_speech');
    if (score < this.threshold) return decision(null, probs, score, 'out_of_set');
    return decision(label, probs, score);
  }
}
