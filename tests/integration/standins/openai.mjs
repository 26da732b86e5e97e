// A stand-in for OpenAI's REST API, for tests: the real service is out of
// reach here. It speaks the documented wire formats that the OpenAI
// plugins of LiveKit's agents (and any OpenAI client) use:
//
//   GET  /v1/models                 -> {object:"list", data:[{id, ...}]}
//   POST /v1/audio/transcriptions   multipart/form-data (file, model, ...)
//                                   -> {"text": TRANSCRIPT}
//   POST /v1/chat/completions       stream:true -> Server-Sent Events of
//                                   chat.completion.chunk objects, the
//                                   REPLY in small pieces, then [DONE]
//   POST /v1/audio/speech           response_format "pcm" -> raw s16le
//                                   24 kHz mono: a tone (TONE_HZ, TONE_MS)
//
// Every request is kept (in memory, and as one JSON line in a log file
// when one is given) with what the test needs to check: the time it came,
// the model, for a transcription the WAV it carried (rate, length, RMS),
// for a chat the messages, for speech the text to say.
//
// In a test: `const oa = await startOpenAIStandIn({log})`, then
// oa.baseURL ("http://127.0.0.1:PORT/v1"), oa.requests, oa.close().
// Alone: `node openai.mjs PORT [LOG]`.

import http from 'node:http';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

export const TRANSCRIPT = 'What are your opening hours?';
export const REPLY = 'We are open from nine to five.';
export const TONE_HZ = 600;
export const TONE_MS = 1000;
export const SPEECH_RATE = 24000;

const MODELS = ['gpt-4o-mini', 'whisper-1', 'tts-1'];
const BODY_MAX = 16 * 1024 * 1024;

// The tone TTS answers with: raw s16le at 24 kHz, 10 ms ramps at both ends
// so that it starts and stops without a click.
export function speechPcm(hz = TONE_HZ, ms = TONE_MS, level = 12000) {
  const n = Math.round((SPEECH_RATE * ms) / 1000);
  const ramp = SPEECH_RATE / 100;
  const buf = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) {
    const g = Math.min(1, i / ramp, (n - 1 - i) / ramp);
    buf.writeInt16LE(Math.round(level * g * Math.sin((2 * Math.PI * hz * i) / SPEECH_RATE)), i * 2);
  }
  return buf;
}

// multipart/form-data into {name: {filename, type, data: Buffer}}.
function parseMultipart(body, contentType) {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType ?? '');
  if (!m) return null;
  const delim = Buffer.from(`--${m[1] ?? m[2]}`);
  const parts = {};
  let pos = body.indexOf(delim);
  while (pos >= 0) {
    const start = pos + delim.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delim, start);
    if (next < 0) break;
    const part = body.subarray(start + 2, next - 2); // CRLF after the delimiter, CRLF before the next
    const sep = part.indexOf('\r\n\r\n');
    if (sep >= 0) {
      const head = part.subarray(0, sep).toString();
      const name = /name="([^"]*)"/i.exec(head)?.[1];
      if (name !== undefined) {
        parts[name] = {
          filename: /filename="([^"]*)"/i.exec(head)?.[1],
          type: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1],
          data: part.subarray(sep + 4),
        };
      }
    }
    pos = next;
  }
  return parts;
}

// What a 16-bit PCM WAV holds: {rate, channels, seconds, rms}, or null.
function wavInfo(buf) {
  if (!buf || buf.length < 44 || buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') return null;
  let off = 12;
  let fmt = null;
  while (off + 8 <= buf.length) {
    const id = buf.toString('latin1', off, off + 4);
    const len = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ' && len >= 16 && body + 16 <= buf.length) {
      fmt = { format: buf.readUInt16LE(body), channels: buf.readUInt16LE(body + 2), rate: buf.readUInt32LE(body + 4), bits: buf.readUInt16LE(body + 14) };
    } else if (id === 'data' && fmt && fmt.format === 1 && fmt.bits === 16) {
      const end = Math.min(buf.length, body + len);
      const n = Math.floor((end - body) / 2);
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const s = buf.readInt16LE(body + 2 * i);
        sum += s * s;
      }
      return { rate: fmt.rate, channels: fmt.channels, seconds: n / fmt.channels / fmt.rate, rms: n ? Math.sqrt(sum / n) : 0 };
    }
    off = body + len + (len & 1);
  }
  return null;
}

const chunk = (id, created, model, delta, finish = null) =>
  `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

// startOpenAIStandIn({port, log, reply, transcript, toneHz, toneMs}):
// resolves once listening.
export async function startOpenAIStandIn(opts = {}) {
  const reply = opts.reply ?? REPLY;
  const transcript = opts.transcript ?? TRANSCRIPT;
  const pcm = speechPcm(opts.toneHz ?? TONE_HZ, opts.toneMs ?? TONE_MS);
  const requests = [];
  const keep = (r) => {
    requests.push(r);
    if (opts.log) fs.appendFileSync(opts.log, `${JSON.stringify(r)}\n`);
  };
  const fail = (res, status, message) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message, type: 'invalid_request_error' } }));
  };

  const srv = http.createServer((req, res) => {
    const chunks = [];
    let size = 0;
    req.on('data', (d) => {
      size += d.length;
      if (size <= BODY_MAX) chunks.push(d);
    });
    req.on('end', async () => {
      const at = Date.now();
      const url = new URL(req.url, 'http://x');
      const body = Buffer.concat(chunks);
      const base = { at, method: req.method, path: url.pathname, auth: req.headers.authorization ?? null };
      if (size > BODY_MAX) {
        keep({ ...base, refused: 'body too large' });
        return fail(res, 413, 'request body too large');
      }
      if (req.method === 'GET' && url.pathname === '/v1/models') {
        keep(base);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: MODELS.map((id) => ({ id, object: 'model', created: 0, owned_by: 'stand-in' })) }));
        return;
      }
      if (req.method === 'POST' && url.pathname === '/v1/audio/transcriptions') {
        const parts = parseMultipart(body, req.headers['content-type']);
        const file = parts?.file;
        const model = parts?.model?.data.toString();
        keep({ ...base, model, filename: file?.filename, bytes: file?.data.length ?? 0, wav: wavInfo(file?.data), language: parts?.language?.data.toString() });
        if (!file || !model) return fail(res, 400, 'file and model are required');
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ text: transcript }));
        return;
      }
      if (req.method === 'POST' && url.pathname === '/v1/chat/completions') {
        let j;
        try {
          j = JSON.parse(body.toString());
        } catch {
          keep({ ...base, refused: 'not JSON' });
          return fail(res, 400, 'body is not JSON');
        }
        keep({ ...base, model: j.model, stream: j.stream, messages: j.messages });
        const id = `chatcmpl-standin${requests.length}`;
        const created = Math.floor(at / 1000);
        if (!j.stream) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ id, object: 'chat.completion', created, model: j.model, choices: [{ index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop' }] }));
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write(chunk(id, created, j.model, { role: 'assistant', content: '' }));
        for (const piece of reply.match(/\S+\s*/g) ?? []) {
          if (res.destroyed) return;
          res.write(chunk(id, created, j.model, { content: piece }));
          await new Promise((r) => setTimeout(r, 10));
        }
        res.write(chunk(id, created, j.model, {}, 'stop'));
        if (j.stream_options?.include_usage) {
          res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: j.model, choices: [], usage: { prompt_tokens: 10, completion_tokens: 8, total_tokens: 18 } })}\n\n`);
        }
        res.end('data: [DONE]\n\n');
        return;
      }
      if (req.method === 'POST' && url.pathname === '/v1/audio/speech') {
        let j;
        try {
          j = JSON.parse(body.toString());
        } catch {
          keep({ ...base, refused: 'not JSON' });
          return fail(res, 400, 'body is not JSON');
        }
        keep({ ...base, model: j.model, voice: j.voice, input: j.input, response_format: j.response_format });
        if (j.response_format !== 'pcm') return fail(res, 400, `the stand-in speaks only pcm, not ${j.response_format}`);
        res.writeHead(200, { 'content-type': 'audio/pcm', 'content-length': pcm.length });
        res.end(pcm);
        return;
      }
      keep({ ...base, refused: 'unknown path' });
      fail(res, 404, `no ${req.method} ${url.pathname} in the stand-in`);
    });
  });
  await new Promise((resolve) => srv.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = srv.address().port;
  return {
    port,
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    // the requests to path (e.g. "/v1/audio/speech")
    to: (p) => requests.filter((r) => r.path === p),
    close() {
      return new Promise((resolve) => {
        srv.closeAllConnections?.();
        srv.close(() => resolve());
      });
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [port, log] = process.argv.slice(2);
  const oa = await startOpenAIStandIn({ port: Number(port ?? 0), log });
  console.log(`listening ${oa.port}`);
}
