// Calls placed with SIPp and watched through livekit-server-sdk's
// RoomServiceClient: the room and the SIP participant a call becomes, its
// sip.* attributes, DeleteRoom / RemoveParticipant hanging the caller up,
// carrier headers believed only from the carrier's trunk, allowedAddresses
// by source address, digest auth, 404 for calls no rule takes, and the
// default route of a fresh install.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RoomServiceClient, SipClient } from 'livekit-server-sdk';
import { ParticipantInfo_Kind, SIPHeaderOptions } from '@livekit/protocol';
import {
  startServer,
  sipp,
  runSipp,
  waitUntil,
  API_KEY,
  API_SECRET,
  GUID12,
  bigintSafe,
} from './helpers.mjs';

const TRUNK_NUMBER = '+15550001111';
const AUTH_NUMBER = '+15550002222';
const CALLER = '+15552223333';
const FAR_NUMBER = '+15550003333';

const show = (v) => JSON.stringify(v, bigintSafe);

// The room whose name matches re, once ListRooms shows it.
function waitRoom(rooms, re, what, timeoutMs = 8000) {
  return waitUntil(
    async () => (await rooms.listRooms()).find((r) => re.test(r.name)),
    { timeoutMs, what: `${what}: a room matching ${re} in ListRooms` },
  );
}

// The participant once it reports sip.callStatus active.
function waitActive(rooms, room, identity, timeoutMs = 8000) {
  return waitUntil(
    async () => {
      const ps = await rooms.listParticipants(room);
      const p = ps.find((x) => x.identity === identity);
      return p && p.attributes['sip.callStatus'] === 'active' ? p : null;
    },
    { timeoutMs, what: `participant ${identity} in ${room} with sip.callStatus=active` },
  );
}

// Fails with sipp's own account of the call unless it exited 0.
function assertSippOk(res, what) {
  assert.equal(res.code, 0, `${what}: ${res.why}`);
}

describe('calls', { timeout: 90000 }, () => {
  let server;
  let sip;
  let rooms;
  let trunk;
  let authTrunk;
  let rule;
  let authRule;

  before(async () => {
    server = await startServer({ defaultRoute: false });
    sip = new SipClient(server.url, API_KEY, API_SECRET);
    rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
    trunk = await sip.createSipInboundTrunk('calls', [TRUNK_NUMBER]);
    rule = await sip.createSipDispatchRule({ type: 'individual', roomPrefix: 'call' }, { trunkIds: [trunk.sipTrunkId] });
    authTrunk = await sip.createSipInboundTrunk('calls with auth', [AUTH_NUMBER], {
      authUsername: 'user',
      authPassword: 'pass',
      includeHeaders: SIPHeaderOptions.SIP_ALL_HEADERS,
    });
    authRule = await sip.createSipDispatchRule({ type: 'direct', roomName: 'auth-room' }, { trunkIds: [authTrunk.sipTrunkId] });
    // a trunk that only takes calls from 192.0.2.1, with its own rule
    const far = await sip.createSipInboundTrunk('far away', [FAR_NUMBER], { allowedAddresses: ['192.0.2.1/32'] });
    await sip.createSipDispatchRule({ type: 'direct', roomName: 'far-room' }, { trunkIds: [far.sipTrunkId] });
  });

  after(async () => {
    if (server && !server.exited) server.kill();
  });

  describe('a call through an individual rule', () => {
    let call; // the running sipp
    let room;
    let participant;
    const identity = `sip_${CALLER}`;

    after(() => call?.kill());

    test('ListRooms shows room call_<caller>_<12 random>', async () => {
      call = sipp(server, 'lk_uac_wait_bye.xml', { label: 'individual', service: TRUNK_NUMBER, caller: CALLER, timeoutS: 25 });
      const re = new RegExp(`^call_\\${CALLER}_${GUID12}$`);
      room = await Promise.race([
        waitRoom(rooms, /^call_/, 'individual call'),
        call.done.then((r) => {
          throw new Error(`sipp ended before the room showed up: ${r.why}`);
        }),
      ]);
      assert.match(room.name, re, 'room name');
      assert.match(room.sid, /^RM_[0-9A-Za-z]{12}$/, 'room sid');
      assert.ok(room.numParticipants >= 1, `numParticipants ${room.numParticipants}`);
    });

    test('ListParticipants shows sip_<caller>, kind SIP, with the sip.* attributes', async () => {
      assert.ok(room, 'needs the room');
      participant = await waitActive(rooms, room.name, identity);
      assert.match(participant.sid, /^PA_[0-9A-Za-z]{12}$/, 'participant sid');
      assert.equal(participant.kind, ParticipantInfo_Kind.SIP, `kind (SDK enum; SIP = ${ParticipantInfo_Kind.SIP})`);
      const a = participant.attributes;
      assert.equal(a['sip.phoneNumber'], CALLER, `sip.phoneNumber in ${show(a)}`);
      assert.equal(a['sip.trunkPhoneNumber'], TRUNK_NUMBER, `sip.trunkPhoneNumber in ${show(a)}`);
      assert.equal(a['sip.trunkID'], trunk.sipTrunkId, `sip.trunkID in ${show(a)}`);
      assert.equal(a['sip.ruleID'], rule.sipDispatchRuleId, `sip.ruleID in ${show(a)}`);
      assert.match(a['sip.callID'] ?? '', /^SCL_[0-9A-Za-z]{12}$/, `sip.callID in ${show(a)}`);
      assert.ok(a['sip.callIDFull'], `sip.callIDFull (the SIP Call-ID) in ${show(a)}`);
      // the remote side's tag, as LiveKit's: SIPp's From tag (lk_uac_wait_bye.xml)
      assert.match(a['sip.callTag'] ?? '', /^\d+SIPpTag001$/, `sip.callTag (the caller's From tag) in ${show(a)}`);
      assert.equal(a['sip.callStatus'], 'active');
    });

    test('GetParticipant returns the same participant', async () => {
      assert.ok(participant, 'needs the participant');
      const p = await rooms.getParticipant(room.name, identity);
      assert.equal(p.identity, identity);
      assert.equal(p.sid, participant.sid);
      assert.equal(p.kind, ParticipantInfo_Kind.SIP);
      assert.equal(p.attributes['sip.callID'], participant.attributes['sip.callID']);
    });

    test('DeleteRoom hangs the caller up (SIPp gets a BYE)', async () => {
      assert.ok(room, 'needs the room');
      await rooms.deleteRoom(room.name);
      const res = await call.done;
      assertSippOk(res, 'sipp waiting for the BYE');
      assert.ok(res.received.includes('BYE'), `sipp received ${res.received.join(' ')}`);
      const left = await rooms.listRooms();
      assert.ok(!left.some((r) => r.name === room.name), `room still listed after DeleteRoom: ${left.map((r) => r.name)}`);
    });
  });

  describe('carrier headers (X-Twilio-*, X-Telnyx-*)', () => {
    const CARRIER_NUMBER = '+15550009999';
    const carrierKeys = (ccid) => ['-key', 'ccid', ccid, '-key', 'session', `session-${ccid}`, '-key', 'leg', `leg-${ccid}`];
    const carrierAttrs = (a) => Object.keys(a).filter((k) => /^sip\.(twilio|telnyx)\.|^sip\.h\.x-(twilio|telnyx|call_)/.test(k));
    let call;
    after(() => call?.kill());

    before(async () => {
      // the carrier's trunk: only its address, and no rule of its own
      await sip.createSipInboundTrunk('carrier', [CARRIER_NUMBER], { allowedAddresses: ['127.0.0.1'] });
    });

    test('from anyone they are ignored: the rule names the room, no sip.twilio.* / sip.telnyx.*', async () => {
      const caller = '+15552224444';
      call = sipp(server, 'lk_uac_telnyx_leg.xml', {
        label: 'forged-carrier',
        service: TRUNK_NUMBER,
        caller,
        header: ['X-Twilio-CallSid', 'CAforged'],
        args: carrierKeys('v3:forged'),
        timeoutS: 25,
      });
      const room = await Promise.race([
        waitRoom(rooms, new RegExp(`^call_\\${caller}_`), 'forged carrier call'),
        call.done.then((r) => {
          throw new Error(`sipp ended before the room showed up: ${r.why}`);
        }),
      ]);
      assert.ok(!(await rooms.listRooms()).some((r) => r.name === 'pstn-CAforged'), 'no room pstn-CAforged');
      const p = await waitActive(rooms, room.name, `sip_${caller}`);
      assert.deepEqual(carrierAttrs(p.attributes), [], `attributes ${show(p.attributes)}`);
      assert.ok(server.events('carrier_headers_ignored').some((e) => e.count === 4), 'carrier_headers_ignored logged');
      await rooms.deleteRoom(room.name);
      assertSippOk(await call.done, 'sipp waiting for the BYE');
    });

    test('from the carrier\'s trunk they count: room pstn-<CallSid> and the attributes', async () => {
      const caller = '+15552225555';
      const identity = `sip_${caller}`;
      call = sipp(server, 'lk_uac_telnyx_leg.xml', {
        label: 'carrier',
        service: CARRIER_NUMBER,
        caller,
        header: ['X-Twilio-CallSid', 'CA123'],
        args: carrierKeys('v3:real'),
        timeoutS: 25,
      });
      await Promise.race([
        waitRoom(rooms, /^pstn-CA123$/, 'carrier call'),
        call.done.then((r) => {
          throw new Error(`sipp ended before room pstn-CA123 showed up: ${r.why}`);
        }),
      ]);
      const p = await waitActive(rooms, 'pstn-CA123', identity);
      assert.equal(p.attributes['sip.twilio.callSid'], 'CA123', `attributes ${show(p.attributes)}`);
      assert.equal(p.attributes['sip.telnyx.callControlID'], 'v3:real');
      assert.equal(p.attributes['sip.telnyx.callLegID'], 'leg-v3:real');
      assert.equal(p.kind, ParticipantInfo_Kind.SIP);
      await rooms.removeParticipant('pstn-CA123', identity);
      const res = await call.done;
      assertSippOk(res, 'sipp waiting for the BYE');
      assert.ok(res.received.includes('BYE'), `sipp received ${res.received.join(' ')}`);
    });
  });

  describe('digest auth on a trunk with credentials', () => {
    test('an INVITE without credentials gets 407', async () => {
      const res = await runSipp(server, 'lk_uac_expect_407.xml', { label: 'noauth', service: AUTH_NUMBER, timeoutS: 10 });
      assertSippOk(res, 'expected 407');
    });

    test('SIPp answering the challenge (-au user -ap pass) gets the call through', async () => {
      const caller = '+15552225555';
      const call = sipp(server, 'lk_uac_auth_bye.xml', {
        label: 'auth',
        service: AUTH_NUMBER,
        caller,
        durationMs: 6000,
        // the digest's uri must be the Request-URI (SIPp's default is
        // host:port)
        args: ['-au', 'user', '-ap', 'pass', '-auth_uri', `${AUTH_NUMBER}@127.0.0.1:${server.sipPort}`],
        timeoutS: 20,
      });
      try {
        await Promise.race([
          waitRoom(rooms, /^auth-room$/, 'authenticated call'),
          call.done.then((r) => {
            throw new Error(`sipp ended before room auth-room showed up: ${r.why}`);
          }),
        ]);
        const p = await waitActive(rooms, 'auth-room', `sip_${caller}`);
        assert.equal(p.attributes['sip.trunkID'], authTrunk.sipTrunkId);
        // SIP_ALL_HEADERS shows the headers, never the credentials
        assert.ok(p.attributes['sip.h.call-id'], `sip.h.* in ${show(p.attributes)}`);
        assert.equal(p.attributes['sip.h.proxy-authorization'], undefined, `attributes ${show(p.attributes)}`);
        assert.equal(p.attributes['sip.ruleID'], authRule.sipDispatchRuleId);
        const res = await call.done;
        assertSippOk(res, 'authenticated call');
        assert.deepEqual(res.received.filter((x) => /^[2-6]\d\d$/.test(x) && x !== '200'), ['407'], `responses ${res.received.join(' ')}`);
      } finally {
        call.kill();
      }
    });
  });

  test('a call no trunk or rule takes gets 404 (default_route false)', async () => {
    const caller = '+15552226666';
    const res = await runSipp(server, 'lk_uac_expect_404.xml', { label: 'nomatch', service: '+15559999999', caller, timeoutS: 10 });
    assertSippOk(res, 'expected 404');
    const left = (await rooms.listRooms()).map((r) => r.name);
    assert.ok(!left.some((n) => n.includes(caller)), `no room for the refused call: ${show(left)}`);
  });

  test('a call from outside a trunk\'s allowedAddresses gets 404', async () => {
    const caller = '+15552227777';
    const res = await runSipp(server, 'lk_uac_expect_404.xml', { label: 'far', service: FAR_NUMBER, caller, timeoutS: 10 });
    assertSippOk(res, 'expected 404 (source 127.0.0.1 is not in 192.0.2.1/32)');
    const left = (await rooms.listRooms()).map((r) => r.name);
    assert.ok(!left.includes('far-room'), `no room for the refused call: ${show(left)}`);
  });

  describe('allowedAddresses take the source address, never the From host', () => {
    const FORGED_NUMBER = '+15550006666';
    const NAMED_NUMBER = '+15550007777';
    const LOCAL_NUMBER = '+15550008888';

    before(async () => {
      // 192.0.2.55 and a name that cannot resolve, each with its own room
      const forged = await sip.createSipInboundTrunk('by address', [FORGED_NUMBER], { allowedAddresses: ['192.0.2.55'] });
      await sip.createSipDispatchRule({ type: 'direct', roomName: 'forged-room' }, { trunkIds: [forged.sipTrunkId] });
      const named = await sip.createSipInboundTrunk('by name', [NAMED_NUMBER], { allowedAddresses: ['pbx.voxgate-test.invalid'] });
      await sip.createSipDispatchRule({ type: 'direct', roomName: 'named-room' }, { trunkIds: [named.sipTrunkId] });
      // localhost resolves to the address SIPp sends from
      const local = await sip.createSipInboundTrunk('localhost', [LOCAL_NUMBER], { allowedAddresses: ['localhost'] });
      await sip.createSipDispatchRule({ type: 'direct', roomName: 'local-room' }, { trunkIds: [local.sipTrunkId] });
    });

    test('a From host equal to an allowed address gets 404', async () => {
      const res = await runSipp(server, 'lk_uac_from_host_expect_404.xml', {
        label: 'forged-from',
        service: FORGED_NUMBER,
        caller: '+15552228888',
        args: ['-key', 'from_host', '192.0.2.55'],
        timeoutS: 10,
      });
      assertSippOk(res, 'expected 404 (source 127.0.0.1 is not 192.0.2.55, whatever From says)');
      assert.ok(!(await rooms.listRooms()).some((r) => r.name === 'forged-room'), 'no room for the forged call');
    });

    test('a From host equal to an allowed host name gets 404', async () => {
      const res = await runSipp(server, 'lk_uac_from_host_expect_404.xml', {
        label: 'forged-name',
        service: NAMED_NUMBER,
        caller: '+15552228888',
        args: ['-key', 'from_host', 'pbx.voxgate-test.invalid'],
        timeoutS: 10,
      });
      assertSippOk(res, 'expected 404 (the name resolves to nothing)');
      assert.ok(!(await rooms.listRooms()).some((r) => r.name === 'named-room'), 'no room for the forged call');
    });

    test('a host name entry matches the addresses it resolves to', async () => {
      const caller = '+15552229999';
      const call = sipp(server, 'lk_uac_wait_bye.xml', { label: 'localhost', service: LOCAL_NUMBER, caller, timeoutS: 25 });
      try {
        await Promise.race([
          waitRoom(rooms, /^local-room$/, 'call from 127.0.0.1 through the localhost trunk'),
          call.done.then((r) => {
            throw new Error(`sipp ended before room local-room showed up: ${r.why}`);
          }),
        ]);
        await rooms.deleteRoom('local-room');
        assertSippOk(await call.done, 'sipp waiting for the BYE');
      } finally {
        call.kill();
      }
    });
  });

  test('the server exits 0 on SIGTERM', async () => {
    await server.stop();
  });
});

describe('calls with default_route', { timeout: 60000 }, () => {
  let server;
  let rooms;
  let call;
  let room;
  const caller = '+15553334444';
  const identity = `sip_${caller}`;

  before(async () => {
    server = await startServer({ defaultRoute: true });
    rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
  });

  after(() => {
    call?.kill();
    if (server && !server.exited) server.kill();
  });

  test('an empty store still answers: room call_<caller>_<12 random>', async () => {
    const sipc = new SipClient(server.url, API_KEY, API_SECRET);
    assert.deepEqual(await sipc.listSipInboundTrunk(), [], 'store starts empty');
    assert.deepEqual(await sipc.listSipDispatchRule(), [], 'store starts empty');
    call = sipp(server, 'lk_uac_wait_bye.xml', { label: 'default', service: '+15550000000', caller, timeoutS: 25 });
    room = await Promise.race([
      waitRoom(rooms, /^call_/, 'default route call'),
      call.done.then((r) => {
        throw new Error(`sipp ended before the room showed up: ${r.why}`);
      }),
    ]);
    assert.match(room.name, new RegExp(`^call_\\${caller}_${GUID12}$`), 'room name');
    const p = await waitActive(rooms, room.name, identity);
    assert.equal(p.kind, ParticipantInfo_Kind.SIP);
    assert.equal(p.attributes['sip.phoneNumber'], caller);
  });

  test('RemoveParticipant hangs the caller up', async () => {
    assert.ok(room, 'needs the room');
    await rooms.removeParticipant(room.name, identity);
    const res = await call.done;
    assertSippOk(res, 'sipp waiting for the BYE');
    assert.ok(res.received.includes('BYE'), `sipp received ${res.received.join(' ')}`);
  });

  test('the server exits 0 on SIGTERM', async () => {
    await server.stop();
  });
});
