// The provider stand-ins as a process of their own, for tests and
// benchmarks written in bash:
//
//   node tests/integration/standins/serve.mjs [--log DIR] [--tls]
//        [--options JSON] NAME...
//
// NAME: deepgram, realtime, elevenlabs, cartesia, openai. Each listens on
// 127.0.0.1 with a random port; once all are up, one JSON line goes to
// stdout: {"deepgram": {"url": ..., "port": ..., "key": ...}, ...} (url is
// the base URL as the provider's SDKs take it). --log DIR appends each
// one's log to DIR/NAME.jsonl; --options '{"deepgram": {"transcript":
// "Hello."}, "openai": {"timing": {"firstMs": 300}}}' passes options to
// the start functions. Faults, timing and scripts change at run time
// through each stand-in's /__standin/ path (common.mjs, control()), e.g.
//   curl -d '{"kind":"stall"}' http://127.0.0.1:PORT/__standin/fault
// SIGTERM or SIGINT stops them.

import path from 'node:path';
import { startDeepgramStandIn } from './deepgram.mjs';
import { startRealtimeStandIn } from './realtime.mjs';
import { startElevenLabsStandIn } from './elevenlabs.mjs';
import { startCartesiaStandIn } from './cartesia.mjs';
import { startOpenAIStandIn } from './openai.mjs';

const START = { deepgram: startDeepgramStandIn, realtime: startRealtimeStandIn, elevenlabs: startElevenLabsStandIn, cartesia: startCartesiaStandIn, openai: startOpenAIStandIn };

const args = process.argv.slice(2);
let logDir = null;
let tls = false;
let options = {};
const names = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--log') logDir = args[++i];
  else if (args[i] === '--tls') tls = true;
  else if (args[i] === '--options') options = JSON.parse(args[++i]);
  else if (START[args[i]]) names.push(args[i]);
  else {
    console.error(`usage: serve.mjs [--log DIR] [--tls] [--options JSON] ${Object.keys(START).join('|')}...`);
    process.exit(2);
  }
}
if (!names.length) {
  console.error('serve.mjs: name at least one stand-in');
  process.exit(2);
}

const running = {};
const out = {};
for (const n of names) {
  const o = { ...(options[n] ?? {}) };
  if (logDir) o.log = path.join(logDir, `${n}.jsonl`);
  if (tls && n !== 'openai') o.tls = true;
  running[n] = await START[n](o);
  out[n] = { url: running[n].url, port: running[n].port, key: running[n].key ?? null };
}
console.log(JSON.stringify(out));

const stop = async () => {
  await Promise.all(Object.values(running).map((s) => s.stop()));
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
