// The model's output frame grid (phonedge/grid.py): how many frames a number of samples gives, where each lies.

/** Output frames of the conv feature encoder for nSamples samples (0 when shorter than one field). */
export function frameCount(nSamples, stride, receptiveField) {
  return Math.max(0, Math.floor((nSamples - receptiveField) / stride) + 1);
}

/** One frame every `stride` samples at `sampleRate`, each seeing `receptiveField` samples. */
export class FrameGrid {
  constructor(sampleRate, stride, receptiveField) {
    Object.assign(this, { sampleRate, stride, receptiveField });
  }

  /** The grid of a bundle's audio settings. */
  static fromAudio(audio) {
    return new FrameGrid(audio.sample_rate, audio.frame_stride, audio.receptive_field);
  }

  /** Seconds from one frame to the next. */
  get step() {
    return this.stride / this.sampleRate;
  }

  /** Output frames for nSamples samples. */
  framesFor(nSamples) {
    return frameCount(nSamples, this.stride, this.receptiveField);
  }

  /** The fewest samples that give nFrames frames (from a frame boundary). */
  samplesFor(nFrames) {
    return nFrames > 0 ? nFrames * this.stride + this.receptiveField - this.stride : 0;
  }
}
