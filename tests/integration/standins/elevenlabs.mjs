// A stand-in for ElevenLabs' text to speech WebSockets, for tests: the real
// service is out of reach here. It speaks the documented wire formats
// (https://elevenlabs.io/docs/api-reference/text-to-speech/v-1-text-to-speech-
// voice-id-stream-input and .../multi-context websocket; the multi-context
// one as @livekit/agents-plugin-elevenlabs 1.9.0 src/tts.ts uses it):
//
//   GET /v1/text-to-speech/{voice_id}/stream-input?model_id=&output_format=
//       &inactivity_timeout=&auto_mode=&sync_alignment=...
//   GET /v1/text-to-speech/{voice_id}/multi-stream-input?...  (contexts)
//   xi-api-key: KEY (or, on stream-input, xi_api_key / authorization in
//   the first message). A wrong key is accepted, then closed with 1008
//   (policy violation) "Invalid API key", as pipecat-ai/pipecat#1006 saw.
//   in (stream-input):  {text:" ", voice_settings, generation_config,
//        xi_api_key}, then {text, try_trigger_generation, flush}, and
//        {text:""} to end the input
//   in (multi-stream-input): the same with context_id, plus
//        {context_id, close_context:true} and {close_socket:true}
//   out: {audio: base64, isFinal: null, normalizedAlignment:{chars,
//        charStartTimesMs, charDurationsMs}, alignment:{...}} (+ contextId
//        on multi), then {isFinal: true} once the input ended (and the
//        socket closed, on stream-input)
//   No text for inactivity_timeout s (default 20): closed with 1008 and the
//   service's message (elevenlabs/elevenlabs-docs#426).
//   In-band error (fault 'error'): after the first audio chunk, the
//   service's error message {message, error, code} and then a close with
//   that code, as livekit/agents-js#1985 shows it.
//   An HTTP error (fault 'status') has the REST body
//   {"detail":{"status":..., "message":...}}.
//
// Text is spoken once a sentence ends, on flush, on try_trigger_generation,
// at the end of input, or at once with auto_mode=true; as a tone of
// msPerChar ms per character in output_format (ulaw_8000, pcm_8000,
// pcm_16000, pcm_22050, pcm_24000, pcm_44100), in chunks of chunkAudioMs.
//
// startElevenLabsStandIn({key, msPerChar, chunkAudioMs, toneHz, timing,
// fault, log}) resolves to {url (the base URL as ElevenLabs' SDKs take it,
// "http://127.0.0.1:PORT"), port, stop(), log, fault, timing}.

import { WebSocketServer, controls, cut, listen, recorder, refuse, safeHeaders, safeQuery, sleep, toneAudio, control } from './common.mjs';

const OUTPUT = { ulaw_8000: ['mulaw', 8000], pcm_8000: ['linear16', 8000], pcm_16000: ['linear16', 16000], pcm_22050: ['linear16', 22050], pcm_24000: ['linear16', 24000], pcm_44100: ['linear16', 44100] };

const detail = (status, message) => ({ detail: { status, message } });

export async function startElevenLabsStandIn(opts = {}) {
  const key = opts.key ?? 'eleven-test-key';
  const ctl = controls(opts);
  const rec = recorder(opts.log, opts.quiet);
  const msPerChar = opts.msPerChar ?? 40;
  const chunkAudioMs = opts.chunkAudioMs ?? 100;
  const toneHz = opts.toneHz ?? 440;
  const wss = new WebSocketServer({ noServer: true });

  const srv = await listen((req, res) => {
    if (control(req, res, api)) return;
    rec.keep({ kind: 'http', method: req.method, path: req.url });
    refuse(res, null, 404, detail('not_found', 'Not Found'));
  }, opts);

  srv.server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://x');
    const m = /^\/v1\/text-to-speech\/([^/]+)\/(stream-input|multi-stream-input)$/.exec(url.pathname);
    const hdrKey = req.headers['xi-api-key'];
    const entry = rec.keep({ kind: 'connect', path: url.pathname, query: safeQuery(url), headers: safeHeaders(req.headers, ['xi-api-key', 'authorization']), authOk: hdrKey === undefined ? null : hdrKey === key });
    if (!m) {
      entry.refused = 404;
      return refuse(null, socket, 404, detail('not_found', 'Not Found'));
    }
    const f = ctl.take();
    if (f?.kind === 'status') {
      const st = f.status ?? 500;
      entry.refused = st;
      const body = st === 401 ? detail('invalid_api_key', 'Invalid API key')
        : st === 429 ? detail('too_many_concurrent_requests', 'Too many concurrent requests.')
        : st >= 500 ? detail('internal_server_error', 'An internal server error occurred.') : detail('invalid_request', `The stand-in was told to answer ${st}`);
      return refuse(null, socket, st, body);
    }
    const fmt = url.searchParams.get('output_format') ?? 'mp3_44100_128';
    wss.handleUpgrade(req, socket, head, (ws) => session(ws, m[1], m[2] === 'multi-stream-input', url.searchParams, fmt, hdrKey, f, entry));
  });

  function session(ws, voiceId, multi, q, fmt, hdrKey, f, entry) {
    const pace = ctl.pace(f);
    const stall = f?.kind === 'stall';
    const dropAfter = f?.kind === 'drop' ? f.after ?? 1 : null;
    const inbandError = f?.kind === 'error';
    const autoMode = q.get('auto_mode') === 'true';
    const inactivity = Number(q.get('inactivity_timeout') ?? 20);
    let open = true;
    let authed = hdrKey !== undefined ? hdrKey === key && f?.kind !== 'auth' : null;
    let sent = 0;
    let chain = Promise.resolve();
    let idle = null;
    const contexts = new Map(); // id -> {buf, closed}

    const closeWith = (code, reason) => {
      if (!open) return;
      open = false;
      clearTimeout(idle);
      rec.keep({ kind: 'closing', code, reason });
      ws.close(code, reason);
    };
    if (authed === false) return closeWith(1008, 'Invalid API key');
    if (!OUTPUT[fmt]) return closeWith(1008, `the stand-in speaks only ${Object.keys(OUTPUT).join(', ')}, not ${fmt}`);
    const [enc, rate] = OUTPUT[fmt];
    const resetIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => closeWith(1008, `Have not received a new text input within the timeout of ${inactivity} seconds. Streaming input terminated.`), inactivity * 1000);
    };
    resetIdle();

    const out = (msg) => {
      if (stall || !open || ws.readyState !== ws.OPEN) return false;
      ws.send(JSON.stringify(msg));
      rec.keep({ kind: 'out', contextId: msg.contextId, bytes: msg.audio ? Buffer.from(msg.audio, 'base64').length : undefined, isFinal: msg.isFinal ?? undefined, chars: msg.normalizedAlignment?.chars?.join('') });
      return true;
    };
    const speak = (ctxId, text) => {
      if (!text.trim()) return;
      chain = chain.then(async () => {
        const ms = Math.max(chunkAudioMs, text.length * msPerChar);
        const audio = toneAudio(toneHz, ms, rate, enc);
        const bytesPerMs = audio.length / ms;
        const step = Math.max(1, Math.round(bytesPerMs * chunkAudioMs));
        const chars = [...text];
        const perChar = ms / chars.length;
        for (let off = 0; off < audio.length; off += step) {
          // firstMs before a context's first audio, chunkMs between chunks
          const c = ctx(ctxId);
          const wait = c.audioOut ? pace.chunkMs : pace.firstMs;
          c.audioOut = true;
          if (wait > 0) await sleep(wait);
          if (!open) return;
          if (contexts.get(ctxId)?.closed === 'cancelled') return;
          if (inbandError && sent > 0) {
            ws.send(JSON.stringify({ message: 'An internal server error occurred.', error: 'internal_server_error', code: 1011 }));
            rec.keep({ kind: 'out', error: 'internal_server_error' });
            return closeWith(1011, 'internal_server_error');
          }
          const t0 = off / bytesPerMs;
          const t1 = Math.min(ms, (off + step) / bytesPerMs);
          const idx = chars.map((c, i) => i).filter((i) => i * perChar >= t0 && i * perChar < t1);
          const al = { chars: idx.map((i) => chars[i]), charStartTimesMs: idx.map((i) => Math.round(i * perChar)), charDurationsMs: idx.map(() => Math.round(perChar)) };
          const msg = { audio: audio.subarray(off, off + step).toString('base64'), isFinal: null, normalizedAlignment: al, alignment: al };
          if (multi) msg.contextId = ctxId;
          if (!out(msg)) return;
          sent++;
          if (dropAfter !== null && sent >= dropAfter) {
            open = false;
            rec.keep({ kind: 'dropped', after: sent });
            cut(ws);
            return;
          }
        }
      });
    };
    const final = (ctxId) => {
      chain = chain.then(() => {
        if (!open) return;
        out(multi ? { isFinal: true, contextId: ctxId } : { isFinal: true });
        if (!multi) closeWith(1000, '');
      });
    };
    const ctx = (id) => {
      if (!contexts.has(id)) contexts.set(id, { buf: '', closed: false });
      return contexts.get(id);
    };
    const generate = (id) => {
      const c = ctx(id);
      const text = c.buf;
      c.buf = '';
      speak(id, text);
    };

    ws.on('message', (data) => {
      resetIdle();
      let msg;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        rec.keep({ kind: 'in', bad: true });
        return closeWith(1007, 'Invalid JSON');
      }
      const { xi_api_key, authorization, ...shown } = msg;
      rec.keep({ kind: 'in', msg: shown, keyInMessage: xi_api_key !== undefined || authorization !== undefined });
      if (authed === null) {
        const given = xi_api_key ?? (authorization ?? '').replace(/^Bearer\s+/i, '');
        authed = given === key && f?.kind !== 'auth';
        entry.authOk = authed;
        if (!authed) return closeWith(1008, 'Invalid API key');
      }
      if (msg.close_socket) {
        for (const id of contexts.keys()) final(id);
        chain = chain.then(() => closeWith(1000, ''));
        return;
      }
      const id = multi ? msg.context_id ?? 'default' : 'single';
      const c = ctx(id);
      if (msg.close_context) {
        c.closed = 'closed';
        generate(id);
        return final(id);
      }
      if (typeof msg.text !== 'string') return;
      if (msg.text === '') {
        // ends the input on stream-input; on multi-stream-input a context
        // ends with close_context, an empty text only flushes
        generate(id);
        return multi ? undefined : final(id);
      }
      if (msg.text === ' ' && !c.started) {
        c.started = true; // the first message opens the stream
        return;
      }
      c.buf += msg.text;
      if (autoMode || msg.flush || msg.try_trigger_generation || /[.!?]\s*$/.test(c.buf)) generate(id);
    });
    ws.on('close', (code) => {
      open = false;
      clearTimeout(idle);
      rec.keep({ kind: 'close', code });
    });
    ws.on('error', () => {});
  }

  const api = {
    port: srv.port,
    url: `${srv.scheme}://127.0.0.1:${srv.port}`,
    key,
    log: rec.log,
    get fault() {
      return ctl.fault;
    },
    set fault(f) {
      ctl.fault = f;
    },
    timing: ctl.timing,
    of: (kind) => rec.log.filter((e) => e.kind === kind),
    stop() {
      for (const c of wss.clients) c.terminate();
      return srv.close();
    },
  };
  return api;
}
