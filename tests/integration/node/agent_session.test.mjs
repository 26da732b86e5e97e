// A phone call taken by a stock voice.AgentSession of @livekit/agents (Node),
// unchanged (agent_session_app.mjs): Silero's VAD and OpenAI's STT, LLM and
// TTS pointed at a stand-in for OpenAI's REST API
// (tests/integration/standins/openai.mjs). The caller (phone.mjs) says a
// sentence rendered by espeak-ng; the agent must transcribe it, ask the LLM,
// synthesise the reply (the stand-in's 600 Hz tone) and speak it, which the
// phone must hear in its RTP. A hidden participant (rtc-node) watches the
// agent's `lk.agent.state` attribute and reads the transcriptions the
// session publishes as `lk.transcription` text streams: the caller's words
// in the caller's name, the reply in the agent's. Hanging up ends the job
// and its process.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AccessToken, SipClient } from 'livekit-server-sdk';
import { RoomAgentDispatch, RoomConfiguration } from '@livekit/protocol';
import { ParticipantKind, Room, RoomEvent, TrackSource, dispose } from '@livekit/rtc-node';
import { startServer, waitUntil, sleep, tmpDir, run, API_KEY, API_SECRET } from './helpers.mjs';
import { Phone, toneShare } from './phone.mjs';
import { startOpenAIStandIn, TRANSCRIPT, REPLY, TONE_HZ, TONE_MS } from '../standins/openai.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NUMBER = '+15550007001';
const CALLER = '+15552227001';
const AGENT_NAME = 'session-agent';
const STATE = 'lk.agent.state';
// the transcriptions' text streams, as @livekit/agents names them
const TOPIC = 'lk.transcription';
const TRACK_ID = 'lk.transcribed_track_id';
const FINAL = 'lk.transcription_final';
const SEGMENT_ID = 'lk.segment_id';
// one sentence: a pause between two could end the caller's turn early
const WORDS = 'What are your opening hours?';

// The caller's sentence as 8 kHz samples, from espeak-ng through sox, with
// the silence around it cut so that its last frame is the end of speech.
async function utterance() {
  const wav = path.join(tmpDir(), 'words.wav');
  const raw = path.join(tmpDir(), 'words.s16');
  let r = await run('espeak-ng', ['-w', wav, WORDS]);
  assert.equal(r.code, 0, `espeak-ng: ${r.stderr}`);
  r = await run('sox', [wav, '-r', '8000', '-c', '1', '-b', '16', '-e', 'signed-integer', '-t', 'raw', raw]);
  assert.equal(r.code, 0, `sox: ${r.stderr}`);
  const buf = fs.readFileSync(raw);
  const pcm = new Int16Array(buf.buffer, buf.byteOffset, buf.length >> 1);
  let a = 0;
  let b = pcm.length;
  while (a < b && Math.abs(pcm[a]) < 300) a++;
  while (b > a && Math.abs(pcm[b - 1]) < 300) b--;
  return Int16Array.from(pcm.subarray(a, b));
}

// Each 20 ms frame the phone heard after t0 that carries the stand-in's
// tone: loud enough, and mostly at TONE_HZ.
function toneFrames(phone, t0) {
  return phone.heard.filter((h) => {
    if (h.at < t0 || h.pcm.length < 80) return false;
    let e = 0;
    for (const x of h.pcm) e += x * x;
    return Math.sqrt(e / h.pcm.length) > 500 && toneShare(h.pcm, 8000, TONE_HZ) > 0.5;
  });
}

describe('a stock voice.AgentSession takes a phone call', { timeout: 120000 }, () => {
  let server;
  let oa;
  let app;
  let out = '';
  let words;
  let phone;
  let watcher;
  let job; // lk_job_assigned
  let entry; // the job process's job_entry line
  let spoken; // {start, end} of the caller's sentence
  const states = []; // {state, at} of the agent, as the watcher saw them
  const texts = []; // the lk.transcription streams the watcher received

  const appLog = () => out.replace(/\x1b\[[0-9;]*m/g, '');
  const appEvents = (name) =>
    appLog()
      .split('\n')
      .filter((l) => l.startsWith('{"event":'))
      .map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return null;
        }
      })
      .filter((e) => e && e.event === name);
  // The worker's WARN and ERROR lines about its data (streams,
  // transcriptions, data packets, RPC), or those matching re, counted.
  const complaints = (re = /stream|transcri|data|publish|rpc|channel/i) => {
    const said = {};
    for (const m of appLog().matchAll(/\] (?:WARN|ERROR) \(\d+\): (.*)$/gm)) if (re.test(m[1])) said[m[1]] = (said[m[1]] ?? 0) + 1;
    return said;
  };
  // waitUntil, and on a timeout the end of the app's output as it is then
  const waitApp = (fn, opts) =>
    waitUntil(fn, opts).catch((e) => {
      throw new Error(`${e.message}\napp output:\n${appLog().slice(-2000)}`);
    });

  before(async () => {
    words = await utterance();
    oa = await startOpenAIStandIn({ log: path.join(tmpDir(), 'openai.jsonl') });
    server = await startServer({ emptyTimeout: '10s', departureTimeout: '10s' });
    const sip = new SipClient(server.url, API_KEY, API_SECRET);
    const trunk = await sip.createSipInboundTrunk('agent-session', [NUMBER]);
    await sip.createSipDispatchRule(
      { type: 'individual', roomPrefix: 'sess' },
      { trunkIds: [trunk.sipTrunkId], roomConfig: new RoomConfiguration({ agents: [new RoomAgentDispatch({ agentName: AGENT_NAME })] }) },
    );
    const logFile = path.join(tmpDir(), 'agent-session-app.log');
    app = spawn(
      process.execPath,
      [path.join(HERE, 'agent_session_app.mjs'), 'dev', '--url', `ws://127.0.0.1:${server.httpPort}`, '--api-key', API_KEY, '--api-secret', API_SECRET],
      {
        cwd: HERE,
        env: {
          ...process.env,
          AGENT_NAME,
          OPENAI_BASE_URL: oa.baseURL,
          OPENAI_API_KEY: 'stand-in-key',
          LIVEKIT_URL: '',
          LIVEKIT_API_KEY: '',
          LIVEKIT_API_SECRET: '',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      },
    );
    process.once('exit', () => {
      try {
        process.kill(-app.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    });
    const keep = (d) => {
      out += d;
      fs.appendFileSync(logFile, d);
    };
    app.stdout.on('data', keep);
    app.stderr.on('data', keep);
  });

  after(async () => {
    await watcher?.disconnect().catch(() => {});
    phone?.close();
    await dispose().catch(() => {});
    if (app && app.exitCode === null) {
      try {
        process.kill(-app.pid, 'SIGINT');
      } catch {
        /* gone */
      }
      await Promise.race([new Promise((r) => app.once('exit', r)), sleep(5000)]);
      try {
        process.kill(-app.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await oa?.close();
    if (server && !server.exited) await server.stop();
  });

  test('the call becomes the worker\'s job and the session listens to the caller', async () => {
    const reg = await waitApp(() => server.events('lk_worker_registered').find((e) => e.agent_name === AGENT_NAME), {
      what: 'the worker registered',
      timeoutMs: 30000,
    });
    phone = new Phone(server, { number: NUMBER, caller: CALLER, toneHz: 0 });
    await phone.call();
    job = await waitUntil(() => server.events('lk_job_assigned').find((e) => e.worker === reg.worker), { what: 'the job assigned', timeoutMs: 10000 });
    entry = await waitApp(() => appEvents('job_entry').find((e) => e.job === job.job), { what: 'the job process entered', timeoutMs: 15000 });

    // a hidden participant watches the agent's state attribute and reads
    // the transcriptions
    const at = new AccessToken(API_KEY, API_SECRET, { identity: 'state-watcher', ttl: '10m' });
    at.addGrant({ roomJoin: true, room: job.room, hidden: true, canPublish: false, canPublishData: false });
    watcher = new Room();
    const note = (p) => {
      const s = p.attributes?.[STATE];
      if (p.identity === job.identity && s && states.at(-1)?.state !== s) states.push({ state: s, at: Date.now() });
    };
    watcher.on(RoomEvent.ParticipantAttributesChanged, (_changed, p) => note(p));
    watcher.on(RoomEvent.ParticipantConnected, (p) => note(p));
    watcher.registerTextStreamHandler(TOPIC, async (reader, from) => {
      const x = { identity: from.identity, id: reader.info.streamId, attributes: { ...reader.info.attributes }, at: Date.now(), text: '' };
      texts.push(x);
      try {
        for await (const chunk of reader) x.text += chunk;
        x.done = Date.now();
      } catch (e) {
        x.error = e.message;
      }
    });
    await watcher.connect(`ws://127.0.0.1:${server.httpPort}`, await at.toJwt(), { autoSubscribe: false, dynacast: false });
    for (const p of watcher.remoteParticipants.values()) note(p);

    await waitApp(() => appEvents('session_started').find((e) => e.job === job.job), {
      what: 'the session started',
      timeoutMs: 15000,
    });
    await waitUntil(() => states.some((s) => s.state === 'listening'), {
      what: `the agent's ${STATE} is listening (seen: ${JSON.stringify(states)})`,
      timeoutMs: 10000,
    });
    assert.equal(job.identity, `agent-${job.job}`);
    assert.ok(
      server.events('rtc_connected').some((e) => e.identity === job.identity),
      'the agent\'s peer connection connected',
    );
    // (what is sent to the watcher before its data channels open is lost)
    await waitUntil(() => server.events('rtc_data_up').some((e) => e.identity === 'state-watcher' && e.pc === 'subscriber'), {
      what: 'the data channels to the watcher',
      timeoutMs: 10000,
    });
  });

  test('the caller\'s words reach the STT, then the LLM, then the TTS', async () => {
    assert.ok(phone && job, 'the call has an agent');
    assert.equal(oa.to('/v1/audio/transcriptions').length, 0, 'nothing transcribed before the caller spoke');
    spoken = await phone.say(words);
    const speech = await waitApp(() => oa.to('/v1/audio/speech')[0], { what: 'a speech request', timeoutMs: 15000 }).catch((e) => {
      throw new Error(`${e.message}\nthe stand-in got: ${JSON.stringify(oa.requests.map((r) => r.path))}`);
    });
    const stt = oa.to('/v1/audio/transcriptions');
    const chat = oa.to('/v1/chat/completions');
    assert.equal(stt.length, 1, `one transcription: ${JSON.stringify(stt)}`);
    assert.equal(stt[0].model, 'whisper-1');
    assert.ok(stt[0].at > spoken.start, 'transcribed after the caller started speaking');
    const said = words.length / 8000;
    assert.ok(stt[0].wav, `a WAV to transcribe: ${JSON.stringify(stt[0])}`);
    assert.ok(stt[0].wav.seconds > said * 0.7 && stt[0].wav.seconds < said + 3, `the WAV lasts ${stt[0].wav.seconds} s, the caller spoke ${said.toFixed(2)} s`);
    assert.ok(stt[0].wav.rms > 300, `the WAV carries the caller's voice (RMS ${stt[0].wav.rms.toFixed(0)})`);
    // (the SDK may ask the LLM again when the turn ends after a
    // preemptive request: the reply is the same)
    assert.ok(chat.length >= 1 && chat.length <= 2, `chat completions: ${chat.length}`);
    assert.ok(chat[0].at >= stt[0].at, 'the LLM after the STT');
    for (const c of chat) {
      assert.equal(c.stream, true);
      const user = c.messages.filter((m) => m.role === 'user').at(-1);
      assert.equal(typeof user?.content === 'string' ? user.content : user?.content?.map?.((x) => x.text).join(''), TRANSCRIPT);
    }
    assert.ok(speech.at >= chat[0].at, 'the TTS after the LLM');
    assert.equal(speech.input, REPLY);
    assert.equal(speech.response_format, 'pcm');
  });

  test('the caller hears the spoken reply', async (t) => {
    assert.ok(spoken, 'the caller spoke');
    assert.equal(toneFrames(phone, 0).filter((h) => h.at < spoken.end).length, 0, 'no reply before the caller spoke');
    const first = await waitUntil(() => toneFrames(phone, spoken.end)[0], {
      what: `the reply's ${TONE_HZ} Hz tone at the phone (heard ${phone.heard.length} frames)`,
      timeoutMs: 10000,
    });
    await sleep(TONE_MS + 500);
    const frames = toneFrames(phone, spoken.end);
    const heardMs = frames.length * 20;
    assert.ok(heardMs >= TONE_MS * 0.6, `heard ${heardMs} ms of the ${TONE_MS} ms reply`);
    const v2v = first.at - spoken.end;
    const speechReq = oa.to('/v1/audio/speech')[0];
    // the SDK's turn detector judges the caller's voice and may wait up to
    // 2.5 s more before it answers: its own figures, from its log
    const eot = /endOfTurnProbability: ([\d.]+)[\s\S]*?endpointingDelay: (\d+)/.exec(appLog());
    t.diagnostic(
      `voice-to-voice ${v2v} ms (caller's last frame sent -> first reply frame heard); ` +
        `stt request +${oa.to('/v1/audio/transcriptions')[0].at - spoken.end} ms, ` +
        `tts request +${speechReq.at - spoken.end} ms, tts -> phone ${first.at - speechReq.at} ms; heard ${heardMs} ms of tone; ` +
        `the SDK's end-of-turn probability ${eot ? Number(eot[1]).toFixed(2) : '?'}, its endpointing delay ${eot ? eot[2] : '?'} ms`,
    );
    assert.ok(v2v > 0 && v2v < 8000, `voice-to-voice ${v2v} ms`);
  });

  test(`${STATE} goes listening -> thinking -> speaking -> listening`, async () => {
    const seq = () => states.map((s) => s.state);
    const want = ['listening', 'thinking', 'speaking', 'listening'];
    const follows = () => {
      let k = 0;
      for (const s of seq()) if (s === want[k]) k++;
      return k === want.length;
    };
    await waitUntil(follows, { what: `the states ${want.join(' -> ')} (seen: ${seq().join(' -> ')})`, timeoutMs: 10000 });
    const speaking = states.find((s) => s.state === 'speaking');
    const firstTone = toneFrames(phone, spoken.end)[0];
    assert.ok(speaking.at >= spoken.end, 'speaking after the caller spoke');
    assert.ok(Math.abs(firstTone.at - speaking.at) < 2000, `speaking at ${speaking.at}, the reply heard at ${firstTone.at}`);
    const sdk = appEvents('agent_state').map((e) => e.new);
    assert.deepEqual(seq(), sdk.filter((s, i) => s !== sdk[i - 1]).slice(-seq().length), 'the watcher saw the states the SDK set');
  });

  test('the transcriptions reach another participant', async (t) => {
    assert.ok(spoken, 'the caller spoke');
    const parts = [...watcher.remoteParticipants.values()];
    const caller = parts.find((p) => p.kind === ParticipantKind.SIP);
    const agent = parts.find((p) => p.identity === job.identity);
    assert.ok(caller && agent, `the watcher sees the caller and the agent: ${JSON.stringify(parts.map((p) => [p.identity, p.kind]))}`);
    const trackOf = (p) => [...p.trackPublications.values()].find((x) => x.source === TrackSource.SOURCE_MICROPHONE)?.sid;
    const callerTrack = trackOf(caller);
    const agentTrack = trackOf(agent);
    assert.ok(callerTrack && agentTrack, `both publish a microphone track: ${callerTrack}, ${agentTrack}`);
    const seen = () => JSON.stringify(texts);
    const ofTrack = (sid) => texts.filter((x) => x.attributes[TRACK_ID] === sid);
    await waitApp(
      () =>
        ofTrack(callerTrack).some((x) => x.done && x.attributes[FINAL] === 'true') && ofTrack(agentTrack).some((x) => x.done && x.text === REPLY),
      { what: `the caller's final transcript and the agent's reply as ${TOPIC} streams (seen: ${seen()})`, timeoutMs: 10000 },
    );
    for (const x of texts) {
      assert.ok(!x.error, `a stream ended in error: ${seen()}`);
      assert.ok([callerTrack, agentTrack].includes(x.attributes[TRACK_ID]), `a stream names the track it transcribes: ${seen()}`);
    }

    // What the caller said, as the STT returned it, in the caller's name
    // (the agent writes it; the server leaves the name) and before the
    // reply: interim then final, one segment.
    const user = ofTrack(callerTrack);
    for (const x of user) {
      assert.equal(x.identity, caller.identity, `the caller's transcript is the caller's: ${seen()}`);
      assert.equal(x.text, TRANSCRIPT);
      assert.ok(x.at > spoken.start, 'transcribed after the caller spoke');
    }
    assert.equal(new Set(user.map((x) => x.attributes[SEGMENT_ID])).size, 1, `one segment: ${seen()}`);
    const final = user.find((x) => x.attributes[FINAL] === 'true');

    // The agent's reply, in its own name, streamed as it is spoken.
    const reply = ofTrack(agentTrack);
    for (const x of reply) assert.equal(x.identity, job.identity, `the reply is the agent's: ${seen()}`);
    assert.ok(reply.every((x) => REPLY.startsWith(x.text)), `the reply's text: ${seen()}`);
    assert.ok(reply[0].at >= final.at, 'the reply after the caller\'s final transcript');
    t.diagnostic(
      `${user.length} streams of the caller's words, the final one ${final.at - spoken.end} ms after the caller's last frame; ` +
        `${reply.length} of the reply, opened ${reply[0].at - final.at} ms after it and read in ${reply[0].done - reply[0].at} ms`,
    );

    // Nothing refused or dropped on the way, and the SDK had nothing to
    // say about its streams.
    const m = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(m, /voxgate_rtc_data_total\{event="routed"\} [1-9]/);
    assert.match(m, /voxgate_rtc_data_total\{event="refused"\} 0\n/);
    assert.match(m, /voxgate_rtc_data_total\{event="dropped"\} 0\n/);
    assert.deepEqual(complaints(), {}, 'the worker complained about its data');
  });

  test('hanging up ends the job and its process', async (t) => {
    assert.ok(job && entry, 'the call has a job');
    await phone.hangup();
    const term = await waitUntil(() => server.events('lk_job_terminated').find((e) => e.job === job.job), { what: 'JobTermination sent' });
    assert.equal(term.job, job.job);
    await waitApp(() => appEvents('job_shutdown').find((e) => e.job === job.job), {
      what: 'the job shut down',
      timeoutMs: 10000,
    });
    await waitUntil(
      () => {
        try {
          process.kill(entry.pid, 0);
          return false;
        } catch (e) {
          return e.code === 'ESRCH';
        }
      },
      { what: `the job process ${entry.pid} exited`, timeoutMs: 10000 },
    );
    await waitUntil(() => server.events('participant_left').find((e) => e.identity === job.identity), { what: 'the agent left the room' });
    // The session's last state update races the room's disconnect in the
    // SDK ("Failed to update agent state attributes", an AbortError):
    // shown, not held against voxgate.
    t.diagnostic(`the worker's complaints after the hang-up: ${JSON.stringify(complaints(/attributes/))}`);
    assert.deepEqual(complaints(), {}, 'the worker complained about its data');
  });
});
