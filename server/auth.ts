/**
 * API-key protection of write routes: the key comes in `X-API-Key` or `Authorization: Bearer <key>`,
 * compared in constant time. Without a configured key writes are refused (403) unless anonymous writes
 * were explicitly allowed (local embedded runs only).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { sendError } from './http.js';

/** How write routes are protected. */
export interface ApiKeyOptions {
  /** The key clients must present; undefined or empty: writes are refused unless allowAnonymous. */
  readonly apiKey?: string;
  /** Accept writes without a key when none is configured (never when one is). */
  readonly allowAnonymous?: boolean;
}

/** The key a request presents (X-API-Key, else Authorization: Bearer), or null. */
export function presentedKey(request: FastifyRequest): string | null {
  const h = request.headers['x-api-key'];
  if (typeof h === 'string' && h !== '') return h;
  const auth = request.headers.authorization;
  const m = typeof auth === 'string' ? /^Bearer\s+(.+)$/i.exec(auth.trim()) : null;
  return m ? m[1].trim() : null;
}

function sameKey(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** A fastify preHandler that lets a request through only with the right API key (401 without one, 403 with a wrong one or when writes are disabled). */
export function requireApiKey(options: ApiKeyOptions): preHandlerHookHandler {
  return function checkApiKey(request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    const key = options.apiKey;
    if (!key) {
      if (options.allowAnonymous) return done();
      sendError(reply, 403, 'writes are disabled: the server has no API key configured (start it with --api-key or SHARPSTREAM_API_KEY)');
      return;
    }
    const given = presentedKey(request);
    if (given === null) {
      reply.header('WWW-Authenticate', 'Bearer');
      sendError(reply, 401, 'an API key is required (X-API-Key header or Authorization: Bearer)');
      return;
    }
    if (!sameKey(given, key)) {
      sendError(reply, 403, 'the API key is not valid');
      return;
    }
    done();
  };
}
