// The ONNX Runtime session: onnxruntime-web (WebAssembly; browsers and Node) or onnxruntime-node (native, Node only).

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
export const BACKENDS = ['auto', 'web', 'node'];

/** The ONNX Runtime module for BACKEND ('auto': onnxruntime-node in Node when installed, else onnxruntime-web). */
export async function ortModule(backend = 'auto') {
  if (!BACKENDS.includes(backend)) throw new Error(`backend must be one of ${BACKENDS.join(', ')}, got ${backend}`);
  if (backend === 'node' || (backend === 'auto' && isNode)) {
    try {
      return { ort: await import('onnxruntime-node'), name: 'node' };
    } catch (err) {
      if (backend === 'node') throw new Error(`onnxruntime-node is not installed (npm install onnxruntime-node): ${err.message}`);
    }
  }
  return { ort: await import('onnxruntime-web'), name: 'web' };
}

/** An opened graph: run(inputValues, frames) gives {data: Float32Array (frames x classes), classes}. */
export async function openSession(modelBytes, { backend = 'auto', threads = 0, ort = null } = {}) {
  const chosen = ort ? { ort, name: 'given' } : await ortModule(backend);
  const options = { graphOptimizationLevel: 'all' };
  if (chosen.name === 'node' || chosen.name === 'given') {
    if (threads > 0) options.intraOpNumThreads = threads;
  }
  if (chosen.name !== 'node' && threads > 0 && chosen.ort.env?.wasm) chosen.ort.env.wasm.numThreads = threads;
  if (chosen.name === 'web') options.executionProviders = ['wasm'];
  const session = await chosen.ort.InferenceSession.create(modelBytes, options);
  return new GraphRunner(chosen.ort, session, chosen.name);
}

/** Feeds one (1, T) waveform to the graph and returns its logits. */
export class GraphRunner {
  constructor(ort, session, backend) {
    this.ort = ort;
    this.session = session;
    this.backend = backend;
    this.inputNames = [...session.inputNames];
    this.outputName = session.outputNames[0];
  }

  /** The logits width the graph declares for OUTPUT (null when its shape leaves it symbolic). */
  numClasses(output = this.outputName) {
    const meta = this.session.outputMetadata;
    const entry = Array.isArray(meta) ? meta.find((m) => m.name === output) : meta?.[output];
    const last = entry?.shape?.[entry.shape.length - 1];
    return Number.isInteger(last) ? last : null;
  }

  async run(values, outputName = this.outputName) {
    const { Tensor } = this.ort;
    const feeds = { input_values: new Tensor('float32', values, [1, values.length]) };
    if (this.inputNames.includes('attention_mask')) {
      feeds.attention_mask = new Tensor('int64', new BigInt64Array(values.length).fill(1n), [1, values.length]);
    }
    const out = (await this.session.run(feeds))[outputName];
    const [, frames, classes] = out.dims;
    const data = Float32Array.from(out.data);
    return { data, frames, classes };
  }
}
