/**
 * Errors of the embedded STAC catalogue. Each carries the HTTP status and the STAC API error code the
 * server answers with (`{ code, description }`), so that bad input is reported as a 4xx, never a crash.
 */

/** STAC API error codes by HTTP status. */
const CODES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  413: 'PayloadTooLarge',
  415: 'UnsupportedMediaType',
  500: 'InternalServerError',
};

/** The STAC API error code of an HTTP status ("BadRequest" for 400, ...). */
export function errorCode(status: number): string {
  return CODES[status] ?? (status >= 500 ? 'InternalServerError' : 'BadRequest');
}

/** A catalogue error with the HTTP status it maps to (400 invalid input, 404 not found, 409 conflict). */
export class CatalogueError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, message: string, code?: string) {
    super(message);
    this.name = 'CatalogueError';
    this.status = status;
    this.code = code ?? errorCode(status);
  }
}

/** Shorthand for a 400 CatalogueError. */
export function badRequest(message: string): CatalogueError {
  return new CatalogueError(400, message);
}
