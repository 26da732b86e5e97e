// Twilio's front door: the Voice webhook signed as Twilio signs it
// (X-Twilio-Signature over the URL and the sorted form, also behind a
// proxy with public_url, also the bodySHA256 variant), the TwiML that
// dials our SIP URI, the SIP leg Twilio then sends (SIPp with
// X-Twilio-CallSid) landing in room pstn-<CallSid>, status callbacks in
// the call record, and what forged or incomplete requests get.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { RoomServiceClient, SipClient } from 'livekit-server-sdk';
import { startServer, sipp, waitUntil, run, API_KEY, API_SECRET } from './helpers.mjs';

const TOKEN = 'twilio-test-auth-token-0123456789';
const CALLER = '+15557770001';
const CALLED = '+15557770002';

// X-Twilio-Signature as Twilio computes it.
function sign(url, params = {}) {
  const data = url + Object.keys(params).sort().map((k) => k + params[k]).join('');
  return createHmac('sha1', TOKEN).update(data).digest('base64');
}

function voiceParams(callSid) {
  return {
    CallSid: callSid,
    AccountSid: 'AC0123456789abcdef0123456789abcdef',
    From: CALLER,
    To: CALLED,
    CallStatus: 'ringing',
    Direction: 'inbound',
    ApiVersion: '2010-04-01',
    Caller: CALLER,
    Called: CALLED,
    FromCity: '',
  };
}

// POSTs the form to server path, signed for signedUrl (what Twilio saw).
async function post(server, path, params, { signedUrl, signature } = {}) {
  const url = `${server.url}${path}`;
  const sig = signature ?? sign(signedUrl ?? url, params);
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': sig },
    body: new URLSearchParams(params).toString(),
  });
  return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
}

async function record(server, key) {
  const { code, stdout, stderr } = await run('sqlite3', [server.db, `select json from calls where call_id = '${key}'`]);
  assert.equal(code, 0, `sqlite3: ${stderr}`);
  return stdout.trim() ? JSON.parse(stdout) : null;
}

describe('Twilio voice webhook', { timeout: 90000 }, () => {
  let server;
  let rooms;

  before(async () => {
    server = await startServer({ defaultRoute: true, args: ['--twilio_auth_token', TOKEN] });
    rooms = new RoomServiceClient(server.url, API_KEY, API_SECRET);
    // Twilio's trunk: X-Twilio-CallSid names the room only on calls from
    // the addresses it allows (Twilio's signalling addresses; SIPp here).
    await new SipClient(server.url, API_KEY, API_SECRET).createSipInboundTrunk('twilio', [], { allowedAddresses: ['127.0.0.1'] });
  });
  after(async () => {
    if (server && !server.exited) await server.stop();
  });

  test('a signed POST gets TwiML dialing our SIP URI, and the SIP leg lands in pstn-<CallSid>', async () => {
    const sid = 'CA00000000000000000000000000000001';
    const r = await post(server, '/voice', voiceParams(sid));
    assert.equal(r.status, 200, r.body);
    assert.match(r.type, /^text\/xml/);
    const uri = r.body.match(/<Sip>([^<]*)<\/Sip>/)?.[1];
    assert.ok(uri, `no <Sip> in ${r.body}`);
    assert.match(r.body, /^<\?xml version="1.0" encoding="UTF-8"\?><Response><Dial answerOnBridge="true">/);
    assert.equal(uri, `sip:${CALLED}@127.0.0.1:${server.sipPort}?X-Voxgate-CallSid=${sid}`);
    const rec = await record(server, `twilio-${sid}`);
    assert.equal(rec?.status, 'ringing', JSON.stringify(rec));
    assert.equal(rec.from, CALLER);

    // Twilio dials that URI, adding X-Twilio-CallSid itself.
    const user = uri.match(/^sip:([^@]+)@/)[1];
    const call = sipp(server, 'lk_uac_wait_bye.xml', {
      label: 'twilio-leg',
      service: user,
      caller: CALLER,
      header: ['X-Twilio-CallSid', sid],
      timeoutS: 25,
    });
    try {
      const p = await Promise.race([
        waitUntil(
          async () => {
            if (!(await rooms.listRooms()).some((x) => x.name === `pstn-${sid}`)) return null;
            return (await rooms.listParticipants(`pstn-${sid}`)).find((x) => x.identity === `sip_${CALLER}`);
          },
          { timeoutMs: 10000, what: `sip_${CALLER} in room pstn-${sid}` },
        ),
        call.done.then((x) => {
          throw new Error(`sipp ended first: ${x.why}`);
        }),
      ]);
      assert.equal(p.attributes['sip.twilio.callSid'], sid);
    } finally {
      call.kill();
    }
  });

  test('GET with the parameters in the query is signed over the whole URL', async () => {
    const q = new URLSearchParams(voiceParams('CA00000000000000000000000000000002')).toString();
    const url = `${server.url}/voice?${q}`;
    const r = await fetch(url, { headers: { 'X-Twilio-Signature': sign(url) } });
    assert.equal(r.status, 200);
    assert.match(await r.text(), /X-Voxgate-CallSid=CA00000000000000000000000000000002/);
  });

  test('a forged or missing signature gets 403, a log line and no record', async () => {
    const sid = 'CA00000000000000000000000000000003';
    const forged = await post(server, '/voice', voiceParams(sid), { signature: sign(`${server.url}/voice`, { ...voiceParams(sid), To: '+15550000000' }) });
    assert.equal(forged.status, 403);
    const r = await fetch(`${server.url}/voice`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(voiceParams(sid)).toString(),
    });
    assert.equal(r.status, 403);
    await waitUntil(
      () => {
        const refused = server.events('twilio_refused').map((e) => e.reason);
        return refused.includes('bad signature') && refused.includes('no signature');
      },
      { what: 'twilio_refused lines for a bad and a missing signature' },
    );
    assert.equal(await record(server, `twilio-${sid}`), null);
  });

  test('missing parameters get 400, a body that is not a form too', async () => {
    const p = voiceParams('CA00000000000000000000000000000004');
    delete p.To;
    const r = await post(server, '/voice', p);
    assert.equal(r.status, 400);
    assert.match(r.body, /To/);
    const bad = await fetch(`${server.url}/voice`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': 'x' },
      body: 'CallSid=%zz',
    });
    assert.equal(bad.status, 400);
  });

  test('status callbacks update the record, an older one does not undo a newer', async () => {
    const sid = 'CA00000000000000000000000000000005';
    assert.equal((await post(server, '/voice', voiceParams(sid))).status, 200);
    const done = { CallSid: sid, CallStatus: 'completed', CallDuration: '42', SequenceNumber: '3' };
    assert.equal((await post(server, '/twilio/status', done)).status, 204);
    const late = { CallSid: sid, CallStatus: 'in-progress', SequenceNumber: '1' };
    assert.equal((await post(server, '/twilio/status', late)).status, 204);
    const rec = await record(server, `twilio-${sid}`);
    assert.equal(rec.status, 'completed', JSON.stringify(rec));
    assert.equal(rec.duration, '42');
    assert.ok(rec.ended_at, 'ended_at set');
    assert.deepEqual(rec.events.map((e) => e.event), ['voice', 'status:completed', 'status:in-progress']);
    const forged = await post(server, '/twilio/status', { ...done, CallStatus: 'failed' }, { signature: 'AAAA' });
    assert.equal(forged.status, 403);
    assert.equal((await record(server, `twilio-${sid}`)).status, 'completed');
  });
});

describe('Twilio behind a proxy', { timeout: 60000 }, () => {
  let server;
  const PUBLIC = 'https://gw.example.com';

  before(async () => {
    server = await startServer({ args: ['--twilio_auth_token', TOKEN, '--public_url', `${PUBLIC}/`] });
  });
  after(async () => {
    if (server && !server.exited) await server.stop();
  });

  test('the signature is over public_url, with or without the default port', async () => {
    const params = voiceParams('CA00000000000000000000000000000006');
    assert.equal((await post(server, '/voice', params, { signedUrl: `${PUBLIC}/voice` })).status, 200);
    assert.equal((await post(server, '/voice', params, { signedUrl: `${PUBLIC}:443/voice` })).status, 200);
    assert.equal((await post(server, '/voice', params)).status, 403, 'signed for the internal URL');
  });

  test('a JSON body is covered by bodySHA256', async () => {
    const body = JSON.stringify({ CallSid: 'CA00000000000000000000000000000007', From: CALLER, To: CALLED });
    const hash = createHash('sha256').update(body).digest('hex');
    const q = `?bodySHA256=${hash}`;
    const send = (b, sig) =>
      fetch(`${server.url}/voice${q}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Twilio-Signature': sig },
        body: b,
      });
    const ok = await send(body, sign(`${PUBLIC}/voice${q}`));
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /X-Voxgate-CallSid=CA00000000000000000000000000000007/);
    const changed = await send(body.replace(CALLED, '+15550009999'), sign(`${PUBLIC}/voice${q}`));
    assert.equal(changed.status, 403);
  });
});

describe('Twilio not configured', { timeout: 30000 }, () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    if (server && !server.exited) await server.stop();
  });

  test('without twilio_auth_token every request is refused', async () => {
    const r = await post(server, '/voice', voiceParams('CA00000000000000000000000000000008'));
    assert.equal(r.status, 403);
    await waitUntil(() => server.events('twilio_refused')[0]?.reason === 'twilio_auth_token is not set', {
      what: 'a twilio_refused line saying the token is not set',
    });
  });
});
