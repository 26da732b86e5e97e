// node bench/vad_silero.mjs SETDIR SPLIT: the anchor of the VAD benchmark.
// Silero VAD as LiveKit Agents ships it: the ONNX model inside the npm
// package @livekit/agents-plugin-silero, run by onnxruntime-node (both from
// tests/integration/node/node_modules) as the plugin's OnnxModel runs it
// (1 intra-op and 1 inter-op thread, sequential, CPU), at 8 kHz: windows of
// 256 samples with the previous window's last 32 as context and the model
// state carried. The probabilities go through the plugin's ExpFilter(0.35)
// and its VADStream rules with the plugin's defaults (dist/vad.js of
// @livekit/agents-plugin-silero 1.9.0): activationThreshold 0.5 (speech
// while p > 0.5), minSpeechDuration 50 ms, minSilenceDuration 550 ms.
//
// Prints one line per clip in the format of bench/vad_eval.c:
//   name  audio_s  cpu_s  begin:end:onset:start,...  cancels
// begin: where the run of speech windows that led to START_OF_SPEECH began;
// end: where the last speech window before END_OF_SPEECH ended; onset: when
// the first window of that run was known (its end); start: when
// START_OF_SPEECH came. cpu_s: process CPU (user + system) over the clip's
// inference, the float conversion included, as the plugin does it.
// cancels: runs of speech windows that ended before START_OF_SPEECH.
//
// node bench/vad_silero.mjs SETDIR SPLIT GUARDED: only the clips that have a
// reference (the echo-only clips), read from GUARDED/NAME.wav as voxgate's
// echo guard passed them on (build/bench/vad_eval --guarded GUARDED): Silero
// behind the same guard as voxgate's VAD.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const nodeDir = new URL('../tests/integration/node/', import.meta.url);
const require = createRequire(nodeDir);
const ort = require('onnxruntime-node');
const pluginMain = require.resolve('@livekit/agents-plugin-silero');
const modelPath = path.join(path.dirname(pluginMain), 'silero_vad.onnx');

const RATE = 8000;
const WIN = 256;
const CTX = 32;
const ACTIVATION = 0.5;
const MIN_SPEECH_MS = 50;
const MIN_SILENCE_MS = 550;
const ALPHA = 0.35;

function readWav(file) {
  const b = readFileSync(file);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE')
    throw new Error(`${file}: not a WAV`);
  let off = 12;
  let rate = 0;
  let bits = 0;
  let ch = 0;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const len = b.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      ch = b.readUInt16LE(off + 10);
      rate = b.readUInt32LE(off + 12);
      bits = b.readUInt16LE(off + 22);
    } else if (id === 'data') {
      if (rate !== RATE || bits !== 16 || ch !== 1)
        throw new Error(`${file}: want 8 kHz 16-bit mono`);
      const n = Math.min(len, b.length - off - 8) >> 1;
      const pcm = new Int16Array(n);
      for (let i = 0; i < n; i++) pcm[i] = b.readInt16LE(off + 8 + 2 * i);
      return pcm;
    }
    off += 8 + len + (len & 1);
  }
  throw new Error(`${file}: no data`);
}

async function runClip(session, pcm) {
  const sr = new ort.Tensor('int64', BigInt64Array.from([BigInt(RATE)]));
  let state = new Float32Array(2 * 128);
  let context = new Float32Array(CTX);
  const input = new Float32Array(CTX + WIN);
  const winMs = (WIN / RATE) * 1000;
  const probs = [];
  let filtered;

  const c0 = process.cpuUsage();
  for (let off = 0; off + WIN <= pcm.length; off += WIN) {
    const x = Float32Array.from(pcm.subarray(off, off + WIN), (v) => v / 32767);
    input.set(context, 0);
    input.set(x, CTX);
    const r = await session.run({
      input: new ort.Tensor('float32', input, [1, CTX + WIN]),
      state: new ort.Tensor('float32', state, [2, 1, 128]),
      sr,
    });
    state = new Float32Array(r.stateN.data);
    context = input.slice(-CTX);
    const p = r.output.data[0];
    filtered = filtered === undefined ? p : ALPHA * filtered + (1 - ALPHA) * p;
    probs.push(filtered);
  }
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;

  // LiveKit's VADStream: speech while p > activation; START_OF_SPEECH after
  // minSpeechDuration of it, END_OF_SPEECH after more than
  // minSilenceDuration of silence.
  const segs = [];
  let speaking = false;
  let speechMs = 0;
  let silenceMs = 0;
  let runStart = -1;
  let seg = null;
  let lastSpeech = -1;
  let cancels = 0;
  for (let j = 0; j < probs.length; j++) {
    const end = ((j + 1) * winMs) / 1000;
    if (probs[j] > ACTIVATION) {
      if (speechMs === 0) runStart = j;
      speechMs += winMs;
      silenceMs = 0;
      lastSpeech = j;
      if (!speaking && speechMs >= MIN_SPEECH_MS) {
        speaking = true;
        seg = {
          begin: (runStart * winMs) / 1000,
          onset: ((runStart + 1) * winMs) / 1000,
          start: end,
        };
      }
    } else {
      if (!speaking && speechMs > 0) cancels++;
      silenceMs += winMs;
      speechMs = 0;
      if (speaking && silenceMs > MIN_SILENCE_MS) {
        speaking = false;
        seg.end = ((lastSpeech + 1) * winMs) / 1000;
        segs.push(seg);
        seg = null;
      }
    }
  }
  if (speaking) {
    seg.end = ((lastSpeech + 1) * winMs) / 1000;
    segs.push(seg);
  }
  return { cpu, segs, cancels };
}

async function main() {
  const [dir, split, guarded] = process.argv.slice(2);
  if (!dir || !split) {
    console.error('usage: node bench/vad_silero.mjs SETDIR SPLIT [GUARDED]');
    process.exit(2);
  }
  const session = await ort.InferenceSession.create(modelPath, {
    interOpNumThreads: 1,
    intraOpNumThreads: 1,
    executionMode: 'sequential',
    executionProviders: [{ name: 'cpu' }],
  });
  console.error(`vad_silero: ${modelPath}`);
  const lines = readFileSync(path.join(dir, 'manifest.tsv'), 'utf8').split('\n');
  // warm up once, so the first clip does not pay for the session's start
  await runClip(session, new Int16Array(RATE));
  let out = '';
  for (const line of lines) {
    const f = line.split('\t');
    if (f.length !== 8 || f[0] !== split) continue;
    if (guarded && f[7] === '-') continue;
    const pcm = readWav(guarded ? path.join(guarded, `${f[1]}.wav`) : path.join(dir, f[5]));
    const { cpu, segs, cancels } = await runClip(session, pcm);
    const s = segs
      .map((g) => [g.begin, g.end, g.onset, g.start].map((v) => v.toFixed(3)).join(':'))
      .join(',');
    out += `${f[1]}\t${(pcm.length / RATE).toFixed(3)}\t${cpu.toFixed(6)}\t${s || '-'}\t${cancels}\n`;
  }
  process.stdout.write(out);
}

main().catch((e) => {
  console.error(`vad_silero: ${e.message}`);
  process.exit(1);
});
