/**
 * A minimal Nx self-hosted remote cache (the OpenAPI protocol Nx selects with NX_SELF_HOSTED_REMOTE_CACHE_SERVER):
 * PUT /v1/cache/{hash} stores a task's tar archive, GET returns it or 404. Bearer-token auth. Loopback only, in
 * memory, for e2e tests.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RemoteCacheServer {
  url: string;
  token: string;
  stats: { puts: number; hits: number; misses: number };
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startRemoteCacheServer(token = 'e2e-secret-token'): Promise<RemoteCacheServer> {
  const store = new Map<string, Buffer>();
  const stats = { puts: 0, hits: 0, misses: 0 };
  const server: Server = createServer((req, res) => {
    const m = /^\/v1\/cache\/([A-Za-z0-9]+)$/.exec(req.url ?? '');
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401).end('missing or wrong token');
      return;
    }
    const hash = m[1];
    if (req.method === 'GET') {
      const body = store.get(hash);
      if (!body) {
        stats.misses++;
        res.writeHead(404).end();
        return;
      }
      stats.hits++;
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length }).end(body);
      return;
    }
    if (req.method === 'PUT') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (store.has(hash)) {
          res.writeHead(409).end('exists');
          return;
        }
        store.set(hash, Buffer.concat(chunks));
        stats.puts++;
        res.writeHead(200).end();
      });
      return;
    }
    res.writeHead(405).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    token,
    stats,
    env: { NX_SELF_HOSTED_REMOTE_CACHE_SERVER: url, NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN: token },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
