// Access tokens and the Twirp transport: tokens minted by
// livekit-server-sdk's AccessToken are accepted; wrong secret, expired,
// missing grant, bad header, bad body, bad content type and unknown methods
// get the answers a LiveKit server gives; `voxgate token create` mints a
// token the SDK's TokenVerifier accepts, and reads its flags as its --help
// says.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AccessToken, TokenVerifier, RoomServiceClient, ServerError } from 'livekit-server-sdk';
import {
  startServer,
  twirp,
  signJwt,
  run,
  BIN,
  API_KEY,
  API_SECRET,
  describeError,
} from './helpers.mjs';

const WRONG_SECRET = 'not-the-secret-not-the-secret-0123456789';

async function sdkToken(grant, { secret = API_SECRET, ttl = '5m', identity } = {}) {
  const at = new AccessToken(API_KEY, secret, { ttl, identity });
  at.addGrant(grant);
  return at.toJwt();
}

// A Twirp error: status, Content-Type application/json, {code, msg}.
function assertTwirpError(res, status, code, msgRe) {
  const what = `HTTP ${res.status} ${res.contentType} ${res.text.slice(0, 200)}`;
  assert.equal(res.status, status, `status: ${what}`);
  assert.equal(res.contentType, 'application/json', `Content-Type must be exactly application/json: ${what}`);
  assert.ok(res.json && typeof res.json === 'object', `JSON body: ${what}`);
  assert.equal(res.json.code, code, `code: ${what}`);
  assert.equal(typeof res.json.msg, 'string', `msg: ${what}`);
  if (msgRe) assert.match(res.json.msg, msgRe, `msg: ${what}`);
}

describe('tokens', { timeout: 60000 }, () => {
  let server;

  before(async () => {
    server = await startServer();
  });

  after(() => {
    if (server && !server.exited) server.kill();
  });

  test('an AccessToken with roomList is accepted (raw ListRooms)', async () => {
    const token = await sdkToken({ roomList: true });
    const res = await twirp(server, 'RoomService', 'ListRooms', {}, { token });
    assert.equal(res.status, 200, `HTTP ${res.status}: ${res.text}`);
    assert.equal(res.contentType?.split(';')[0], 'application/json');
    assert.ok(Array.isArray(res.json?.rooms), `rooms is a list (Twirp JSON emits empty lists): ${res.text}`);
  });

  test('an AccessToken with sip.admin is accepted (raw ListSIPInboundTrunk)', async () => {
    const at = new AccessToken(API_KEY, API_SECRET, { ttl: '5m' });
    at.addSIPGrant({ admin: true });
    const res = await twirp(server, 'SIP', 'ListSIPInboundTrunk', {}, { token: await at.toJwt() });
    assert.equal(res.status, 200, `HTTP ${res.status}: ${res.text}`);
    assert.ok(Array.isArray(res.json?.items), `items is a list: ${res.text}`);
  });

  test('a join token (roomJoin, identity, no roomList) cannot ListRooms: 401 permissions denied', async () => {
    const token = await sdkToken({ roomJoin: true, room: 'r1' }, { identity: 'alice' });
    const res = await twirp(server, 'RoomService', 'ListRooms', {}, { token });
    assertTwirpError(res, 401, 'unauthenticated', /permissions denied/);
  });

  test('RoomServiceClient with the right key works, with a wrong secret gets 401', async () => {
    const ok = new RoomServiceClient(server.url, API_KEY, API_SECRET);
    assert.ok(Array.isArray(await ok.listRooms()));
    const bad = new RoomServiceClient(server.url, API_KEY, WRONG_SECRET);
    await assert.rejects(bad.listRooms(), (e) => {
      assert.ok(e instanceof ServerError, describeError(e));
      assert.equal(e.status, 401, describeError(e));
      return true;
    });
  });

  test('a token signed with a wrong secret gets 401', async () => {
    const token = await sdkToken({ roomList: true }, { secret: WRONG_SECRET });
    const res = await twirp(server, 'RoomService', 'ListRooms', {}, { token });
    assert.equal(res.status, 401, `HTTP ${res.status}: ${res.text}`);
  });

  test('a token of an unknown API key gets 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = signJwt({ iss: 'nokey', nbf: now, exp: now + 300, video: { roomList: true } });
    const res = await twirp(server, 'RoomService', 'ListRooms', {}, { token });
    assert.equal(res.status, 401, `HTTP ${res.status}: ${res.text}`);
  });

  test('a hand-made HS256 token (node:crypto) is accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = signJwt({ iss: API_KEY, nbf: now, exp: now + 300, video: { roomList: true } });
    const res = await twirp(server, 'RoomService', 'ListRooms', {}, { token });
    assert.equal(res.status, 200, `HTTP ${res.status}: ${res.text}`);
  });

  test('an expired token (exp 2 minutes ago, past the 60 s leeway) gets 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = signJwt({ iss: API_KEY, nbf: now - 600, exp: now - 120, video: { roomList: true } });
    const res = await twirp(server, 'RoomService', 'ListRooms', {}, { token });
    assert.equal(res.status, 401, `HTTP ${res.status}: ${res.text}`);
  });

  test('a token not valid before 2 minutes from now gets 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = signJwt({ iss: API_KEY, nbf: now + 120, exp: now + 600, video: { roomList: true } });
    const res = await twirp(server, 'RoomService', 'ListRooms', {}, { token });
    assert.equal(res.status, 401, `HTTP ${res.status}: ${res.text}`);
  });

  test('a token with alg none gets 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const h = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const p = Buffer.from(JSON.stringify({ iss: API_KEY, nbf: now, exp: now + 300, video: { roomList: true } })).toString('base64url');
    const res = await twirp(server, 'RoomService', 'ListRooms', {}, { token: `${h}.${p}.` });
    assert.equal(res.status, 401, `HTTP ${res.status}: ${res.text}`);
  });

  test('a token lacking the grant (roomList false) gets 401 unauthenticated "permissions denied"', async () => {
    const token = await sdkToken({ roomList: false, roomCreate: true });
    const res = await twirp(server, 'RoomService', 'ListRooms', {}, { token });
    assertTwirpError(res, 401, 'unauthenticated', /permissions denied/);
  });

  test('SIP calls without sip.admin get 401 unauthenticated "permissions denied"', async () => {
    const token = await sdkToken({ roomList: true, roomCreate: true, roomAdmin: true });
    const res = await twirp(server, 'SIP', 'ListSIPInboundTrunk', {}, { token });
    assertTwirpError(res, 401, 'unauthenticated', /permissions denied/);
  });

  test('roomAdmin without room administers no room: 401 permissions denied, as LiveKit', async () => {
    // LiveKit's EnsureAdminPermission: roomAdmin counts only for the
    // token's own room, and an empty room is not "every room".
    const rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
    await rooms.createRoom({ name: 'admin-a', emptyTimeout: 300 });
    await rooms.createRoom({ name: 'admin-b', emptyTimeout: 300 });
    const noRoom = await sdkToken({ roomAdmin: true });
    for (const [method, body] of [
      ['ListParticipants', { room: 'admin-a' }],
      ['GetParticipant', { room: 'admin-a', identity: 'x' }],
      ['RemoveParticipant', { room: 'admin-a', identity: 'x' }],
      ['UpdateRoomMetadata', { room: 'admin-a', metadata: 'taken' }],
    ]) {
      const res = await twirp(server, 'RoomService', method, body, { token: noRoom });
      assertTwirpError(res, 401, 'unauthenticated', /permissions denied/);
    }
    const a = (await rooms.listRooms(['admin-a']))[0];
    assert.equal(a?.metadata, '', 'the metadata was not changed');
  });

  test('roomAdmin with room administers that room only', async () => {
    const rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
    await rooms.createRoom({ name: 'admin-a', emptyTimeout: 300 });
    await rooms.createRoom({ name: 'admin-b', emptyTimeout: 300 });
    const token = await sdkToken({ roomAdmin: true, room: 'admin-a' });
    const own = await twirp(server, 'RoomService', 'UpdateRoomMetadata', { room: 'admin-a', metadata: 'mine' }, { token });
    assert.equal(own.status, 200, `own room: HTTP ${own.status} ${own.text}`);
    assert.equal(own.json?.metadata, 'mine');
    const list = await twirp(server, 'RoomService', 'ListParticipants', { room: 'admin-a' }, { token });
    assert.equal(list.status, 200, `own room: HTTP ${list.status} ${list.text}`);
    const other = await twirp(server, 'RoomService', 'UpdateRoomMetadata', { room: 'admin-b', metadata: 'theirs' }, { token });
    assertTwirpError(other, 401, 'unauthenticated', /permissions denied/);
    assert.equal((await rooms.listRooms(['admin-b']))[0]?.metadata, '', 'the other room was not changed');
  });

  test('voxgate token create --admin needs --room (exit 2); with it, the grant is for that room', async () => {
    const secret = 'cli-secret-cli-secret-cli-secret-0123456789';
    const keys = ['--api-key', API_KEY, '--api-secret', secret];
    const bare = await run(BIN, ['token', 'create', '--admin', ...keys]);
    assert.equal(bare.code, 2, `exit ${bare.code}: ${bare.stderr || bare.stdout}`);
    assert.match(bare.stderr, /--admin.*--room/, `the message says why: ${bare.stderr}`);
    assert.doesNotMatch(bare.stdout, /eyJ/, 'no token printed');
    const res = await run(BIN, ['token', 'create', '--admin', '--room', 'admin-a', '--no-join', ...keys]);
    assert.equal(res.code, 0, `exit ${res.code}: ${res.stderr || res.stdout}`);
    const claims = await new TokenVerifier(API_KEY, secret).verify(res.stdout.trim());
    assert.equal(claims.video?.roomAdmin, true, JSON.stringify(claims));
    assert.equal(claims.video?.room, 'admin-a', JSON.stringify(claims));
  });

  test('no Authorization header: 401 permissions denied', async () => {
    const res = await twirp(server, 'RoomService', 'ListRooms', {});
    assertTwirpError(res, 401, 'unauthenticated', /permissions denied/);
  });

  test('an Authorization header without "Bearer " gets 401 in plain text', async () => {
    const token = await sdkToken({ roomList: true });
    const res = await twirp(server, 'RoomService', 'ListRooms', {}, { authorization: token });
    assert.equal(res.status, 401, `HTTP ${res.status}: ${res.text}`);
    assert.ok(!(res.contentType ?? '').startsWith('application/json'), `plain text, not JSON: ${res.contentType} ${res.text}`);
    assert.match(res.text, /Bearer/, 'the message names the expected scheme');
  });

  test('a body that is not JSON gets 400 malformed', async () => {
    const token = await sdkToken({ roomList: true });
    const res = await twirp(server, 'RoomService', 'ListRooms', '{"names": [', { token });
    assertTwirpError(res, 400, 'malformed');
  });

  test('a field of the wrong type gets 400 malformed', async () => {
    const token = await sdkToken({ roomList: true });
    const res = await twirp(server, 'RoomService', 'ListRooms', { names: 'not-a-list' }, { token });
    assertTwirpError(res, 400, 'malformed');
  });

  test('a body over the size limit (300 KiB) gets 400 malformed', async () => {
    const token = await sdkToken({ roomList: true });
    const body = JSON.stringify({ names: ['x'.repeat(300 * 1024)] });
    const res = await twirp(server, 'RoomService', 'ListRooms', body, { token });
    assertTwirpError(res, 400, 'malformed');
  });

  test('a 4 MiB body is refused (error or closed connection) and the server keeps serving', async () => {
    const token = await sdkToken({ roomList: true });
    const body = JSON.stringify({ names: ['x'.repeat(4 << 20)] });
    let outcome;
    try {
      const res = await twirp(server, 'RoomService', 'ListRooms', body, { token });
      outcome = `HTTP ${res.status} ${res.text.slice(0, 100)}`;
      assert.ok(res.status >= 400 && res.status < 500, `refused with a 4xx: ${outcome}`);
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      outcome = `${e.message} ${e.cause?.code ?? ''}`; // the server may close the connection early
    }
    assert.equal(server.exited, null, `server exited after the big body (${outcome})`);
    const after = await twirp(server, 'RoomService', 'ListRooms', {}, { token });
    assert.equal(after.status, 200, `the next request (after: ${outcome}): HTTP ${after.status} ${after.text}`);
  });

  test('a Content-Type other than JSON or protobuf gets 404 bad_route', async () => {
    const token = await sdkToken({ roomList: true });
    const res = await twirp(server, 'RoomService', 'ListRooms', '{}', { token, contentType: 'text/plain' });
    assertTwirpError(res, 404, 'bad_route');
  });

  test('application/json;charset=UTF-8 (what the SDK sends) is accepted', async () => {
    const token = await sdkToken({ roomList: true });
    const res = await twirp(server, 'RoomService', 'ListRooms', '{}', { token, contentType: 'application/json;charset=UTF-8' });
    assert.equal(res.status, 200, `HTTP ${res.status}: ${res.text}`);
  });

  test('an unknown method gets 404 bad_route', async () => {
    const token = await sdkToken({ roomList: true });
    const res = await twirp(server, 'RoomService', 'NoSuchMethod', {}, { token });
    assertTwirpError(res, 404, 'bad_route');
  });

  test('GET on a Twirp path gets 404 bad_route', async () => {
    const token = await sdkToken({ roomList: true });
    const res = await twirp(server, 'RoomService', 'ListRooms', undefined, { token, httpMethod: 'GET' });
    assertTwirpError(res, 404, 'bad_route');
  });

  test('voxgate token create prints a token TokenVerifier accepts (roomJoin, room r)', async () => {
    const secret = 'cli-secret-cli-secret-cli-secret-0123456789';
    const res = await run(BIN, ['token', 'create', '--room', 'r', '--identity', 'i', '--api-key', API_KEY, '--api-secret', secret]);
    assert.equal(res.code, 0, `exit ${res.code}: ${res.stderr || res.stdout}`);
    const m = res.stdout.match(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/);
    assert.ok(m, `no JWT in the output: ${res.stdout}`);
    const claims = await new TokenVerifier(API_KEY, secret).verify(m[0]);
    assert.equal(claims.video?.roomJoin, true, `video.roomJoin in ${JSON.stringify(claims)}`);
    assert.equal(claims.video?.room, 'r', `video.room in ${JSON.stringify(claims)}`);
    assert.equal(claims.sub, 'i', `sub (identity) in ${JSON.stringify(claims)}`);
    assert.equal(claims.iss, API_KEY);
    const ttl = claims.exp - Math.floor(Date.now() / 1000);
    assert.ok(ttl > 0 && ttl <= 600 + 5, `default TTL is 10 minutes, got ${ttl} s`);
    await assert.rejects(new TokenVerifier(API_KEY, WRONG_SECRET).verify(m[0]), 'wrong secret must not verify');
  });

  test('voxgate token reads its flags as documented: switch pairs, empty texts, values left out, verify', async () => {
    const secret = 'cli-secret-cli-secret-cli-secret-0123456789';
    const keys = ['--api-key', API_KEY, '--api-secret', secret];
    const verifier = new TokenVerifier(API_KEY, secret);
    const create = async (...args) => {
      const res = await run(BIN, ['token', 'create', ...args, ...keys]);
      assert.equal(res.code, 0, `${args.join(' ')}: exit ${res.code}: ${res.stderr}`);
      return { jwt: res.stdout.trim(), claims: await verifier.verify(res.stdout.trim()) };
    };
    const refused = async (code, re, ...args) => {
      const res = await run(BIN, ['token', ...args]);
      assert.equal(res.code, code, `${args.join(' ')}: exit ${res.code}: ${res.stderr || res.stdout}`);
      assert.match(res.stderr, re, `${args.join(' ')}: ${res.stderr}`);
      assert.doesNotMatch(res.stdout, /eyJ/, 'no token printed');
    };

    // --join and --no-join: the last one given wins
    let { claims } = await create('--no-join', '--join', '--room', 'r', '--identity', 'i');
    assert.equal(claims.video?.roomJoin, true, JSON.stringify(claims));
    ({ claims } = await create('--join', '--no_join', '--room=r'));
    assert.ok(!claims.video?.roomJoin, JSON.stringify(claims));
    assert.equal(claims.video?.room, 'r');
    // an empty text is one given: no metadata, no name
    ({ claims } = await create('--metadata', '', '--name=', '--room', 'r', '--identity', 'i'));
    assert.equal(claims.metadata ?? '', '', JSON.stringify(claims));
    assert.equal(claims.sub, 'i');
    // a value that looks like an option is given with '='
    ({ claims } = await create('--room=--r', '--identity', 'i'));
    assert.equal(claims.video?.room, '--r', JSON.stringify(claims));

    await refused(2, /--room\b.*value/, 'create', '--room', '--identity', 'i', ...keys);
    await refused(2, /unknown option "--bogus"/, 'create', '--bogus', ...keys);
    await refused(2, /--agent takes no value/, 'create', '--agent=1', ...keys);
    await refused(2, /"extra"/, 'create', 'extra', ...keys);
    await refused(2, /--identity is needed/, 'create', '--room', 'r', ...keys);

    const { jwt } = await create('--list');
    const ok = await run(BIN, ['token', 'verify', jwt, ...keys]);
    assert.equal(ok.code, 0, `verify: exit ${ok.code}: ${ok.stderr}`);
    assert.equal(JSON.parse(ok.stdout).video?.roomList, true, ok.stdout);
    await refused(2, /unknown option "--room"/, 'verify', jwt, '--room', 'r', ...keys);
    await refused(2, /no token given/, 'verify', ...keys);
    await refused(1, /invalid/, 'verify', jwt, '--api-key', API_KEY, '--api-secret', 'another-secret-another-secret-0123456789');

    // help in place of create or verify, or where an option stands
    for (const args of [['--help'], ['-h'], ['help'], ['verify', jwt, '--help'], ['create', '--room', 'r', '-h']]) {
      const help = await run(BIN, ['token', ...args]);
      assert.equal(help.code, 0, `${args.join(' ')}: exit ${help.code}: ${help.stderr}`);
      assert.match(help.stdout, /usage: voxgate token create/, args.join(' '));
    }
    // the options are read in order, as every command's are: a mistake
    // before --help is one, and "-h" as a value is a value
    await refused(2, /unknown option "--bogus"/, 'create', '--bogus', '--help', ...keys);
    ({ claims } = await create('--room', 'r', '--identity', '-h'));
    assert.equal(claims.sub, '-h', JSON.stringify(claims));
  });

  test('the server exits 0 on SIGTERM', async () => {
    await server.stop();
  });
});
