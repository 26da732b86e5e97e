// A stand-in for Cartesia's text to speech WebSocket, for tests: the real
// service is out of reach here. It speaks the documented wire format
// (https://docs.cartesia.ai/api-reference/tts/websocket, the contexts and
// flushing pages; as @cartesia/cartesia-js 4.2.0 internal/lib/tts/ws.mjs
// and @livekit/agents-plugin-cartesia 1.8.1 src/types.ts use it):
//
//   GET /tts/websocket, the key in X-API-Key (the LiveKit plugin), in
//   Authorization: Bearer (cartesia-js 4.x) or ?api_key=; the version in
//   Cartesia-Version (or ?cartesia_version=). A wrong key is refused before
//   the upgrade with 401 and the HTTP error object {error_code, title,
//   message, request_id} of https://docs.cartesia.ai/use-the-api/api-errors.
//   in:  {model_id, transcript, voice:{mode:"id", id}, output_format:
//        {container:"raw", encoding, sample_rate}, context_id, continue,
//        flush, add_timestamps, language, max_buffer_delay_ms}
//        {context_id, cancel:true}
//   out: {type:"chunk", data: base64, done:false, status_code:206,
//        step_time, context_id}
//        {type:"timestamps", done:false, status_code:206, context_id,
//        word_timestamps:{words, start, end}}          (add_timestamps)
//        {type:"flush_done", done:false, flush_done:true, flush_id, ...}
//        {type:"done", done:true, status_code:206, context_id}
//        {type:"error", done:true, status_code, error_code, title, message,
//        error (the older versions' string), request_id, context_id}
//
// Each transcript is spoken, in order per context, as a tone of msPerChar
// ms per character in output_format (pcm_mulaw, pcm_s16le,
// pcm_f32le at any rate), in chunks of chunkAudioMs; a context is done
// once a message with continue false (the default) has been spoken. A
// cancelled context gets nothing more.
//
// startCartesiaStandIn({key, msPerChar, chunkAudioMs, toneHz, timing,
// fault, tls, log}) resolves to {url (the base URL as Cartesia's SDKs take
// it, "http://127.0.0.1:PORT"), port, stop(), log, fault, timing}.

import { WebSocketServer, controls, cut, listen, recorder, refuse, safeHeaders, safeQuery, sleep, uuid, toneAudio, control } from './common.mjs';

const ENCODINGS = { pcm_mulaw: 'mulaw', pcm_s16le: 'linear16', pcm_f32le: 'f32le' };

const httpError = (status) => {
  const e = {
    400: ['bad_request', 'Bad request', 'The request was malformed.'],
    401: ['unauthorized', 'Unauthorized', 'Invalid API key.'],
    402: ['payment_required', 'Payment required', 'You have run out of credits.'],
    429: ['concurrency_limited', 'Too many concurrent requests', "You have exceeded your plan's concurrency limit."],
  }[status] ?? ['internal_server_error', 'Internal server error', 'An internal server error occurred.'];
  return { error_code: e[0], title: e[1], message: e[2], request_id: uuid() };
};

export async function startCartesiaStandIn(opts = {}) {
  const key = opts.key ?? 'cartesia-test-key';
  const ctl = controls(opts);
  const rec = recorder(opts.log, opts.quiet);
  const msPerChar = opts.msPerChar ?? 40;
  const chunkAudioMs = opts.chunkAudioMs ?? 100;
  const toneHz = opts.toneHz ?? 520;
  const wss = new WebSocketServer({ noServer: true });

  const srv = await listen((req, res) => {
    if (control(req, res, api)) return;
    rec.keep({ kind: 'http', method: req.method, path: req.url });
    refuse(res, null, 404, { ...httpError(404), error_code: 'not_found', title: 'Not found', message: `No ${req.method} ${req.url}` });
  }, opts);

  srv.server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://x');
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const given = req.headers['x-api-key'] ?? bearer ?? url.searchParams.get('api_key');
    const version = req.headers['cartesia-version'] ?? url.searchParams.get('cartesia_version');
    const authOk = given === key;
    const entry = rec.keep({ kind: 'connect', path: url.pathname, query: safeQuery(url, ['api_key', 'access_token']), headers: safeHeaders(req.headers, ['x-api-key', 'authorization']), authOk, version });
    const no = (status, body = httpError(status)) => {
      entry.refused = status;
      refuse(null, socket, status, body);
    };
    if (url.pathname !== '/tts/websocket') return no(404);
    const f = ctl.take();
    if (!authOk || f?.kind === 'auth') return no(401);
    if (f?.kind === 'status') return no(f.status ?? 500);
    if (!version) return no(400, { ...httpError(400), message: 'Cartesia-Version header or cartesia_version parameter is required.' });
    wss.handleUpgrade(req, socket, head, (ws) => session(ws, f));
  });

  function session(ws, f) {
    const pace = ctl.pace(f);
    const stall = f?.kind === 'stall';
    const dropAfter = f?.kind === 'drop' ? f.after ?? 1 : null;
    const inbandError = f?.kind === 'error';
    let open = true;
    let sent = 0;
    let flushId = 0;
    const contexts = new Map(); // id -> {chain, cancelled, done, audioOut}

    const out = (msg) => {
      if (stall || !open || ws.readyState !== ws.OPEN) return false;
      ws.send(JSON.stringify(msg));
      rec.keep({ kind: 'out', type: msg.type, context_id: msg.context_id, bytes: msg.data ? Buffer.from(msg.data, 'base64').length : undefined, ...(msg.type === 'error' ? { status_code: msg.status_code, message: msg.message } : {}) });
      return true;
    };
    const errorMsg = (ctxId, status, message, code = null) =>
      out({ type: 'error', done: true, status_code: status, error_code: code, title: status >= 500 ? 'Internal server error' : 'Bad request', message, error: message, request_id: uuid(), context_id: ctxId });

    const speak = (c, ctxId, req) => {
      c.chain = c.chain.then(async () => {
        if (!open || c.cancelled) return;
        const text = req.transcript ?? '';
        const enc = ENCODINGS[req.output_format.encoding];
        const rate = req.output_format.sample_rate;
        if (text.trim()) {
          const ms = Math.max(chunkAudioMs, text.length * msPerChar);
          const audio = toneAudio(toneHz, ms, rate, enc);
          const bytesPerMs = audio.length / ms;
          const step = Math.max(1, Math.round(bytesPerMs * chunkAudioMs));
          if (req.add_timestamps) {
            const words = text.trim().split(/\s+/);
            const per = ms / 1000 / words.length;
            if (!out({ type: 'timestamps', done: false, status_code: 206, context_id: ctxId, word_timestamps: { words, start: words.map((w, i) => i * per), end: words.map((w, i) => (i + 1) * per) } })) return;
          }
          for (let off = 0; off < audio.length; off += step) {
            const wait = c.audioOut ? pace.chunkMs : pace.firstMs;
            c.audioOut = true;
            const t0 = Date.now();
            if (wait > 0) await sleep(wait);
            if (!open || c.cancelled) return;
            if (inbandError && off > 0) {
              c.done = true;
              return errorMsg(ctxId, 500, 'An internal server error occurred.', 'internal_server_error');
            }
            if (!out({ type: 'chunk', data: audio.subarray(off, off + step).toString('base64'), done: false, status_code: 206, step_time: Date.now() - t0, context_id: ctxId })) return;
            sent++;
            if (dropAfter !== null && sent >= dropAfter) {
              open = false;
              rec.keep({ kind: 'dropped', after: sent });
              cut(ws);
              return;
            }
          }
        }
        if (req.flush) {
          flushId++;
          out({ type: 'flush_done', done: false, flush_done: true, flush_id: flushId, status_code: 206, context_id: ctxId });
        }
        if (!req.continue && !c.done) {
          c.done = true;
          out({ type: 'done', done: true, status_code: 206, context_id: ctxId });
        }
      });
    };

    ws.on('message', (data) => {
      let req;
      try {
        req = JSON.parse(data.toString());
      } catch {
        rec.keep({ kind: 'in', bad: true });
        return errorMsg(null, 400, 'Invalid JSON.', 'bad_request');
      }
      rec.keep({ kind: 'in', msg: req });
      const ctxId = req.context_id ?? uuid();
      if (!contexts.has(ctxId)) contexts.set(ctxId, { chain: Promise.resolve(), cancelled: false, done: false, audioOut: false });
      const c = contexts.get(ctxId);
      if (req.cancel) {
        c.cancelled = true;
        return;
      }
      if (c.done) return errorMsg(ctxId, 400, `Context ${ctxId} has already finished; use a new context_id.`, 'bad_request');
      const missing = ['model_id', 'voice', 'output_format'].filter((k) => req[k] === undefined);
      if (missing.length) return errorMsg(ctxId, 400, `Missing required field(s): ${missing.join(', ')}.`, 'bad_request');
      if (req.output_format.container !== 'raw' || !ENCODINGS[req.output_format.encoding] || !(req.output_format.sample_rate > 0)) {
        return errorMsg(ctxId, 400, `The stand-in speaks raw ${Object.keys(ENCODINGS).join(', ')} only.`, 'bad_request');
      }
      speak(c, ctxId, req);
    });
    ws.on('close', (code) => {
      open = false;
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
