// Sends raw bytes on a WebSocket after its upgrade, as a hostile peer
// would, and prints what became of the connection:
//   node wsraw.mjs PORT PATH HEXFRAME [HEADER: value ...]
// Prints "status=<HTTP status> closed=<yes|no> close_code=<code|->" and
// exits 0 once the server has answered; 1 when it could not connect.
import net from 'node:net';

const [port, path, hex, ...headers] = process.argv.slice(2);
const sock = net.connect(Number(port), '127.0.0.1');
let buf = Buffer.alloc(0);
let status = '-';
let upgraded = false;
let closeCode = '-';

function done(closed) {
	console.log(`status=${status} closed=${closed ? 'yes' : 'no'} close_code=${closeCode}`);
	sock.destroy();
	process.exit(0);
}

sock.setTimeout(4000, () => done(false));
sock.on('error', () => {
	if (status === '-') process.exit(1);
	done(true);
});
sock.on('close', () => done(true));
sock.on('connect', () => {
	sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
		'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
		'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
		'Sec-WebSocket-Version: 13\r\n' +
		headers.map((h) => h + '\r\n').join('') + '\r\n');
});
sock.on('data', (d) => {
	buf = Buffer.concat([buf, d]);
	if (!upgraded) {
		const end = buf.indexOf('\r\n\r\n');
		if (end < 0) return;
		status = buf.subarray(9, 12).toString();
		buf = buf.subarray(end + 4);
		if (status !== '101') {
			done(false);
			return;
		}
		upgraded = true;
		sock.write(Buffer.from(hex, 'hex'));
	}
	// a close frame from the server: opcode 8, its code in the payload
	if (buf.length >= 4 && (buf[0] & 0x0f) === 8)
		closeCode = String(buf.readUInt16BE(2));
});
