// A LiveKit agent worker reduced to its protocol, for the tests of
// voxgate's /agent: it speaks WorkerMessage / ServerMessage as binary
// protobuf frames with @livekit/protocol's own generated code, as
// @livekit/agents' worker does (worker.js: ws.send(msg.toBinary())), and
// keeps every ServerMessage it receives so a test can wait for them.

import WebSocket from 'ws';
import { AccessToken } from 'livekit-server-sdk';
import { WorkerMessage, ServerMessage, SignalResponse, JobType, ParticipantPermission } from '@livekit/protocol';
import { API_KEY, API_SECRET } from './helpers.mjs';

// The token a worker connects with: the agent grant, no identity (as the
// SDKs make it).
export async function workerToken({ key = API_KEY, secret = API_SECRET, grant = { agent: true } } = {}) {
  const at = new AccessToken(key, secret);
  at.addGrant(grant);
  return at.toJwt();
}

export class StubWorker {
  // new StubWorker(server, {token, path}); then opened().
  constructor(server, { token, path = '/agent' } = {}) {
    this.msgs = []; // {at, case, value}
    this.waiters = new Set();
    this.seen = new Set();
    this.closedWith = null;
    this.ready = (async () => {
      const jwt = token ?? (await workerToken());
      this.ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}${path}`, { headers: { authorization: `Bearer ${jwt}` } });
      this.ws.on('message', (data, isBinary) => {
        const m = isBinary ? ServerMessage.fromBinary(new Uint8Array(data)).message : { case: 'text', value: String(data) };
        this.msgs.push({ at: Date.now(), case: m.case, value: m.value });
        this.wake();
      });
      this.closed = new Promise((resolve) =>
        this.ws.once('close', (code, reason) => {
          this.closedWith = { at: Date.now(), code, reason: String(reason) };
          this.wake();
          resolve(this.closedWith);
        }),
      );
      this.ws.on('error', () => {});
    })();
  }

  // Resolves once the socket is open; rejects with the HTTP refusal.
  async opened() {
    await this.ready;
    return new Promise((resolve, reject) => {
      if (this.ws.readyState === WebSocket.OPEN) return resolve();
      this.ws.once('open', resolve);
      this.ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { status: res.statusCode, body })));
      });
      this.ws.once('error', reject);
    });
  }

  // connect(server, {agentName, permissions, ...}): opened and registered;
  // resolves with the worker, whose .registration is the server's answer.
  static async connect(server, opts = {}) {
    const w = new StubWorker(server, opts);
    await w.opened();
    w.register(opts);
    w.registration = await w.next('register');
    return w;
  }

  wake() {
    for (const f of [...this.waiters]) f();
  }

  send(c, value) {
    this.ws.send(new WorkerMessage({ message: { case: c, value } }).toBinary());
  }

  register({ agentName = '', type = JobType.JT_ROOM, permissions, version = '1.9.0' } = {}) {
    this.send('register', {
      type,
      agentName,
      version,
      allowedPermissions: new ParticipantPermission(
        permissions ?? { canSubscribe: true, canPublish: true, canPublishData: true, canUpdateMetadata: true, agent: true },
      ),
    });
  }

  // The next ServerMessage of case c (each one is returned once), within
  // timeoutMs.
  next(c, { timeoutMs = 8000, where = () => true } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        for (let i = 0; i < this.msgs.length; i++) {
          const m = this.msgs[i];
          if (m.case === c && !this.seen.has(i) && where(m.value)) {
            this.seen.add(i);
            this.waiters.delete(check);
            clearTimeout(timer);
            resolve(m.value);
            return true;
          }
        }
        if (this.closedWith) {
          this.waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`worker socket closed (${this.closedWith.code} ${this.closedWith.reason}) before ${c}; got ${this.cases().join(' ')}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no ${c} within ${timeoutMs} ms; got ${this.cases().join(' ') || 'nothing'}`));
      }, timeoutMs);
      if (!check()) this.waiters.add(check);
    });
  }

  cases() {
    return this.msgs.map((m) => m.case);
  }

  count(c) {
    return this.msgs.filter((m) => m.case === c).length;
  }

  accept(job, { identity = `agent-${job.id}`, name = 'Stub agent', metadata = '', attributes = {} } = {}) {
    this.send('availability', {
      jobId: job.id,
      available: true,
      participantIdentity: identity,
      participantName: name,
      participantMetadata: metadata,
      participantAttributes: attributes,
    });
  }

  // Accepts every job it is asked to take, from now on.
  acceptAll() {
    const answered = new Set();
    const check = () => {
      this.msgs.forEach((m, i) => {
        if (m.case !== 'availability' || answered.has(i)) return;
        answered.add(i);
        this.accept(m.value.job);
      });
      return false;
    };
    this.waiters.add(check);
    check();
  }

  decline(job, { terminate = false } = {}) {
    this.send('availability', { jobId: job.id, available: false, terminate });
  }

  // update_worker with its status set (presence matters: WS_AVAILABLE is 0).
  status(status, load = 0) {
    this.send('updateWorker', { status, load });
  }

  close() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close();
    return this.closed;
  }
}

// The signalling side of a job's agent: joins /rtc with the job's token as
// the SDKs do (binary SignalRequest / SignalResponse) and keeps what it
// receives; enough to see the join and the server's leave.
export class RtcAgent {
  constructor(server, jwt) {
    this.msgs = [];
    this.waiters = new Set();
    this.ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/rtc?auto_subscribe=1&sdk=node&protocol=16`, {
      headers: { authorization: `Bearer ${jwt}` },
    });
    this.ws.on('message', (data, isBinary) => {
      if (!isBinary) return;
      this.msgs.push(SignalResponse.fromBinary(new Uint8Array(data)).message);
      for (const f of [...this.waiters]) f();
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    this.ws.on('error', () => {});
  }

  opened() {
    return new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
  }

  next(c, timeoutMs = 8000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.msgs.find((x) => x.case === c);
        if (!m) return false;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(m.value);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`rtc: no ${c} within ${timeoutMs} ms; got ${this.msgs.map((m) => m.case).join(' ')}`));
      }, timeoutMs);
      if (!check()) this.waiters.add(check);
    });
  }

  close() {
    this.ws.terminate();
  }
}
