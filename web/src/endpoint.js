// The segmenting rule of live audio (phonedge/endpoint.py), frame by frame on the model's grid, from a speech
// detector's decisions. A segment opens at a speech frame, `pre` frames before it (never before the last segment's
// end), and closes once `silence` frames without speech follow its last speech frame (or at `maxFrames`); it ends
// `post` frames after that last speech frame.

/** The segmenting state machine; rules {silence, pre, post, maxFrames} in frames; a segment is a frame span [start, end). */
export class Endpointer {
  constructor(rules) {
    this.rules = rules;
    this.open = null;  // start frame of the open segment
    this.last = -1;  // last speech frame of the open segment
    this.prevEnd = 0;  // end frame of the last closed segment
    this.pos = 0;  // next frame to examine
  }

  /** The end the open segment gets if no more speech comes (null when none is open). */
  get endIfClosed() {
    if (this.open === null) return null;
    return Math.min(this.last + 1 + this.rules.post, this.open + this.rules.maxFrames);
  }

  /** Examine the next frame; the segment [start, end] it closes, if any, else null. */
  push(speech) {
    const f = this.pos;
    const rules = this.rules;
    this.pos += 1;
    if (this.open === null) {
      if (speech) {
        this.open = Math.max(this.prevEnd, f - rules.pre);
        this.last = f;
      }
      return null;
    }
    if (speech) this.last = f;
    else if (f - this.last >= rules.silence) return this.close(this.last + 1 + rules.post);
    if (f + 1 - this.open >= rules.maxFrames) return this.close(this.open + rules.maxFrames);
    return null;
  }

  /** Close the open segment at the end of the stream. */
  finish(totalFrames) {
    if (this.open === null) return null;
    return this.close(Math.min(this.last + 1 + this.rules.post, totalFrames));
  }

  /** The first frame a segment can still start at. */
  earliestNeeded() {
    if (this.open !== null) return this.open;
    return Math.max(this.prevEnd, this.pos - this.rules.pre);
  }

  close(end) {
    const span = [this.open, end];
    this.open = null;
    this.last = -1;
    this.prevEnd = end;
    return span;
  }
}
