// phonedge microphone tap: copies the input's first channel and posts it to the page in blocks of
// processorOptions.blockSeconds (default 0.05 s). The server's live page and the on-device page share it.
class PhonedgeTap extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const seconds = (options && options.processorOptions && options.processorOptions.blockSeconds) || 0.05;
    this.block = new Float32Array(Math.round(sampleRate * seconds));
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      let offset = 0;
      while (offset < channel.length) {
        const n = Math.min(channel.length - offset, this.block.length - this.filled);
        this.block.set(channel.subarray(offset, offset + n), this.filled);
        this.filled += n;
        offset += n;
        if (this.filled === this.block.length) {
          this.port.postMessage(this.block.slice(0));
          this.filled = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor("phonedge-tap", PhonedgeTap);
