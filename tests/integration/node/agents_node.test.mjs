// The real @livekit/agents (Node) worker, unchanged (lkagent_app.mjs, the
// smallest app its documentation shows), pointed at voxgate: it registers
// on /agent, a phone call routed to its agent name becomes its job, the
// job's process joins the room on /rtc as an AGENT participant, its
// subscriber connection comes up (ctx.connect() returns), and the caller
// hanging up terminates the job. The app only connects: an agent that
// hears the caller and speaks is agent_session.test.mjs's.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SipClient } from 'livekit-server-sdk';
import { RoomAgentDispatch, RoomConfiguration } from '@livekit/protocol';
import { startServer, sipp, waitUntil, sleep, tmpDir, API_KEY, API_SECRET } from './helpers.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NUMBER = '+15550006001';
const CALLER = '+15552226001';
const AGENT_NAME = 'phone-agent';

describe('@livekit/agents (Node) worker', { timeout: 120000 }, () => {
  let server;
  let app;
  let out = '';

  // The app's output, plain (its pretty logger colours it).
  const appLog = () => out.replace(/\x1b\[[0-9;]*m/g, '');

  before(async () => {
    server = await startServer({});
    const sip = new SipClient(server.url, API_KEY, API_SECRET);
    const trunk = await sip.createSipInboundTrunk('agents-node', [NUMBER]);
    await sip.createSipDispatchRule(
      { type: 'individual', roomPrefix: 'node' },
      { trunkIds: [trunk.sipTrunkId], roomConfig: new RoomConfiguration({ agents: [new RoomAgentDispatch({ agentName: AGENT_NAME })] }) },
    );
    const logFile = path.join(tmpDir(), 'agents-node-app.log');
    app = spawn(
      process.execPath,
      [path.join(HERE, 'lkagent_app.mjs'), 'dev', '--url', `ws://127.0.0.1:${server.httpPort}`, '--api-key', API_KEY, '--api-secret', API_SECRET],
      {
        cwd: HERE,
        env: { ...process.env, AGENT_NAME, LIVEKIT_URL: '', LIVEKIT_API_KEY: '', LIVEKIT_API_SECRET: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      },
    );
    // whatever happens to this process, the app's group goes with it
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
    if (server && !server.exited) await server.stop();
  });

  test('it registers, takes the call\'s job, joins the room as an agent, and the hang-up terminates the job', async () => {
    const reg = await waitUntil(() => server.events('lk_worker_registered').find((e) => e.agent_name === AGENT_NAME), {
      what: `the worker registered (app output:\n${appLog().slice(-1500)})`,
      timeoutMs: 30000,
    });
    assert.match(appLog(), new RegExp(`registered worker[\\s\\S]*id: "${reg.worker}"`), 'the SDK took the RegisterWorkerResponse');

    const call = sipp(server, 'lk_uac_bye.xml', { label: 'agents-node', service: NUMBER, caller: CALLER, durationMs: 8000, timeoutS: 30 });
    try {
      const assigned = await waitUntil(() => server.events('lk_job_assigned').find((e) => e.worker === reg.worker), { what: 'the job assigned', timeoutMs: 10000 });
      assert.match(assigned.room, /^node_/);
      assert.equal(assigned.identity, `agent-${assigned.job}`, 'the SDK\'s default identity');
      // the job's own process starts and joins the room on /rtc
      await waitUntil(() => appLog().includes(`"event":"job_entry"`) && appLog().includes(assigned.job), { what: 'the job process entered', timeoutMs: 15000 });
      const joined = await waitUntil(() => server.events('rtc_joined').find((e) => e.identity === assigned.identity), { what: 'the agent joined on /rtc', timeoutMs: 15000 });
      assert.equal(joined.kind, 'AGENT');
      assert.equal(joined.room, assigned.room);
      const pj = server.events('participant_joined').find((e) => e.identity === assigned.identity);
      assert.equal(pj.kind, 'AGENT');
      // its peer connection comes up, and so the SDK's connect returns
      await waitUntil(() => server.events('rtc_connected').some((e) => e.identity === assigned.identity && e.pc === 'subscriber'), {
        what: 'the agent\'s subscriber connection up',
        timeoutMs: 15000,
      });
      await waitUntil(() => new RegExp(`"room_connected"[^\n]*"job":"${assigned.job}"`).test(appLog()), {
        what: `ctx.connect() returned (app output:\n${appLog().slice(-1500)})`,
        timeoutMs: 15000,
      });
      assert.ok(!appLog().includes('room_connect_failed'), 'no failed connect');

      // the caller hangs up: the job is terminated and the SDK ends it
      const res = await call.done;
      assert.equal(res.code, 0, res.why);
      const term = await waitUntil(() => server.events('lk_job_terminated').find((e) => e.job === assigned.job), { what: 'JobTermination sent' });
      assert.equal(term.worker, reg.worker);
      await waitUntil(() => /job exiting[\s\S]*shutdown request/.test(appLog()) || /shutting down[\s\S]*jobID/.test(appLog()), {
        what: `the SDK shut the job down (app output:\n${appLog().slice(-1500)})`,
        timeoutMs: 10000,
      });
      const ended = server.events('lk_job_ended').find((e) => e.job === assigned.job);
      assert.equal(ended.status, 'JS_SUCCESS');
    } finally {
      call.kill();
    }
  });
});
