// phonedge in JavaScript: run a phonedge bundle with ONNX Runtime (web or Node) and get the Python runtime's answers.
export { load, Recognizer } from './recognizer.js';
export { Stream } from './stream.js';
export { ChunkPlan } from './chunking.js';
export { decodeWav, resample } from './audio.js';
export { predictionToDict } from './result.js';
export { pyDumps } from './pyjson.js';
export * from './errors.js';
