// One decoding layer (phonedge/decoding.py): log-probabilities on the frame grid -> tokens, times, confidences
// and the class decision, for whole utterances and for the stream alike.
import { CTCDecoder } from './ctc.js';
import { ClassDecider } from './decide.js';
import { pairwiseSum } from './features.js';
import { FrameGrid } from './grid.js';
import { token } from './result.js';
import { logSoftmax32 } from './scoring.js';
import { speechEvidence } from './speech.js';

/** Geometric mean of the greedy path's frame probabilities (blanks included), float32 as numpy; 0 for no frames. */
export function pathConfidence(lp, classes) {
  const frames = lp.length / classes;
  if (frames === 0) return 0;
  const peaks = new Float32Array(frames);
  for (let t = 0; t < frames; t++) {
    let peak = -Infinity;
    for (let c = 0; c < classes; c++) peak = Math.max(peak, lp[t * classes + c]);
    peaks[t] = peak;
  }
  return Math.fround(Math.exp(Math.fround(pairwiseSum(peaks) / frames)));
}

/** Decodes one bundle's log-probabilities: greedy CTC tokens on its frame grid and class decisions. */
export class Decoding {
  constructor(manifest, numClasses, threshold) {
    this.manifest = manifest;
    this.threshold = threshold;
    this.grid = FrameGrid.fromAudio(manifest.audio);
    this.classes = numClasses;
    this.ctc = new CTCDecoder(manifest.tokenizer, numClasses);
  }

  /** The class decision rule for these labels (default: the bundle's) and method. */
  decider(labels = null, classify = 'ctc') {
    return new ClassDecider(this.manifest.tokenizer, labels ?? this.manifest.labels, classify, this.threshold);
  }

  /** [text, tokens] of log-probs, times in seconds counted from frame -firstFrame. */
  tokens(lp, firstFrame = 0) {
    const seg = this.ctc.segments(lp);
    const step = this.grid.step;
    const texts = this.ctc.tokenText(seg.ids);
    const tokens = seg.ids.map((id, k) => token(texts[k], id, (firstFrame + seg.startFrames[k]) * step,
      (firstFrame + seg.endFrames[k]) * step, Math.fround(Math.exp(seg.meanLogProbs[k]))));
    return [this.ctc.text(seg.ids), tokens];
  }

  /** The prediction for one utterance's logits {data, classes} and its samples at the model rate. */
  prediction(logits, samples, decider) {
    const lp = logSoftmax32(logits.data, logits.classes);
    const [text, tokens] = this.tokens(lp);
    const evidence = decider.labels.length && !decider.closed ? speechEvidence(samples, this.grid) : null;
    const d = decider.decide(lp, logits.classes, text, evidence);
    return { text, tokens, confidence: pathConfidence(lp, logits.classes), duration: samples.length / this.grid.sampleRate,
      label: d.label, label_probs: d.probs, label_score: d.score, label_reason: d.reason };
  }
}
