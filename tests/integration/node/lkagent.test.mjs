// LiveKit's agent worker protocol on /agent and LiveKit's dispatch, driven
// by a worker reduced to its protocol (lkworker.mjs: @livekit/protocol's
// WorkerMessage / ServerMessage, binary, as @livekit/agents sends them).
// Calls are SIPp calls routed by dispatch rules made with SipClient; the
// job's token is checked with livekit-server-sdk's TokenVerifier and used
// to join /rtc as the job's agent.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { SipClient, RoomServiceClient, TokenVerifier, AgentDispatchClient } from 'livekit-server-sdk';
import { RoomAgentDispatch, RoomConfiguration, JobType, WorkerStatus, ParticipantInfo_Kind, DisconnectReason } from '@livekit/protocol';
import { startServer, sipp, waitUntil, sleep, API_KEY, API_SECRET, GUID12 } from './helpers.mjs';
import { StubWorker, RtcAgent, workerToken } from './lkworker.mjs';

const CALLER = '+15553330001';

const agents = (...names) => new RoomConfiguration({ agents: names.map((n) => new RoomAgentDispatch(typeof n === 'string' ? { agentName: n } : n)) });

describe('LiveKit agent workers', { timeout: 180000 }, () => {
  let server;
  let sip;
  let rooms;
  let numbers = 0;

  // A trunk for a new number and a rule with roomConfig; the number.
  async function route(roomConfig, rule = { type: 'individual', roomPrefix: 'lk' }) {
    const number = `+1555444${String(++numbers).padStart(4, '0')}`;
    const trunk = await sip.createSipInboundTrunk(`lk ${number}`, [number]);
    await sip.createSipDispatchRule(rule, { trunkIds: [trunk.sipTrunkId], roomConfig });
    return number;
  }

  // The call ids of the INVITEs to number, in order.
  function calls(number) {
    return server.events('invite').filter((e) => e.to.includes(number)).map((e) => e.call_id);
  }

  // Resolves once the n-th call to number has its job queued.
  async function queued(number, n) {
    const id = await waitUntil(() => calls(number)[n], { what: `call #${n + 1} to ${number}` });
    const { room } = await waitUntil(() => server.events('routed').find((e) => e.call_id === id), { what: 'routed' });
    await waitUntil(() => server.events('lk_job_queued').some((e) => e.room === room), { what: `a job queued for ${room}` });
  }

  before(async () => {
    server = await startServer({ args: ['--agent_queue_timeout', '2s'] });
    sip = new SipClient(server.url, API_KEY, API_SECRET);
    rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
  });

  after(async () => {
    if (server && !server.exited) await server.stop();
  });

  test('register: RegisterWorkerResponse first, ping answered; a token without the agent grant is refused', async () => {
    const w = await StubWorker.connect(server, { agentName: 'alpha' });
    assert.equal(w.msgs[0].case, 'register', 'the first server message');
    assert.match(w.registration.workerId, new RegExp(`^AW_${GUID12}$`));
    assert.equal(w.registration.serverInfo.agentProtocol, 1);
    assert.equal(w.registration.serverInfo.version, '1.9.0');
    // WebSocket pings (Python's aiohttp heartbeat) are answered
    const wsPong = new Promise((resolve) => w.ws.once('pong', (d) => resolve(String(d))));
    w.ws.ping('hb');
    assert.equal(await wsPong, 'hb');
    w.send('ping', { timestamp: 4242n });
    const pong = await w.next('pong');
    assert.equal(pong.lastTimestamp, 4242n);
    assert.ok(pong.timestamp > 1700000000000n);
    const reg = server.events('lk_worker_registered').find((e) => e.worker === w.registration.workerId);
    assert.equal(reg.agent_name, 'alpha');
    await w.close();

    const noGrant = new StubWorker(server, { token: await workerToken({ grant: { roomList: true } }) });
    await assert.rejects(noGrant.opened(), (e) => e.status === 401);
    const noToken = new StubWorker(server, { token: 'not-a-token' });
    await assert.rejects(noToken.opened(), (e) => e.status === 401);
  });

  test('a second register, garbage and text after binary close the socket', async () => {
    const w = await StubWorker.connect(server, { agentName: 'beta' });
    w.register({ agentName: 'beta' });
    const c1 = await w.closed;
    assert.equal(c1.code, 1008);
    assert.match(c1.reason, /registered twice/);

    const g = new StubWorker(server);
    await g.opened();
    g.ws.send(Buffer.from([0xff, 0xff, 0xff]));
    const c2 = await g.closed;
    assert.equal(c2.code, 1007, `closed ${c2.code} ${c2.reason}`);

    const t = await StubWorker.connect(server, { agentName: 'gamma' });
    t.ws.send('{"type":"register"}');
    const c3 = await t.closed;
    assert.equal(c3.code, 1003);

    // voxgate's own protocol needs the pipeline agent (this server runs
    // audio-echo): a text first frame is refused by name
    const own = new StubWorker(server);
    await own.opened();
    own.ws.send(JSON.stringify({ type: 'register', capacity: 1, name: 'w', version: 1 }));
    const c4 = await own.closed;
    assert.equal(c4.code, 1008);
    assert.match(c4.reason, /agent: pipeline/);
  });

  test('a named rule calls the workers of that name only; the token passes TokenVerifier; BYE terminates the job', async () => {
    const number = await route(agents({ agentName: 'support', metadata: '{"lang":"en"}' }));
    const support = await StubWorker.connect(server, { agentName: 'support', permissions: { canSubscribe: true, canPublish: true, canPublishData: true, canUpdateMetadata: true, agent: true } });
    const other = await StubWorker.connect(server, { agentName: 'sales' });
    const nameless = await StubWorker.connect(server, { agentName: '' });
    const call = sipp(server, 'lk_uac_bye.xml', { label: 'lk-named', service: number, caller: CALLER, durationMs: 5000, timeoutS: 25 });
    let rtc;
    try {
      const req = await support.next('availability');
      const job = req.job;
      assert.match(job.id, new RegExp(`^AJ_${GUID12}$`));
      assert.match(job.dispatchId, new RegExp(`^AD_${GUID12}$`));
      assert.equal(job.type, JobType.JT_ROOM);
      assert.equal(job.agentName, 'support');
      assert.equal(job.metadata, '{"lang":"en"}');
      assert.match(job.room.name, /^lk_/);
      assert.match(job.room.sid, /^RM_/);
      support.accept(job, { identity: 'agent-support-1', name: 'Support', metadata: 'agent-meta', attributes: { 'lk.agent.name': 'support' } });
      const asg = await support.next('assignment');
      assert.equal(asg.job.id, job.id);
      assert.equal(asg.job.state.participantIdentity, 'agent-support-1');
      assert.ok(!asg.url, 'no url: the worker joins where it registered');

      // LiveKit's BuildAgentToken: roomJoin as an agent, kind agent, 1 h
      const claims = await new TokenVerifier(API_KEY, API_SECRET).verify(asg.token);
      assert.equal(claims.sub, 'agent-support-1');
      assert.equal(claims.name, 'Support');
      assert.equal(claims.metadata, 'agent-meta');
      assert.equal(claims.kind, 'agent');
      assert.equal(claims.video.roomJoin, true);
      assert.equal(claims.video.room, job.room.name);
      assert.equal(claims.video.agent, true);
      for (const g of ['canPublish', 'canSubscribe', 'canPublishData']) assert.notEqual(claims.video[g], false, `${g} as the worker allowed`);
      assert.equal(claims.video.canUpdateOwnMetadata, true);
      assert.deepEqual(claims.attributes, { 'lk.agent.name': 'support', 'lk.agent_name': 'support' });
      assert.equal(claims.exp - claims.nbf, 3600);

      // the job's agent joins the room with it, as kind AGENT
      rtc = new RtcAgent(server, asg.token);
      await rtc.opened();
      const jr = await rtc.next('join');
      assert.equal(jr.participant.identity, 'agent-support-1');
      assert.equal(jr.participant.kind, ParticipantInfo_Kind.AGENT);
      assert.ok(jr.otherParticipants.some((p) => p.identity === `sip_${CALLER}`), 'the caller is in the room');
      const parts = await rooms.listParticipants(job.room.name);
      assert.equal(parts.find((p) => p.identity === 'agent-support-1').kind, ParticipantInfo_Kind.AGENT);

      const started = server.events('agent_started').find((e) => e.room === job.room.name);
      assert.equal(started.agent, 'livekit');

      // the caller hangs up: JobTermination, and the agent that stays is
      // removed (leave) after a grace period
      const res = await call.done;
      assert.equal(res.code, 0, res.why);
      const term = await support.next('termination', { timeoutMs: 5000 });
      assert.equal(term.jobId, job.id);
      const leave = await rtc.next('leave', 8000);
      assert.equal(leave.reason, DisconnectReason.PARTICIPANT_REMOVED);
      assert.equal(other.count('availability'), 0, 'the sales worker was not asked');
      assert.equal(nameless.count('availability'), 0, 'the nameless worker was not asked');
    } finally {
      call.kill();
      rtc?.close();
      await Promise.all([support.close(), other.close(), nameless.close()]);
    }
  });

  test('a declined job goes to the next worker of the name', async () => {
    const number = await route(agents('twin'));
    const a = await StubWorker.connect(server, { agentName: 'twin' });
    const b = await StubWorker.connect(server, { agentName: 'twin' });
    const call = sipp(server, 'lk_uac_bye.xml', { label: 'lk-decline', service: number, caller: CALLER, durationMs: 3000, timeoutS: 20 });
    try {
      // whichever is asked first declines (the choice is random)
      await waitUntil(() => a.count('availability') + b.count('availability'), { what: 'an availability request' });
      const [asked, next] = a.count('availability') ? [a, b] : [b, a];
      const req = await asked.next('availability');
      asked.decline(req.job);
      const req2 = await next.next('availability');
      assert.equal(req2.job.id, req.job.id, 'the same job');
      next.accept(req2.job);
      const asg = await next.next('assignment');
      assert.equal(asg.job.id, req.job.id);
      assert.equal(asked.count('assignment'), 0);
      assert.ok(server.events('lk_job_declined').some((e) => e.job === req.job.id));
      assert.equal((await call.done).code, 0);
      await next.next('termination');
    } finally {
      call.kill();
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('no worker of the name: the call waits agent_queue_timeout, hears the busy message and is hung up', async () => {
    const number = await route(agents('nobody'));
    const t0 = Date.now();
    const res = await sipp(server, 'lk_uac_wait_bye.xml', { label: 'lk-busy', service: number, caller: CALLER, timeoutS: 25 }).done;
    assert.equal(res.code, 0, `the server hangs up: ${res.why}`);
    assert.ok(res.received.includes('BYE'));
    const id = calls(number)[0];
    const busy = server.events('agent_busy').find((e) => e.call_id === id);
    assert.ok(busy, 'agent_busy logged');
    assert.match(busy.reason, /in time/);
    const end = await waitUntil(() => server.events('call_end').find((e) => e.call_id === id), { what: 'call_end' });
    assert.equal(end.by, 'agent');
    assert.ok(end.duration_ms >= 2000, `waited ${end.duration_ms} ms`);
    assert.ok(end.packets_out >= 50, `the busy message was played: ${end.packets_out} packets`);
    assert.ok(Date.now() - t0 < 20000);
  });

  test('a worker that registers while the call waits takes it', async () => {
    const number = await route(agents('late'));
    const call = sipp(server, 'lk_uac_bye.xml', { label: 'lk-late', service: number, caller: CALLER, durationMs: 3000, timeoutS: 20 });
    try {
      await queued(number, 0);
      const w = await StubWorker.connect(server, { agentName: 'late' });
      const req = await w.next('availability');
      w.accept(req.job);
      await w.next('assignment');
      // as Python's worker: running, then done
      w.send('updateJob', { jobId: req.job.id, status: 1 /* JS_RUNNING */ });
      w.send('updateJob', { jobId: req.job.id, status: 2 /* JS_SUCCESS */ });
      const ended = await waitUntil(() => server.events('lk_job_ended').find((e) => e.job === req.job.id), { what: 'the job ended by update_job' });
      assert.equal(ended.status, 'JS_SUCCESS');
      assert.equal((await call.done).code, 0);
      const id = calls(number)[0];
      assert.ok(!server.events('agent_busy').some((e) => e.call_id === id), 'no busy message');
      await sleep(300);
      assert.equal(w.count('termination'), 0, 'an ended job is not terminated');
      await w.close();
    } finally {
      call.kill();
    }
  });

  test('no explicit agent: the built-in agent without nameless workers, a nameless worker when one is there, and not while it is full', async () => {
    const number = await route(undefined);
    let res = await sipp(server, 'lk_uac_bye.xml', { label: 'lk-builtin', service: number, caller: CALLER, durationMs: 1000 }).done;
    assert.equal(res.code, 0, res.why);
    const first = calls(number)[0];
    const started = await waitUntil(() => server.events('agent_started').find((e) => e.call_id === first), { what: 'agent_started' });
    assert.equal(started.agent, 'audio-echo');

    const w = await StubWorker.connect(server, { agentName: '' });
    let call = sipp(server, 'lk_uac_bye.xml', { label: 'lk-auto', service: number, caller: CALLER, durationMs: 2500, timeoutS: 20 });
    try {
      const req = await w.next('availability');
      assert.equal(req.job.agentName, '');
      w.accept(req.job);
      await w.next('assignment');
      res = await call.done;
      assert.equal(res.code, 0, res.why);
      await w.next('termination');
      const second = calls(number)[1];
      assert.equal(server.events('agent_started').find((e) => e.call_id === second)?.agent, 'livekit');
    } finally {
      call.kill();
    }

    // WS_FULL: not asked; WS_AVAILABLE again: asked
    w.status(WorkerStatus.WS_FULL, 0.9);
    await waitUntil(() => server.events('lk_worker_status').some((e) => e.worker === w.registration.workerId && e.status === 'full'), { what: 'full' });
    call = sipp(server, 'lk_uac_bye.xml', { label: 'lk-full', service: number, caller: CALLER, durationMs: 4000, timeoutS: 20 });
    try {
      await queued(number, 2);
      await sleep(1000);
      assert.equal(w.count('availability'), 1, 'not asked while full');
      w.status(WorkerStatus.WS_AVAILABLE, 0.2);
      const req = await w.next('availability');
      w.accept(req.job);
      await w.next('assignment');
      assert.equal((await call.done).code, 0);
    } finally {
      call.kill();
      await w.close();
    }
  });

  test('jobs go mostly to the less loaded worker of the name, and none to one that says it is full', async () => {
    const light = await StubWorker.connect(server, { agentName: 'weighed' });
    const heavy = await StubWorker.connect(server, { agentName: 'weighed' });
    const dispatch = new AgentDispatchClient(server.url, API_KEY, API_SECRET);
    // update_worker, then a ping: its pong says the update was read
    const report = async (w, status, load) => {
      w.status(status, load);
      w.send('ping', { timestamp: 1n });
      await w.next('pong');
    };
    const asked = () => [light.count('availability'), heavy.count('availability')];
    const jobs = async (n) => {
      const [l0, h0] = asked();
      for (let i = 0; i < n; i++) await dispatch.createDispatch('weighed-room', 'weighed');
      await waitUntil(() => light.count('availability') + heavy.count('availability') === l0 + h0 + n, { what: `${n} jobs offered` });
      const [l1, h1] = asked();
      return [l1 - l0, h1 - h0];
    };
    try {
      light.acceptAll();
      heavy.acceptAll();
      await rooms.createRoom({ name: 'weighed-room', emptyTimeout: 300 });
      // weights 0.9 and 0.1: the heavy one is asked 4 times in 40 on
      // average, more than 12 about once in 10^4 runs (and, were the
      // choice not weighted, 12 or fewer about once in 100)
      await report(light, WorkerStatus.WS_AVAILABLE, 0.1);
      await report(heavy, WorkerStatus.WS_AVAILABLE, 0.9);
      const [l, h] = await jobs(40);
      assert.ok(h <= 12 && l >= 28, `light ${l}, heavy ${h}`);

      // full, whatever its load: never asked
      await report(heavy, WorkerStatus.WS_FULL, 0);
      await report(light, WorkerStatus.WS_AVAILABLE, 0.6);
      const [l2, h2] = await jobs(10);
      assert.equal(h2, 0, 'the full worker asked');
      assert.equal(l2, 10);
      assert.equal(heavy.count('availability'), h);
    } finally {
      await rooms.deleteRoom('weighed-room').catch(() => {});
      await Promise.all([light.close(), heavy.close()]);
    }
  });

  test('migrate_job is noted; a worker that goes away ends its running job', async () => {
    const number = await route(agents('leaver'), { type: 'direct', roomName: 'leaver-room' });
    const w = await StubWorker.connect(server, { agentName: 'leaver' });
    const call = sipp(server, 'lk_uac_bye.xml', { label: 'lk-leaver', service: number, caller: CALLER, durationMs: 4000, timeoutS: 20 });
    try {
      const req = await w.next('availability');
      w.accept(req.job);
      await w.next('assignment');
      w.send('migrateJob', { jobIds: [req.job.id] });
      await waitUntil(() => server.events('lk_migrate_ignored').length, { what: 'migrate_job noted' });
      await w.close();
      const ended = await waitUntil(() => server.events('lk_job_ended').find((e) => e.job === req.job.id), { what: 'job ended' });
      assert.equal(ended.status, 'JS_FAILED');
      assert.equal(ended.error, 'agent worker disconnected');
      assert.equal((await call.done).code, 0, 'the call goes on without its agent');
    } finally {
      call.kill();
    }
  });
});

describe('workers that keep silent', { timeout: 60000 }, () => {
  let server;
  let sip;

  before(async () => {
    // the call waits longer than a worker has to answer
    server = await startServer({ args: ['--agent_queue_timeout', '30s'] });
    sip = new SipClient(server.url, API_KEY, API_SECRET);
  });

  after(async () => {
    if (server && !server.exited) await server.stop();
  });

  async function route(roomConfig) {
    const number = '+15554449999';
    const trunk = await sip.createSipInboundTrunk(`lk ${number}`, [number]);
    await sip.createSipDispatchRule({ type: 'individual', roomPrefix: 'mute' }, { trunkIds: [trunk.sipTrunkId], roomConfig });
    return number;
  }

  test('10 s: a socket that sends nothing or does not register is closed; a worker that does not answer loses the job', async () => {
    // the job of a call, offered to a worker that keeps silent, goes to
    // the next one after 10 s (runs beside the sockets below)
    const number = await route(agents('mute'));
    const m1 = await StubWorker.connect(server, { agentName: 'mute' });
    const m2 = await StubWorker.connect(server, { agentName: 'mute' });
    const call = sipp(server, 'lk_uac_bye.xml', { label: 'lk-mute', service: number, caller: CALLER, durationMs: 14000, timeoutS: 30 });
    const quiet = new StubWorker(server);
    await quiet.opened();
    const pinger = new StubWorker(server);
    await pinger.opened();
    pinger.send('ping', { timestamp: 1n });
    const t0 = Date.now();
    const [c1, c2] = await Promise.all([quiet.closed, pinger.closed]);
    const took = Date.now() - t0;
    assert.equal(c1.code, 1008);
    assert.match(c1.reason, /nothing sent/);
    assert.equal(c2.code, 1008);
    assert.match(c2.reason, /no register/);
    assert.ok(took > 8500 && took < 14000, `closed after ${took} ms`);
    assert.equal(pinger.cases()[0], 'pong', 'a ping before the register is answered');

    try {
      await waitUntil(() => m1.count('availability') + m2.count('availability') === 2, { what: 'the job offered to the second worker', timeoutMs: 8000 });
      const [silent, next] = m1.msgs.find((m) => m.case === 'availability').at < m2.msgs.find((m) => m.case === 'availability').at ? [m1, m2] : [m2, m1];
      const first = await silent.next('availability');
      const req = await next.next('availability');
      assert.equal(req.job.id, first.job.id);
      const gap = next.msgs.find((m) => m.case === 'availability').at - silent.msgs.find((m) => m.case === 'availability').at;
      assert.ok(gap >= 9500 && gap < 13000, `asked the next one ${gap} ms later`);
      assert.ok(server.events('lk_availability_timeout').some((e) => e.job === req.job.id));
      next.accept(req.job);
      await next.next('assignment');
      // a late answer from the first is for no job it was asked
      silent.accept(first.job);
      await sleep(300);
      assert.equal(silent.count('assignment'), 0);
      assert.equal((await call.done).code, 0);
    } finally {
      call.kill();
      await Promise.all([m1.close(), m2.close()]);
    }
  });
});

describe('both worker protocols on one /agent', { timeout: 60000 }, () => {
  let server;

  before(async () => {
    server = await startServer({ agent: 'pipeline', args: ['--agent_workers', '0'] });
  });

  after(async () => {
    if (server && !server.exited) await server.stop();
  });

  test('text first is voxgate\'s protocol, binary first is LiveKit\'s', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/agent`, { headers: { authorization: `Bearer ${await workerToken()}` } });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const reply = new Promise((resolve) => ws.once('message', (d, isBinary) => resolve({ d: String(d), isBinary })));
    ws.send(JSON.stringify({ type: 'register', capacity: 1, name: 'own-worker', version: 1 }));
    const r = await reply;
    assert.equal(r.isBinary, false);
    assert.equal(JSON.parse(r.d).type, 'registered');
    await waitUntil(() => server.events('agent_worker_registered').some((e) => e.name === 'own-worker'), { what: 'agent_worker_registered' });

    const lk = await StubWorker.connect(server, { agentName: 'both' });
    assert.match(lk.registration.workerId, /^AW_/);
    ws.close();
    await lk.close();
  });
});
