// The recogniser (phonedge/recognizer.py): a bundle's ONNX graph plus audio preparation, decoding and class decisions.
import { prepareAudio } from './audio.js';
import { readBundle } from './bundle.js';
import { ChunkPlan } from './chunking.js';
import { openSetThreshold } from './decide.js';
import { Decoding } from './decoding.js';
import { ModelBundleError } from './errors.js';
import { normalize } from './features.js';
import { runtimeNormalizes } from './manifest.js';
import { predictionToDict } from './result.js';
import { openSession } from './session.js';
import { loadVadModel, SileroModel } from './silero.js';
import { Stream } from './stream.js';

/** Runs one phonedge bundle. */
export class Recognizer {
  constructor(location, manifest, runner, { chunking = new ChunkPlan(), threshold = openSetThreshold(manifest),
    vadModel = null } = {}) {
    this.location = location;
    this.manifest = manifest;
    this.runner = runner;
    this.chunking = chunking;
    this.vadModel = vadModel;  // Silero VAD, when loaded: streams' detector 'auto' then takes it
    const missing = manifest.graph.inputs.filter((name) => !runner.inputNames.includes(name));
    if (missing.length) {
      throw new ModelBundleError(`${location}: the manifest names graph inputs ${missing} that the ONNX file lacks; export again`);
    }
    // The graph's logits width (ids past the vocabulary decode as the unknown token), else the vocabulary's.
    const classes = runner.numClasses(manifest.graph.output) ?? manifest.tokenizer.vocab.length;
    this.decoding = new Decoding(manifest, classes, threshold);
  }

  /** The sample rate the model expects. */
  get sampleRate() {
    return this.manifest.audio.sample_rate;
  }

  /** The class labels stored in the bundle. */
  get labels() {
    return [...this.manifest.labels];
  }

  /** Logits {data, frames, classes} of one window of samples at the model rate, normalised on its own. */
  async windowLogits(window) {
    return this.runner.run(normalize(window, runtimeNormalizes(this.manifest.audio)), this.manifest.graph.output);
  }

  /** Logits of samples at the model rate, in windows when long (each normalised on its own). */
  async logits(samples) {
    const { frame_stride: stride, receptive_field: field } = this.manifest.audio;
    if (samples.length <= this.chunking.chunkSamples(this.sampleRate, stride)) return this.windowLogits(samples);
    const pieces = [];
    let classes = 0;
    for (const chunk of this.chunking.windows(samples.length, this.sampleRate, stride, field)) {
      const out = await this.windowLogits(samples.subarray(chunk.start, chunk.stop));
      classes = out.classes;
      pieces.push(out.data.subarray(chunk.keepFrom * classes, chunk.keepTo * classes));
    }
    const data = new Float32Array(pieces.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of pieces) { data.set(p, at); at += p.length; }
    return { data, frames: data.length / classes, classes };
  }

  /** Samples at sampleRate made ready for the graph: checked, resampled to the model rate. */
  readAudio(samples, sampleRate) {
    return prepareAudio(samples, sampleRate, this.sampleRate, this.manifest.audio.receptive_field);
  }

  /** Transcribe one utterance: the same plain object as Python's Prediction.to_dict(). */
  async predict(samples, sampleRate, { labels = null, classify = 'ctc', timestamps = true } = {}) {
    const decider = this.decoding.decider(labels, classify);
    const x = this.readAudio(samples, sampleRate);
    return predictionToDict(this.decoding.prediction(await this.logits(x), x, decider), { timestamps });
  }

  /** A live-audio Stream on this recogniser (one per audio source). */
  stream(options = {}) {
    return new Stream(this, options);
  }
}

/**
 * Open a bundle: a folder path (Node) or the URL of a served bundle folder.
 * Options: backend ('auto' | 'web' | 'node'), threads (0: ONNX Runtime's choice), ort (a loaded ONNX Runtime module),
 * chunking (a ChunkPlan), rejectThreshold (nats; default: the bundle's), openSet (false: every sound gets a class),
 * vadModel (Silero VAD's ONNX file: a path, URL, bytes or a loadVadModel result; streams' detector 'auto' takes it).
 */
export async function load(location, { backend = 'auto', threads = 0, ort = null, chunking = null,
  rejectThreshold = null, openSet = true, vadModel = null } = {}) {
  const { manifest, model } = await readBundle(location);
  const threshold = openSetThreshold(manifest, { rejectThreshold, openSet });
  const runner = await openSession(model, { backend, threads, ort });
  const vad = vadModel === null || vadModel instanceof SileroModel ? vadModel
    : await loadVadModel(vadModel, { ort: runner.ort, backend: runner.backend });
  return new Recognizer(location, manifest, runner, { chunking: chunking ?? new ChunkPlan(), threshold, vadModel: vad });
}
