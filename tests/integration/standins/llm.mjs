// A stand-in for an OpenAI-compatible chat-completions server, for tests:
// the real service is out of reach here. It speaks the documented wire
// format: POST /v1/chat/completions with stream:true answered as
// Server-Sent Events (data: {choices:[{delta:{content}}]} ... data: [DONE]).
//
//   node llm.mjs PORT MODEFILE LOG
//
// MODEFILE holds the mode, read at each request: "reply" streams "Our hours are nine to five. Anything else?" in
// small pieces; "error" answers 500 with an OpenAI-style error body;
// "malformed" streams one good chunk then broken JSON. Each request body
// is appended to LOG as one JSON line.
import http from 'node:http';
import fs from 'node:fs';

const [port, modeFile, log] = process.argv.slice(2);
const pieces = ['Our hours', ' are nine', ' to five.', ' Anything', ' else?'];

const chunk = (content) =>
  `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`;

http
  .createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', async () => {
      const mode = fs.readFileSync(modeFile, 'utf8').trim();
      fs.appendFileSync(log, body.replace(/\n/g, ' ') + '\n');
      if (mode === 'error') {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'stand-in failure', type: 'server_error' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { role: 'assistant' } }] })}\n\n`);
      if (mode === 'malformed') {
        res.write(chunk('Our hours'));
        res.end('data: {"choices": [{"delta": \n\n');
        return;
      }
      for (const p of pieces) {
        res.write(chunk(p));
        await new Promise((r) => setTimeout(r, 30));
      }
      res.end('data: [DONE]\n\n');
    });
  })
  .listen(Number(port), '127.0.0.1', () => console.log(`listening ${port}`));
