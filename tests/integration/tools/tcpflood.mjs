// Opens COUNT TCP connections to HOST:PORT from the given local source
// addresses in turn, optionally sends DATA on each ("" sends nothing),
// keeps them HOLD_MS, then prints how many the server closed:
//   node tcpflood.mjs HOST PORT COUNT HOLD_MS DATA SRC1[,SRC2...]
// Output: "opened=N refused=N closed_by_server=N open_at_end=N".
import net from 'node:net';

const [host, port, count, holdMs, data, srcs] = process.argv.slice(2);
const sources = srcs.split(',');
const socks = [];
let opened = 0;
let refused = 0;
let closed = 0;

function connectOne(i) {
	return new Promise((resolve) => {
		const s = net.connect({ host, port: Number(port), localAddress: sources[i % sources.length] });
		let done = false;
		const finish = () => {
			if (!done) {
				done = true;
				resolve();
			}
		};
		s.on('connect', () => {
			opened++;
			if (data) s.write(data.replace(/\\r/g, '\r').replace(/\\n/g, '\n'));
			finish();
		});
		s.on('error', () => {
			if (!s.connecting) return;
			refused++;
			finish();
		});
		s.on('close', () => {
			if (s.wasOpened) closed++;
			finish();
		});
		s.once('connect', () => { s.wasOpened = true; });
		socks.push(s);
	});
}

for (let i = 0; i < Number(count); i += 50) {
	const batch = [];
	for (let j = i; j < Math.min(i + 50, Number(count)); j++) batch.push(connectOne(j));
	await Promise.all(batch);
}
await new Promise((r) => setTimeout(r, Number(holdMs)));
const openAtEnd = socks.filter((s) => !s.destroyed && s.readyState === 'open').length;
console.log(`opened=${opened} refused=${refused} closed_by_server=${closed} open_at_end=${openAtEnd}`);
for (const s of socks) s.destroy();
process.exit(0);
