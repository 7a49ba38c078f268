// Endpointing (phonedge/endpoint.py): split a stream of speech/non-speech frames into segments, on the frame grid.
// Committed frames are examined once, in order; tentative ones (a window's right context) are only peeked at.

/** Endpoint rules in frames: {silence, pre, post, maxFrames, margin}. */
export class Endpointer {
  constructor(rules) {
    this.rules = { margin: 0, ...rules };
    this.open = null;  // start frame of the open segment
    this.last = -1;  // last speech frame of the open segment
    this.prevEnd = 0;  // end frame of the last closed segment
    this.pos = 0;  // next committed frame to examine
    this.loud = [];  // loudness of committed frames from frame loud0 on
    this.loud0 = 0;
  }

  /** Examine newly committed frames (ending at committedTo), peek at tentative ones; the segments closed. */
  window(committed, tentative, committedTo, loud = null) {
    const allLoud = loud ?? new Array(committed.length + tentative.length).fill(true);
    const first = committedTo - committed.length;
    if (first !== this.loud0 + this.loud.length) throw new Error('committed frames must follow on');
    this.loud = this.loud.concat(allLoud.slice(0, committed.length));
    const closed = [];
    committed.forEach((speech, i) => {
      const span = this.frame(first + i, speech);
      if (span) closed.push(span);
    });
    this.pos = committedTo;
    const span = this.peek(tentative, committedTo, allLoud.slice(committed.length));
    if (span) closed.push(span);
    const keep = this.earliestNeeded();
    if (keep > this.loud0) {
      this.loud = this.loud.slice(keep - this.loud0);
      this.loud0 = keep;
    }
    return closed;
  }

  /** Close the open segment at the end of the stream. */
  finish(totalFrames) {
    if (this.open === null) return null;
    return this.close(this.end(this.loud, Math.min(this.last + 1 + this.rules.post, totalFrames)));
  }

  /** The first frame a later segment or final can still start at. */
  earliestNeeded() {
    if (this.open !== null) return Math.min(this.pos, this.open);
    return Math.min(this.pos, Math.max(this.prevEnd, this.pos - this.rules.pre));
  }

  frame(f, speech) {
    const rules = this.rules;
    if (this.open === null) {
      if (speech && f >= this.prevEnd) {
        this.open = this.start(this.loud, f);
        this.last = f;
      }
      return null;
    }
    if (speech) this.last = Math.max(this.last, f);
    else if (f - this.last >= rules.silence) return this.close(this.end(this.loud, this.last + 1 + rules.post));
    if (f + 1 - this.open >= rules.maxFrames) return this.close(this.open + rules.maxFrames);
    return null;
  }

  peek(tentative, committedTo, loud) {
    const rules = this.rules;
    const horizon = committedTo + tentative.length;
    let speech = [];
    tentative.forEach((s, i) => { if (s) speech.push(committedTo + i); });
    const seen = this.loud.concat(loud);  // loudness of frames loud0 .. horizon
    if (this.open === null) {
      speech = speech.filter((f) => f >= this.prevEnd);
      if (speech.length) {
        this.open = this.start(seen, speech[0]);
        this.last = speech[0];
      }
      return null;
    }
    const last = speech.length ? Math.max(this.last, speech[speech.length - 1]) : this.last;
    if (horizon - (last + 1) >= rules.silence) return this.close(this.end(seen, last + 1 + rules.post, last));
    if (horizon - this.open >= rules.maxFrames) return this.close(this.open + rules.maxFrames);
    return null;
  }

  /** Start of a segment whose first speech frame is `speech`: the loud run leading to it, less the margin. */
  start(loud, speech) {
    const floor = Math.max(this.prevEnd, speech - this.rules.pre);
    let run = speech;
    while (run > floor && loud[run - 1 - this.loud0]) run -= 1;
    return Math.max(floor, run - this.rules.margin);
  }

  /** End of a segment whose last speech frame is `last`: the end of its loud run plus the margin, at most cap. */
  end(loud, cap, last = null) {
    let run = (last === null ? this.last : last) + 1;
    while (run < cap && loud[run - this.loud0]) run += 1;
    return Math.min(cap, run + this.rules.margin);
  }

  close(end) {
    const span = [this.open, end];
    this.open = null;
    this.last = -1;
    this.prevEnd = end;
    return span;
  }
}
