// The on-device page: microphone -> phonedge Stream in the browser -> partials and finals with labels.
import { load, loadVadModel, SILERO_FILE } from './phonedge/index.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let rec = null;
let vadModel = null;  // Silero VAD, when phonedge web found it installed; else the stream's energy detector
let running = null;

/** The page's stream settings: Python's defaults, with Silero VAD as the detector when the site has it. */
function streamOptions() {
  return vadModel ? { vad_model: vadModel } : {};
}

function status(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : 'muted';
}

function showFinal(e) {
  if (!e.text && !e.label) return;
  const li = document.createElement('li');
  li.className = 'final';
  li.dataset.text = e.text;
  li.dataset.label = e.label ?? '';
  li.dataset.reason = e.label_reason ?? '';
  li.dataset.start = e.start;
  const label = e.label ?? (e.label_reason ? `none:${e.label_reason}` : '');
  li.innerHTML = '<span class="when"></span><span class="text"></span><span class="label"></span>';
  li.children[0].textContent = `${e.start.toFixed(2)}–${e.end.toFixed(2)} s`;
  li.children[1].textContent = e.text;
  li.children[2].textContent = label;
  $('finals').append(li);
}

async function start() {
  const stream = rec.stream(streamOptions());
  // The context runs at the model rate, so the browser resamples the microphone (see web/README.md).
  const ctx = new AudioContext({ sampleRate: rec.sampleRate });
  await ctx.audioWorklet.addModule('./worklet.js');
  const media = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
  });
  const source = ctx.createMediaStreamSource(media);
  const tap = new AudioWorkletNode(ctx, 'phonedge-tap', { processorOptions: { blockSeconds: 0.1 } });
  let queue = Promise.resolve();
  let blocks = 0;
  tap.port.onmessage = ({ data }) => {
    queue = queue.then(async () => {
      for (const e of await stream.accept(data)) {
        if (e.kind === 'final') { showFinal(e); $('partial').textContent = ''; } else $('partial').textContent = e.text;
      }
      blocks += 1;
      if (blocks % 10 === 0) status(`listening: ${stream.time.toFixed(1)} s`);
    }).catch((err) => status(String(err), true));
  };
  source.connect(tap);
  running = { ctx, media, stream, tap, done: () => queue };
  $('mic').textContent = 'Stop';
  $('mic').className = 'on';
  status('listening');
}

async function stop() {
  const { ctx, media, stream, done } = running;
  running = null;
  media.getTracks().forEach((t) => t.stop());
  await ctx.close();
  await done();
  for (const e of await stream.finish()) if (e.kind === 'final') showFinal(e);
  $('partial').textContent = '';
  $('mic').textContent = 'Start microphone';
  $('mic').className = '';
  status('stopped');
}

async function main() {
  const threads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  rec = await load(new URL('./bundle/', location.href).href, { backend: 'web', threads });
  const labels = rec.labels.map((l) => l.label).join(', ') || 'none';
  $('model').textContent = `${rec.manifest.source?.model_name ?? 'model'} · classes: ${labels} · ${threads} thread(s)`
    + `${self.crossOriginIsolated ? '' : ' (no cross-origin isolation: one thread)'}`;
  let why = '';
  try {
    vadModel = await loadVadModel(new URL(`./bundle/${SILERO_FILE}`, location.href).href,
      { ort: rec.runner.ort, backend: 'web' });
  } catch (err) {
    why = /not found/.test(err.message) ? 'no Silero VAD file in this site: pip install --no-deps silero-vad, '
      + 'then run phonedge web again' : `Silero VAD could not load: ${err.message ?? err}`;
  }
  const detector = rec.stream(streamOptions()).detector;
  $('detector').dataset.detector = detector;
  $('detector').textContent = detector === 'silero'
    ? `speech detector: Silero VAD (bundle/${SILERO_FILE}, MIT licence beside it)` : `speech detector: energy gate (${why})`;
  $('mic').disabled = false;
  $('mic').onclick = () => (running ? stop() : start()).catch((err) => status(String(err), true));
  status('ready');
  document.body.dataset.ready = '1';
  if (params.get('autostart') === '1') await start();
}

main().catch((err) => status(`could not load the model: ${err.message ?? err}`, true));
