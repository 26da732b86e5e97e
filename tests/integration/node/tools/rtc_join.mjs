// Joins a room with @livekit/rtc-node and stays: prints "connected" once
// the SDK says so, then waits to be stopped or killed. For tests that make
// a real client vanish (SIGSTOP, SIGKILL) without a leave.
// Usage: node rtc_join.mjs ws://HOST:PORT TOKEN
import { Room } from '@livekit/rtc-node';

const [url, token] = process.argv.slice(2);
const room = new Room();
await room.connect(url, token, { autoSubscribe: true, dynacast: false });
process.stdout.write('connected\n');
setInterval(() => {}, 1000);
