// Telnyx's front door: Call Control webhooks signed with Ed25519 as Telnyx
// signs them, the commands voxgate sends back to a local stand-in for
// Telnyx's REST API (answer, then transfer to our SIP URI), SIPp playing
// the SIP leg Telnyx then sends with the transfer's headers, retries and
// events out of order, an API that fails or stalls, and the admin route
// setup.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, sign as edSign, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { RoomServiceClient, SipClient } from 'livekit-server-sdk';
import { startServer, sipp, waitUntil, run, sleep, API_KEY, API_SECRET } from './helpers.mjs';

// RFC 8032 test 1's key pair: the public key is the server's
// telnyx_public_key, the seed signs as Telnyx would.
const PUBLIC_KEY = '11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=';
const SEED = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
const PRIVATE = createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), SEED]),
  format: 'der',
  type: 'pkcs8',
});
const API_KEY_TELNYX = 'KEYtelnyx-test-0123456789';
const ADMIN = 'admin-token-for-tests';
const CALLER = '+15558880001';
const CALLED = '+15558880002';

// A stand-in for https://api.telnyx.com/v2: keeps every request; answers
// 200 {"data":{"result":"ok"}}, or what respond(req) returns.
async function startTelnyxApi() {
  const api = { requests: [], respond: null };
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', async () => {
      const r = { method: req.method, path: req.url, auth: req.headers.authorization, at: Date.now() };
      try {
        r.body = JSON.parse(body);
      } catch {
        r.body = body;
      }
      api.requests.push(r);
      const answer = (api.respond && (await api.respond(r))) || { status: 200, body: { data: { result: 'ok' } } };
      if (answer.delayMs) await sleep(answer.delayMs);
      res.writeHead(answer.status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  api.url = `http://127.0.0.1:${srv.address().port}/v2`;
  api.close = () => new Promise((r) => srv.close(r));
  api.commands = (ccid) =>
    api.requests.filter((x) => x.path.startsWith(`/v2/calls/${encodeURIComponent(ccid)}/actions/`));
  return api;
}

function event(type, ccid, payload = {}, id = randomUUID()) {
  return {
    data: {
      record_type: 'event',
      event_type: type,
      id,
      occurred_at: new Date().toISOString(),
      payload: {
        call_control_id: ccid,
        call_leg_id: `leg-${ccid}`,
        call_session_id: `session-${ccid}`,
        connection_id: '1234567890',
        from: CALLER,
        to: CALLED,
        direction: 'incoming',
        state: 'parked',
        ...payload,
      },
    },
    meta: { attempt: 1, delivered_to: 'http://127.0.0.1/telnyx/webhook' },
  };
}

// POSTs a webhook signed at ts (Unix seconds; now by default).
async function deliver(server, ev, { ts = Math.floor(Date.now() / 1000), signature } = {}) {
  const body = typeof ev === 'string' ? ev : JSON.stringify(ev);
  const sig = signature ?? edSign(null, Buffer.from(`${ts}|${body}`), PRIVATE).toString('base64');
  const r = await fetch(`${server.url}/telnyx/webhook`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'telnyx-signature-ed25519': sig, 'telnyx-timestamp': String(ts) },
    body,
  });
  return { status: r.status, body: await r.text() };
}

async function record(server, ccid) {
  const { code, stdout, stderr } = await run('sqlite3', [server.db, `select json from calls where call_id = 'telnyx-${ccid}'`]);
  assert.equal(code, 0, `sqlite3: ${stderr}`);
  return stdout.trim() ? JSON.parse(stdout) : null;
}

const decode = (b64) => Buffer.from(b64 ?? '', 'base64').toString();

describe('Telnyx Call Control', { timeout: 120000 }, () => {
  let server;
  let api;
  let rooms;

  before(async () => {
    api = await startTelnyxApi();
    server = await startServer({
      defaultRoute: true,
      args: [
        '--telnyx_public_key', PUBLIC_KEY,
        '--telnyx_api_key', API_KEY_TELNYX,
        '--telnyx_api_url', api.url,
        '--admin_token', ADMIN,
      ],
    });
    rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
  });
  after(async () => {
    if (server && !server.exited) await server.stop();
    await api?.close();
  });

  test('call.initiated → answer, call.answered → transfer, and the SIP leg joins a room with the call ids', async () => {
    const ccid = 'v3:call-one';
    const init = event('call.initiated', ccid);
    assert.equal((await deliver(server, init)).status, 200);
    const [answer] = await waitUntil(() => (api.commands(ccid).length ? api.commands(ccid) : null), { what: 'the answer command' });
    assert.equal(answer.path, `/v2/calls/${encodeURIComponent(ccid)}/actions/answer`);
    assert.equal(answer.auth, `Bearer ${API_KEY_TELNYX}`);
    assert.equal(answer.body.command_id, `${init.data.id}:answer`);
    const state = answer.body.client_state;
    assert.ok(decode(state).startsWith('voxgate:'), `client_state ${state}`);

    // Telnyx answers, then tells us, carrying our client_state back.
    const answered = event('call.answered', ccid, { state: 'answered', client_state: state });
    assert.equal((await deliver(server, answered)).status, 200);
    const transfer = await waitUntil(() => api.commands(ccid).find((c) => c.path.endsWith('/transfer')), { what: 'the transfer command' });
    assert.equal(transfer.body.to, `sip:${CALLED}@127.0.0.1:${server.sipPort}`);
    assert.equal(transfer.body.command_id, `${answered.data.id}:transfer`);
    const headers = Object.fromEntries(transfer.body.custom_headers.map((h) => [h.name, h.value]));
    assert.deepEqual(headers, {
      'X-Telnyx-Call-Control-Id': ccid,
      'X-call_session_id': `session-${ccid}`,
      'X-call_leg_id': `leg-${ccid}`,
    });

    // Telnyx's leg B reaches our SIP edge with those headers, through
    // Telnyx's trunk (its signalling addresses; SIPp's here): from
    // anywhere else they would not count.
    const sip = new SipClient(server.url, API_KEY, API_SECRET);
    const trunk = await sip.createSipInboundTrunk('telnyx leg', [CALLED], { allowedAddresses: ['127.0.0.1'] });
    const rule = await sip.createSipDispatchRule({ type: 'individual', roomPrefix: 'telnyx' }, { trunkIds: [trunk.sipTrunkId] });
    const call = sipp(server, 'lk_uac_telnyx_leg.xml', {
      label: 'telnyx-leg',
      service: CALLED,
      caller: CALLER,
      args: ['-key', 'ccid', ccid, '-key', 'session', headers['X-call_session_id'], '-key', 'leg', headers['X-call_leg_id']],
      timeoutS: 25,
    });
    try {
      const p = await Promise.race([
        waitUntil(
          async () => {
            for (const r of await rooms.listRooms()) {
              const found = (await rooms.listParticipants(r.name)).find((x) => x.identity === `sip_${CALLER}`);
              if (found) return found;
            }
            return null;
          },
          { timeoutMs: 10000, what: `sip_${CALLER} in a room` },
        ),
        call.done.then((x) => {
          throw new Error(`sipp ended first: ${x.why}`);
        }),
      ]);
      assert.equal(p.attributes['sip.telnyx.callControlID'], ccid);
      assert.equal(p.attributes['sip.telnyx.callSessionID'], `session-${ccid}`);
      assert.equal(p.attributes['sip.telnyx.callLegID'], `leg-${ccid}`);
    } finally {
      call.kill();
      // the admin setup test below wants the store without them
      await sip.deleteSipDispatchRule(rule.sipDispatchRuleId);
      await sip.deleteSipTrunk(trunk.sipTrunkId);
    }

    const hangup = event('call.hangup', ccid, { state: 'hangup', hangup_cause: 'normal_clearing', hangup_source: 'caller' });
    assert.equal((await deliver(server, hangup)).status, 200);
    const rec = await record(server, ccid);
    assert.equal(rec.hangup_cause, 'normal_clearing', JSON.stringify(rec));
    assert.ok(rec.ended_at);
    assert.deepEqual(rec.events.map((e) => e.event), ['call.initiated', 'call.answered', 'call.hangup']);
  });

  test('a retried event is processed once', async () => {
    const ccid = 'v3:call-retried';
    const init = event('call.initiated', ccid);
    for (let i = 0; i < 3; i++) assert.equal((await deliver(server, init)).status, 200);
    await waitUntil(() => api.commands(ccid).length === 1, { what: 'one answer' });
    await sleep(300);
    assert.equal(api.commands(ccid).length, 1, 'one answer only');
    await waitUntil(() => server.events('telnyx_duplicate').length >= 2, { what: 'telnyx_duplicate lines' });
  });

  test('events out of order: nothing moves a call backwards', async () => {
    const ccid = 'v3:call-late';
    const state = Buffer.from('voxgate:answered').toString('base64');
    assert.equal((await deliver(server, event('call.hangup', ccid, { state: 'hangup', hangup_cause: 'originator_cancel' }))).status, 200);
    assert.equal((await deliver(server, event('call.answered', ccid, { client_state: state }))).status, 200);
    assert.equal((await deliver(server, event('call.initiated', ccid))).status, 200);
    await sleep(500);
    assert.deepEqual(api.commands(ccid), [], 'no command for a call that has hung up');
    const rec = await record(server, ccid);
    assert.equal(rec.hangup_cause, 'originator_cancel');
    assert.ok(rec.ended_at);
  });

  test('forged, replayed and unsigned webhooks get 403 and change nothing', async () => {
    const ccid = 'v3:call-forged';
    const ev = event('call.initiated', ccid);
    const now = Math.floor(Date.now() / 1000);
    const other = edSign(null, Buffer.from(`${now}|${JSON.stringify(event('call.initiated', 'v3:x'))}`), PRIVATE).toString('base64');
    assert.equal((await deliver(server, ev, { signature: other })).status, 403);
    assert.equal((await deliver(server, ev, { ts: now - 301 })).status, 403);
    assert.equal((await deliver(server, ev, { signature: '' })).status, 403);
    const r = await fetch(`${server.url}/telnyx/webhook`, { method: 'POST', body: JSON.stringify(ev) });
    assert.equal(r.status, 403);
    await sleep(300);
    assert.deepEqual(api.commands(ccid), []);
    assert.equal(await record(server, ccid), null);
    await waitUntil(
      () => {
        const why = server.events('telnyx_refused').map((e) => e.reason);
        return why.includes('bad signature') && why.includes('no signature') && why.some((w) => /replay/.test(w));
      },
      { what: 'telnyx_refused for a bad signature, none, and a replay' },
    );
    // Signed, but not an event.
    assert.equal((await deliver(server, '{"data":{"payload":{}}}')).status, 400);
    assert.equal((await deliver(server, 'not json')).status, 400);
  });

  test('a failing API is retried with the same command_id; a stalled one holds up no other call', async () => {
    const flaky = 'v3:call-flaky';
    const stalled = 'v3:call-stalled';
    const quick = 'v3:call-quick';
    let flakyTries = 0;
    api.respond = (r) => {
      if (r.path.includes(encodeURIComponent(flaky)) && flakyTries++ === 0) return { status: 500, body: { errors: [{ code: '10000', title: 'oops' }] } };
      if (r.path.includes(encodeURIComponent(stalled))) return { status: 200, body: { data: { result: 'ok' } }, delayMs: 4000 };
      return null;
    };
    try {
      assert.equal((await deliver(server, event('call.initiated', flaky))).status, 200);
      const tries = await waitUntil(() => (api.commands(flaky).length === 2 ? api.commands(flaky) : null), { what: 'the answer tried twice' });
      assert.equal(tries[0].body.command_id, tries[1].body.command_id);

      const t0 = Date.now();
      assert.equal((await deliver(server, event('call.initiated', stalled))).status, 200);
      assert.ok(Date.now() - t0 < 1000, 'the webhook is answered without waiting for Telnyx');
      await waitUntil(() => api.commands(stalled).length === 1, { what: 'the stalled answer sent' });
      const t1 = Date.now();
      assert.equal((await deliver(server, event('call.initiated', quick))).status, 200);
      const [q] = await waitUntil(() => (api.commands(quick).length ? api.commands(quick) : null), { what: 'the quick answer' });
      assert.ok(q.at - t1 < 2000, `the other call's answer waited ${q.at - t1} ms`);
    } finally {
      api.respond = null;
    }
  });

  test('POST /api/admin/sip/setup makes the Telnyx route once', async () => {
    const setup = (auth, body) =>
      fetch(`${server.url}/api/admin/sip/setup`, {
        method: 'POST',
        headers: { ...(auth ? { Authorization: `Bearer ${auth}` } : {}), 'Content-Type': 'application/json' },
        body: body ? JSON.stringify(body) : undefined,
      });
    assert.equal((await setup(null)).status, 401);
    assert.equal((await setup('wrong')).status, 401);
    const first = await setup(ADMIN, { numbers: [CALLED] });
    assert.equal(first.status, 200);
    const a = await first.json();
    assert.equal(a.created, true);
    const second = await (await setup(ADMIN)).json();
    assert.equal(second.created, false);
    assert.equal(second.trunk.sip_trunk_id, a.trunk.sip_trunk_id);
    assert.equal(second.rule.sip_dispatch_rule_id, a.rule.sip_dispatch_rule_id);
    const sip = new SipClient(server.url, API_KEY, API_SECRET);
    const trunks = await sip.listSipInboundTrunk();
    assert.equal(trunks.filter((t) => t.sipTrunkId === a.trunk.sip_trunk_id).length, 1);
    assert.equal(trunks.length, 1);
    assert.deepEqual(trunks[0].numbers, [CALLED]);
    const rules = await sip.listSipDispatchRule();
    assert.equal(rules.length, 1);
    assert.deepEqual(rules[0].trunkIds, [a.trunk.sip_trunk_id]);
  });
});
