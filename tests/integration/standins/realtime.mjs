// A stand-in for OpenAI's Realtime API over WebSocket, for tests: the real
// service is out of reach here. It speaks both wire formats clients use:
// the beta one (header "OpenAI-Beta: realtime=v1"; the event names of
// https://platform.openai.com/docs/api-reference/realtime-server-events as
// of 2024-12, e.g. response.audio.delta, conversation.item.created,
// session.input_audio_format "g711_ulaw") and the GA one the openai SDK
// 6.x types describe (openai/resources/realtime/realtime.d.ts:
// response.output_audio.delta, conversation.item.added/done,
// session.audio.input.format {type:"audio/pcmu"}); @livekit/agents-plugin-
// openai 1.9.0 src/realtime/realtime_model.ts accepts both.
//
//   GET {base}/realtime?model=M, Authorization: Bearer KEY, upgraded.
//   A wrong key is accepted, answered with an error event
//   (invalid_request_error / invalid_api_key) and closed with 3000
//   "invalid_request_error.invalid_api_key", as the service does
//   (twilio-samples/speech-assistant-openai-realtime-api-python#4,
//   openai/openai-realtime-api-beta#2).
//   in:  session.update, input_audio_buffer.append/commit/clear,
//        conversation.item.create/delete (a function_call_output whose
//        call_id names no function_call item of the conversation is
//        refused, as the openai SDK's types say the service checks),
//        response.create (its metadata echoed), response.cancel,
//        conversation.item.truncate {item_id, content_index, audio_end_ms}
//   out: session.created/updated, input_audio_buffer.speech_started/
//        speech_stopped/committed/cleared, conversation.item.created (beta)
//        or .added/.done (GA), conversation.item.input_audio_transcription.
//        completed, conversation.item.deleted, response.created,
//        response.output_item.added/done,
//        response.content_part.added/done, response.(output_)audio.delta/
//        done, response.(output_)audio_transcript.delta/done,
//        response.function_call_arguments.delta/done, response.done (usage;
//        status completed, cancelled or failed), conversation.item.truncated,
//        error {type:"error", event_id, error:{type, code, message, param,
//        event_id}}.
//
// Transcription sessions (?intent=transcription, transcription_session.
// update in the beta format, session.update with session.type
// "transcription" in GA) hear and transcribe the same way, with
// conversation.item.input_audio_transcription.delta events, and never
// respond.
//
// Speech in is "heard" by its energy (server_vad: speech_started at the
// first 10 ms above speechDbfs, speech_stopped after silence_duration_ms);
// the input transcription is the next of `transcripts` (a queue), then
// `transcript`. Each response is
// the next of `replies` (then `reply`): {text, audioMs, toneHz, tools:
// [{name, arguments}]}: the text is spoken as a tone in the session's
// output format (g711_ulaw / audio/pcmu at 8 kHz, pcm16 at 24 kHz), its
// words spread over the audio, then each tool call as a function_call item
// (output_item.added, function_call_arguments.delta/done, output_item.done,
// in response.done's output); without text the response is only its calls.
// As the service does, a response with calls ends there: the client sends
// each call's function_call_output (kept as rt.of('tool_output')) and asks
// for the next response (the next of `replies`) with response.create.
// timing: firstMs before a response's first audio (or tool call), chunkMs
// between deltas, transcriptMs before the input transcript.
// Truncations are kept (rt.truncates) with the words the caller heard by
// then, and rt.history() is the conversation as the model would see it.
//
// startRealtimeStandIn({key, transcripts, transcript, replies, reply, speechDbfs,
// chunkAudioMs, timing, fault, tls, log}) resolves to {url (the base URL
// as the openai SDK takes it, ".../v1"), port, stop(), cut() (drops the
// open sockets at once, no close frame), log, truncates,
// history(), sessions, replies, transcripts, fault, timing}.

import { WebSocketServer, controls, cut, dbfs, decodeSamples, listen, newId, recorder, refuse, safeHeaders, safeQuery, sleep, toneAudio, control } from './common.mjs';

export const REALTIME_REPLY = { text: 'We are open from nine to five.', audioMs: 1500, toneHz: 500 };
export const REALTIME_TRANSCRIPT = 'What are your opening hours?';

// output/input formats: [encoding for common.mjs, sample rate, bytes per sample]
const FORMATS = { g711_ulaw: ['mulaw', 8000, 1], g711_alaw: ['alaw', 8000, 1], pcm16: ['linear16', 24000, 2] };
const GA_FORMATS = { 'audio/pcmu': 'g711_ulaw', 'audio/pcma': 'g711_alaw', 'audio/pcm': 'pcm16' };

const BETA_NAMES = {
  itemAdded: 'conversation.item.created',
  audioDelta: 'response.audio.delta',
  audioDone: 'response.audio.done',
  transcriptDelta: 'response.audio_transcript.delta',
  transcriptDone: 'response.audio_transcript.done',
};
const GA_NAMES = {
  itemAdded: 'conversation.item.added',
  audioDelta: 'response.output_audio.delta',
  audioDone: 'response.output_audio.done',
  transcriptDelta: 'response.output_audio_transcript.delta',
  transcriptDone: 'response.output_audio_transcript.done',
};

const apiError = (message, type, code, param = null) => ({ error: { message, type, param, code } });

export async function startRealtimeStandIn(opts = {}) {
  const key = opts.key ?? 'openai-test-key';
  const ctl = controls(opts);
  const rec = recorder(opts.log, opts.quiet);
  const transcripts = [...(opts.transcripts ?? [])];
  const fallbackTranscript = opts.transcript ?? REALTIME_TRANSCRIPT;
  const replies = [...(opts.replies ?? [])];
  const defaultReply = opts.reply ?? REALTIME_REPLY;
  const speechDbfs = opts.speechDbfs ?? -45;
  const chunkAudioMs = opts.chunkAudioMs ?? 100;
  const truncates = [];
  const sessions = [];
  const wss = new WebSocketServer({ noServer: true });

  const srv = await listen((req, res) => {
    if (control(req, res, api)) return;
    rec.keep({ kind: 'http', method: req.method, path: req.url });
    refuse(res, null, 404, apiError(`Invalid URL (${req.method} ${req.url})`, 'invalid_request_error', null));
  }, opts);

  srv.server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://x');
    const beta = /realtime=v1/.test(req.headers['openai-beta'] ?? '');
    const given = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
    const authOk = given === key;
    const entry = rec.keep({ kind: 'connect', path: url.pathname, query: safeQuery(url), beta, headers: safeHeaders(req.headers, ['authorization']), authOk });
    if (!/\/realtime$/.test(url.pathname)) {
      entry.refused = 404;
      return refuse(null, socket, 404, apiError(`Invalid URL (GET ${url.pathname})`, 'invalid_request_error', null));
    }
    const f = ctl.take();
    if (f?.kind === 'status') {
      const st = f.status ?? 500;
      entry.refused = st;
      const body = st === 429
        ? apiError('Rate limit reached for requests', 'requests', 'rate_limit_exceeded')
        : st >= 500 ? apiError('The server had an error while processing your request. Sorry about that!', 'server_error', null)
        : apiError(`The stand-in was told to answer ${st}`, 'invalid_request_error', null);
      return refuse(null, socket, st, body);
    }
    wss.handleUpgrade(req, socket, head, (ws) => session(ws, url, beta, authOk && f?.kind !== 'auth', f));
  });

  function session(ws, url, beta, authOk, f) {
    const N = beta ? BETA_NAMES : GA_NAMES;
    const pace = ctl.pace(f);
    const stall = f?.kind === 'stall';
    const dropAfter = f?.kind === 'drop' ? f.after ?? 1 : null;
    const failResponse = f?.kind === 'error';
    const model = url.searchParams.get('model') ?? 'gpt-realtime';
    let open = true;
    let deltas = 0;
    const items = []; // the conversation
    let bufferBytes = 0; // appended audio not yet committed (its length only)
    let bufferMs = 0;
    let heardMs = 0; // input audio time, for the VAD
    let speaking = false;
    let speechStartMs = 0;
    let lastVoicedMs = 0;
    let userItemId = newId('item_');
    let active = null; // the response in progress
    // a transcription session (?intent=transcription, or turned into one by
    // transcription_session.update / session.update type "transcription")
    // hears and transcribes but never responds
    let transcribeOnly = url.searchParams.get('intent') === 'transcription';
    const S = { id: newId('sess_') };
    sessions.push(S);

    // the session as the protocol shows it
    let sess = beta
      ? { id: S.id, object: 'realtime.session', model, modalities: ['text', 'audio'], instructions: '', voice: 'alloy', input_audio_format: 'pcm16', output_audio_format: 'pcm16', input_audio_transcription: null, turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 200, create_response: true, interrupt_response: true }, tools: [], tool_choice: 'auto', temperature: 0.8, max_response_output_tokens: 'inf' }
      : { type: 'realtime', object: 'realtime.session', id: S.id, model, output_modalities: ['audio'], instructions: '', tools: [], tool_choice: 'auto', max_output_tokens: 'inf', audio: { input: { format: { type: 'audio/pcm', rate: 24000 }, transcription: null, noise_reduction: null, turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 200, create_response: true, interrupt_response: true, idle_timeout_ms: null } }, output: { format: { type: 'audio/pcm', rate: 24000 }, voice: 'alloy', speed: 1 } } };
    const TD = { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 500 };
    const transcriptionSession = (prev = {}) =>
      beta
        ? { id: S.id, object: 'realtime.transcription_session', input_audio_format: 'pcm16', input_audio_transcription: null, turn_detection: TD, input_audio_noise_reduction: null, include: null, ...prev }
        : { type: 'transcription', object: 'realtime.transcription_session', id: S.id, audio: { input: { format: { type: 'audio/pcm', rate: 24000 }, transcription: null, noise_reduction: null, turn_detection: TD, ...(prev.audio?.input ?? {}) } }, include: prev.include ?? null };
    if (transcribeOnly) sess = transcriptionSession();
    const inFmt = () => (beta ? sess.input_audio_format : GA_FORMATS[sess.audio.input.format?.type]);
    const outFmt = () => (beta ? sess.output_audio_format : GA_FORMATS[sess.audio.output?.format?.type]);
    const turnDetection = () => (beta ? sess.turn_detection : sess.audio.input.turn_detection);
    const transcription = () => (beta ? sess.input_audio_transcription : sess.audio.input.transcription);
    S.session = () => sess;

    const send = (ev) => {
      if (!open || stall || ws.readyState !== ws.OPEN) return false;
      const e = { type: ev.type, event_id: newId('event_'), ...ev };
      ws.send(JSON.stringify(e));
      rec.keep({ kind: 'out', type: e.type, ...(e.type === 'error' ? { error: e.error } : {}) });
      return true;
    };
    const error = (message, code, clientEventId = null, param = null, type = 'invalid_request_error') =>
      send({ type: 'error', error: { type, code, message, param, event_id: clientEventId } });

    if (!authOk) {
      rec.keep({ kind: 'refused', reason: 'invalid_api_key' });
      error('Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.', 'invalid_api_key');
      ws.close(3000, 'invalid_request_error.invalid_api_key');
      return;
    }
    send({ type: beta && transcribeOnly ? 'transcription_session.created' : 'session.created', session: sess });

    // GA announces an item twice: added, then done once it is complete
    const addItem = (item, previous, complete = true) => {
      items.push(item);
      send({ type: N.itemAdded, previous_item_id: previous ?? null, item: publicItem(item) });
      if (!beta && complete) send({ type: 'conversation.item.done', previous_item_id: previous ?? null, item: publicItem(item) });
    };
    const itemDone = (item) => {
      if (!beta) send({ type: 'conversation.item.done', item: publicItem(item) });
    };
    const lastItemId = () => (items.length ? items[items.length - 1].id : null);

    const commit = (clientEventId) => {
      const ms = bufferMs;
      if (ms < 100) {
        error(`Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has ${ms.toFixed(2)}ms of audio.`, 'input_audio_buffer_commit_empty', clientEventId);
        return false;
      }
      const id = userItemId;
      userItemId = newId('item_');
      const previous = lastItemId();
      const bytes = bufferBytes;
      bufferBytes = 0;
      bufferMs = 0;
      rec.keep({ kind: 'committed', item_id: id, ms, bytes });
      send({ type: 'input_audio_buffer.committed', previous_item_id: previous, item_id: id });
      const item = { id, object: 'realtime.item', type: 'message', status: 'completed', role: 'user', content: [{ type: 'input_audio', transcript: null }], audio_ms: ms };
      addItem(item, previous);
      if (transcription() || transcribeOnly) {
        // the transcription runs beside the response: it may come after it;
        // deltas word by word, as the gpt-4o-transcribe models send them
        const text = transcripts.length ? transcripts.shift() : fallbackTranscript;
        item.content[0].transcript = text;
        const events = (text.match(/\S+\s*/g) ?? []).map((delta) => ({ type: 'conversation.item.input_audio_transcription.delta', item_id: id, content_index: 0, delta }));
        events.push({ type: 'conversation.item.input_audio_transcription.completed', item_id: id, content_index: 0, transcript: text, ...(beta ? {} : { usage: { type: 'duration', seconds: ms / 1000 } }) });
        rec.keep({ kind: 'transcribed', item_id: id, transcript: text });
        if (ctl.timing.transcriptMs > 0) setTimeout(() => events.forEach(send), ctl.timing.transcriptMs);
        else events.forEach(send);
      }
      return true;
    };

    const cancel = (reason) => {
      if (!active) return false;
      active.cancelled = reason;
      return true;
    };

    // one response, paced; resolves when it is done
    async function respond(params = {}) {
      const r = { id: newId('resp_'), cancelled: null, out: [] };
      active = r;
      const reply = replies.length ? replies.shift() : defaultReply;
      rec.keep({ kind: 'response', response_id: r.id, reply });
      // metadata comes back as given (the LiveKit plugin matches its
      // response.create to response.created by it)
      const base = { object: 'realtime.response', id: r.id, status: 'in_progress', status_details: null, output: [], usage: null, metadata: params.metadata ?? null };
      if (beta) base.modalities = sess.modalities;
      else base.output_modalities = sess.output_modalities;
      send({ type: 'response.created', response: base });
      const alive = () => open && !r.cancelled;
      const wait = async (ms) => {
        if (ms > 0) await sleep(ms);
        return alive();
      };
      let firstWait = pace.firstMs;
      let status = 'completed';
      let statusDetails = null;
      let outputIndex = 0;
      if (reply.text !== undefined && reply.text !== null) {
        const [enc, rate] = FORMATS[outFmt()] ?? FORMATS.pcm16;
        const audioMs = reply.audioMs ?? 1000;
        const audio = toneAudio(reply.toneHz ?? 500, audioMs, rate, enc);
        const bytesPerMs = (audio.length / audioMs);
        const words = reply.text.split(/(?<=\s)/);
        const item = { id: newId('item_'), object: 'realtime.item', type: 'message', status: 'in_progress', role: 'assistant', content: [] };
        const previous = lastItemId();
        send({ type: 'response.output_item.added', response_id: r.id, output_index: outputIndex, item });
        addItem(item, previous, false);
        const partType = 'audio';
        send({ type: 'response.content_part.added', response_id: r.id, item_id: item.id, output_index: outputIndex, content_index: 0, part: { type: partType, transcript: '' } });
        item.full_text = reply.text;
        item.audio_total_ms = audioMs;
        item.audio_sent_ms = 0;
        item.words = words.map((w, i) => ({ w, startMs: (i * audioMs) / words.length, endMs: ((i + 1) * audioMs) / words.length }));
        let said = '';
        let wi = 0;
        const chunk = Math.max(1, Math.round(bytesPerMs * chunkAudioMs));
        for (let off = 0; off < audio.length; off += chunk) {
          if (!(await wait(off === 0 ? firstWait : pace.chunkMs))) break;
          const tMs = off / bytesPerMs;
          while (wi < words.length && item.words[wi].startMs <= tMs) {
            said += words[wi];
            send({ type: N.transcriptDelta, response_id: r.id, item_id: item.id, output_index: outputIndex, content_index: 0, delta: words[wi++] });
          }
          const piece = audio.subarray(off, Math.min(audio.length, off + chunk));
          if (failResponse && off > 0) {
            status = 'failed';
            statusDetails = { type: 'failed', error: { type: 'server_error', code: null, message: 'The server had an error while processing your request.' } };
            error('The server had an error while processing your request. Sorry about that!', null, null, null, 'server_error');
            break;
          }
          send({ type: N.audioDelta, response_id: r.id, item_id: item.id, output_index: outputIndex, content_index: 0, delta: piece.toString('base64') });
          item.audio_sent_ms = Math.min(audioMs, (off + piece.length) / bytesPerMs);
          deltas++;
          if (dropAfter !== null && deltas >= dropAfter) {
            rec.keep({ kind: 'dropped', after: deltas });
            open = false;
            cut(ws);
            break;
          }
        }
        firstWait = 0;
        if (!open) return finish();
        if (r.cancelled) {
          status = 'cancelled';
          statusDetails = { type: 'cancelled', reason: r.cancelled };
        } else if (status === 'completed') {
          while (wi < words.length) {
            said += words[wi];
            send({ type: N.transcriptDelta, response_id: r.id, item_id: item.id, output_index: outputIndex, content_index: 0, delta: words[wi++] });
          }
        }
        item.status = status === 'completed' ? 'completed' : 'incomplete';
        item.content = [{ type: beta ? 'audio' : 'output_audio', transcript: said }];
        send({ type: N.audioDone, response_id: r.id, item_id: item.id, output_index: outputIndex, content_index: 0 });
        send({ type: N.transcriptDone, response_id: r.id, item_id: item.id, output_index: outputIndex, content_index: 0, transcript: said });
        send({ type: 'response.content_part.done', response_id: r.id, item_id: item.id, output_index: outputIndex, content_index: 0, part: { type: partType, transcript: said } });
        send({ type: 'response.output_item.done', response_id: r.id, output_index: outputIndex, item: publicItem(item) });
        itemDone(item);
        r.out.push(publicItem(item));
        outputIndex++;
      }
      for (const tool of status === 'completed' ? reply.tools ?? [] : []) {
        if (!(await wait(firstWait))) break;
        firstWait = 0;
        const args = typeof tool.arguments === 'string' ? tool.arguments : JSON.stringify(tool.arguments ?? {});
        const item = { id: newId('item_'), object: 'realtime.item', type: 'function_call', status: 'in_progress', name: tool.name, call_id: newId('call_'), arguments: '' };
        const previous = lastItemId();
        send({ type: 'response.output_item.added', response_id: r.id, output_index: outputIndex, item: { ...item } });
        addItem(item, previous, false);
        for (const piece of args.match(/.{1,8}/gs) ?? []) {
          if (!(await wait(pace.chunkMs))) break;
          send({ type: 'response.function_call_arguments.delta', response_id: r.id, item_id: item.id, output_index: outputIndex, call_id: item.call_id, delta: piece });
        }
        if (!alive()) break;
        item.arguments = args;
        item.status = 'completed';
        send({ type: 'response.function_call_arguments.done', response_id: r.id, item_id: item.id, output_index: outputIndex, call_id: item.call_id, name: item.name, arguments: args });
        send({ type: 'response.output_item.done', response_id: r.id, output_index: outputIndex, item: { ...item } });
        itemDone(item);
        r.out.push({ ...item });
        outputIndex++;
      }
      if (r.cancelled && status === 'completed') {
        status = 'cancelled';
        statusDetails = { type: 'cancelled', reason: r.cancelled };
      }
      send({
        type: 'response.done',
        response: {
          ...base,
          status,
          status_details: statusDetails,
          output: r.out,
          usage: { total_tokens: 80, input_tokens: 30, output_tokens: 50, input_token_details: { cached_tokens: 0, text_tokens: 10, audio_tokens: 20 }, output_token_details: { text_tokens: 10, audio_tokens: 40 } },
        },
      });
      rec.keep({ kind: 'response_done', response_id: r.id, status });
      return finish();
      function finish() {
        if (active === r) active = null;
      }
    }

    const hear = (samples, rate) => {
      const td = turnDetection();
      const frame = Math.round(rate / 100);
      for (let off = 0; off + frame <= samples.length; off += frame) {
        const voiced = dbfs(samples.subarray(off, off + frame)) > speechDbfs;
        const tEnd = heardMs + 10;
        if (voiced) {
          if (!speaking && td) {
            speaking = true;
            speechStartMs = heardMs;
            send({ type: 'input_audio_buffer.speech_started', audio_start_ms: Math.max(0, heardMs - (td.prefix_padding_ms ?? 300)), item_id: userItemId });
            if (active && td.interrupt_response !== false) cancel('turn_detected');
          }
          lastVoicedMs = tEnd;
        } else if (speaking && tEnd - lastVoicedMs >= (td?.silence_duration_ms ?? 500)) {
          speaking = false;
          send({ type: 'input_audio_buffer.speech_stopped', audio_end_ms: lastVoicedMs, item_id: userItemId });
          rec.keep({ kind: 'speech', startMs: speechStartMs, endMs: lastVoicedMs });
          if (commit(null) && td?.create_response !== false && !active && !transcribeOnly) respond();
        }
        heardMs = tEnd;
      }
    };

    ws.on('message', (data) => {
      let ev;
      try {
        ev = JSON.parse(data.toString());
      } catch {
        rec.keep({ kind: 'in', type: null });
        return error("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)", 'invalid_json');
      }
      const logged = { kind: 'in', type: ev.type };
      if (ev.type === 'input_audio_buffer.append') logged.bytes = typeof ev.audio === 'string' ? Math.floor((ev.audio.length * 3) / 4) : 0;
      else logged.event = ev;
      rec.keep(logged);
      const id = ev.event_id ?? null;
      switch (ev.type) {
        case 'transcription_session.update': {
          const s = ev.session ?? {};
          if (s.input_audio_format !== undefined && !(s.input_audio_format in FORMATS)) return error(`Invalid value: '${s.input_audio_format}'. Supported values are: 'pcm16', 'g711_ulaw', and 'g711_alaw'.`, 'invalid_value', id, 'session.input_audio_format');
          if (!transcribeOnly) {
            transcribeOnly = true;
            sess = transcriptionSession();
          }
          sess = { ...sess, ...s, id: sess.id, object: sess.object };
          return send({ type: 'transcription_session.updated', session: sess });
        }
        case 'session.update': {
          const s = ev.session ?? {};
          if (!beta && s.type !== 'realtime' && s.type !== 'transcription') return error("Missing required parameter: 'session.type'.", 'missing_required_parameter', id, 'session.type');
          if (!beta && s.type === 'transcription') {
            const bad = s.audio?.input?.format?.type;
            if (bad !== undefined && !(bad in GA_FORMATS)) return error(`Invalid value: '${bad}'. Supported values are: ${Object.keys(GA_FORMATS).map((k) => `'${k}'`).join(', ')}.`, 'invalid_value', id, 'session.audio.input.format.type');
            if (!transcribeOnly) {
              transcribeOnly = true;
              sess = transcriptionSession();
            }
            sess = { ...sess, ...s, id: sess.id, object: sess.object, audio: { input: { ...sess.audio.input, ...(s.audio?.input ?? {}) } } };
            return send({ type: 'session.updated', session: sess });
          }
          const fmts = beta ? [s.input_audio_format, s.output_audio_format] : [s.audio?.input?.format?.type, s.audio?.output?.format?.type];
          const known = beta ? FORMATS : GA_FORMATS;
          const bad = fmts.find((x) => x !== undefined && !(x in known));
          if (bad) return error(`Invalid value: '${bad}'. Supported values are: ${Object.keys(known).map((k) => `'${k}'`).join(', ')}.`, 'invalid_value', id, beta ? 'session.input_audio_format' : 'session.audio.input.format.type');
          if (beta) sess = { ...sess, ...s, id: sess.id, object: sess.object, model: sess.model };
          else {
            const a = s.audio ?? {};
            sess = { ...sess, ...s, id: sess.id, object: sess.object, model: sess.model, audio: { input: { ...sess.audio.input, ...(a.input ?? {}) }, output: { ...sess.audio.output, ...(a.output ?? {}) } } };
            if (sess.audio.output.format?.type === 'audio/pcm') sess.audio.output.format.rate = 24000;
          }
          return send({ type: 'session.updated', session: sess });
        }
        case 'input_audio_buffer.append': {
          const fmt = FORMATS[inFmt()] ?? FORMATS.pcm16;
          const b = Buffer.from(ev.audio ?? '', 'base64');
          bufferBytes += b.length;
          bufferMs += b.length / fmt[2] / (fmt[1] / 1000);
          return hear(decodeSamples(b, fmt[0]), fmt[1]);
        }
        case 'input_audio_buffer.commit':
          speaking = false;
          return commit(id);
        case 'input_audio_buffer.clear':
          bufferBytes = 0;
          bufferMs = 0;
          speaking = false;
          return send({ type: 'input_audio_buffer.cleared' });
        case 'conversation.item.create': {
          const item = { id: ev.item?.id ?? newId('item_'), object: 'realtime.item', status: 'completed', ...ev.item };
          if (!['message', 'function_call', 'function_call_output'].includes(item.type)) return error(`Invalid value: '${item.type}'. Supported values are: 'message', 'function_call', and 'function_call_output'.`, 'invalid_value', id, 'item.type');
          // the server checks that an output answers a call of the conversation
          if (item.type === 'function_call_output' && !items.some((i) => i.type === 'function_call' && i.call_id === item.call_id)) return error(`Invalid value: '${item.call_id}'. No function_call item with this call_id is in the conversation.`, 'invalid_value', id, 'item.call_id');
          if (item.type === 'function_call_output') rec.keep({ kind: 'tool_output', call_id: item.call_id, output: item.output });
          return addItem(item, ev.previous_item_id ?? lastItemId());
        }
        case 'response.create':
          if (transcribeOnly) return error('Responses are not available in a transcription session.', 'invalid_request_error', id, 'type');
          if (active) return error(`Conversation already has an active response in progress: ${active.id}. Wait until the response is finished before creating a new one.`, 'conversation_already_has_active_response', id);
          return void respond(ev.response ?? {});
        case 'response.cancel':
          if (ev.response_id && active && ev.response_id !== active.id) return error(`Cancellation failed: no active response found with id ${ev.response_id}`, 'response_cancel_not_active', id);
          if (!cancel('client_cancelled')) return error('Cancellation failed: no active response found', 'response_cancel_not_active', id);
          return;
        case 'conversation.item.delete': {
          const at = items.findIndex((i) => i.id === ev.item_id);
          if (at < 0) return error(`Error deleting item: the item with id '${ev.item_id}' does not exist.`, 'item_delete_invalid_item_id', id, 'item_id');
          items.splice(at, 1);
          rec.keep({ kind: 'delete', item_id: ev.item_id });
          return send({ type: 'conversation.item.deleted', item_id: ev.item_id });
        }
        case 'conversation.item.truncate': {
          const item = items.find((i) => i.id === ev.item_id);
          if (!item || item.type !== 'message' || item.role !== 'assistant') return error(`Item with item_id not found: ${ev.item_id}`, 'item_truncate_invalid_item_id', id, 'item_id');
          const endMs = Number(ev.audio_end_ms);
          if (!(endMs >= 0) || endMs > item.audio_sent_ms + 1) return error(`Audio content of ${Math.round(item.audio_sent_ms)}ms is shorter than ${ev.audio_end_ms}ms`, 'invalid_value', id, 'audio_end_ms');
          const heard = item.words.filter((w) => w.endMs <= endMs).map((w) => w.w).join('');
          item.truncated_ms = endMs;
          item.heard = heard;
          // the docs: truncating deletes the server-side transcript so that
          // no text the user has not heard stays in the context
          item.content = item.content.map((c) => ({ ...c, transcript: '' }));
          truncates.push({ item_id: item.id, content_index: ev.content_index, audio_end_ms: endMs, heard, sent_ms: item.audio_sent_ms, full_text: item.full_text });
          rec.keep({ kind: 'truncate', item_id: item.id, content_index: ev.content_index, audio_end_ms: endMs, heard });
          return send({ type: 'conversation.item.truncated', item_id: item.id, content_index: ev.content_index ?? 0, audio_end_ms: endMs });
        }
        default:
          return error(`Invalid value: '${ev.type}'. Supported values are: 'session.update', 'input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', 'conversation.item.create', 'conversation.item.truncate', 'conversation.item.delete', 'response.create', and 'response.cancel'.`, 'invalid_value', id, 'type');
      }
    });
    ws.on('close', (code) => {
      open = false;
      if (active) active.cancelled = 'disconnected';
      rec.keep({ kind: 'close', code });
    });
    ws.on('error', () => {});
    S.items = items;
  }

  function publicItem(item) {
    const { full_text, audio_total_ms, audio_sent_ms, words, truncated_ms, heard, audio_ms, ...rest } = item;
    return rest;
  }

  const api = {
    port: srv.port,
    url: `${srv.scheme}://127.0.0.1:${srv.port}/v1`,
    key,
    log: rec.log,
    truncates,
    sessions,
    replies,
    transcripts,
    // the conversation of session i (default the last) as the model keeps
    // it; assistant messages carry `heard` and `truncated_ms` when cut
    history(i = sessions.length - 1) {
      return (sessions[i]?.items ?? []).map((it) => {
        const { full_text, audio_total_ms, audio_sent_ms, words, ...rest } = it;
        return rest;
      });
    },
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
    of: (kind) => rec.log.filter((e) => e.kind === kind),
    stop() {
      for (const c of wss.clients) c.terminate();
      return srv.close();
    },
  };
  return api;
}

