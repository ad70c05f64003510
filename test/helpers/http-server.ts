/**
 * A small static file server for tests of remote inputs: serves a folder (plus in-memory files) on
 * 127.0.0.1 at an ephemeral port, honours HTTP Range (single ranges and multi-range
 * `multipart/byteranges`), and counts the body bytes it serves, per path and in total.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { open, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

/** Options of startStaticServer. */
export interface StaticServerOptions {
  /** Answer every GET with the whole file (200), as servers without Range support do. */
  readonly ignoreRange?: boolean;
  /** Extra files served from memory, by URL path ("/item.json"); they win over files in the folder. */
  readonly files?: Readonly<Record<string, string | Uint8Array>>;
}

/** One request the server answered. */
export interface ServedRequest {
  readonly method: string;
  readonly path: string;
  readonly range: string | null;
  status: number;
  /** Body bytes written for this request. */
  bytes: number;
}

/** A running test server. */
export interface StaticServer {
  /** Base URL without a trailing slash, such as "http://127.0.0.1:41234". */
  readonly url: string;
  readonly port: number;
  /** Every request so far, in order. */
  readonly requests: readonly ServedRequest[];
  /** Total body bytes served. */
  bytesServed(): number;
  /** Body bytes served for one URL path ("/B02.tif"). */
  bytesServedFor(path: string): number;
  /** Adds or replaces an in-memory file. */
  setFile(path: string, body: string | Uint8Array): void;
  /** Forgets the request log and byte counts. */
  reset(): void;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.json': 'application/json',
  '.txt': 'text/plain',
  '.png': 'image/png',
};

/** Parses a Range header against a size: byte ranges, 'invalid' (ignored, as RFC 9110 allows) or 'unsatisfiable'. */
export function parseRangeHeader(header: string, size: number): { start: number; end: number }[] | 'invalid' | 'unsatisfiable' {
  const m = /^bytes=(.+)$/.exec(header.trim());
  if (!m) return 'invalid';
  const out: { start: number; end: number }[] = [];
  for (const part of m[1].split(',')) {
    const r = /^\s*(\d*)-(\d*)\s*$/.exec(part);
    if (!r || (r[1] === '' && r[2] === '')) return 'invalid';
    let start: number;
    let end: number;
    if (r[1] === '') {
      const n = Number(r[2]);
      if (n === 0) continue;
      start = Math.max(0, size - n);
      end = size - 1;
    } else {
      start = Number(r[1]);
      end = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1);
      if (r[2] !== '' && Number(r[2]) < start) return 'invalid';
      if (start >= size) continue;
    }
    out.push({ start, end });
  }
  return out.length ? out : 'unsatisfiable';
}

/** Starts a static server for a folder (or only in-memory files when root is null). */
export async function startStaticServer(root: string | null, options: StaticServerOptions = {}): Promise<StaticServer> {
  const mem = new Map<string, Buffer>();
  for (const [p, b] of Object.entries(options.files ?? {})) mem.set(p, Buffer.from(b));
  const requests: ServedRequest[] = [];

  const load = async (urlPath: string): Promise<{ size: number; read: (start: number, end: number) => Promise<Buffer> } | null> => {
    const m = mem.get(urlPath);
    if (m) return { size: m.length, read: async (s, e) => m.subarray(s, e + 1) };
    if (!root) return null;
    const rel = normalize(decodeURIComponent(urlPath)).replace(/^([/\\])+/, '');
    if (rel.startsWith('..') || rel.split(sep).includes('..')) return null;
    const file = join(root, rel);
    try {
      const st = await stat(file);
      if (!st.isFile()) return null;
      return {
        size: st.size,
        read: async (s, e) => {
          const fh = await open(file, 'r');
          try {
            const buf = Buffer.alloc(e - s + 1);
            await fh.read(buf, 0, buf.length, s);
            return buf;
          } finally {
            await fh.close();
          }
        },
      };
    } catch {
      return null;
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const range = typeof req.headers.range === 'string' ? req.headers.range : null;
    const log: ServedRequest = { method: req.method ?? 'GET', path, range, status: 0, bytes: 0 };
    requests.push(log);
    const send = (status: number, headers: Record<string, string | number>, body?: Buffer) => {
      log.status = status;
      res.writeHead(status, headers);
      if (body && req.method !== 'HEAD') {
        log.bytes += body.length;
        res.end(body);
      } else {
        res.end();
      }
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { Allow: 'GET, HEAD' });
    const file = await load(path);
    if (!file) return send(404, { 'Content-Type': 'text/plain' }, Buffer.from('not found'));
    const type = TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
    const ranges = range && !options.ignoreRange ? parseRangeHeader(range, file.size) : 'invalid';
    if (ranges === 'unsatisfiable') return send(416, { 'Content-Range': `bytes */${file.size}` });
    if (ranges === 'invalid') {
      const headers: Record<string, string | number> = { 'Content-Type': type, 'Content-Length': file.size };
      if (!options.ignoreRange) headers['Accept-Ranges'] = 'bytes';
      if (req.method === 'HEAD') return send(200, headers);
      // Stream the whole file in chunks so a client that gives up early stops the transfer.
      log.status = 200;
      res.writeHead(200, headers);
      const chunk = 64 * 1024;
      for (let s = 0; s < file.size; s += chunk) {
        if (res.destroyed) return;
        const body = await file.read(s, Math.min(file.size, s + chunk) - 1);
        const ok = res.write(body);
        log.bytes += body.length;
        if (!ok) await new Promise<void>((r) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            r();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
      res.end();
      return;
    }
    if (ranges.length === 1) {
      const { start, end } = ranges[0];
      const body = req.method === 'HEAD' ? undefined : await file.read(start, end);
      return send(
        206,
        { 'Content-Type': type, 'Content-Length': end - start + 1, 'Content-Range': `bytes ${start}-${end}/${file.size}`, 'Accept-Ranges': 'bytes' },
        body,
      );
    }
    const boundary = `sharpstream-${Math.random().toString(16).slice(2)}`;
    const parts: Buffer[] = [];
    for (const { start, end } of ranges) {
      parts.push(Buffer.from(`--${boundary}\r\nContent-Type: ${type}\r\nContent-Range: bytes ${start}-${end}/${file.size}\r\n\r\n`));
      parts.push(await file.read(start, end));
      parts.push(Buffer.from('\r\n'));
    }
    parts.push(Buffer.from(`--${boundary}--\r\n`));
    const body = Buffer.concat(parts);
    return send(206, { 'Content-Type': `multipart/byteranges; boundary=${boundary}`, 'Content-Length': body.length, 'Accept-Ranges': 'bytes' }, body);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(String(e));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    bytesServed: () => requests.reduce((a, r) => a + r.bytes, 0),
    bytesServedFor: (p: string) => requests.filter((r) => r.path === p).reduce((a, r) => a + r.bytes, 0),
    setFile: (p: string, body: string | Uint8Array) => {
      mem.set(p, Buffer.from(body));
    },
    reset: () => {
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
