// Greedy CTC decoding with text identical to the Hugging Face tokenizers' batch_decode (phonedge/ctc.py).
import { PhonedgeError } from './errors.js';
import { pairwiseSum } from './features.js';

// PreTrainedTokenizerBase.clean_up_tokenization: the replacements, in order.
const CLEAN_UP = [[' .', '.'], [' ?', '?'], [' !', '!'], [' ,', ','], [" ' ", "'"], [" n't", "n't"],
  [" 'm", "'m"], [" 's", "'s"], [" 've", "'ve"], [" 're", "'re"]];

/** Index of the first largest value of row t of a (frames, classes) Float32Array. */
export function rowArgmax(lp, classes, t) {
  let best = 0;
  let peak = lp[t * classes];
  for (let c = 1; c < classes; c++) {
    const v = lp[t * classes + c];
    if (v > peak || (Number.isNaN(v) && !Number.isNaN(peak))) { peak = v; best = c; }
  }
  return best;
}

/** Greedy decoder for one tokenizer spec and one logits width. */
export class CTCDecoder {
  constructor(spec, numClasses) {
    this.spec = spec;
    this.classes = numClasses;
    // Ids past the vocabulary decode as the unknown token, as the tokenizers' id lookup does.
    this.tokens = Array.from({ length: numClasses }, (_, i) => (i < spec.vocab.length ? spec.vocab[i] : spec.unk_token));
    const first = new Map();
    // Tokenizers group runs by token string, so ids sharing a string share a key.
    this.key = this.tokens.map((t, i) => { if (!first.has(t)) first.set(t, i); return first.get(t); });
    this.isPad = this.tokens.map((t) => t === spec.pad_token);
  }

  /** The collapsed greedy path of log-probs (frames x classes): {ids, startFrames, endFrames, meanLogProbs}. */
  segments(lp) {
    const frames = lp.length / this.classes;
    const ids = []; const startFrames = []; const endFrames = []; const meanLogProbs = [];
    const best = new Int32Array(frames);
    const frameLp = new Float32Array(frames);
    for (let t = 0; t < frames; t++) {
      best[t] = rowArgmax(lp, this.classes, t);
      frameLp[t] = lp[t * this.classes + best[t]];
    }
    let start = 0;
    for (let t = 1; t <= frames; t++) {
      if (t < frames && this.key[best[t]] === this.key[best[t - 1]]) continue;
      if (!this.isPad[this.key[best[start]]]) {
        ids.push(best[start]);
        startFrames.push(start);
        endFrames.push(t);
        // numpy: float32 reduceat sum, divided by an int64 count in float64, cast back to float32.
        meanLogProbs.push(Math.fround(pairwiseSum(frameLp, start, t - start) / (t - start)));
      }
      start = t;
    }
    return { ids, startFrames, endFrames, meanLogProbs };
  }

  /** Per frame: true where the greedy path emits a token rather than the blank. */
  emitting(lp) {
    const frames = lp.length / this.classes;
    const out = new Array(frames);
    for (let t = 0; t < frames; t++) out[t] = !this.isPad[this.key[rowArgmax(lp, this.classes, t)]];
    return out;
  }

  /** The token string of each id. */
  tokenText(ids) {
    return ids.map((i) => this.tokens[i]);
  }

  /** The transcript of collapsed, blank-free ids, formatted as the tokenizer's decode does. */
  text(ids) {
    const spec = this.spec;
    let tokens = this.tokenText(ids);
    let text;
    if (spec.kind === 'Wav2Vec2PhonemeCTCTokenizer') {
      if (spec.word_delimiter_token !== null && spec.word_delimiter_token !== undefined) {
        tokens = tokens.filter((t) => t !== spec.word_delimiter_token);
      }
      text = pyStrip(tokens.join(' '));
    } else {
      text = pyStrip(tokens.map((t) => (t === spec.word_delimiter_token ? ' ' : t)).join(''));
      if (spec.do_lower_case) text = text.toLowerCase();
    }
    if (spec.clean_up_tokenization_spaces) {
      for (const [oldText, newText] of CLEAN_UP) text = text.split(oldText).join(newText);
    }
    return text;
  }
}

/** Python's str.strip() for the whitespace a transcript can hold. */
function pyStrip(s) {
  return s.replace(/^[\s\x1c-\x1f\x85]+|[\s\x1c-\x1f\x85]+$/gu, '');
}

/** A reference transcript as vocabulary units: phonemes by whitespace, else characters (spaces as delimiter). */
export function transcriptUnits(spec, transcript) {
  const words = transcript.split(/\s+/u).filter((w) => w.length);
  if (spec.kind === 'Wav2Vec2PhonemeCTCTokenizer') return words;
  const delimiter = spec.word_delimiter_token || ' ';
  return Array.from(words.join(' '), (c) => (c === ' ' ? delimiter : c));
}

/** Token ids of a reference transcript (the first id of each unit, as the tokenizer encodes it). */
export function transcriptIds(spec, transcript) {
  const first = new Map();
  spec.vocab.forEach((t, i) => { if (!first.has(t)) first.set(t, i); });
  return transcriptUnits(spec, transcript).map((unit) => {
    if (!first.has(unit)) {
      throw new PhonedgeError(`transcript ${JSON.stringify(transcript)}: unit ${JSON.stringify(unit)} is not in the model's vocabulary`);
    }
    return first.get(unit);
  });
}
