// phonedge in JavaScript: run a phonedge bundle with ONNX Runtime (web or Node) and get the Python runtime's answers.
export { load, Recognizer } from './recognizer.js';
export { Stream, streamOptions, eventToDict, STREAM_DEFAULTS } from './stream.js';
export { DETECTORS, EnergyDetector, CallableDetector, makeDetector } from './vad.js';
export { loadVadModel, SileroDetector, SileroModel, SILERO_FILE } from './silero.js';
export { Decoding } from './decoding.js';
export { ChunkPlan } from './chunking.js';
export { FrameGrid } from './grid.js';
export { decodeWav, resample } from './audio.js';
export { predictionToDict, labelFields } from './result.js';
export { pyDumps } from './pyjson.js';
export * from './errors.js';
