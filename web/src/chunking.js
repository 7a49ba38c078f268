// Long audio in bounded memory (phonedge/chunking.py): overlapping windows on the model's frame grid.
import { PhonedgeError } from './errors.js';

/** Chunk length and left/right context in seconds (default: 10 s chunks, 2 s each side). */
export class ChunkPlan {
  constructor(chunkS = 10.0, leftS = 2.0, rightS = 2.0) {
    if (chunkS <= 0 || leftS < 0 || rightS < 0) {
      throw new PhonedgeError(`chunk length must be > 0 and strides >= 0, got ${chunkS}/${leftS}/${rightS}`);
    }
    if (leftS + rightS >= chunkS) {
      throw new PhonedgeError(`strides ${leftS} s + ${rightS} s must be shorter than the chunk (${chunkS} s)`);
    }
    Object.assign(this, { chunkS, leftS, rightS });
  }

  /** Samples in one full chunk: chunkS rounded to whole strides. */
  chunkSamples(rate, stride) {
    return this.frames(rate, stride)[0] * stride;
  }

  /** [length, left, right] in frames. */
  frames(rate, stride) {
    const length = Math.max(1, pyRound(this.chunkS * rate / stride));
    const left = pyRound(this.leftS * rate / stride);
    // At least one frame of right context: a chunk's last frame needs samples past its end.
    const right = Math.max(1, Math.ceil(this.rightS * rate / stride));
    if (length - left - right < 1) {
      throw new PhonedgeError(`chunk plan ${this.chunkS}/${this.leftS}/${this.rightS} s leaves no frame to keep per chunk`);
    }
    return [length, left, right];
  }

  /** The chunks covering nSamples: one when the audio fits in a chunk. */
  windows(nSamples, rate, stride, receptiveField) {
    return [...new WindowCursor(this, rate, stride, receptiveField).advance(nSamples, true)];
  }
}

/** Python's round(): halves to even. */
export function pyRound(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Hands out a plan's windows in order as audio arrives; the same windows whatever the arrival pattern. */
export class WindowCursor {
  constructor(plan, rate, stride, receptiveField) {
    [this.length, this.left, this.right] = plan.frames(rate, stride);
    this.size = plan.chunkSamples(rate, stride);
    this.stride = stride;
    this.receptiveField = receptiveField;
    this.startFrame = 0;
    this.done = false;
  }

  /** First sample the next window reads. */
  get nextStart() {
    return this.startFrame * this.stride;
  }

  /** The windows ({start, stop, keepFrom, keepTo}) that `available` samples complete; final: the input ends there. */
  * advance(available, final = false) {
    while (!this.done) {
      const start = this.nextStart;
      if (!final && start + this.size >= available) return;
      const stop = Math.min(start + this.size, available);
      const last = stop === available;
      const frames = Math.floor((stop - start - this.receptiveField) / this.stride) + 1;
      const keepTo = last ? frames : this.length - this.right;
      if (frames <= 0) {
        this.done = true;
        return;
      }
      yield { start, stop, keepFrom: start === 0 ? 0 : this.left, keepTo };
      this.done = last;
      this.startFrame += this.length - this.left - this.right;
    }
  }
}
