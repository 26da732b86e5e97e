// A voice agent as @livekit/agents (Node) documents one, unchanged: the
// VAD loaded in prewarm, an entry that connects to the job's room
// (subscribing to audio only) and starts a stock voice.AgentSession with
// Silero's VAD and OpenAI's STT, LLM and TTS. The OpenAI plugins are
// pointed at OPENAI_BASE_URL (tests/integration/standins/openai.mjs); the
// STT uses the transcriptions endpoint (useRealtime: false) since its
// default is the realtime WebSocket.
//
// Used by agent_session.test.mjs as
// `node agent_session_app.mjs dev --url ws://... --api-key ... --api-secret ...`
// with AGENT_NAME, OPENAI_BASE_URL and OPENAI_API_KEY in its environment.
// It prints one JSON line per step on stdout (job_entry, room_connected,
// session_started, agent_state, job_shutdown) so the test can follow the
// job process.

import { fileURLToPath } from 'node:url';
import { AutoSubscribe, cli, defineAgent, voice, WorkerOptions } from '@livekit/agents';
import * as openai from '@livekit/agents-plugin-openai';
import * as silero from '@livekit/agents-plugin-silero';

const say = (event, fields = {}) => process.stdout.write(`${JSON.stringify({ event, pid: process.pid, at: Date.now(), ...fields })}\n`);

export default defineAgent({
  prewarm: async (proc) => {
    proc.userData.vad = await silero.VAD.load();
  },
  entry: async (ctx) => {
    say('job_entry', { job: ctx.job.id, room: ctx.job.room?.name });
    ctx.addShutdownCallback(async () => say('job_shutdown', { job: ctx.job.id }));
    await ctx.connect(undefined, AutoSubscribe.AUDIO_ONLY);
    say('room_connected', { job: ctx.job.id, room: ctx.room.name });

    const baseURL = process.env.OPENAI_BASE_URL;
    const session = new voice.AgentSession({
      vad: ctx.proc.userData.vad,
      stt: new openai.STT({ baseURL, model: 'whisper-1', useRealtime: false }),
      llm: new openai.LLM({ baseURL, model: 'gpt-4o-mini' }),
      tts: new openai.TTS({ baseURL }),
    });
    session.on(voice.AgentSessionEventTypes.AgentStateChanged, (ev) => say('agent_state', { old: ev.oldState, new: ev.newState }));
    await session.start({
      agent: new voice.Agent({ instructions: 'You answer callers of a small shop in one short sentence.' }),
      room: ctx.room,
    });
    say('session_started', { job: ctx.job.id });
  },
});

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  cli.runApp(new WorkerOptions({ agent: fileURLToPath(import.meta.url), agentName: process.env.AGENT_NAME ?? '' }));
}
