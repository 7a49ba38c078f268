// The bundle manifest (phonedge.json), read and validated as phonedge/manifest.py does.
import { ModelBundleError } from './errors.js';

export const MANIFEST_NAME = 'phonedge.json';
export const FORMAT_NAME = 'phonedge-bundle';
export const FORMAT_VERSION = 1;
export const TOKENIZER_KINDS = ['Wav2Vec2CTCTokenizer', 'Wav2Vec2PhonemeCTCTokenizer'];

const AUDIO_DEFAULTS = {
  sample_rate: 16000, do_normalize: true, padding_value: 0.0, feat_extract_norm: 'layer',
  frame_stride: 320, receptive_field: 400, normalized_in_graph: false,
};
const TOKENIZER_DEFAULTS = {
  pad_token: '<pad>', unk_token: '<unk>', word_delimiter_token: '|', do_lower_case: false,
  clean_up_tokenization_spaces: false,
};
const GRAPH_DEFAULTS = { output: 'logits', quantization: {}, sha256: '', size_bytes: 0 };

/** A validated manifest object (plain data) from its parsed JSON. */
export function parseManifest(data, where = 'manifest') {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ModelBundleError(`${where}: expected a JSON object`);
  }
  if (data.format !== FORMAT_NAME) {
    throw new ModelBundleError(`${where}: not a phonedge bundle manifest (format=${JSON.stringify(data.format)})`);
  }
  if (data.format_version !== FORMAT_VERSION) {
    throw new ModelBundleError(`${where}: bundle format version ${data.format_version}, this phonedge reads version `
      + `${FORMAT_VERSION}; re-export the model with a matching phonedge version`);
  }
  for (const key of ['audio', 'tokenizer', 'graph']) {
    if (!data[key] || typeof data[key] !== 'object') {
      throw new ModelBundleError(`${where}: missing field '${key}'; re-export the bundle`);
    }
  }
  const audio = { ...AUDIO_DEFAULTS, ...data.audio };
  const tokenizer = { ...TOKENIZER_DEFAULTS, ...data.tokenizer };
  const graph = { ...GRAPH_DEFAULTS, ...data.graph };
  const labels = (data.labels || []).map((l) => ({ label: l.label, transcript: l.transcript, name: l.name || '' }));
  const decision = { ...(data.decision || {}) };
  const manifest = { ...data, audio, tokenizer, graph, labels, decision };
  validate(manifest, where);
  return manifest;
}

/** Whether the runtime normalises the waveform before the graph (not when the graph does it). */
export function runtimeNormalizes(audio) {
  return audio.do_normalize && !audio.normalized_in_graph;
}

function validate(m, where) {
  const tok = m.tokenizer;
  const audio = m.audio;
  const problems = [];
  if (!TOKENIZER_KINDS.includes(tok.kind)) {
    problems.push(`tokenizer kind ${JSON.stringify(tok.kind)} is not one of ${TOKENIZER_KINDS.join(', ')}`);
  }
  if (!Array.isArray(tok.vocab) || tok.vocab.length === 0) problems.push('the vocabulary is empty');
  else if (!(tok.blank_id >= 0 && tok.blank_id < tok.vocab.length)) {
    problems.push(`blank_id ${tok.blank_id} is outside the vocabulary of ${tok.vocab.length}`);
  }
  if (!(audio.sample_rate > 0 && audio.frame_stride > 0 && audio.receptive_field > 0)) {
    problems.push('sample_rate, frame_stride and receptive_field must be positive');
  }
  if (!Array.isArray(m.graph.inputs) || !m.graph.inputs.includes('input_values')) {
    problems.push(`graph inputs ${JSON.stringify(m.graph.inputs)} lack 'input_values'`);
  }
  const threshold = m.decision.reject_threshold;
  if (threshold !== undefined && threshold !== null && (typeof threshold !== 'number' || Number.isNaN(threshold))) {
    problems.push(`decision.reject_threshold must be a number, got ${JSON.stringify(threshold)}`);
  }
  if (typeof m.graph.file !== 'string' || !m.graph.file) problems.push('graph.file is missing');
  if (problems.length) throw new ModelBundleError(`${where}: ${problems.join('; ')}`);
}
