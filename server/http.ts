/**
 * Shared HTTP helpers of the server: STAC-style error bodies (`{ code, description }`), the mapping of
 * any thrown error to one (4xx for bad input, 500 without details for the rest), and base URLs.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { CatalogueError, errorCode } from '../stac/catalogue/errors.js';

/** A STAC API error body. */
export interface ErrorBody {
  readonly code: string;
  readonly description: string;
}

/** An error carrying the HTTP status to answer with. */
export class HttpError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = statusCode;
  }
}

/** JSON schema of an error body, for route response schemas. */
export const errorSchema = {
  type: 'object',
  description: 'STAC API error',
  required: ['code', 'description'],
  properties: { code: { type: 'string' }, description: { type: 'string' } },
} as const;

/** Maps a thrown error to a status and STAC error body (500s carry no internals). */
export function errorResponse(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof CatalogueError) return { status: err.status, body: { code: err.code, description: err.message } };
  const e = err as Partial<FastifyError> & { status?: number };
  const status = typeof e.statusCode === 'number' ? e.statusCode : typeof e.status === 'number' ? e.status : 500;
  if (e.validation) return { status: 400, body: { code: 'BadRequest', description: e.message ?? 'invalid request' } };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return { status: 413, body: { code: 'PayloadTooLarge', description: 'request body is too large' } };
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return { status: 415, body: { code: 'UnsupportedMediaType', description: e.message ?? 'unsupported media type' } };
  if (status >= 400 && status < 500) {
    const description = e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (e instanceof SyntaxError && status === 400) ? `request body is not valid JSON: ${e.message ?? ''}` : (e.message ?? 'bad request');
    return { status, body: { code: errorCode(status), description } };
  }
  return { status: 500, body: { code: 'InternalServerError', description: 'internal server error' } };
}

/** Sends a STAC error body. */
export function sendError(reply: FastifyReply, status: number, description: string): FastifyReply {
  return reply.code(status).type('application/json').send({ code: errorCode(status), description } satisfies ErrorBody);
}

/** The base URL (no trailing slash) links are built on: the configured one, else the request's own. */
export function baseUrlOf(request: FastifyRequest, configured?: string): string {
  if (configured) return configured.replace(/\/+$/, '');
  return `${request.protocol}://${request.host}`;
}
