// Transfers through livekit-server-sdk's SipClient.transferSipParticipant:
// a SIPp caller in a room receives our REFER and answers it as a phone
// would (tests/integration/scenarios/uac_refer_*.xml). The API answers
// only once the outcome is known: success ends the call with our BYE and
// the participant leaves; a refusal keeps the call (audio still echoed);
// a REFER refused, or accepted and never reported, fails with LiveKit's
// codes. Forged NOTIFYs get 481 while the real transfer completes, a stray
// NOTIFY gets 481, and bad requests are refused before anything is sent.
// With play_dialtone the caller (phone.mjs's, which keeps what it hears)
// hears a ringback while the outcome is pending, and only then.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AccessToken, RoomServiceClient, SipClient } from 'livekit-server-sdk';
import { startServer, sleep, sipp, runSipp, waitUntil, twirp, describeError, API_KEY, API_SECRET } from './helpers.mjs';
import { Phone, concatPcm, loud, windowShare } from './phone.mjs';

const NUMBER = '+15550004444';
const ROOM = 'xfer-room';
const TARGET = 'sip:desk@example.com';

// The participant once it reports sip.callStatus active.
function waitActive(rooms, identity, call, timeoutMs = 8000) {
  return Promise.race([
    waitUntil(
      async () => {
        const ps = await rooms.listParticipants(ROOM);
        const p = ps.find((x) => x.identity === identity);
        return p && p.attributes['sip.callStatus'] === 'active' ? p : null;
      },
      { timeoutMs, what: `participant ${identity} active in ${ROOM}` },
    ),
    call.done.then((r) => {
      throw new Error(`sipp ended before ${identity} was active: ${r.why}`);
    }),
  ]);
}

// The value a scenario logged as key=value.
const logged = (res, key) => (res.logs.match(new RegExp(`^${key}=(.*)$`, 'm')) ?? [])[1]?.trim();

describe('transfers', { timeout: 120000 }, () => {
  let server;
  let sip;
  let rooms;

  before(async () => {
    server = await startServer({ defaultRoute: false });
    sip = new SipClient(server.url, API_KEY, API_SECRET);
    rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
    const trunk = await sip.createSipInboundTrunk('transfers', [NUMBER]);
    await sip.createSipDispatchRule({ type: 'direct', roomName: ROOM }, { trunkIds: [trunk.sipTrunkId] });
  });

  after(async () => {
    if (server && !server.exited) await server.stop();
  });

  // the last test: it stops the server


  // a call in ROOM from caller, running scenario; resolves once active
  async function callIn(scenario, caller, args = []) {
    const call = sipp(server, scenario, { label: scenario.replace('.xml', ''), service: NUMBER, caller, timeoutS: 40, args });
    await waitActive(rooms, `sip_${caller}`, call);
    // active is our 200; SIPp's ACK and the scenario's next step follow
    await sleep(300);
    return call;
  }

  test('accepted: ok once the target answered, the participant leaves, our BYE ends the call', async () => {
    const caller = '+15552220001';
    const call = await callIn('uac_refer_accept.xml', caller, ['-key', 'notify_gap', '1500']);
    const t0 = Date.now();
    await sip.transferSipParticipant(ROOM, `sip_${caller}`, TARGET, { headers: { 'X-Transfer-Test': 'yes' } });
    const took = Date.now() - t0;
    // answered at the final NOTIFY, not at the 202: 0.3 s + 1.5 s later
    assert.ok(took >= 1500, `the API answered after ${took} ms, before the final NOTIFY`);
    const res = await call.done;
    assert.equal(res.code, 0, `sipp: ${res.why}`);
    assert.ok(res.received.includes('BYE'), `sipp received ${res.received.join(' ')}`);
    assert.equal(logged(res, 'refer_to'), TARGET);
    assert.equal(logged(res, 'refer_xtest'), 'yes');
    assert.match(logged(res, 'referred_by') ?? '', /^sip:/);
    const ps = await rooms.listParticipants(ROOM);
    assert.ok(!ps.some((p) => p.identity === `sip_${caller}`), `still in the room: ${ps.map((p) => p.identity)}`);
    const done = server.events('transfer_done').at(-1);
    assert.equal(done?.ok, 'true', JSON.stringify(done));
    assert.equal(done?.code, 200);
    assert.ok(server.events('transfer_notify').some((e) => e.code === 100), 'the 100 Trying NOTIFY was logged');
    await waitUntil(() => server.events('call_end').some((e) => e.reason === 'transferred'), { what: 'call_end reason=transferred' });
  });

  test('refused by the target (NOTIFY 486): resource_exhausted, the call goes on with its audio', async () => {
    const caller = '+15552220002';
    const call = await callIn('uac_refer_refuse.xml', caller);
    await assert.rejects(sip.transferSipParticipant(ROOM, `sip_${caller}`, 'tel:+15550009999', { playDialtone: true }), (e) => {
      assert.equal(e.code, 'resource_exhausted', describeError(e));
      assert.equal(e.status, 429, describeError(e));
      assert.equal(e.sipStatusCode, 486, describeError(e));
      assert.equal(e.sipStatus, 'Busy Here', describeError(e));
      return true;
    });
    const refusedAt = Date.now();
    const res = await call.done;
    assert.equal(res.code, 0, `sipp: ${res.why}`);
    assert.equal(logged(res, 'refer_to'), 'tel:+15550009999');
    assert.equal(server.events('transfer_start').at(-1)?.dialtone, 'true', 'play_dialtone reached the SIP edge');
    // the caller hung up itself 3 s later, and the echo kept answering
    const end = await waitUntil(() => server.events('call_end').find((e) => e.by === 'caller' && e.reason === 'BYE'), { what: 'call_end by=caller' });
    assert.ok(Date.now() - refusedAt >= 2500, 'the call went on after the refusal');
    assert.ok(Number(end.packets_out) >= 100, `packets_out ${end.packets_out}: the echo did not go on`);
    assert.ok(Number(end.duration_ms) >= 3000, `duration ${end.duration_ms} ms`);
  });

  // The caller is a phone of this file, which hears what we send it: it
  // answers the REFER 202, reports 100 Trying, and 1.5 s later (inside
  // the ringback's first 2 s) the target's 486. With play_dialtone it
  // hears 440 + 480 Hz from the REFER to the 486 and nothing after it;
  // without, nothing at all (it says nothing, so the echo is silent).
  for (const dialtone of [true, false]) {
    test(dialtone ? 'playDialtone: the caller hears a ringback while the outcome is pending, and none once it is known' : 'without playDialtone: the caller hears no ringback while the outcome is pending', async () => {
      const caller = dialtone ? '+15552220008' : '+15552220009';
      const phone = new Phone(server, { number: NUMBER, caller, toneHz: 0 });
      try {
        await phone.call();
        await waitActive(rooms, `sip_${caller}`, { done: new Promise(() => {}) });
        const pending = sip.transferSipParticipant(ROOM, `sip_${caller}`, TARGET, { playDialtone: dialtone }).then(
          () => null,
          (e) => e,
        );
        const refer = await phone.incoming('REFER');
        const referAt = Date.now();
        phone.reply(refer, 202, 'Accepted');
        const id = parseInt(refer.headers.cseq, 10);
        const notify = (cseq, state, frag) =>
          phone.request('NOTIFY', cseq, {
            toTag: phone.toTag,
            body: `${frag}\r\n`,
            type: 'message/sipfrag',
            headers: [`Event: refer;id=${id}`, `Subscription-State: ${state}`],
          });
        notify(2, 'active;expires=60', 'SIP/2.0 100 Trying');
        await sleep(1500);
        notify(3, 'terminated;reason=noresource', 'SIP/2.0 486 Busy Here');
        const refusedAt = Date.now();
        const e = await pending;
        assert.equal(e?.code, 'resource_exhausted', describeError(e));
        assert.equal(server.events('transfer_start').at(-1)?.dialtone, String(dialtone));
        await sleep(1500);
        const during = phone.heard.filter((h) => h.at > referAt + 100 && h.at < refusedAt);
        const after = phone.heard.filter((h) => h.at > refusedAt + 300);
        assert.ok(during.length >= 50 && after.length >= 40, `the phone heard ${during.length} frames while pending, ${after.length} after`);
        if (dialtone) {
          const tone = concatPcm(loud(during).map((h) => h.pcm));
          assert.ok(tone.length >= 8000 * 1.2, `heard ${tone.length / 8} ms of tone in the ${refusedAt - referAt} ms the outcome was pending`);
          const share = windowShare(tone, [440, 480]);
          assert.ok(share > 0.8, `440 + 480 Hz are ${(share * 100).toFixed(1)} % of what the caller heard`);
        } else {
          assert.equal(loud(during).length, 0, `${loud(during).length} loud frames while pending`);
        }
        assert.equal(loud(after).length, 0, `${loud(after).length} loud frames once refused`);
        await phone.hangup();
        await waitUntil(() => server.events('call_end').some((x) => x.by === 'caller' && x.call_id === phone.callId), { what: `call_end of ${caller} by the caller` });
      } finally {
        phone.close();
      }
    });
  }

  test('REFER answered 403: permission_denied at once, the call goes on', async () => {
    const caller = '+15552220003';
    const call = await callIn('uac_refer_403.xml', caller);
    await assert.rejects(sip.transferSipParticipant(ROOM, `sip_${caller}`, TARGET), (e) => {
      assert.equal(e.code, 'permission_denied', describeError(e));
      assert.equal(e.sipStatusCode, 403, describeError(e));
      return true;
    });
    const ps = await rooms.listParticipants(ROOM);
    assert.ok(ps.some((p) => p.identity === `sip_${caller}`), 'the caller is still in the room');
    await rooms.removeParticipant(ROOM, `sip_${caller}`);
    const res = await call.done;
    assert.equal(res.code, 0, `sipp: ${res.why}`);
  });

  test('202 and no NOTIFY: deadline_exceeded after 10 s; a second transfer meanwhile is refused', async () => {
    const caller = '+15552220004';
    const call = await callIn('uac_refer_silent.xml', caller);
    const t0 = Date.now();
    const first = sip.transferSipParticipant(ROOM, `sip_${caller}`, TARGET).then(
      () => null,
      (e) => e,
    );
    await waitUntil(() => server.events('transfer_refer_answer').some((e) => e.code === 202), { what: 'the 202' });
    await assert.rejects(sip.transferSipParticipant(ROOM, `sip_${caller}`, TARGET), (e) => {
      assert.equal(e.code, 'failed_precondition', describeError(e));
      assert.match(e.message, /already in progress/);
      return true;
    });
    const e = await first;
    const took = Date.now() - t0;
    assert.ok(e, 'the transfer succeeded');
    assert.equal(e.code, 'deadline_exceeded', describeError(e));
    assert.ok(took >= 9500 && took < 14000, `failed after ${took} ms, want about 10 s`);
    await rooms.removeParticipant(ROOM, `sip_${caller}`);
    const res = await call.done;
    assert.equal(res.code, 0, `sipp: ${res.why}`);
  });

  test('forged NOTIFYs get 481 (489 without Event), a 6 KB sipfrag is ignored, the real transfer completes', async () => {
    const caller = '+15552220005';
    const call = await callIn('uac_notify_forged.xml', caller);
    // raw Twirp, for the reply the SDK drops
    const at = new AccessToken(API_KEY, API_SECRET);
    at.addGrant({ roomAdmin: true, room: ROOM });
    at.addSIPGrant({ call: true });
    const r = await twirp(server, 'SIP', 'TransferSIPParticipant', { room_name: ROOM, participant_identity: `sip_${caller}`, transfer_to: TARGET }, { token: await at.toJwt() });
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.transfer_id ?? '', /^STR_[0-9A-Za-z]{12}$/, r.text);
    assert.equal(r.json.status, 'completed', r.text);
    assert.equal(r.json.sip_status, '200', r.text);
    const res = await call.done;
    assert.equal(res.code, 0, `sipp (expects 481, 481, 481, 489, then 200s): ${res.why}`);
    assert.ok(server.events('refer_notify_bad').length >= 1, 'refer_notify_bad logged');
    assert.ok(server.events('notify_refused').filter((e) => e.code === 481).length >= 3, 'three 481s logged');
  });

  test('a NOTIFY outside any dialog gets 481', async () => {
    const res = await runSipp(server, 'notify_stray.xml', { label: 'notify_stray', timeoutS: 10 });
    assert.equal(res.code, 0, `sipp: ${res.why}`);
  });

  test('bad requests: transfer_to, identity, grants', async () => {
    const caller = '+15552220006';
    // a caller that takes no REFER: one would fail its scenario
    const call = await callIn('lk_uac_wait_bye.xml', caller);
    const id = `sip_${caller}`;
    for (const to of ['http://x', '', 'sip:a@b\r\nVia: x', `sip:${'a'.repeat(600)}@b`]) {
      await assert.rejects(sip.transferSipParticipant(ROOM, id, to), (e) => {
        assert.equal(e.code, 'invalid_argument', `${JSON.stringify(to.slice(0, 20))}: ${describeError(e)}`);
        return true;
      });
    }
    await assert.rejects(sip.transferSipParticipant(ROOM, id, TARGET, { headers: { 'Refer-To': 'sip:evil@x' } }), (e) => {
      assert.equal(e.code, 'invalid_argument', describeError(e));
      return true;
    });
    await assert.rejects(sip.transferSipParticipant(ROOM, 'sip_+19999999999', TARGET), (e) => {
      assert.equal(e.code, 'not_found', describeError(e));
      return true;
    });
    const at = new AccessToken(API_KEY, API_SECRET);
    at.addGrant({ roomAdmin: true, room: 'another-room' });
    at.addSIPGrant({ call: true });
    const r = await twirp(server, 'SIP', 'TransferSIPParticipant', { room_name: ROOM, participant_identity: id, transfer_to: TARGET }, { token: await at.toJwt() });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json?.code, 'unauthenticated', r.text);
    await rooms.removeParticipant(ROOM, id);
    const res = await call.done;
    assert.equal(res.code, 0, `sipp (no REFER expected): ${res.why}`);
  });

  test('SIGTERM while a transfer waits: the request is answered, the server exits clean', async () => {
    const caller = '+15552220007';
    const call = await callIn('uac_refer_silent.xml', caller);
    const accepted = () => server.events('transfer_refer_answer').filter((e) => e.code === 202).length;
    const before = accepted();
    const pending = sip.transferSipParticipant(ROOM, `sip_${caller}`, TARGET).then(
      () => null,
      (e) => e,
    );
    await waitUntil(() => accepted() > before, { what: 'the 202' });
    // the drain (3 s) ends the call first: the transfer is told
    await server.stop(15000);
    const e = await pending;
    assert.ok(e, 'the transfer succeeded');
    assert.equal(e.code, 'unavailable', describeError(e));
    const res = await call.done;
    assert.equal(res.code, 0, `sipp: ${res.why}`);
  });
});
