// A stand-in for Deepgram's live speech to text, for tests: the real
// service is out of reach here. It speaks the documented WebSocket API
// (https://developers.deepgram.com/reference/speech-to-text-api/listen-streaming,
// and as @livekit/agents-plugin-deepgram 1.9.0 src/stt.ts uses it):
//
//   GET /v1/listen?model=&language=&encoding=&sample_rate=&channels=
//       &interim_results=&endpointing=&utterance_end_ms=&vad_events=
//       &punctuate=&smart_format=...   upgraded to a WebSocket
//   Authorization: Token KEY (or the browsers' Sec-WebSocket-Protocol
//   "token, KEY"); a wrong key is refused before the upgrade with 401 and
//   {"err_code":"INVALID_AUTH","err_msg":"Invalid credentials.",
//   "request_id":...} and the dg-error / dg-request-id headers.
//   in:  binary audio (encoding linear16, mulaw or alaw at sample_rate);
//        text {"type":"KeepAlive"}, {"type":"Finalize"}, {"type":"CloseStream"}
//   out: {"type":"Results", channel_index, duration, start, is_final,
//         speech_final, from_finalize, channel:{alternatives:[{transcript,
//         confidence, words:[{word,start,end,confidence,punctuated_word}]}]},
//         metadata:{request_id, model_info, model_uuid}}
//        {"type":"SpeechStarted", channel, timestamp}      (vad_events=true)
//        {"type":"UtteranceEnd", channel, last_word_end}   (utterance_end_ms)
//        {"type":"Metadata", request_id, created, duration, channels, ...}
//        after CloseStream, then a close 1000.
//   Without audio or a text message for 10 s (idleMs) it closes with 1011
//   NET-0001, as the docs' "STT Troubleshooting WebSocket, NET, and DATA
//   Errors" page describes.
//
// It cannot recognise speech: what it "hears" is the energy of the audio it
// gets. Speech starts at the first 10 ms above speechDbfs; it ends when
// `endpointing` ms (default 10, Deepgram's) of audio stayed below it. Each
// such utterance takes the next transcript of the script (a queue, filled
// with `transcripts` or dg.script.push(), then `transcript`); interim results give its words
// as the audio goes, the final (is_final and speech_final) gives all of it
// `timing.finalMs` after the endpoint, so a client sending audio in real
// time sees its final `endpointing` + finalMs after the speech stopped.
// A Finalize ends the utterance there (its final is from_finalize), and
// speech after it is a new utterance, with the next transcript.
//
// `timing.finalAfterSpeechMs` models a recogniser that keeps up with the
// audio, as a live one does: an utterance's final is ready that long
// (wall clock) after the audio of its last voiced 10 ms arrived, and is
// sent when asked for (a Finalize, the endpointing, CloseStream): at once
// if it is ready, else when it is. With it, a client that sends Finalize
// soon enough after the speech stops has the final finalAfterSpeechMs
// after the speech's end, whenever it asked; finalMs, when set too, is
// the least time from the asking to the final.
//
// startDeepgramStandIn({key, transcripts, transcript, speechDbfs, idleMs, timing,
// fault, log}) resolves to {url, port, stop(), cut(), log, script, fault,
// timing} (cut() drops the open sockets at once, no close frame):
// url is the base URL as Deepgram's SDKs take it ("ws://127.0.0.1:PORT").
// log holds one entry per connection ({kind:'connect', query, headers,
// authOk}), per text message in ({kind:'in', type, msg, t}: t the seconds
// of audio heard on the socket by then), per message out, per utterance's
// start and endpoint ({kind:'speech_start', t, transcript}, {kind:
// 'speech_end', t}), and per close ({kind:'close', code, audioBytes,
// seconds}: the audio the socket carried).

import { WebSocketServer, controls, cut, dbfs, decodeSamples, listen, recorder, refuse, safeHeaders, safeQuery, sleep, uuid, control } from './common.mjs';

const ENCODINGS = { linear16: 2, mulaw: 1, alaw: 1 };

// Deepgram's error bodies: {err_code, err_msg, request_id}.
function errBody(status) {
  const codes = {
    400: ['Bad Request', 'Bad Request: failed to process audio: corrupt or unsupported data'],
    401: ['INVALID_AUTH', 'Invalid credentials.'],
    402: ['ASR_PAYMENT_REQUIRED', 'Project does not have enough credits for an ASR request.'],
    403: ['INSUFFICIENT_PERMISSIONS', 'Project does not have access to the requested model.'],
    429: ['TOO_MANY_REQUESTS', 'Too many requests. Please try again later.'],
  };
  const [err_code, err_msg] = codes[status] ?? ['INTERNAL_SERVER_ERROR', 'Internal server error.'];
  return { err_code, err_msg, request_id: uuid() };
}

const bool = (v, dflt) => (v === undefined ? dflt : v === 'true');

export async function startDeepgramStandIn(opts = {}) {
  const key = opts.key ?? 'deepgram-test-key';
  const ctl = controls(opts);
  ctl.timing = { finalMs: 0, interimMs: 500, ...ctl.timing };
  const rec = recorder(opts.log, opts.quiet);
  const script = [...(opts.transcripts ?? [])];
  const fallback = opts.transcript ?? 'What are your opening hours?';
  const speechDbfs = opts.speechDbfs ?? -45;
  const idleMs = opts.idleMs ?? 10000;
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (p) => (p.has('token') ? 'token' : false) });

  const srv = await listen((req, res) => {
    if (control(req, res, api)) return;
    rec.keep({ kind: 'http', method: req.method, path: req.url });
    refuse(res, null, 404, errBody(404));
  }, opts);

  srv.server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://x');
    const auth = req.headers.authorization ?? '';
    const proto = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    const given = auth.startsWith('Token ') ? auth.slice(6) : proto[0] === 'token' ? proto[1] : null;
    const authOk = given === key;
    const entry = rec.keep({ kind: 'connect', path: url.pathname, query: safeQuery(url), headers: safeHeaders(req.headers, ['authorization', 'sec-websocket-protocol']), authOk });
    const requestId = uuid();
    const dgRefuse = (status, msg) => {
      const body = errBody(status);
      if (msg) body.err_msg = msg;
      entry.refused = status;
      refuse(null, socket, status, body, { 'dg-error': body.err_msg, 'dg-request-id': body.request_id });
    };
    if (url.pathname !== '/v1/listen') return dgRefuse(404, `no ${url.pathname} in the stand-in`);
    const f = ctl.take();
    if (!authOk || f?.kind === 'auth') return dgRefuse(401);
    if (f?.kind === 'status') return dgRefuse(f.status ?? 500);
    const q = url.searchParams;
    const encoding = q.get('encoding');
    const rate = Number(q.get('sample_rate'));
    if (encoding && !(encoding in ENCODINGS)) return dgRefuse(400, `the stand-in does not decode encoding=${encoding}`);
    if (encoding && !(rate > 0)) return dgRefuse(400, 'Bad Request: sample_rate is required when encoding is set');
    if (!encoding) return dgRefuse(400, 'the stand-in needs raw audio: encoding and sample_rate');
    wss.handleUpgrade(req, socket, head, (ws) => session(ws, q, f, requestId));
  });

  function session(ws, q, f, requestId) {
    const encoding = q.get('encoding');
    const rate = Number(q.get('sample_rate'));
    const channels = Number(q.get('channels') ?? 1) || 1;
    const interim = bool(q.get('interim_results'), false);
    const vadEvents = bool(q.get('vad_events'), false);
    const ep = q.get('endpointing');
    const endpointing = ep === 'false' ? null : ep === null ? 10 : Number(ep);
    const utteranceEndMs = q.get('utterance_end_ms') ? Number(q.get('utterance_end_ms')) : null;
    const model = q.get('model') ?? 'base';
    const pace = ctl.pace(f);
    const stall = f?.kind === 'stall';
    const dropAfter = f?.kind === 'drop' ? f.after ?? 1 : null;
    let sent = 0;
    let open = true;
    let chain = Promise.resolve();
    const frame = Math.round(rate / 100) * channels; // 10 ms of samples
    let pending = new Int16Array(0);
    let t = 0; // seconds of audio heard
    let speaking = false;
    let uttStart = 0;
    let lastVoiced = 0;
    let lastVoicedAt = 0; // when the audio of the last voiced 10 ms arrived (ms, wall clock)
    let utt = null; // the transcript this utterance takes
    let lastInterim = 0;
    let wordsOut = false; // words sent since the last UtteranceEnd
    let lastWordEnd = 0;
    let audioBytes = 0;
    let idle = null;

    const out = (msg) => {
      if (stall || !open) return;
      chain = chain.then(async () => {
        if (!open) return;
        if (pace.chunkMs > 0 && sent > 0) await sleep(pace.chunkMs);
        if (!open || ws.readyState !== ws.OPEN) return;
        ws.send(JSON.stringify(msg));
        rec.keep({ kind: 'out', type: msg.type, is_final: msg.is_final, speech_final: msg.speech_final, transcript: msg.channel?.alternatives?.[0]?.transcript });
        sent++;
        if (dropAfter !== null && sent >= dropAfter) {
          open = false;
          rec.keep({ kind: 'dropped', after: sent });
          cut(ws);
        }
      });
    };
    const resetIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        rec.keep({ kind: 'idle_timeout' });
        open = false;
        ws.close(1011, 'NET-0001: did not receive audio data or a text message within the timeout window');
      }, idleMs);
    };
    resetIdle();

    const words = (text, start, end) => {
      const w = text.split(/\s+/).filter(Boolean);
      const step = w.length ? (end - start) / w.length : 0;
      return w.map((pw, i) => ({ word: pw.toLowerCase().replace(/[^\p{L}\p{N}']/gu, ''), start: start + i * step, end: start + (i + 1) * step, confidence: 0.98, punctuated_word: pw }));
    };
    const results = (text, start, end, isFinal, speechFinal, fromFinalize = false) => {
      const ws_ = words(text, start, end);
      if (ws_.length) {
        wordsOut = true;
        lastWordEnd = ws_[ws_.length - 1].end;
      }
      return {
        type: 'Results',
        channel_index: [0, channels],
        duration: Math.max(0, end - start),
        start,
        is_final: isFinal,
        speech_final: speechFinal,
        from_finalize: fromFinalize,
        channel: { alternatives: [{ transcript: text, confidence: text ? 0.98 : 0, words: ws_ }] },
        metadata: { request_id: requestId, model_info: { name: model, version: 'stand-in', arch: model }, model_uuid: '00000000-0000-0000-0000-000000000000' },
      };
    };
    const endUtterance = (speechFinal, fromFinalize) => {
      const text = utt ?? '';
      const msg = results(text, uttStart, lastVoiced, true, speechFinal, fromFinalize);
      speaking = false;
      utt = null;
      let wait = ctl.timing.finalMs > 0 ? ctl.timing.finalMs : 0;
      const after = Number(ctl.timing.finalAfterSpeechMs);
      if (after >= 0) wait = Math.max(wait, lastVoicedAt + after - Date.now());
      if (wait > 0) setTimeout(() => out(msg), wait);
      else out(msg);
    };

    const hear = (win) => {
      const voiced = dbfs(win) > speechDbfs;
      const tEnd = Math.round((t + win.length / channels / rate) * 1e4) / 1e4;
      if (voiced) {
        if (!speaking) {
          speaking = true;
          uttStart = t;
          lastInterim = t;
          utt = script.length ? script.shift() : fallback;
          rec.keep({ kind: 'speech_start', t: uttStart, transcript: utt });
          if (vadEvents) out({ type: 'SpeechStarted', channel: [0, channels], timestamp: t });
        }
        lastVoiced = tEnd;
        lastVoicedAt = Date.now();
        if (interim && (tEnd - lastInterim) * 1000 >= ctl.timing.interimMs) {
          lastInterim = tEnd;
          const all = (utt ?? '').split(/\s+/).filter(Boolean);
          const n = Math.min(all.length - 1, Math.floor((tEnd - uttStart) / 0.3));
          if (n > 0) out(results(all.slice(0, n).join(' '), uttStart, tEnd, false, false));
        }
      } else if (speaking) {
        const silentMs = (tEnd - lastVoiced) * 1000;
        if (endpointing !== null && silentMs >= endpointing) {
          rec.keep({ kind: 'speech_end', t: lastVoiced });
          endUtterance(true, false);
        } else if (endpointing === null && silentMs >= (utteranceEndMs ?? 1000)) {
          endUtterance(false, false);
        }
      }
      if (!speaking && wordsOut && utteranceEndMs !== null && (tEnd - lastWordEnd) * 1000 >= utteranceEndMs) {
        wordsOut = false;
        out({ type: 'UtteranceEnd', channel: [0, channels], last_word_end: lastWordEnd });
      }
      t = tEnd;
    };

    ws.on('message', (data, isBinary) => {
      resetIdle();
      if (isBinary) {
        audioBytes += data.length;
        const s = decodeSamples(data, encoding);
        const all = new Int16Array(pending.length + s.length);
        all.set(pending);
        all.set(s, pending.length);
        let off = 0;
        for (; off + frame <= all.length; off += frame) hear(all.subarray(off, off + frame));
        pending = all.slice(off);
        return;
      }
      let msg;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        msg = { type: null, raw: data.toString().slice(0, 200) };
      }
      rec.keep({ kind: 'in', type: msg.type, msg, t });
      if (msg.type === 'Finalize') {
        if (speaking) endUtterance(false, true);
      } else if (msg.type === 'CloseStream') {
        if (speaking) endUtterance(false, false);
        out({
          type: 'Metadata',
          transaction_key: 'deprecated',
          request_id: requestId,
          sha256: '',
          created: new Date().toISOString(),
          duration: t,
          channels,
          models: ['00000000-0000-0000-0000-000000000000'],
          model_info: { '00000000-0000-0000-0000-000000000000': { name: model, version: 'stand-in', arch: model } },
        });
        chain = chain.then(() => {
          open = false;
          clearTimeout(idle);
          if (ws.readyState === ws.OPEN) ws.close(1000);
        });
      }
    });
    ws.on('close', (code) => {
      open = false;
      clearTimeout(idle);
      rec.keep({ kind: 'close', code, audioBytes, seconds: t });
    });
    ws.on('error', () => {});
  }

  const api = {
    port: srv.port,
    url: `${srv.scheme === 'https' ? 'wss' : 'ws'}://127.0.0.1:${srv.port}`,
    httpURL: `${srv.scheme}://127.0.0.1:${srv.port}`,
    key,
    log: rec.log,
    script,
    get fault() {
      return ctl.fault;
    },
    set fault(f) {
      ctl.fault = f;
    },
    // cuts every open socket now, as a network failure would (no close
    // frame): a drop in the middle of whatever the client is doing
    cut() {
      for (const c of wss.clients) {
        rec.keep({ kind: 'dropped', by: 'cut' });
        cut(c);
      }
    },
    timing: ctl.timing,
    // the log entries of one kind
    of: (kind) => rec.log.filter((e) => e.kind === kind),
    stop() {
      for (const c of wss.clients) c.terminate();
      return srv.close();
    },
  };
  return api;
}
