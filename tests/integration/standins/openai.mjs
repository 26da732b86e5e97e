// A stand-in for OpenAI's REST API (and the servers that copy its audio
// API: whisper.cpp's server, faster-whisper servers, Kokoro, Piper), for
// tests: the real service is out of reach here. It speaks the documented
// wire formats (https://platform.openai.com/docs/api-reference/audio and
// /chat, as the openai SDK 6.49.0 and the OpenAI plugins of LiveKit's
// agents use them):
//
//   GET  /v1/models                 -> {object:"list", data:[{id, ...}]}
//   POST /v1/audio/transcriptions   multipart/form-data (file, model,
//                                   language, prompt, temperature,
//                                   response_format json | verbose_json |
//                                   text | srt | vtt) -> {"text": ...},
//                                   the verbose object, or plain text
//   POST /v1/chat/completions       stream:true -> Server-Sent Events of
//                                   chat.completion.chunk objects, the
//                                   reply in small pieces (tool calls as
//                                   delta.tool_calls, finish_reason
//                                   "tool_calls"), then [DONE]
//   POST /v1/audio/speech           {model, input, voice, response_format
//                                   pcm | wav, speed} -> chunked s16le
//                                   24 kHz mono (OpenAI's pcm rate), a
//                                   tone (TONE_HZ, TONE_MS / speed); wav
//                                   streams a header whose sizes are
//                                   0xFFFFFFFF, then the tone at wavRate
//                                   (24 kHz unless given: a Piper
//                                   server's is 16 or 22.05 kHz)
//
// Authorization: Bearer KEY; with `key` given a wrong one gets 401
// {"error":{"message":"Incorrect API key provided: ...","type":
// "invalid_request_error","param":null,"code":"invalid_api_key"}}.
// Errors are OpenAI's {"error":{message, type, param, code}}.
//
// Every request is kept (in memory, and as one JSON line in a log file
// when one is given) with what the test needs to check: the time it came,
// the headers (the Authorization value redacted, authOk saying whether it
// was right), the model, for a transcription the WAV it carried (rate,
// length, RMS), for a chat the messages and tools, for speech the text.
//
// Faults and timing as in common.mjs: firstMs before the answer (the
// transcription, the first token, the first audio), chunkMs between
// chunks (chunkBytes of audio each, default 100 ms); timing.paths
// {"/v1/chat/completions": {firstMs: 300}, ...} sets them per endpoint;
// drop cuts the socket after `after` chunks (a transcription: without
// answering).
//
// In a test: `const oa = await startOpenAIStandIn({log})`, then
// oa.baseURL (= oa.url, "http://127.0.0.1:PORT/v1"), oa.requests (= oa.log),
// oa.to(path), oa.fault, oa.timing, oa.transcripts, oa.replies,
// oa.close() (= oa.stop()). Alone: `node openai.mjs PORT [LOG]`.

import http from 'node:http';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { control } from './common.mjs';

export const TRANSCRIPT = 'What are your opening hours?';
export const REPLY = 'We are open from nine to five.';
export const TONE_HZ = 600;
export const TONE_MS = 1000;
export const SPEECH_RATE = 24000;

const MODELS = ['gpt-4o-mini', 'whisper-1', 'tts-1'];
const BODY_MAX = 16 * 1024 * 1024;

// The tone TTS answers with: raw s16le at rate (24 kHz unless a wav's is
// set), 10 ms ramps at both ends so that it starts and stops without a
// click.
export function speechPcm(hz = TONE_HZ, ms = TONE_MS, level = 12000, rate = SPEECH_RATE) {
  const n = Math.round((rate * ms) / 1000);
  const ramp = rate / 100;
  const buf = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) {
    const g = Math.min(1, i / ramp, (n - 1 - i) / ramp);
    buf.writeInt16LE(Math.round(level * g * Math.sin((2 * Math.PI * hz * i) / rate)), i * 2);
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

// OpenAI's error bodies for the statuses the faults produce.
function apiError(status, message) {
  const e = {
    400: ['invalid_request_error', null, 'The stand-in was told to refuse this request.'],
    401: ['invalid_request_error', 'invalid_api_key', 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.'],
    404: ['invalid_request_error', null, 'Not found'],
    429: ['requests', 'rate_limit_exceeded', 'Rate limit reached for requests. Please try again later.'],
    503: ['server_error', null, 'The engine is currently overloaded, please try again later'],
  }[status] ?? ['server_error', null, 'The server had an error while processing your request. Sorry about that!'];
  return { error: { message: message ?? e[2], type: e[0], param: null, code: e[1] } };
}

// A WAV header for streaming: the sizes are unknown, so 0xFFFFFFFF.
function streamingWavHeader(rate) {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(0xffffffff, 4);
  h.write('WAVE', 8);
  h.write('fmt ', 12);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(0xffffffff, 40);
  return h;
}

const wait = (ms) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

// startOpenAIStandIn({port, log, key, reply, replies, transcript,
// transcripts, toneHz, toneMs, wavRate, timing, fault}): resolves once
// listening.
export async function startOpenAIStandIn(opts = {}) {
  const reply = opts.reply ?? REPLY;
  const replies = [...(opts.replies ?? [])];
  const transcript = opts.transcript ?? TRANSCRIPT;
  const transcripts = [...(opts.transcripts ?? [])];
  const toneHz = opts.toneHz ?? TONE_HZ;
  const toneMs = opts.toneMs ?? TONE_MS;
  const wavRate = opts.wavRate ?? SPEECH_RATE;
  const key = opts.key;
  const timing = { firstMs: 0, chunkMs: 0, chunkBytes: SPEECH_RATE / 5, ...(opts.timing ?? {}) };
  const state = { fault: opts.fault ?? null };
  const requests = [];
  const keep = (r) => {
    requests.push(r);
    if (opts.log) fs.appendFileSync(opts.log, `${JSON.stringify(r)}\n`);
    return r;
  };
  const fail = (res, status, message) => {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(apiError(status, message)));
  };
  const takeFault = () => {
    const f = state.fault;
    if (!f) return null;
    if (f.count !== undefined) {
      if (f.count <= 0) return null;
      f.count -= 1;
    }
    return f;
  };

  let api = null;
  const srv = http.createServer((req, res) => {
    if (control(req, res, api)) return;
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
      const given = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
      const authOk = key === undefined ? given !== '' : given === key;
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, k === 'authorization' ? '<redacted>' : v]));
      const base = { at, method: req.method, path: url.pathname, auth: req.headers.authorization ? 'Bearer <redacted>' : null, authOk, headers };
      if (size > BODY_MAX) {
        keep({ ...base, refused: 'body too large' });
        return fail(res, 413, 'request body too large');
      }
      const known = ['/v1/models', '/v1/audio/transcriptions', '/v1/chat/completions', '/v1/audio/speech'].includes(url.pathname);
      const f = known ? takeFault() : null;
      const pace = { ...timing, ...(timing.paths?.[url.pathname] ?? {}) };
      if (f?.kind === 'trickle') pace.chunkMs = f.chunkMs ?? 500;
      const dropAfter = f?.kind === 'drop' ? f.after ?? 1 : null;
      const refuseFault = (entry) => {
        if (key !== undefined && !authOk) {
          entry.refused = 401;
          fail(res, 401);
          return true;
        }
        if (f?.kind === 'auth' || f?.kind === 'status') {
          const st = f.kind === 'auth' ? 401 : f.status ?? 500;
          entry.refused = st;
          fail(res, st);
          return true;
        }
        if (f?.kind === 'stall') {
          entry.stalled = true;
          return true; // the socket stays open, unanswered
        }
        return false;
      };
      const drop = (entry, n) => {
        entry.dropped = n;
        req.socket.destroy();
      };

      if (req.method === 'GET' && url.pathname === '/v1/models') {
        const entry = keep(base);
        if (refuseFault(entry)) return;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: MODELS.map((id) => ({ id, object: 'model', created: 0, owned_by: 'stand-in' })) }));
        return;
      }
      if (req.method === 'POST' && url.pathname === '/v1/audio/transcriptions') {
        const parts = parseMultipart(body, req.headers['content-type']);
        const file = parts?.file;
        const field = (n) => parts?.[n]?.data.toString();
        const model = field('model');
        const format = field('response_format') ?? 'json';
        const entry = keep({ ...base, model, filename: file?.filename, bytes: file?.data.length ?? 0, wav: wavInfo(file?.data), language: field('language'), prompt: field('prompt'), temperature: field('temperature'), response_format: format });
        if (refuseFault(entry)) return;
        if (!file || !model) return fail(res, 400, "you must provide a 'file' and a 'model'");
        if (!['json', 'verbose_json', 'text', 'srt', 'vtt'].includes(format)) return fail(res, 400, `Invalid value: '${format}'. Supported values are: 'json', 'text', 'srt', 'verbose_json', and 'vtt'.`);
        await wait(pace.firstMs);
        if (dropAfter !== null) return drop(entry, 0);
        const text = transcripts.length ? transcripts.shift() : transcript;
        entry.text = text;
        const seconds = entry.wav?.seconds ?? 0;
        if (format === 'text' || format === 'srt' || format === 'vtt') {
          const ts = (t, sep) => new Date(t * 1000).toISOString().slice(11, 23).replace('.', sep);
          const out = format === 'text' ? `${text}\n` : format === 'srt' ? `1\n${ts(0, ',')} --> ${ts(seconds, ',')}\n${text}\n\n` : `WEBVTT\n\n${ts(0, '.')} --> ${ts(seconds, '.')}\n${text}\n\n`;
          res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
          res.end(out);
          return;
        }
        const out = format === 'json' ? { text }
          : { task: 'transcribe', language: field('language') ?? 'english', duration: seconds, text, segments: [{ id: 0, seek: 0, start: 0, end: seconds, text: ` ${text}`, tokens: [], temperature: 0, avg_logprob: -0.2, compression_ratio: 1, no_speech_prob: 0.01 }] };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(out));
        return;
      }
      if (req.method === 'POST' && url.pathname === '/v1/chat/completions') {
        let j;
        try {
          j = JSON.parse(body.toString());
        } catch {
          keep({ ...base, refused: 'not JSON' });
          return fail(res, 400, 'We could not parse the JSON body of your request.');
        }
        const entry = keep({ ...base, model: j.model, stream: j.stream, messages: j.messages, tools: j.tools });
        if (refuseFault(entry)) return;
        const r = replies.length ? replies.shift() : { text: reply };
        const text = r.text ?? '';
        const tools = r.tools ?? [];
        const id = `chatcmpl-standin${requests.length}`;
        const created = Math.floor(at / 1000);
        const toolCalls = tools.map((t, i) => ({ index: i, id: `call_standin${requests.length}_${i}`, type: 'function', function: { name: t.name, arguments: typeof t.arguments === 'string' ? t.arguments : JSON.stringify(t.arguments ?? {}) } }));
        const finish = toolCalls.length ? 'tool_calls' : 'stop';
        await wait(pace.firstMs);
        if (res.destroyed) return;
        if (!j.stream) {
          const message = { role: 'assistant', content: text || null };
          if (toolCalls.length) message.tool_calls = toolCalls.map(({ index, ...c }) => c);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ id, object: 'chat.completion', created, model: j.model, choices: [{ index: 0, message, finish_reason: finish }], usage: { prompt_tokens: 10, completion_tokens: 8, total_tokens: 18 } }));
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write(chunk(id, created, j.model, { role: 'assistant', content: '' }));
        let n = 0;
        const pieces = [...(text.match(/\S+\s*/g) ?? []).map((p) => ({ content: p })), ...toolCalls.flatMap((c) => {
          const args = c.function.arguments.match(/.{1,12}/gs) ?? [''];
          return [{ tool_calls: [{ index: c.index, id: c.id, type: 'function', function: { name: c.function.name, arguments: '' } }] }, ...args.map((a) => ({ tool_calls: [{ index: c.index, function: { arguments: a } }] }))];
        })];
        for (const delta of pieces) {
          if (res.destroyed) return;
          if (n > 0) await wait(pace.chunkMs || 10);
          if (res.destroyed) return;
          res.write(chunk(id, created, j.model, delta));
          n++;
          if (dropAfter !== null && n >= dropAfter) return drop(entry, n);
        }
        res.write(chunk(id, created, j.model, {}, finish));
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
          return fail(res, 400, 'We could not parse the JSON body of your request.');
        }
        const format = j.response_format ?? 'mp3';
        const speed = j.speed ?? 1;
        const entry = keep({ ...base, model: j.model, voice: j.voice, input: j.input, response_format: format, speed });
        if (refuseFault(entry)) return;
        if (typeof j.input !== 'string' || !j.input) return fail(res, 400, "Missing required parameter: 'input'.");
        if (j.input.length > 4096) return fail(res, 400, "Invalid 'input': string too long. Expected a string with maximum length 4096.");
        if (!j.voice) return fail(res, 400, "Missing required parameter: 'voice'.");
        if (!(speed >= 0.25 && speed <= 4)) return fail(res, 400, `Invalid 'speed': ${speed}. Expected a value between 0.25 and 4.0.`);
        if (format !== 'pcm' && format !== 'wav') return fail(res, 400, `the stand-in speaks only pcm and wav, not ${format}`);
        const pcm = speechPcm(toneHz, toneMs / speed, 12000, format === 'wav' ? wavRate : SPEECH_RATE);
        await wait(pace.firstMs);
        if (res.destroyed) return;
        res.writeHead(200, { 'content-type': format === 'wav' ? 'audio/wav' : 'audio/pcm', 'transfer-encoding': 'chunked' });
        if (format === 'wav') res.write(streamingWavHeader(wavRate));
        const step = Math.max(2, pace.chunkBytes - (pace.chunkBytes % 2));
        let n = 0;
        for (let off = 0; off < pcm.length; off += step) {
          if (res.destroyed) return;
          if (n > 0 && pace.chunkMs > 0) await wait(pace.chunkMs);
          if (res.destroyed) return;
          res.write(pcm.subarray(off, off + step));
          n++;
          if (dropAfter !== null && n >= dropAfter) return drop(entry, n);
        }
        res.end();
        return;
      }
      keep({ ...base, refused: 'unknown path' });
      fail(res, 404, `no ${req.method} ${url.pathname} in the stand-in`);
    });
  });
  const sockets = new Set();
  srv.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => srv.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = srv.address().port;
  const close = () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      srv.close(() => resolve());
    });
  api = {
    port,
    baseURL: `http://127.0.0.1:${port}/v1`,
    url: `http://127.0.0.1:${port}/v1`,
    key,
    requests,
    log: requests,
    transcripts,
    replies,
    timing,
    get fault() {
      return state.fault;
    },
    set fault(f) {
      state.fault = f;
    },
    // the requests to path (e.g. "/v1/audio/speech")
    to: (p) => requests.filter((r) => r.path === p),
    close,
    stop: close,
  };
  return api;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [port, log] = process.argv.slice(2);
  const oa = await startOpenAIStandIn({ port: Number(port ?? 0), log });
  console.log(`listening ${oa.port}`);
}
