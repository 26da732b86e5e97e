// The smallest @livekit/agents (Node) app, as its documentation writes one:
// defineAgent with an entry that connects to the job's room, run by
// cli.runApp. Used unchanged by agents_node.test.mjs, which starts it as
// `node lkagent_app.mjs dev --url ws://... --api-key ... --api-secret ...`
// with AGENT_NAME in its environment. It prints one JSON line per step on
// stdout (job_entry, room_connected, room_connect_failed, job_shutdown) so
// the test can follow the job process.

import { fileURLToPath } from 'node:url';
import { cli, defineAgent, WorkerOptions } from '@livekit/agents';

const say = (event, fields = {}) => process.stdout.write(`${JSON.stringify({ event, pid: process.pid, ...fields })}\n`);

export default defineAgent({
  entry: async (ctx) => {
    say('job_entry', { job: ctx.job.id, room: ctx.job.room?.name });
    ctx.addShutdownCallback(async () => say('job_shutdown', { job: ctx.job.id }));
    try {
      await ctx.connect();
      say('room_connected', { job: ctx.job.id, room: ctx.room.name });
    } catch (e) {
      say('room_connect_failed', { job: ctx.job.id, error: String(e?.message ?? e) });
      throw e;
    }
  },
});

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  cli.runApp(new WorkerOptions({ agent: fileURLToPath(import.meta.url), agentName: process.env.AGENT_NAME ?? '' }));
}
