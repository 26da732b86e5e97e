// Direct rules with a PIN: voxgate answers, asks for the PIN, reads it from
// the caller's RFC 4733 DTMF events (SIPp replaying its own captures of
// 1 2 3 4 #), then routes the call again. The right PIN joins the rule's
// room; a wrong one, or none, ends the call with a BYE and no room. The
// trunk's headers ride on the 200 OK.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RoomServiceClient, SipClient } from 'livekit-server-sdk';
import { startServer, sipp, runSipp, waitUntil, API_KEY, API_SECRET } from './helpers.mjs';

const VAULT_NUMBER = '+15550004444'; // rule PIN 1234, the one SIPp keys in
const OTHER_NUMBER = '+15550005555'; // rule PIN 4321
const OPEN_NUMBER = '+15550006666'; // no PIN: the keys go to the agent
const CALLER = '+15552223333';
const PIN_TIMEOUT_S = 4;

describe('PIN on a direct rule', { timeout: 90000 }, () => {
  let server;
  let sip;
  let rooms;
  let vaultTrunk;
  let vaultRule;

  before(async () => {
    server = await startServer({ args: ['--pin_timeout', `${PIN_TIMEOUT_S}s`] });
    sip = new SipClient(server.url, API_KEY, API_SECRET);
    rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
    vaultTrunk = await sip.createSipInboundTrunk('vault', [VAULT_NUMBER], {
      headers: { 'X-Voxgate-Trunk': 'vault' },
    });
    vaultRule = await sip.createSipDispatchRule(
      { type: 'direct', roomName: 'vault', pin: '1234' },
      { trunkIds: [vaultTrunk.sipTrunkId] },
    );
    const other = await sip.createSipInboundTrunk('other', [OTHER_NUMBER]);
    await sip.createSipDispatchRule({ type: 'direct', roomName: 'other', pin: '4321' }, { trunkIds: [other.sipTrunkId] });
    const open = await sip.createSipInboundTrunk('open', [OPEN_NUMBER]);
    await sip.createSipDispatchRule({ type: 'direct', roomName: 'open' }, { trunkIds: [open.sipTrunkId] });
  });

  test('keys pressed outside the PIN stage are counted in the log, never written', async () => {
    const call = sipp(server, 'lk_uac_pin.xml', { label: 'keys', service: OPEN_NUMBER, caller: CALLER, timeoutS: 25 });
    try {
      // 1 2 3 4 # as five RFC 4733 events
      const keys = await Promise.race([
        waitUntil(
          () => {
            const n = server.events('dtmf').reduce((sum, e) => sum + Number(e.keys ?? String(e.digits ?? '').length), 0);
            return n >= 5 ? n : null;
          },
          { timeoutMs: 10000, what: 'dtmf events counting five keys' },
        ),
        call.done.then((r) => {
          throw new Error(`sipp ended before the keys came: ${r.why}\n${server.logTail()}`);
        }),
      ]);
      assert.equal(keys, 5);
      for (const e of server.events('dtmf')) assert.equal(e.digits, undefined, `a dtmf line names the keys: ${JSON.stringify(e)}`);
      assert.ok(!/"[^"]*":"[0-9#*]*1[0-9#*]*2[0-9#*]*"/.test(server.log()), 'no log value holds the keys');
      await rooms.deleteRoom('open');
      assert.equal((await call.done).code, 0, 'sipp gets the BYE of DeleteRoom');
    } finally {
      call.kill();
    }
  });

  after(async () => {
    if (server && !server.exited) await server.stop();
  });

  test('the right PIN puts the caller in the rule\'s room', async () => {
    const call = sipp(server, 'lk_uac_pin.xml', { label: 'pin-right', service: VAULT_NUMBER, caller: CALLER, timeoutS: 25 });
    try {
      const p = await Promise.race([
        waitUntil(
          async () => {
            const list = await rooms.listRooms();
            if (!list.some((r) => r.name === 'vault')) return null;
            return (await rooms.listParticipants('vault')).find((x) => x.identity === `sip_${CALLER}`);
          },
          { timeoutMs: 10000, what: 'sip_<caller> in room vault' },
        ),
        call.done.then((r) => {
          throw new Error(`sipp ended before the caller joined: ${r.why}\n${server.logTail()}`);
        }),
      ]);
      assert.equal(p.attributes['sip.ruleID'], vaultRule.sipDispatchRuleId, 'sip.ruleID');
      assert.equal(p.attributes['sip.trunkID'], vaultTrunk.sipTrunkId, 'sip.trunkID');
      assert.equal(p.attributes['sip.callStatus'], 'active', 'answered before the PIN, so active at once');
      const requested = server.events('pin_requested');
      assert.equal(requested.length, 1, 'pin_requested logged once');
      assert.equal(p.attributes['sip.callID'], requested[0].call, 'the call id of the PIN stage is kept');
      assert.equal(server.events('pin_accepted').length, 1, 'pin_accepted logged');
      assert.ok(!server.log().includes('1234#'), 'the PIN is not logged');

      await rooms.deleteRoom('vault');
      const res = await call.done;
      assert.equal(res.code, 0, `sipp gets the BYE of DeleteRoom: ${res.why}`);
      assert.match(res.messages, /SIP\/2\.0 200 OK[\s\S]*?X-Voxgate-Trunk: vault/, 'the trunk header on the 200 OK');
    } finally {
      call.kill();
    }
  });

  test('a wrong PIN ends the call and opens no room', async () => {
    const t0 = Date.now();
    const res = await runSipp(server, 'lk_uac_pin.xml', { label: 'pin-wrong', service: OTHER_NUMBER, caller: CALLER, timeoutS: 20 });
    assert.equal(res.code, 0, `sipp gets a BYE: ${res.why}`);
    assert.ok(res.received.includes('200'), 'the call was answered to ask for the PIN');
    // 1 2 3 4 # take about 2.7 s to key in; then the error tones (1.2 s)
    const took = Date.now() - t0;
    assert.ok(took < 12000, `BYE ${took} ms after the call began`);
    const rejected = server.events('pin_rejected');
    assert.equal(rejected.length, 1, `pin_rejected logged\n${server.logTail()}`);
    assert.equal(rejected[0].digits, 4, 'four digits entered');
    assert.ok(!(await rooms.listRooms()).some((r) => r.name === 'other'), 'room other was not opened');
  });

  test('no PIN within pin_timeout ends the call', async () => {
    const t0 = Date.now();
    const res = await runSipp(server, 'lk_uac_wait_bye.xml', { label: 'pin-none', service: VAULT_NUMBER, caller: CALLER, timeoutS: 20 });
    const took = Date.now() - t0;
    assert.equal(res.code, 0, `sipp gets a BYE: ${res.why}`);
    assert.ok(took >= PIN_TIMEOUT_S * 1000 - 500, `BYE after ${took} ms, before pin_timeout`);
    assert.equal(server.events('pin_timeout').length, 1, 'pin_timeout logged');
  });
});

describe('wrong PINs from one address', { timeout: 60000 }, () => {
  let server;
  let rooms;

  before(async () => {
    server = await startServer({ args: ['--pin_max_tries', '2', '--pin_tries_window', '1m'] });
    const sip = new SipClient(server.url, API_KEY, API_SECRET);
    rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
    const other = await sip.createSipInboundTrunk('other', [OTHER_NUMBER]);
    await sip.createSipDispatchRule({ type: 'direct', roomName: 'other', pin: '4321' }, { trunkIds: [other.sipTrunkId] });
    const open = await sip.createSipInboundTrunk('open', [OPEN_NUMBER]);
    await sip.createSipDispatchRule({ type: 'direct', roomName: 'open' }, { trunkIds: [open.sipTrunkId] });
  });

  after(async () => {
    if (server && !server.exited) await server.stop();
  });

  test('after pin_max_tries wrong PINs the address gets 403 for PIN rules', async () => {
    for (let i = 1; i <= 2; i++) {
      const res = await runSipp(server, 'lk_uac_pin.xml', { label: `wrong-${i}`, service: OTHER_NUMBER, caller: CALLER, timeoutS: 20 });
      assert.equal(res.code, 0, `wrong PIN ${i}: sipp gets a BYE: ${res.why}`);
    }
    assert.equal(server.events('pin_rejected').length, 2);
    const res = await runSipp(server, 'lk_uac_expect_403.xml', { label: 'blocked', service: OTHER_NUMBER, caller: CALLER, timeoutS: 10 });
    assert.equal(res.code, 0, `the third call is refused with 403: ${res.why}`);
    await waitUntil(() => server.events('pin_blocked').length === 1, { what: 'a pin_blocked line' });
    const b = server.events('pin_blocked')[0];
    assert.equal(b.src, '127.0.0.1');
    assert.ok(b.retry_s > 0 && b.retry_s <= 60, `retry_s ${b.retry_s}`);
    assert.equal(server.events('pin_requested').length, 2, 'no PIN asked of the blocked call');
  });

  test('calls to rules without a PIN still go through', async () => {
    const call = sipp(server, 'lk_uac_wait_bye.xml', { label: 'open-after', service: OPEN_NUMBER, caller: CALLER, timeoutS: 20 });
    try {
      await waitUntil(async () => (await rooms.listRooms()).some((r) => r.name === 'open'), { what: 'room open' });
      await rooms.deleteRoom('open');
      assert.equal((await call.done).code, 0);
    } finally {
      call.kill();
    }
  });
});
