// AgentDispatchService as livekit-server-sdk's AgentDispatchClient calls
// it: an explicit dispatch on a live room launches a job on a worker of
// that name (a stub worker speaking LiveKit's protocol, lkworker.mjs),
// ListDispatch shows it with its job's state, DeleteDispatch terminates
// the job. Grants are LiveKit's: roomAdmin for the room.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AccessToken, AgentDispatchClient, RoomServiceClient } from 'livekit-server-sdk';
import { JobStatus, JobType, SignalRequest, DisconnectReason } from '@livekit/protocol';
import { startServer, waitUntil, twirp, API_KEY, API_SECRET, GUID12, describeError } from './helpers.mjs';
import { StubWorker, RtcAgent } from './lkworker.mjs';

describe('AgentDispatchService', { timeout: 60000 }, () => {
  let server;
  let dispatch;
  let rooms;

  before(async () => {
    server = await startServer({ emptyTimeout: '60s', departureTimeout: '60s' });
    dispatch = new AgentDispatchClient(server.url, API_KEY, API_SECRET);
    rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
  });

  after(async () => {
    if (server && !server.exited) await server.stop();
  });

  test('create launches a job on a worker of the name; list shows its state; delete terminates it', async () => {
    const worker = await StubWorker.connect(server, { agentName: 'dispatcher' });
    await rooms.createRoom({ name: 'disp-room' });
    let rtc;
    try {
      const d = await dispatch.createDispatch('disp-room', 'dispatcher', { metadata: '{"order":42}' });
      assert.match(d.id, new RegExp(`^AD_${GUID12}$`));
      assert.equal(d.agentName, 'dispatcher');
      assert.equal(d.room, 'disp-room');
      assert.equal(d.metadata, '{"order":42}');
      assert.ok(d.state.createdAt > 0n);

      const req = await worker.next('availability');
      assert.equal(req.job.dispatchId, d.id);
      assert.equal(req.job.type, JobType.JT_ROOM);
      assert.equal(req.job.metadata, '{"order":42}');
      assert.equal(req.job.room.name, 'disp-room');
      worker.accept(req.job, { identity: 'dispatched-agent' });
      const asg = await worker.next('assignment');
      rtc = new RtcAgent(server, asg.token);
      await rtc.opened();
      await rtc.next('join');

      const list = await dispatch.listDispatch('disp-room');
      const mine = list.find((x) => x.id === d.id);
      assert.ok(mine, `listed: ${list.map((x) => x.id).join(' ')}`);
      assert.equal(mine.state.jobs.length, 1);
      const job = mine.state.jobs[0];
      assert.equal(job.id, req.job.id);
      assert.equal(job.state.status, JobStatus.JS_RUNNING);
      assert.equal(job.state.participantIdentity, 'dispatched-agent');
      assert.equal(job.state.workerId, worker.registration.workerId);
      assert.ok(job.state.startedAt > 0n);
      // the room's own, automatic dispatch is listed too, as LiveKit lists it
      assert.ok(list.some((x) => x.agentName === ''), 'the automatic dispatch');

      const got = await dispatch.getDispatch(d.id, 'disp-room');
      assert.equal(got.id, d.id);
      assert.equal(got.state.jobs[0].state.status, JobStatus.JS_RUNNING);

      await dispatch.deleteDispatch(d.id, 'disp-room');
      const term = await worker.next('termination');
      assert.equal(term.jobId, req.job.id);
      // an agent that does not leave is removed
      await rtc.next('leave', 8000);
      assert.equal(await dispatch.getDispatch(d.id, 'disp-room'), undefined);
      await waitUntil(async () => !(await rooms.listParticipants('disp-room')).some((p) => p.identity === 'dispatched-agent'), { what: 'the agent removed' });
    } finally {
      rtc?.close();
      await worker.close();
    }
  });

  test('a dispatch to a room that does not exist creates it; its job waits for a worker', async () => {
    const d = await dispatch.createDispatch('made-by-dispatch', 'later');
    assert.ok((await rooms.listRooms(['made-by-dispatch'])).length === 1, 'the room was created');
    const [listed] = (await dispatch.listDispatch('made-by-dispatch')).filter((x) => x.id === d.id);
    assert.equal(listed.state.jobs[0].state.status, JobStatus.JS_PENDING);
    const worker = await StubWorker.connect(server, { agentName: 'later' });
    try {
      const req = await worker.next('availability');
      assert.equal(req.job.dispatchId, d.id);
      worker.decline(req.job, { terminate: true });
      await waitUntil(async () => {
        const [x] = (await dispatch.listDispatch('made-by-dispatch')).filter((y) => y.id === d.id);
        return x.state.jobs[0].state.status === JobStatus.JS_SUCCESS;
      }, { what: 'terminate ends the job' });
    } finally {
      await worker.close();
    }
  });

  test('an agent that leaves ends its job; DeleteRoom sends the agent leave and terminates the job', async () => {
    const worker = await StubWorker.connect(server, { agentName: 'roomie' });
    let rtc;
    try {
      await rooms.createRoom({ name: 'leave-room' });
      const d1 = await dispatch.createDispatch('leave-room', 'roomie');
      let req = await worker.next('availability');
      worker.accept(req.job, { identity: 'roomie-1' });
      let asg = await worker.next('assignment');
      rtc = new RtcAgent(server, asg.token);
      await rtc.opened();
      await rtc.next('join');
      // the agent leaves the room by itself: its job fails, as LiveKit has it
      rtc.ws.send(new SignalRequest({ message: { case: 'leave', value: {} } }).toBinary());
      await rtc.closed;
      const term = await worker.next('termination');
      assert.equal(term.jobId, req.job.id);
      const [x] = (await dispatch.listDispatch('leave-room')).filter((y) => y.id === d1.id);
      assert.equal(x.state.jobs[0].state.status, JobStatus.JS_FAILED);
      assert.equal(x.state.jobs[0].state.error, 'agent worker left the room');

      await dispatch.createDispatch('leave-room', 'roomie');
      req = await worker.next('availability');
      worker.accept(req.job, { identity: 'roomie-2' });
      asg = await worker.next('assignment');
      rtc = new RtcAgent(server, asg.token);
      await rtc.opened();
      await rtc.next('join');
      await rooms.deleteRoom('leave-room');
      const leave = await rtc.next('leave');
      assert.equal(leave.reason, DisconnectReason.ROOM_DELETED);
      const term2 = await worker.next('termination');
      assert.equal(term2.jobId, req.job.id);
      await assert.rejects(dispatch.listDispatch('leave-room'), (e) => e.code === 'not_found');
    } finally {
      rtc?.close();
      await worker.close();
    }
  });

  test('errors and grants as LiveKit has them', async () => {
    await assert.rejects(dispatch.listDispatch('no-such-room'), (e) => {
      assert.equal(e.code, 'not_found', describeError(e));
      return true;
    });
    await rooms.createRoom({ name: 'grant-room' });
    await assert.rejects(dispatch.deleteDispatch('AD_nothere', 'grant-room'), (e) => {
      assert.equal(e.code, 'not_found', describeError(e));
      assert.match(e.message, /dispatch ID not found/);
      return true;
    });
    // roomAdmin for another room is no grant for this one
    const at = new AccessToken(API_KEY, API_SECRET);
    at.addGrant({ roomAdmin: true, room: 'other-room' });
    const r = await twirp(server, 'AgentDispatchService', 'ListDispatch', { room: 'grant-room' }, { token: await at.toJwt() });
    assert.equal(r.status, 401);
    assert.equal(r.json?.code, 'unauthenticated');
    // a name that is not a string is malformed
    const ok = new AccessToken(API_KEY, API_SECRET);
    ok.addGrant({ roomAdmin: true, room: 'grant-room' });
    const bad = await twirp(server, 'AgentDispatchService', 'CreateDispatch', { room: 'grant-room', agent_name: 7 }, { token: await ok.toJwt() });
    assert.equal(bad.status, 400, bad.text);
  });
});
