// A phone for the tests: a SIP caller over UDP written here, with its own
// RTP socket, so that a test both says something (a tone, as PCMU) and
// hears exactly what voxgate sends back to the caller (the payloads,
// decoded). SIPp plays a file and keeps nothing it receives.

import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';

const rnd = () => randomBytes(6).toString('hex');

// G.711 mu-law, as ITU-T G.711 defines it.
export function ulawEncode(s) {
  const BIAS = 0x84;
  let sign = 0;
  if (s < 0) {
    s = -s;
    sign = 0x80;
  }
  if (s > 32635) s = 32635;
  s += BIAS;
  let exp = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mant = (s >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

export function ulawDecode(u) {
  u = ~u & 0xff;
  const sign = u & 0x80;
  const exp = (u >> 4) & 7;
  const mant = u & 0x0f;
  const v = (((mant << 3) + 0x84) << exp) - 0x84;
  return sign ? -v : v;
}

// The share of a signal's energy at freq (Goertzel), 0..1 of the total.
export function toneShare(pcm, rate, freq) {
  if (!pcm.length) return 0;
  const k = (2 * Math.PI * freq) / rate;
  const c = 2 * Math.cos(k);
  let s1 = 0;
  let s2 = 0;
  let total = 0;
  for (const x of pcm) {
    const s0 = x + c * s1 - s2;
    s2 = s1;
    s1 = s0;
    total += x * x;
  }
  const power = s1 * s1 + s2 * s2 - c * s1 * s2;
  return total ? (2 * power) / (pcm.length * total) : 0;
}

// Int16Arrays one after the other, as one.
export function concatPcm(parts) {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// The root mean square of pcm.
export const rms = (pcm) => Math.sqrt(pcm.reduce((e, x) => e + x * x, 0) / (pcm.length || 1));

// The frames ({at, pcm}) that carry sound rather than silence.
export const loud = (frames) => frames.filter((f) => rms(f.pcm) > 300);

// The share of freqs in 8 kHz pcm, over 100 ms windows (whole periods of
// 440 and 480 Hz, 10 Hz apart from the bins): the median window's.
export function windowShare(pcm, freqs) {
  const shares = [];
  for (let o = 0; o + 800 <= pcm.length; o += 800) {
    const w = pcm.subarray(o, o + 800);
    shares.push(freqs.reduce((a, f) => a + toneShare(w, 8000, f), 0));
  }
  shares.sort((a, b) => a - b);
  return shares.length ? shares[shares.length >> 1] : 0;
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
  const m = first.match(/^SIP\/2\.0 (\d+)/);
  return m ? { status: Number(m[1]), headers, body } : { method: first.split(' ')[0], headers, body };
}

export class Phone {
  // server: startServer()'s handle; number: the called number.
  constructor(server, { number, caller = '+15551112222', toneHz = 440, level = 8000 } = {}) {
    this.server = server;
    this.number = number;
    this.caller = caller;
    this.toneHz = toneHz;
    this.level = level;
    this.heard = []; // {at, pcm: Int16Array}
    this.inbox = [];
    this.waiters = new Set();
    this.callId = `${rnd()}@127.0.0.1`;
    this.tag = rnd();
    this.phase = 0;
    this.seq = 1000;
    this.cseq = 1; // the highest CSeq sent in the dialog
    this.ts = 0;
    this.ssrc = randomBytes(4).readUInt32BE(0);
  }

  async open() {
    this.sip = createSocket('udp4');
    this.rtp = createSocket('udp4');
    this.sip.on('message', (buf) => {
      const msg = parse(buf.toString());
      if (msg.method === 'BYE') {
        this.byeFromServer = true;
        this.reply(msg, 200, 'OK');
      }
      this.inbox.push(msg);
      for (const w of this.waiters) w();
    });
    this.dtmfHeard = []; // RFC 4733 events: {code, end, ts}
    this.rtp.on('message', (buf) => {
      if (buf.length >= 16 && (buf[1] & 0x7f) === 101) {
        const cc = buf[0] & 0x0f;
        const off = 12 + 4 * cc;
        this.dtmfHeard.push({ code: buf[off], end: (buf[off + 1] & 0x80) !== 0, ts: buf.readUInt32BE(4) });
        return;
      }
      if (buf.length <= 12 || (buf[1] & 0x7f) !== 0) return; // PCMU only
      const cc = buf[0] & 0x0f;
      const off = 12 + 4 * cc;
      const pcm = new Int16Array(buf.length - off);
      for (let i = off; i < buf.length; i++) pcm[i - off] = ulawDecode(buf[i]);
      this.heard.push({ at: Date.now(), pcm });
    });
    await new Promise((r) => this.sip.bind(0, '127.0.0.1', r));
    await new Promise((r) => this.rtp.bind(0, '127.0.0.1', r));
  }

  send(text) {
    this.sip.send(Buffer.from(text), this.server.sipPort, '127.0.0.1');
  }

  reply(req, code, reason) {
    this.send(
      `SIP/2.0 ${code} ${reason}\r\n` +
        ['via', 'from', 'to', 'call-id', 'cseq'].map((h) => `${h}: ${req.headers[h]}\r\n`).join('') +
        'Content-Length: 0\r\n\r\n',
    );
  }

  // The first message of the inbox not yet taken that pred accepts, once
  // it comes; what it was, for the error after timeoutMs.
  async take(pred, timeoutMs, what) {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const m = this.inbox.find((x) => !x.taken && pred(x));
      if (m) {
        m.taken = true;
        return m;
      }
      if (Date.now() > deadline) throw new Error(`${what}; got ${this.inbox.map((x) => x.status ?? x.method)}`);
      await new Promise((r) => {
        this.waiters.add(r);
        setTimeout(r, 100);
      });
    }
  }

  response(cseqMethod, timeoutMs = 8000) {
    return this.take((x) => x.status >= 200 && (x.headers.cseq ?? '').endsWith(cseqMethod), timeoutMs, `no final response to ${cseqMethod}`);
  }

  // The next request of method the server sent, once it comes.
  incoming(method, timeoutMs = 8000) {
    return this.take((x) => x.method === method, timeoutMs, `no ${method}`);
  }

  // A request in the call; body (with its type) other than an SDP, and
  // headers, lines added as they are.
  request(method, cseq, { sdp = '', toTag = '', body = sdp, type = 'application/sdp', headers = [] } = {}) {
    const sip = `127.0.0.1:${this.sip.address().port}`;
    const uri = `sip:${this.number}@127.0.0.1:${this.server.sipPort}`;
    this.cseq = Math.max(this.cseq, cseq);
    this.send(
      `${method} ${uri} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP ${sip};branch=z9hG4bK${rnd()}\r\n` +
        `From: <sip:${this.caller}@127.0.0.1>;tag=${this.tag}\r\n` +
        `To: <${uri}>${toTag ? `;tag=${toTag}` : ''}\r\n` +
        `Call-ID: ${this.callId}\r\nCSeq: ${cseq} ${method}\r\n` +
        `Contact: <sip:${this.caller}@${sip}>\r\nMax-Forwards: 70\r\n` +
        headers.map((h) => `${h}\r\n`).join('') +
        (body ? `Content-Type: ${type}\r\n` : '') +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  // Calls, and once answered streams the tone every 20 ms.
  async call() {
    if (!this.sip) await this.open();
    const port = this.rtp.address().port;
    const sdp =
      'v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
      `m=audio ${port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n`;
    this.request('INVITE', 1, { sdp });
    const ok = await this.response('INVITE', 15000);
    if (ok.status !== 200) throw new Error(`INVITE answered ${ok.status}`);
    this.toTag = (ok.headers.to.match(/tag=([^;>]+)/) || [])[1] ?? '';
    const c = ok.body.match(/c=IN IP4 (\S+)/);
    const m = ok.body.match(/m=audio (\d+)/);
    this.remote = { host: c[1], port: Number(m[1]) };
    this.request('ACK', 1, { toTag: this.toTag });
    this.timer = setInterval(() => this.sendFrame(), 20);
    return ok;
  }

  sendFrame() {
    const b = Buffer.alloc(12 + 160);
    b[0] = 0x80;
    b[1] = 0;
    b.writeUInt16BE(this.seq++ & 0xffff, 2);
    b.writeUInt32BE(this.ts >>> 0, 4);
    b.writeUInt32BE(this.ssrc, 8);
    const words = this.words;
    for (let i = 0; i < 160; i++) {
      let v;
      if (words) v = words.off < words.pcm.length ? words.pcm[words.off++] : 0;
      else v = this.toneHz ? Math.round(this.level * Math.sin(this.phase)) : 0;
      this.phase += (2 * Math.PI * this.toneHz) / 8000;
      b[12 + i] = ulawEncode(v);
    }
    this.ts += 160;
    this.rtp.send(b, this.remote.port, this.remote.host);
    if (words && words.off >= words.pcm.length) {
      this.words = null;
      words.done({ start: words.start, end: Date.now() });
    }
  }

  // Says pcm (8 kHz samples) in place of the tone, from the next frame on;
  // resolves with {start, end}: when its first and last frames were sent.
  say(pcm) {
    return new Promise((done) => {
      this.words = { pcm, off: 0, start: Date.now(), done };
    });
  }

  // The keys heard as RFC 4733 events, one per event (its timestamp).
  keysHeard() {
    const keys = [];
    const seen = new Set();
    for (const e of this.dtmfHeard) {
      if (seen.has(e.ts)) continue;
      seen.add(e.ts);
      keys.push('0123456789*#ABCD'[e.code]);
    }
    return keys.join('');
  }

  // Presses a key: RFC 4733 events (payload type 101) on the call's RTP,
  // five packets of one event, the last three marked as its end.
  sendDtmf(key) {
    const code = '0123456789*#ABCD'.indexOf(key);
    if (code < 0) throw new Error(`no DTMF key ${key}`);
    const ts = this.ts >>> 0;
    for (let i = 0; i < 5; i++) {
      const b = Buffer.alloc(16);
      b[0] = 0x80;
      b[1] = (i === 0 ? 0x80 : 0) | 101;
      b.writeUInt16BE(this.seq++ & 0xffff, 2);
      b.writeUInt32BE(ts, 4);
      b.writeUInt32BE(this.ssrc, 8);
      b[12] = code;
      b[13] = (i >= 2 ? 0x80 : 0) | 10; // end bit, volume
      b.writeUInt16BE(Math.min(160 * (i + 1), 800), 14);
      this.rtp.send(b, this.remote.port, this.remote.host);
    }
  }

  // What the phone heard in the last ms milliseconds, as one array.
  heardSince(t0) {
    return concatPcm(this.heard.filter((h) => h.at >= t0).map((h) => h.pcm));
  }

  async hangup() {
    clearInterval(this.timer);
    if (!this.byeFromServer && this.toTag !== undefined) {
      this.request('BYE', this.cseq + 1, { toTag: this.toTag });
      await this.response('BYE', 5000).catch(() => {});
    }
    this.close();
  }

  close() {
    clearInterval(this.timer);
    this.sip?.close();
    this.rtp?.close();
    this.sip = null;
    this.rtp = null;
  }
}
