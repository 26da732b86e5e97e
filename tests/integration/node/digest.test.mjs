// Digest authentication against replays: a SIP client over UDP written
// here (SIPp cannot send a header it sent before) answers voxgate's 407 as
// a carrier would, then sends the same Proxy-Authorization again on a new
// call, as someone who captured it would. A response is taken once per
// nonce count (qop=auth) or once at all (no qop), and only for the
// Request-URI it was computed for.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createHash, randomBytes } from 'node:crypto';
import { SipClient } from 'livekit-server-sdk';
import { startServer, waitUntil, API_KEY, API_SECRET } from './helpers.mjs';

const NUMBER = '+15550007777';
const USER = 'carrier';
const PASS = 'digest-secret';

const md5 = (s) => createHash('md5').update(s).digest('hex');
const rnd = () => randomBytes(6).toString('hex');

// A UDP SIP peer: sends requests, collects what comes back.
class Peer {
  constructor(server) {
    this.server = server;
    this.inbox = [];
    this.waiters = new Set();
  }

  async open() {
    this.sock = createSocket('udp4');
    this.sock.on('message', (buf) => {
      const msg = parse(buf.toString());
      // answer the server's own requests (BYE) at once
      if (msg.method === 'BYE') this.reply(msg, 200, 'OK');
      this.inbox.push(msg);
      for (const w of this.waiters) w();
    });
    await new Promise((resolve) => this.sock.bind(0, '127.0.0.1', resolve));
    this.port = this.sock.address().port;
  }

  close() {
    this.sock?.close();
  }

  send(text) {
    this.sock.send(Buffer.from(text), this.server.sipPort, '127.0.0.1');
  }

  reply(req, code, reason) {
    this.send(
      `SIP/2.0 ${code} ${reason}\r\n` +
        ['via', 'from', 'to', 'call-id', 'cseq'].map((h) => `${h}: ${req.headers[h]}\r\n`).join('') +
        'Content-Length: 0\r\n\r\n',
    );
  }

  // The first final response for callId (and cseq), once it comes.
  final(callId, cseq, timeoutMs = 5000) {
    const find = () =>
      this.inbox.find((m) => m.status >= 200 && m.headers['call-id'] === callId && m.headers.cseq === `${cseq} INVITE`);
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = find();
        if (!m) return false;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(m);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no final response to ${callId} CSeq ${cseq} within ${timeoutMs} ms`));
      }, timeoutMs);
      if (!check()) this.waiters.add(check);
    });
  }
}

function parse(text) {
  const [head, body = ''] = text.split('\r\n\r\n');
  const lines = head.split('\r\n');
  const first = lines.shift();
  const headers = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const st = first.match(/^SIP\/2\.0 (\d{3})/);
  const rq = first.match(/^([A-Z]+) /);
  return { status: st ? Number(st[1]) : 0, method: rq ? rq[1] : null, headers, body };
}

// The challenge's fields.
function challengeOf(msg) {
  const h = msg.headers['proxy-authenticate'] ?? '';
  const field = (k) => h.match(new RegExp(`${k}="?([^",]+)"?`))?.[1];
  return { realm: field('realm'), nonce: field('nonce'), qop: field('qop'), stale: /stale=true/i.test(h) };
}

// A Proxy-Authorization value, computed as RFC 2617 says.
function authorization({ realm, nonce }, uri, { qop = true, nc = 1, cnonce = 'c0ffee' } = {}) {
  const ha1 = md5(`${USER}:${realm}:${PASS}`);
  const ha2 = md5(`INVITE:${uri}`);
  const ncs = nc.toString(16).padStart(8, '0');
  const response = qop ? md5(`${ha1}:${nonce}:${ncs}:${cnonce}:auth:${ha2}`) : md5(`${ha1}:${nonce}:${ha2}`);
  return (
    `Digest username="${USER}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5` +
    (qop ? `, qop=auth, nc=${ncs}, cnonce="${cnonce}"` : '')
  );
}

describe('digest auth against replays', { timeout: 60000 }, () => {
  let server;
  let peer;
  let ruri;

  // One INVITE; resolves its final response. auth: a Proxy-Authorization.
  async function invite(callId, cseq, auth, uri = ruri) {
    const tag = rnd();
    peer.send(
      `INVITE ${uri} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK${rnd()};rport\r\n` +
        `From: <sip:+15552223333@127.0.0.1>;tag=${tag}\r\n` +
        `To: <${uri}>\r\n` +
        `Call-ID: ${callId}\r\n` +
        `CSeq: ${cseq} INVITE\r\n` +
        `Contact: <sip:+15552223333@127.0.0.1:${peer.port}>\r\n` +
        'Max-Forwards: 70\r\n' +
        (auth ? `Proxy-Authorization: ${auth}\r\n` : '') +
        'Content-Length: 0\r\n\r\n',
    );
    const res = await peer.final(callId, cseq);
    // the ACK: for a 2xx a request of its own, for the rest in the
    // INVITE's transaction
    const to = res.headers.to;
    const target = res.status < 300 ? res.headers.contact.replace(/^<|>.*$/g, '') : uri;
    const via = res.status < 300 ? `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK${rnd()}` : res.headers.via;
    peer.send(
      `ACK ${target} SIP/2.0\r\nVia: ${via}\r\nFrom: ${res.headers.from}\r\nTo: ${to}\r\n` +
        `Call-ID: ${callId}\r\nCSeq: ${cseq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
    );
    if (res.status < 300) {
      peer.send(
        `BYE ${target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK${rnd()}\r\n` +
          `From: ${res.headers.from}\r\nTo: ${to}\r\nCall-ID: ${callId}\r\nCSeq: ${cseq + 1} BYE\r\n` +
          'Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n',
      );
    }
    return res;
  }

  // A fresh challenge: an INVITE without credentials, answered 407.
  async function challenge() {
    const res = await invite(`ch-${rnd()}`, 1, null);
    assert.equal(res.status, 407, `want 407, got ${res.status}`);
    const c = challengeOf(res);
    assert.ok(c.nonce && c.realm, `challenge ${res.headers['proxy-authenticate']}`);
    return c;
  }

  before(async () => {
    server = await startServer();
    const sip = new SipClient(server.url, API_KEY, API_SECRET);
    const trunk = await sip.createSipInboundTrunk('digest', [NUMBER], { authUsername: USER, authPassword: PASS });
    await sip.createSipDispatchRule({ type: 'direct', roomName: 'digest-room' }, { trunkIds: [trunk.sipTrunkId] });
    peer = new Peer(server);
    await peer.open();
    ruri = `sip:${NUMBER}@127.0.0.1:${server.sipPort}`;
  });

  after(async () => {
    peer?.close();
    if (server && !server.exited) await server.stop();
  });

  test('the challenge asks for qop=auth', async () => {
    const c = await challenge();
    assert.equal(c.qop, 'auth');
  });

  test('a response sent again on a new call is refused; the next nonce count is taken', async () => {
    const c = await challenge();
    const auth = authorization(c, ruri, { nc: 1 });
    assert.equal((await invite(`a-${rnd()}`, 1, auth)).status, 200, 'the first use');
    const replay = await invite(`replay-${rnd()}`, 1, auth);
    assert.equal(replay.status, 407, `the replay got ${replay.status}`);
    assert.ok(challengeOf(replay).stale, 'answered with a fresh nonce, stale=true');
    await waitUntil(() => server.events('auth_replay').length >= 1, { what: 'an auth_replay line' });
    // a lower count is no better; the next one is a new use
    assert.equal((await invite(`b-${rnd()}`, 1, authorization(c, ruri, { nc: 3, cnonce: 'x1' }))).status, 200, 'nc 3');
    assert.equal((await invite(`c-${rnd()}`, 1, authorization(c, ruri, { nc: 2, cnonce: 'x2' }))).status, 407, 'nc 2 after 3');
  });

  test('without qop a nonce is taken once', async () => {
    const c = await challenge();
    const auth = authorization(c, ruri, { qop: false });
    assert.equal((await invite(`d-${rnd()}`, 1, auth)).status, 200, 'the first use');
    assert.equal((await invite(`e-${rnd()}`, 1, auth)).status, 407, 'the second use');
  });

  test('a response for another uri is refused', async () => {
    const c = await challenge();
    const other = `sip:${NUMBER}@192.0.2.1`;
    const res = await invite(`f-${rnd()}`, 1, authorization(c, other));
    assert.equal(res.status, 400, `got ${res.status}`);
    await waitUntil(() => server.events('auth_refused').length >= 1, { what: 'an auth_refused line' });
  });
});
