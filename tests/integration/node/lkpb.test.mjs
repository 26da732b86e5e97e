// LiveKit's protobuf wire format in voxgate (src/livekit) against the
// package the SDKs use, @livekit/protocol:
//  - schema: every message, field, oneof and enum value of voxgate's .proto
//    subset has LiveKit's number, name, type and label (protoc-c compiles
//    the .proto files into a descriptor set, read here);
//  - frames: what voxgate writes (build/tools/lkpb_pack, from lkpb) decodes
//    with @livekit/protocol into the values it was given.
// The other direction, frames @livekit/protocol writes read by voxgate, is
// tests/unit/lkpb_test.c on tests/unit/fixtures/lkpb/.

import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as P from '@livekit/protocol';
import { FileDescriptorSet, FieldDescriptorProto_Label, FieldDescriptorProto_Type, proto3 } from '@bufbuild/protobuf';
import { ROOT, tmpDir } from './helpers.mjs';

const PROTO_DIR = path.join(ROOT, 'src/livekit');
const PACK = path.join(ROOT, 'build/tools/lkpb_pack');

// The package's runtime type for a full proto name: livekit.DataStream.Header
// is exported as DataStream_Header.
function lkType(fullName) {
  const t = P[fullName.replace(/^livekit\./, '').replace(/\./g, '_')];
  return t;
}

describe('schema', () => {
  let files;

  before(() => {
    const out = path.join(tmpDir(), 'livekit.desc');
    const protos = fs.readdirSync(PROTO_DIR).filter((f) => f.endsWith('.proto')).sort();
    assert.deepEqual(protos, ['livekit_agent.proto', 'livekit_models.proto', 'livekit_rtc.proto']);
    execFileSync('protoc-c', [`--descriptor_set_out=${out}`, `-I${PROTO_DIR}`, ...protos.map((f) => path.join(PROTO_DIR, f))]);
    files = FileDescriptorSet.fromBinary(fs.readFileSync(out)).file;
  });

  // Each message and enum, nested ones included, with its full name.
  function walk(fn) {
    const visit = (prefix, msgs, enums) => {
      for (const e of enums) fn('enum', `${prefix}.${e.name}`, e);
      for (const m of msgs) {
        if (m.options?.mapEntry) continue;
        fn('message', `${prefix}.${m.name}`, m);
        visit(`${prefix}.${m.name}`, m.nestedType, m.enumType);
      }
    };
    for (const f of files) {
      assert.equal(f.package, 'livekit', f.name);
      assert.equal(f.syntax, 'proto3', f.name);
      visit('livekit', f.messageType, f.enumType);
    }
  }

  test('every enum value is LiveKit\'s', () => {
    let n = 0;
    walk((kind, name, e) => {
      if (kind !== 'enum') return;
      const t = lkType(name);
      assert.ok(t, `${name} is not in @livekit/protocol`);
      const lk = proto3.getEnumType(t);
      assert.equal(lk.typeName, name);
      for (const v of e.value) {
        const want = lk.findNumber(v.number);
        assert.ok(want, `${name}.${v.name} = ${v.number}: no such number in LiveKit's`);
        assert.equal(v.name, want.name, `${name} ${v.number}`);
        n++;
      }
    });
    assert.ok(n > 90, `${n} enum values`);
  });

  test('every field is LiveKit\'s: number, name, type, label, oneof', () => {
    let n = 0;
    walk((kind, name, m) => {
      if (kind !== 'message') return;
      const t = lkType(name);
      assert.ok(t, `${name} is not in @livekit/protocol`);
      assert.equal(t.typeName, name);
      const nested = new Map(m.nestedType.map((x) => [`${name}.${x.name}`, x]));
      for (const f of m.field) {
        const what = `${name}.${f.name} = ${f.number}`;
        const lk = t.fields.find(f.number);
        assert.ok(lk, `${what}: no such field in LiveKit's`);
        assert.equal(f.name, lk.name, what);
        const entry = f.typeName && nested.get(f.typeName.slice(1));
        if (entry?.options?.mapEntry) {
          assert.equal(lk.kind, 'map', `${what}: a map`);
          const [k, v] = entry.field;
          assert.equal(k.type, lk.K, `${what}: map key`);
          if (lk.V.kind === 'scalar') assert.equal(v.type, lk.V.T, `${what}: map value`);
          else assert.equal(v.typeName, `.${lk.V.T.typeName}`, `${what}: map value`);
        } else {
          assert.equal(f.label === FieldDescriptorProto_Label.REPEATED, !!lk.repeated, `${what}: repeated`);
          if (f.type === FieldDescriptorProto_Type.MESSAGE) {
            assert.equal(lk.kind, 'message', what);
            assert.equal(f.typeName, `.${lk.T.typeName}`, what);
          } else if (f.type === FieldDescriptorProto_Type.ENUM) {
            assert.equal(lk.kind, 'enum', what);
            assert.equal(f.typeName, `.${lk.T.typeName}`, what);
          } else {
            // descriptor.proto's types and protobuf-es' ScalarType share numbers
            assert.equal(lk.kind, 'scalar', what);
            assert.equal(f.type, lk.T, `${what}: scalar type`);
          }
        }
        // proto3 optional is written as a oneof _<name> of its own
        const oneof = f.oneofIndex === undefined ? undefined : m.oneofDecl[f.oneofIndex].name;
        if (lk.opt && lk.kind !== 'message') {
          assert.equal(oneof, `_${f.name}`, `${what}: LiveKit's is optional`);
          assert.equal(m.field.filter((g) => g.oneofIndex === f.oneofIndex).length, 1, `${what}: alone in its oneof`);
        } else {
          // (an optional message field is a plain one: it has presence
          // either way)
          assert.equal(oneof, lk.oneof?.name, `${what}: oneof`);
        }
        n++;
      }
    });
    assert.ok(n > 250, `${n} fields`);
  });

  // The members the /rtc and /agent dispatchers need (livekit-rtc.md §a, §c).
  test('the members of the signalling and worker oneofs are there', () => {
    const members = {};
    walk((kind, name, m) => {
      if (kind === 'message') members[name] = m.field.map((f) => f.name);
    });
    assert.deepEqual(members['livekit.SignalRequest'], ['offer', 'answer', 'trickle', 'add_track', 'mute', 'subscription',
      'track_setting', 'leave', 'ping', 'update_metadata', 'ping_req', 'update_audio_track']);
    assert.deepEqual(members['livekit.SignalResponse'], ['join', 'answer', 'offer', 'trickle', 'update', 'track_published',
      'leave', 'mute', 'room_update', 'refresh_token', 'track_unpublished', 'pong', 'reconnect', 'pong_resp',
      'request_response', 'track_subscribed']);
    assert.deepEqual(members['livekit.WorkerMessage'], ['register', 'availability', 'update_worker', 'update_job', 'ping',
      'migrate_job']);
    assert.deepEqual(members['livekit.ServerMessage'], ['register', 'availability', 'assignment', 'termination', 'pong']);
  });
});

describe('frames voxgate writes', () => {
  const frames = new Map();

  before(() => {
    // built by make test; built here when this file runs alone
    execFileSync('make', ['-s', '-C', ROOT, 'build/tools/lkpb_pack'], { stdio: 'pipe', timeout: 600000 });
    for (const line of execFileSync(PACK, { encoding: 'utf8' }).trim().split('\n')) {
      const [name, kind, hex] = line.split(' ');
      frames.set(name, P[kind].fromBinary(Buffer.from(hex, 'hex')));
    }
  });

  // The frame decoded, and what it must equal; a JSON diff on failure.
  function check(name, want) {
    const got = frames.get(name);
    assert.ok(got, `lkpb_pack wrote no ${name}`);
    assert.equal(got.getType().typeName, want.getType().typeName);
    assert.deepEqual(got.toJson(), want.toJson(), name);
    assert.ok(got.equals(want), `${name}: equal as messages`);
  }

  const serverInfo = (more = {}) => new P.ServerInfo({
    edition: P.ServerInfo_Edition.Standard, version: '0.12.0', protocol: 16, agentProtocol: 1, ...more,
  });

  test('join', () => {
    check('join', new P.SignalResponse({
      message: {
        case: 'join',
        value: new P.JoinResponse({
          room: new P.Room({
            sid: 'RM_wFhDVkTqEn7c', name: 'call-+15551234567', emptyTimeout: 300, departureTimeout: 20,
            creationTime: 1733480000n, creationTimeMs: 1733480000123n, numParticipants: 2,
          }),
          participant: new P.ParticipantInfo({
            sid: 'PA_agent00000001', identity: 'agent-AJ_Fv6d2kGc8sQp', state: P.ParticipantInfo_State.JOINED,
            kind: P.ParticipantInfo_Kind.AGENT, joinedAt: 1733480001n, joinedAtMs: 1733480001456n, version: 1,
            permission: new P.ParticipantPermission({
              canSubscribe: true, canPublish: true, canPublishData: true, canUpdateMetadata: true, agent: true,
            }),
          }),
          otherParticipants: [new P.ParticipantInfo({
            sid: 'PA_caller0000001', identity: 'sip_+15551234567', name: 'Phone +15551234567',
            state: P.ParticipantInfo_State.ACTIVE, kind: P.ParticipantInfo_Kind.SIP, isPublisher: true, version: 3,
            tracks: [new P.TrackInfo({
              sid: 'TR_caller0000001', type: P.TrackType.AUDIO, source: P.TrackSource.MICROPHONE, name: 'phone',
              mimeType: 'audio/PCMU',
            })],
            attributes: { 'sip.phoneNumber': '+15551234567' },
          })],
          serverVersion: '0.12.0',
          iceServers: [new P.ICEServer({ urls: ['stun:stun.example.net:3478'] })],
          subscriberPrimary: true,
          pingTimeout: 15,
          pingInterval: 5,
          serverInfo: serverInfo({ nodeId: 'ND_voxgate' }),
          enabledPublishCodecs: [new P.Codec({ mime: 'audio/opus' }), new P.Codec({ mime: 'audio/PCMU' })],
          fastPublish: false,
        }),
      },
    }));
  });

  test('offer', () => {
    check('offer', new P.SignalResponse({
      message: {
        case: 'offer',
        value: new P.SessionDescription({
          type: 'offer', sdp: 'v=0\r\no=- 32349875 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n', id: 7,
          midToTrackId: { 0: 'TR_caller0000001' },
        }),
      },
    }));
  });

  test('update', () => {
    check('update', new P.SignalResponse({
      message: {
        case: 'update',
        value: new P.ParticipantUpdate({
          participants: [new P.ParticipantInfo({
            sid: 'PA_web000000001', identity: 'web-1', state: P.ParticipantInfo_State.DISCONNECTED,
            disconnectReason: P.DisconnectReason.CLIENT_INITIATED, version: 5,
          })],
        }),
      },
    }));
  });

  test('track_published: audio features, 0 among them', () => {
    check('track_published', new P.SignalResponse({
      message: {
        case: 'trackPublished',
        value: new P.TrackPublishedResponse({
          cid: 'c7f1e2d3-mic',
          track: new P.TrackInfo({
            sid: 'TR_agent00000001', type: P.TrackType.AUDIO, name: 'roomio_audio', source: P.TrackSource.MICROPHONE,
            mimeType: 'audio/opus', audioFeatures: [P.AudioTrackFeature.TF_STEREO, P.AudioTrackFeature.TF_NO_DTX],
          }),
        }),
      },
    }));
  });

  test('track_subscribed, pong_resp, request_response, leave, refresh_token', () => {
    check('track_subscribed', new P.SignalResponse({
      message: { case: 'trackSubscribed', value: new P.TrackSubscribed({ trackSid: 'TR_agent00000001' }) },
    }));
    check('pong_resp', new P.SignalResponse({
      message: { case: 'pongResp', value: new P.Pong({ lastPingTimestamp: 1733480000123n, timestamp: 1733480000130n }) },
    }));
    check('request_response', new P.SignalResponse({
      message: {
        case: 'requestResponse',
        value: new P.RequestResponse({
          requestId: 3, reason: P.RequestResponse_Reason.OK,
          request: {
            case: 'updateMetadata',
            value: new P.UpdateParticipantMetadata({ attributes: { 'lk.agent.state': 'speaking' }, requestId: 3 }),
          },
        }),
      },
    }));
    check('leave', new P.SignalResponse({
      message: {
        case: 'leave',
        value: new P.LeaveRequest({
          canReconnect: false, reason: P.DisconnectReason.ROOM_DELETED, action: P.LeaveRequest_Action.DISCONNECT,
        }),
      },
    }));
    check('refresh_token', new P.SignalResponse({
      message: { case: 'refreshToken', value: 'eyJhbGciOiJIUzI1NiJ9.e30.c2ln' },
    }));
  });

  test('pong (int64) at 0 is still a pong', () => {
    const got = frames.get('pong');
    assert.equal(got.message.case, 'pong');
    assert.equal(got.message.value, 0n);
  });

  test('register', () => {
    check('register', new P.ServerMessage({
      message: { case: 'register', value: new P.RegisterWorkerResponse({ workerId: 'AW_Q6n2cT9xLr4e', serverInfo: serverInfo() }) },
    }));
  });

  const job = new P.Job({
    id: 'AJ_Fv6d2kGc8sQp', dispatchId: 'AD_Lm3pX8sVq2Tk', type: P.JobType.JT_ROOM,
    room: new P.Room({ sid: 'RM_wFhDVkTqEn7c', name: 'call-+15551234567', creationTime: 1733480000n }),
    participant: new P.ParticipantInfo({
      sid: 'PA_caller0000001', identity: 'sip_+15551234567', kind: P.ParticipantInfo_Kind.SIP,
      state: P.ParticipantInfo_State.ACTIVE,
    }),
    metadata: '{"lang":"en"}', agentName: 'support',
    state: new P.JobState({ status: P.JobStatus.JS_PENDING, updatedAt: 1733480002n }),
    attributes: { 'sip.trunkPhoneNumber': '+15557654321' },
  });

  test('availability, termination, pong', () => {
    check('availability', new P.ServerMessage({
      message: { case: 'availability', value: new P.AvailabilityRequest({ job }) },
    }));
    check('termination', new P.ServerMessage({
      message: { case: 'termination', value: new P.JobTermination({ jobId: 'AJ_Fv6d2kGc8sQp' }) },
    }));
    check('worker_pong', new P.ServerMessage({
      message: { case: 'pong', value: new P.WorkerPong({ lastTimestamp: 1733480000789n, timestamp: 1733480000795n }) },
    }));
  });

  test('assignment: url absent or set', () => {
    const token = 'eyJhbGciOiJIUzI1NiJ9.e30.c2ln';
    check('assignment', new P.ServerMessage({
      message: { case: 'assignment', value: new P.JobAssignment({ job, token }) },
    }));
    assert.equal(frames.get('assignment').message.value.url, undefined);
    check('assignment_url', new P.ServerMessage({
      message: { case: 'assignment', value: new P.JobAssignment({ job, token, url: 'ws://127.0.0.1:7880' }) },
    }));
  });

  test('update_worker: WS_AVAILABLE (0) is present', () => {
    const got = frames.get('update_worker');
    check('update_worker', new P.WorkerMessage({
      message: { case: 'updateWorker', value: new P.UpdateWorkerStatus({ status: P.WorkerStatus.WS_AVAILABLE, load: 0.25 }) },
    }));
    assert.equal(got.message.value.status, P.WorkerStatus.WS_AVAILABLE);
  });

  test('sip_dtmf', () => {
    check('sip_dtmf', new P.DataPacket({
      kind: P.DataPacket_Kind.RELIABLE, participantIdentity: 'sip_+15551234567', participantSid: 'PA_caller0000001',
      value: { case: 'sipDtmf', value: new P.SipDTMF({ code: 11, digit: '#' }) },
    }));
  });

  test('every frame written is checked here', () => {
    assert.deepEqual([...frames.keys()].sort(), ['assignment', 'assignment_url', 'availability', 'join', 'leave', 'offer',
      'pong', 'pong_resp', 'refresh_token', 'register', 'request_response', 'sip_dtmf', 'termination', 'track_published',
      'track_subscribed', 'update', 'update_worker', 'worker_pong']);
  });
});
