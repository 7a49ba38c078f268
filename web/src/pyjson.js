// Python's json.dumps(..., ensure_ascii=False) text in JavaScript, so Node prints the lines the Python CLI prints.

/** Keys whose numbers are Python ints (every other number is a float and prints as one, 1.0 not 1). */
export const INT_KEYS = new Set(['id', 'token_ids', 'start_sample', 'end_sample']);

/** Python's repr of a float: shortest round-trip digits, exponent form below 1e-4 or from 1e16. */
export function pyFloat(x) {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, exp] = x.toExponential().split('e');
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  const e = Number(exp);
  const decpt = e + 1;  // value = 0.DIGITS x 10^decpt
  if (decpt <= -4 || decpt > 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/** json.dumps(value, ensure_ascii=False): ", " and ": " separators, floats as Python writes them. */
export function pyDumps(value, isInt = false) {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return isInt ? String(value) : pyFloat(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => pyDumps(v, isInt)).join(', ')}]`;
  const items = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pyDumps(v, INT_KEYS.has(k))}`);
  return `{${items.join(', ')}}`;
}
