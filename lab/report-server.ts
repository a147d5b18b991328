/**
 * Lab runner: a stand-in for the imgsrv API that the netboot /init reports to,
 * plus static files (kernel, initrd, iPXE script) for the PXE tests.
 * Usage: node report-server.ts <bind-address> <port> <token> [<static-dir>]
 * Prints "ready <port>" once listening, then one "report <json>" line per
 * POST /api/v1/nodes/report (body, auth verdict, content type, time).
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';

const [address = '127.0.0.1', port = '8080', token = '', dir] = process.argv.slice(2);

const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/api/v1/nodes/report') {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString();
      const authorized = req.headers.authorization === `Bearer ${token}`;
      let body: unknown = null;
      try {
        body = JSON.parse(raw);
      } catch {
        /* reported as body: null, raw kept */
      }
      console.log(`report ${JSON.stringify({ t: Date.now(), authorized, contentType: req.headers['content-type'], body, raw })}`);
      res.writeHead(authorized && body ? 200 : authorized ? 400 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: authorized && body !== null }));
    });
    return;
  }
  if (req.method === 'GET' && dir && req.url) {
    const rel = normalize(decodeURIComponent(req.url.split('?')[0] ?? '/')).replace(/^(\.\.(\/|$))+/, '');
    const file = join(dir, rel);
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a file');
      console.log(`get ${JSON.stringify({ t: Date.now(), url: req.url, bytes: st.size })}`);
      res.writeHead(200, { 'content-length': st.size, 'content-type': 'application/octet-stream' });
      createReadStream(file).pipe(res);
      return;
    } catch {
      /* fall through to 404 */
    }
  }
  res.writeHead(404).end();
});
server.listen(Number(port), address, () => console.log(`ready ${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
