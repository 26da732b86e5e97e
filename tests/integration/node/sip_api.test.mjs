// The SIP service (trunks and dispatch rules) driven by livekit-server-sdk's
// SipClient exactly as a backend's SipService calls it: create, list,
// update, delete, LiveKit's create-time conflict checks, not_found, and
// persistence across a restart on the same database.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  SipClient,
  ServerError,
  SIPDispatchRule,
  SIPDispatchRuleDirect,
  SIPDispatchRuleInfo,
} from 'livekit-server-sdk';
import { SIPTransport } from '@livekit/protocol';
import { startServer, twirp, API_KEY, API_SECRET, describeError, bigintSafe } from './helpers.mjs';
import { AccessToken } from 'livekit-server-sdk';

const TIMEOUT = 60000;

// expectServerError(promise, code, status): the SDK call must fail with a
// ServerError carrying this Twirp code and HTTP status.
async function expectServerError(promise, code, status, msgRe, what = '') {
  let err;
  try {
    const v = await promise;
    assert.fail(`${what}expected ${code} (${status}), the call succeeded: ${JSON.stringify(v, bigintSafe)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.ok(err instanceof ServerError, `${what}expected a ServerError, got ${describeError(err)}`);
  assert.equal(err.code, code, `${what}Twirp code: ${describeError(err)}`);
  assert.equal(err.status, status, `${what}HTTP status: ${describeError(err)}`);
  if (msgRe) assert.match(err.message, msgRe, `${what}message: ${describeError(err)}`);
  return err;
}

const ids = (list, key) => list.map((x) => x[key]);

describe('sip_api', { timeout: TIMEOUT }, () => {
  let server;
  let sip;
  const made = {}; // what the tests created, for the persistence check

  before(async () => {
    server = await startServer();
    sip = new SipClient(server.url, API_KEY, API_SECRET);
  });

  after(async () => {
    if (server && !server.exited) server.kill();
  });

  test('create and list an inbound trunk', async () => {
    const t = await sip.createSipInboundTrunk('main line', ['+15550001111'], {
      allowedAddresses: ['127.0.0.1', '10.0.0.0/8'],
      metadata: 'm1',
    });
    assert.match(t.sipTrunkId, /^ST_[0-9A-Za-z]{12}$/, 'sipTrunkId');
    assert.equal(t.name, 'main line');
    assert.deepEqual(t.numbers, ['+15550001111']);
    assert.deepEqual(t.allowedAddresses, ['127.0.0.1', '10.0.0.0/8']);
    assert.equal(t.metadata, 'm1');
    made.inbound = t;
    const list = await sip.listSipInboundTrunk();
    const got = list.find((x) => x.sipTrunkId === t.sipTrunkId);
    assert.ok(got, `ListSIPInboundTrunk lacks ${t.sipTrunkId}: ${JSON.stringify(ids(list, 'sipTrunkId'))}`);
    assert.equal(got.name, 'main line');
    assert.deepEqual(got.numbers, ['+15550001111']);
    assert.deepEqual(got.allowedAddresses, ['127.0.0.1', '10.0.0.0/8']);
  });

  test('create an inbound trunk with credentials', async () => {
    const t = await sip.createSipInboundTrunk('auth line', ['+15550002222'], {
      authUsername: 'user',
      authPassword: 'pass',
    });
    assert.match(t.sipTrunkId, /^ST_/);
    assert.equal(t.authUsername, 'user');
    made.authTrunk = t;
    const list = await sip.listSipInboundTrunk();
    const got = list.find((x) => x.sipTrunkId === t.sipTrunkId);
    assert.ok(got, 'listed');
    assert.equal(got.authUsername, 'user');
  });

  test('create and list an outbound trunk', async () => {
    const t = await sip.createSipOutboundTrunk('carrier out', 'sip.example.com:5060', ['+15550009999'], {
      transport: SIPTransport.SIP_TRANSPORT_UDP,
      authUsername: 'out',
      authPassword: 'secret',
    });
    assert.match(t.sipTrunkId, /^ST_[0-9A-Za-z]{12}$/, 'sipTrunkId');
    assert.equal(t.name, 'carrier out');
    assert.equal(t.address, 'sip.example.com:5060');
    assert.deepEqual(t.numbers, ['+15550009999']);
    assert.equal(t.transport, SIPTransport.SIP_TRANSPORT_UDP, 'transport');
    made.outbound = t;
    const list = await sip.listSipOutboundTrunk();
    const got = list.find((x) => x.sipTrunkId === t.sipTrunkId);
    assert.ok(got, `ListSIPOutboundTrunk lacks ${t.sipTrunkId}: ${JSON.stringify(ids(list, 'sipTrunkId'))}`);
    assert.equal(got.address, 'sip.example.com:5060');
    assert.deepEqual(got.numbers, ['+15550009999']);
    const inbound = await sip.listSipInboundTrunk();
    assert.ok(!inbound.some((x) => x.sipTrunkId === t.sipTrunkId), 'an outbound trunk is not listed as inbound');
  });

  test('create and list an individual dispatch rule', async () => {
    assert.ok(made.inbound, 'needs the inbound trunk');
    const r = await sip.createSipDispatchRule(
      { type: 'individual', roomPrefix: 'call' },
      { name: 'individual rule', trunkIds: [made.inbound.sipTrunkId], metadata: 'rm', attributes: { team: 'a' } },
    );
    assert.match(r.sipDispatchRuleId, /^SDR_[0-9A-Za-z]{12}$/, 'sipDispatchRuleId');
    assert.equal(r.rule?.rule.case, 'dispatchRuleIndividual');
    assert.equal(r.rule.rule.value.roomPrefix, 'call');
    assert.deepEqual(r.trunkIds, [made.inbound.sipTrunkId]);
    assert.equal(r.name, 'individual rule');
    assert.equal(r.metadata, 'rm');
    assert.deepEqual({ ...r.attributes }, { team: 'a' });
    made.individual = r;
    const list = await sip.listSipDispatchRule();
    const got = list.find((x) => x.sipDispatchRuleId === r.sipDispatchRuleId);
    assert.ok(got, `ListSIPDispatchRule lacks ${r.sipDispatchRuleId}`);
    assert.equal(got.rule?.rule.case, 'dispatchRuleIndividual');
    assert.equal(got.rule.rule.value.roomPrefix, 'call');
    assert.deepEqual(got.trunkIds, [made.inbound.sipTrunkId]);
  });

  test('create and list a direct dispatch rule', async () => {
    assert.ok(made.authTrunk, 'needs the auth trunk');
    const r = await sip.createSipDispatchRule(
      { type: 'direct', roomName: 'lobby' },
      { name: 'direct rule', trunkIds: [made.authTrunk.sipTrunkId] },
    );
    assert.match(r.sipDispatchRuleId, /^SDR_/);
    assert.equal(r.rule?.rule.case, 'dispatchRuleDirect');
    assert.equal(r.rule.rule.value.roomName, 'lobby');
    made.direct = r;
    const list = await sip.listSipDispatchRule();
    const got = list.find((x) => x.sipDispatchRuleId === r.sipDispatchRuleId);
    assert.ok(got, 'listed');
    assert.equal(got.rule?.rule.case, 'dispatchRuleDirect');
    assert.equal(got.rule.rule.value.roomName, 'lobby');
    assert.ok(list.some((x) => x.sipDispatchRuleId === made.individual?.sipDispatchRuleId), 'the first rule is still listed');
  });

  test('updateSipDispatchRule replaces a rule', async () => {
    assert.ok(made.direct, 'needs the direct rule');
    const id = made.direct.sipDispatchRuleId;
    const replacement = new SIPDispatchRuleInfo({
      rule: new SIPDispatchRule({
        rule: { case: 'dispatchRuleDirect', value: new SIPDispatchRuleDirect({ roomName: 'front-desk' }) },
      }),
      trunkIds: [made.authTrunk.sipTrunkId],
      name: 'direct rule v2',
      metadata: 'replaced',
    });
    const r = await sip.updateSipDispatchRule(id, replacement);
    assert.equal(r.sipDispatchRuleId, id, 'the id is kept');
    assert.equal(r.name, 'direct rule v2');
    assert.equal(r.metadata, 'replaced');
    assert.equal(r.rule?.rule.case, 'dispatchRuleDirect');
    assert.equal(r.rule.rule.value.roomName, 'front-desk');
    const got = (await sip.listSipDispatchRule()).find((x) => x.sipDispatchRuleId === id);
    assert.ok(got, 'still listed');
    assert.equal(got.name, 'direct rule v2');
    assert.equal(got.rule?.rule.value.roomName, 'front-desk');
    made.direct = got;
  });

  test('updateSipDispatchRuleFields changes name and metadata', async () => {
    assert.ok(made.individual, 'needs the individual rule');
    const id = made.individual.sipDispatchRuleId;
    const r = await sip.updateSipDispatchRuleFields(id, { name: 'renamed', metadata: 'm2' });
    assert.equal(r.sipDispatchRuleId, id);
    assert.equal(r.name, 'renamed');
    assert.equal(r.metadata, 'm2');
    assert.equal(r.rule?.rule.case, 'dispatchRuleIndividual', 'the rule itself is kept');
    assert.equal(r.rule.rule.value.roomPrefix, 'call');
    assert.deepEqual(r.trunkIds, [made.inbound.sipTrunkId], 'trunkIds are kept');
    const got = (await sip.listSipDispatchRule()).find((x) => x.sipDispatchRuleId === id);
    assert.equal(got?.name, 'renamed');
    made.individual = got;
  });

  test('a second inbound trunk with the same numbers is invalid_argument', async () => {
    await sip.createSipInboundTrunk('dup a', ['+15550003333']);
    await expectServerError(sip.createSipInboundTrunk('dup b', ['+15550003333']), 'invalid_argument', 400, /onflict/);
  });

  test('the same number written differently is a conflict too (normalised)', async () => {
    await sip.createSipInboundTrunk('norm a', ['+1 (555) 000-4444']);
    await expectServerError(sip.createSipInboundTrunk('norm b', ['+15550004444']), 'invalid_argument', 400);
  });

  test('an inbound trunk without numbers, addresses or auth is invalid_argument', async () => {
    await expectServerError(sip.createSipInboundTrunk('bare', []), 'invalid_argument', 400);
  });

  test('two rules with the same trunk, numbers and pin are invalid_argument', async () => {
    const t = await sip.createSipInboundTrunk('rule conflicts', ['+15550005555']);
    await sip.createSipDispatchRule({ type: 'individual', roomPrefix: 'a' }, { trunkIds: [t.sipTrunkId] });
    await expectServerError(
      sip.createSipDispatchRule({ type: 'direct', roomName: 'b' }, { trunkIds: [t.sipTrunkId] }),
      'invalid_argument',
      400,
      /already exists/,
    );
    // a different PIN is a different key
    const withPin = await sip.createSipDispatchRule({ type: 'direct', roomName: 'c', pin: '1234' }, { trunkIds: [t.sipTrunkId] });
    assert.match(withPin.sipDispatchRuleId, /^SDR_/);
    await expectServerError(
      sip.createSipDispatchRule({ type: 'direct', roomName: 'd', pin: '1234' }, { trunkIds: [t.sipTrunkId] }),
      'invalid_argument',
      400,
    );
  });

  test('an outbound trunk without numbers is invalid_argument', async () => {
    await expectServerError(sip.createSipOutboundTrunk('no numbers', 'sip.example.com', []), 'invalid_argument', 400);
  });

  test('an outbound trunk whose address is a SIP URI is invalid_argument', async () => {
    for (const address of ['sip:pbx.example.com', 'user@pbx.example.com', 'pbx.example.com;transport=tcp', '']) {
      await expectServerError(
        sip.createSipOutboundTrunk('uri address', address, ['+15550001234']),
        'invalid_argument',
        400,
        undefined,
        `address ${JSON.stringify(address)}: `,
      );
    }
  });

  test('a dispatch rule without a rule is invalid_argument', async () => {
    const at = new AccessToken(API_KEY, API_SECRET, { ttl: '5m' });
    at.addSIPGrant({ admin: true });
    const res = await twirp(server, 'SIP', 'CreateSIPDispatchRule', { name: 'ruleless' }, { token: await at.toJwt() });
    assert.equal(res.status, 400, `HTTP ${res.status}: ${res.text}`);
    assert.equal(res.json?.code, 'invalid_argument', res.text);
  });

  test('deleting an unknown trunk is not_found', async () => {
    await expectServerError(sip.deleteSipTrunk('ST_doesnotexist1'), 'not_found', 404);
  });

  test('deleting an unknown dispatch rule is not_found', async () => {
    await expectServerError(sip.deleteSipDispatchRule('SDR_doesnotexist1'), 'not_found', 404);
  });

  test('updating an unknown dispatch rule is not_found', async () => {
    await expectServerError(sip.updateSipDispatchRuleFields('SDR_doesnotexist1', { name: 'x' }), 'not_found', 404);
  });

  test('delete a dispatch rule and a trunk', async () => {
    const t = await sip.createSipInboundTrunk('short lived', ['+15550006666']);
    const r = await sip.createSipDispatchRule({ type: 'direct', roomName: 'gone' }, { trunkIds: [t.sipTrunkId] });
    const dr = await sip.deleteSipDispatchRule(r.sipDispatchRuleId);
    assert.equal(dr.sipDispatchRuleId, r.sipDispatchRuleId, 'DeleteSIPDispatchRule returns the deleted rule');
    let rules = await sip.listSipDispatchRule();
    assert.ok(!rules.some((x) => x.sipDispatchRuleId === r.sipDispatchRuleId), 'rule no longer listed');
    await sip.deleteSipTrunk(t.sipTrunkId);
    const trunks = await sip.listSipInboundTrunk();
    assert.ok(!trunks.some((x) => x.sipTrunkId === t.sipTrunkId), 'trunk no longer listed');
    // deleting twice: not_found
    await expectServerError(sip.deleteSipTrunk(t.sipTrunkId), 'not_found', 404);
    await expectServerError(sip.deleteSipDispatchRule(r.sipDispatchRuleId), 'not_found', 404);
    // the number is free again
    const again = await sip.createSipInboundTrunk('short lived again', ['+15550006666']);
    assert.match(again.sipTrunkId, /^ST_/);
    // outbound trunks are deleted with the same call
    const o = await sip.createSipOutboundTrunk('out gone', 'sip.example.net', ['+15550007777']);
    await sip.deleteSipTrunk(o.sipTrunkId);
    assert.ok(!(await sip.listSipOutboundTrunk()).some((x) => x.sipTrunkId === o.sipTrunkId), 'outbound trunk deleted');
  });

  test('snake_case request fields are accepted and the reply is Twirp JSON', async () => {
    const at = new AccessToken(API_KEY, API_SECRET, { ttl: '5m' });
    at.addSIPGrant({ admin: true });
    const token = await at.toJwt();
    const res = await twirp(server, 'SIP', 'CreateSIPInboundTrunk', {
      trunk: { name: 'snake', numbers: ['+15550008888'], allowed_addresses: ['192.0.2.1'], auth_username: 'su', auth_password: 'sp' },
    }, { token });
    assert.equal(res.status, 200, `status (body ${res.text})`);
    assert.equal(res.contentType?.split(';')[0], 'application/json');
    const t = res.json;
    assert.ok(t && typeof t === 'object', `JSON body: ${res.text}`);
    const id = t.sip_trunk_id ?? t.sipTrunkId;
    assert.match(id ?? '', /^ST_/, `trunk id in ${res.text}`);
    assert.deepEqual(t.allowed_addresses ?? t.allowedAddresses, ['192.0.2.1'], 'allowed_addresses taken from snake_case');
    assert.equal(t.auth_username ?? t.authUsername, 'su', 'auth_username taken from snake_case');
    made.snake = id;
  });

  test('GetSIPInboundTrunk returns the trunk; GetSIPOutboundTrunk of an inbound id is not_found', async () => {
    assert.ok(made.snake, 'needs the snake_case trunk');
    const at = new AccessToken(API_KEY, API_SECRET, { ttl: '5m' });
    at.addSIPGrant({ admin: true });
    const token = await at.toJwt();
    const got = await twirp(server, 'SIP', 'GetSIPInboundTrunk', { sipTrunkId: made.snake }, { token });
    assert.equal(got.status, 200, `status (body ${got.text})`);
    assert.equal(got.json?.trunk?.sip_trunk_id, made.snake, `trunk in ${got.text}`);
    assert.deepEqual(got.json.trunk.numbers, ['+15550008888']);
    assert.deepEqual(got.json.trunk.allowed_numbers, [], 'zero fields written out');
    const wrong = await twirp(server, 'SIP', 'GetSIPOutboundTrunk', { sip_trunk_id: made.snake }, { token });
    assert.equal(wrong.status, 404, `status (body ${wrong.text})`);
    assert.equal(wrong.json?.code, 'not_found');
  });

  test('an empty or missing id is not_found (404), not internal', async () => {
    const at = new AccessToken(API_KEY, API_SECRET, { ttl: '5m' });
    at.addSIPGrant({ admin: true });
    const token = await at.toJwt();
    const calls = [
      ['GetSIPInboundTrunk', { sipTrunkId: '' }],
      ['GetSIPInboundTrunk', {}],
      ['GetSIPOutboundTrunk', { sip_trunk_id: '' }],
      ['UpdateSIPInboundTrunk', { sipTrunkId: '', update: { name: 'x' } }],
      ['UpdateSIPOutboundTrunk', { update: { name: 'x' } }],
      ['DeleteSIPTrunk', { sipTrunkId: '' }],
      ['UpdateSIPDispatchRule', { sipDispatchRuleId: '', update: { name: 'x' } }],
      ['DeleteSIPDispatchRule', {}],
    ];
    for (const [method, body] of calls) {
      const res = await twirp(server, 'SIP', method, body, { token });
      const what = `${method} ${JSON.stringify(body)}: HTTP ${res.status} ${res.text}`;
      assert.equal(res.status, 404, what);
      assert.equal(res.json?.code, 'not_found', what);
      assert.match(res.json?.msg ?? '', /does not exist/, what);
    }
  });

  test('UpdateSIPInboundTrunk applies ListUpdate and field updates, and keeps the conflict check', async () => {
    assert.ok(made.snake, 'needs the snake_case trunk');
    const at = new AccessToken(API_KEY, API_SECRET, { ttl: '5m' });
    at.addSIPGrant({ admin: true });
    const token = await at.toJwt();
    const up = await twirp(server, 'SIP', 'UpdateSIPInboundTrunk', {
      sipTrunkId: made.snake,
      update: { name: 'renamed', numbers: { add: ['+15550008889'] } },
    }, { token });
    assert.equal(up.status, 200, `status (body ${up.text})`);
    assert.equal(up.json?.name, 'renamed');
    assert.deepEqual(up.json?.numbers, ['+15550008888', '+15550008889']);
    const removed = await twirp(server, 'SIP', 'UpdateSIPInboundTrunk', {
      sip_trunk_id: made.snake,
      update: { numbers: { remove: ['+15550008888'] } },
    }, { token });
    assert.equal(removed.status, 200, `status (body ${removed.text})`);
    assert.deepEqual(removed.json?.numbers, ['+15550008889']);
    const missing = await twirp(server, 'SIP', 'UpdateSIPInboundTrunk', {
      sipTrunkId: 'ST_doesnotexist', update: { name: 'x' },
    }, { token });
    assert.equal(missing.status, 404);
    assert.equal(missing.json?.code, 'not_found');
    const neither = await twirp(server, 'SIP', 'UpdateSIPInboundTrunk', { sipTrunkId: made.snake }, { token });
    assert.equal(neither.status, 400);
    assert.equal(neither.json?.code, 'invalid_argument');
  });

  test('a ListUpdate that is not a list of strings is invalid_argument and changes nothing', async () => {
    // {"set":[1],"remove":["x"]} once crashed the server (a NULL string
    // compared in the remove step).
    const at = new AccessToken(API_KEY, API_SECRET, { ttl: '5m' });
    at.addSIPGrant({ admin: true });
    const token = await at.toJwt();
    const inbound = await sip.createSipInboundTrunk('list update in', ['+15550010001']);
    const outbound = await sip.createSipOutboundTrunk('list update out', 'sip.example.org', ['+15550010002']);
    const rule = await sip.createSipDispatchRule({ type: 'direct', roomName: 'lu' }, { trunkIds: [inbound.sipTrunkId] });
    const bad = [
      { set: [1], remove: ['x'] },
      { add: [null] },
      { remove: [{}] },
      { set: 'not-a-list' },
      { add: [['nested']] },
      { clear: 'yes' },
      // LiveKit's ListUpdate.Validate
      { add: [''] },
      {},
      { set: ['a'], add: ['b'] },
      { clear: true, remove: ['a'] },
    ];
    const targets = [
      ['UpdateSIPDispatchRule', { sipDispatchRuleId: rule.sipDispatchRuleId }, 'trunkIds'],
      ['UpdateSIPInboundTrunk', { sipTrunkId: inbound.sipTrunkId }, 'numbers'],
      ['UpdateSIPInboundTrunk', { sipTrunkId: inbound.sipTrunkId }, 'allowedAddresses'],
      ['UpdateSIPOutboundTrunk', { sipTrunkId: outbound.sipTrunkId }, 'numbers'],
    ];
    for (const [method, id, field] of targets) {
      for (const u of bad) {
        const what = `${method} ${field} ${JSON.stringify(u)}`;
        const res = await twirp(server, 'SIP', method, { ...id, update: { name: 'changed', [field]: u } }, { token });
        assert.equal(res.status, 400, `${what}: HTTP ${res.status} ${res.text}`);
        assert.equal(res.json?.code, 'invalid_argument', `${what}: ${res.text}`);
        assert.match(res.json?.msg ?? '', new RegExp(field), `${what}: the message names the field: ${res.text}`);
      }
    }
    // a ListUpdate on a field that is not a list
    const notList = await twirp(server, 'SIP', 'UpdateSIPInboundTrunk',
      { sipTrunkId: inbound.sipTrunkId, update: { name: { set: ['a'] } } }, { token });
    assert.equal(notList.status, 400, `ListUpdate on name: HTTP ${notList.status} ${notList.text}`);
    assert.equal(notList.json?.code, 'invalid_argument', notList.text);
    // nothing was applied, and the server still answers
    const t = (await sip.listSipInboundTrunk()).find((x) => x.sipTrunkId === inbound.sipTrunkId);
    assert.equal(t?.name, 'list update in');
    assert.deepEqual(t?.numbers, ['+15550010001']);
    const o = (await sip.listSipOutboundTrunk()).find((x) => x.sipTrunkId === outbound.sipTrunkId);
    assert.equal(o?.name, 'list update out');
    assert.deepEqual(o?.numbers, ['+15550010002']);
    const r = (await sip.listSipDispatchRule()).find((x) => x.sipDispatchRuleId === rule.sipDispatchRuleId);
    assert.equal(r?.name, '');
    assert.deepEqual(r?.trunkIds, [inbound.sipTrunkId]);
    // good ListUpdates still work
    const set = await twirp(server, 'SIP', 'UpdateSIPDispatchRule', {
      sipDispatchRuleId: rule.sipDispatchRuleId,
      update: { trunkIds: { set: [inbound.sipTrunkId, 'ST_other'] } },
    }, { token });
    assert.equal(set.status, 200, `ListUpdate set: HTTP ${set.status} ${set.text}`);
    assert.deepEqual(set.json?.trunk_ids, [inbound.sipTrunkId, 'ST_other']);
    const removed = await twirp(server, 'SIP', 'UpdateSIPDispatchRule', {
      sipDispatchRuleId: rule.sipDispatchRuleId,
      update: { trunkIds: { remove: ['ST_other'] } },
    }, { token });
    assert.equal(removed.status, 200, `ListUpdate remove: HTTP ${removed.status} ${removed.text}`);
    assert.deepEqual(removed.json?.trunk_ids, [inbound.sipTrunkId]);
  });

  test('trunk and rule replies use Twirp JSON: snake_case, every field, RFC 3339 timestamps', async () => {
    // protojson as LiveKit's twirp handlers write it (UseProtoNames,
    // EmitUnpopulated): google.protobuf.Timestamp is an RFC 3339 string,
    // and fields left at their defaults are written out.
    const at = new AccessToken(API_KEY, API_SECRET, { ttl: '5m' });
    at.addSIPGrant({ admin: true });
    const token = await at.toJwt();
    const rfc3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
    const res = await twirp(server, 'SIP', 'ListSIPInboundTrunk', {}, { token });
    assert.equal(res.status, 200, res.text);
    const t = res.json?.items?.[0];
    assert.ok(t, `a trunk in ${res.text.slice(0, 300)}`);
    const missingT = ['sip_trunk_id', 'name', 'metadata', 'numbers', 'allowed_addresses', 'allowed_numbers', 'auth_username', 'auth_password', 'headers'].filter((k) => !(k in t));
    assert.deepEqual(missingT, [], `fields missing from a ListSIPInboundTrunk item (EmitUnpopulated): ${JSON.stringify(t)}`);
    for (const k of ['created_at', 'updated_at']) {
      if (k in t) assert.match(String(t[k]), rfc3339, `${k} as RFC 3339 string, got ${JSON.stringify(t[k])}`);
    }
    const rr = await twirp(server, 'SIP', 'ListSIPDispatchRule', {}, { token });
    assert.equal(rr.status, 200, rr.text);
    const r = rr.json?.items?.[0];
    assert.ok(r, `a rule in ${rr.text.slice(0, 300)}`);
    const missingR = ['sip_dispatch_rule_id', 'rule', 'trunk_ids', 'hide_phone_number', 'inbound_numbers', 'numbers', 'name', 'metadata', 'attributes'].filter((k) => !(k in r));
    assert.deepEqual(missingR, [], `fields missing from a ListSIPDispatchRule item (EmitUnpopulated): ${JSON.stringify(r)}`);
    for (const k of ['created_at', 'updated_at']) {
      if (k in r) assert.match(String(r[k]), rfc3339, `${k} as RFC 3339 string, got ${JSON.stringify(r[k])}`);
    }
  });

  test('trunks and rules survive a restart on the same database', async () => {
    assert.ok(made.inbound && made.outbound && made.individual && made.direct, 'needs the objects made above');
    const before = {
      inbound: await sip.listSipInboundTrunk(),
      outbound: await sip.listSipOutboundTrunk(),
      rules: await sip.listSipDispatchRule(),
    };
    await server.stop();
    server = await startServer({ db: server.db });
    sip = new SipClient(server.url, API_KEY, API_SECRET);
    const inbound = await sip.listSipInboundTrunk();
    const outbound = await sip.listSipOutboundTrunk();
    const rules = await sip.listSipDispatchRule();
    assert.deepEqual(ids(inbound, 'sipTrunkId').sort(), ids(before.inbound, 'sipTrunkId').sort(), 'inbound trunks');
    assert.deepEqual(ids(outbound, 'sipTrunkId').sort(), ids(before.outbound, 'sipTrunkId').sort(), 'outbound trunks');
    assert.deepEqual(ids(rules, 'sipDispatchRuleId').sort(), ids(before.rules, 'sipDispatchRuleId').sort(), 'dispatch rules');
    const t = inbound.find((x) => x.sipTrunkId === made.inbound.sipTrunkId);
    assert.equal(t?.name, 'main line');
    assert.deepEqual(t?.numbers, ['+15550001111']);
    assert.deepEqual(t?.allowedAddresses, ['127.0.0.1', '10.0.0.0/8']);
    const o = outbound.find((x) => x.sipTrunkId === made.outbound.sipTrunkId);
    assert.equal(o?.address, 'sip.example.com:5060');
    const r = rules.find((x) => x.sipDispatchRuleId === made.direct.sipDispatchRuleId);
    assert.equal(r?.name, 'direct rule v2', 'the update was persisted');
    assert.equal(r?.rule?.rule.value.roomName, 'front-desk');
    const ri = rules.find((x) => x.sipDispatchRuleId === made.individual.sipDispatchRuleId);
    assert.equal(ri?.rule?.rule.case, 'dispatchRuleIndividual');
    assert.deepEqual(ri?.trunkIds, [made.inbound.sipTrunkId]);
    // conflict checks still see the stored trunks
    await expectServerError(sip.createSipInboundTrunk('dup after restart', ['+15550001111']), 'invalid_argument', 400);
  });

  test('the server exits 0 on SIGTERM', async () => {
    await server.stop();
  });
});
