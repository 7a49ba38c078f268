#!/usr/bin/env node
// phonedge in Node: `node web/bin/phonedge.mjs predict --model BUNDLE [--json] [--timestamps] FILE.wav ...`
// prints the lines `phonedge predict` prints (WAV files; other rates resampled, see web/README.md).
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { decodeWav, load, PhonedgeError, pyDumps } from '../src/index.js';

const USAGE = `usage: phonedge.mjs predict --model BUNDLE [--json] [--timestamps] [--classify ctc|nearest]
                        [--reject-threshold NATS | --closed-set] [--threads N] [--backend auto|web|node] FILE.wav ...`;

/** The parsed command line, or a usage error. */
export function parse(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string', short: 'm' },
      json: { type: 'boolean', default: false },
      timestamps: { type: 'boolean', default: false },
      classify: { type: 'string', default: 'ctc' },
      threads: { type: 'string', default: '1' },
      backend: { type: 'string', default: 'auto' },
      'reject-threshold': { type: 'string' },
      'closed-set': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...files] = positionals;
  if (values.help) return { help: true };
  if (command !== 'predict') throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  if (!values.model) throw new UsageError('--model BUNDLE is required');
  if (!files.length) throw new UsageError('give at least one WAV file');
  const threshold = values['reject-threshold'];
  if (threshold !== undefined && Number.isNaN(Number(threshold))) throw new UsageError('--reject-threshold takes a number (nats)');
  return { ...values, threads: Number(values.threads), rejectThreshold: threshold === undefined ? null : Number(threshold),
    openSet: !values['closed-set'], files };
}

class UsageError extends Error {}

/** The plain (non-JSON) line, as phonedge's CLI writes it (cli._plain). */
function plain(path, pred, timestamps) {
  let line = `${path}\t${pred.text}`;
  if (pred.label) line += `\tlabel=${pred.label}`;
  else if (pred.label_reason) line += `\tlabel=none:${pred.label_reason}`;
  if (timestamps) line += `\t${pred.tokens.map((t) => `${t.text}@${t.start.toFixed(2)}-${t.end.toFixed(2)}`).join(' ')}`;
  return line;
}

/** Run a parsed command; returns the exit status. */
export async function run(args, out = process.stdout, err = process.stderr) {
  const rec = await load(args.model, { backend: args.backend, threads: args.threads, rejectThreshold: args.rejectThreshold,
    openSet: args.openSet });
  let failed = 0;
  for (const path of args.files) {
    try {
      const { samples, sampleRate } = decodeWav(new Uint8Array(await readFile(path)), path);
      const pred = await rec.predict(samples, sampleRate, { classify: args.classify, timestamps: args.timestamps });
      out.write(`${args.json ? pyDumps({ path, ...pred }) : plain(path, pred, args.timestamps)}\n`);
    } catch (error) {
      if (!(error instanceof PhonedgeError) && error.code !== 'ENOENT') throw error;
      failed += 1;
      err.write(`error: ${path}: ${error.message}\n`);
    }
  }
  if (failed) err.write(`${failed} of ${args.files.length} files failed\n`);
  return failed ? 1 : 0;
}

async function main() {
  let args;
  try {
    args = parse(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error.message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    return await run(args);
  } catch (error) {
    if (!(error instanceof PhonedgeError)) throw error;
    process.stderr.write(`error: ${error.message}\n`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('phonedge.mjs')) {
  process.exitCode = await main();
}
