// RoomService without calls, through livekit-server-sdk's RoomServiceClient:
// CreateRoom, ListRooms (all and by name), UpdateRoomMetadata, DeleteRoom,
// not_found answers, and a created room closing after its empty timeout.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RoomServiceClient, ServerError } from 'livekit-server-sdk';
import { startServer, waitUntil, API_KEY, API_SECRET, describeError } from './helpers.mjs';

async function expectNotFound(promise, msgRe) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof ServerError, describeError(e));
    assert.equal(e.code, 'not_found', describeError(e));
    assert.equal(e.status, 404, describeError(e));
    if (msgRe) assert.match(e.message, msgRe, describeError(e));
    return true;
  });
}

describe('rooms', { timeout: 40000 }, () => {
  let server;
  let rooms;

  before(async () => {
    server = await startServer();
    rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
  });

  after(() => {
    if (server && !server.exited) server.kill();
  });

  test('CreateRoom returns the room and ListRooms shows it', async () => {
    const r = await rooms.createRoom({ name: 'made-room', emptyTimeout: 300, maxParticipants: 5, metadata: 'm0' });
    assert.equal(r.name, 'made-room');
    assert.match(r.sid, /^RM_[0-9A-Za-z]{12}$/, 'sid');
    assert.equal(r.emptyTimeout, 300);
    assert.equal(r.maxParticipants, 5);
    assert.equal(r.metadata, 'm0');
    assert.ok(r.creationTime > 0n, `creationTime ${r.creationTime}`);
    const list = await rooms.listRooms();
    const got = list.find((x) => x.name === 'made-room');
    assert.ok(got, `listed: ${list.map((x) => x.name)}`);
    assert.equal(got.sid, r.sid);
  });

  test('CreateRoom on an existing room returns that room', async () => {
    const a = (await rooms.listRooms(['made-room']))[0];
    const b = await rooms.createRoom({ name: 'made-room' });
    assert.equal(b.sid, a?.sid, 'same sid');
  });

  test('ListRooms with names lists only those', async () => {
    await rooms.createRoom({ name: 'other-room', emptyTimeout: 300 });
    const only = await rooms.listRooms(['other-room']);
    assert.deepEqual(only.map((x) => x.name), ['other-room']);
    const none = await rooms.listRooms(['no-such-room']);
    assert.deepEqual(none, []);
  });

  test('UpdateRoomMetadata changes the metadata', async () => {
    const r = await rooms.updateRoomMetadata('made-room', 'm1');
    assert.equal(r.name, 'made-room');
    assert.equal(r.metadata, 'm1');
    const got = (await rooms.listRooms(['made-room']))[0];
    assert.equal(got?.metadata, 'm1');
  });

  test('ListParticipants of an empty room is an empty list', async () => {
    assert.deepEqual(await rooms.listParticipants('made-room'), []);
  });

  test('unknown rooms and participants are not_found', async () => {
    await expectNotFound(rooms.deleteRoom('no-such-room'), /room does not exist/);
    await expectNotFound(rooms.listParticipants('no-such-room'));
    await expectNotFound(rooms.updateRoomMetadata('no-such-room', 'x'));
    await expectNotFound(rooms.getParticipant('made-room', 'nobody'), /participant does not exist/);
    await expectNotFound(rooms.removeParticipant('made-room', 'nobody'));
  });

  test('DeleteRoom removes the room', async () => {
    await rooms.deleteRoom('made-room');
    const list = await rooms.listRooms();
    assert.ok(!list.some((x) => x.name === 'made-room'), `still listed: ${list.map((x) => x.name)}`);
  });

  test('a created room nobody joins closes after its empty timeout', async () => {
    await rooms.createRoom({ name: 'short-room', emptyTimeout: 1 });
    assert.equal((await rooms.listRooms(['short-room'])).length, 1, 'listed at first');
    await waitUntil(async () => (await rooms.listRooms(['short-room'])).length === 0, {
      timeoutMs: 6000,
      what: 'room short-room (emptyTimeout 1 s) closed',
    });
  });

  test('the server exits 0 on SIGTERM', async () => {
    await server.stop();
  });
});
