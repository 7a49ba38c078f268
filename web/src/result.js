// The result of one prediction and its plain-dict form, key for key as Prediction.to_dict (phonedge/result.py).

/** Python's round(x, digits) for the values results hold (the nearest decimal; exact ties cannot occur). */
export function pyRoundTo(x, digits) {
  return Number(x.toFixed(digits));
}

/** One emitted token: text, id, time span in seconds and confidence. */
export function token(text, id, start, end, confidence) {
  return { text, id, start, end, confidence };
}

/** A token's plain-dict form, times rounded to 0.1 ms. */
export function tokenToDict(t) {
  return { text: t.text, id: t.id, start: pyRoundTo(t.start, 4), end: pyRoundTo(t.end, 4),
    confidence: pyRoundTo(t.confidence, 6) };
}

function roundProbs(probs) {
  const out = {};
  for (const [k, v] of Object.entries(probs || {})) out[k] = pyRoundTo(v, 6);
  return out;
}

/** The class decision's JSON fields, as phonedge/result.py's label_fields (none without class labels). */
export function labelFields(result) {
  if (result.label === null && result.label_reason === null) return {};
  return { label: result.label, label_probs: roundProbs(result.label_probs),
    label_score: result.label_score === null ? null : pyRoundTo(result.label_score, 4), label_reason: result.label_reason };
}

/** A Prediction's plain-dict form (JSON-ready); tokens with times only when timestamps. */
export function predictionToDict(pred, { timestamps = true } = {}) {
  const out = {
    text: pred.text,
    confidence: pyRoundTo(pred.confidence, 6),
    duration: pyRoundTo(pred.duration, 6),
    token_ids: pred.tokens.map((t) => t.id),
  };
  if (timestamps) out.tokens = pred.tokens.map(tokenToDict);
  return { ...out, ...labelFields(pred) };
}
