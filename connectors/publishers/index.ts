/**
 * Opens a publisher from a spec: `embedded` (the in-process catalogue, given in deps), an `http(s)://`
 * STAC API root (transaction extension; API key from deps or $SHARPSTREAM_STAC_API_KEY, bearer token
 * from deps or $SHARPSTREAM_STAC_TOKEN), or a static catalogue folder (`static:<dir>`, `file:<dir>`,
 * `file:///dir`).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Catalogue } from '../../stac/catalogue/catalogue.js';
import { CataloguePublisher } from './catalogue.js';
import type { Publisher } from './publisher.js';
import { StacApiPublisher, type StacApiPublisherOptions } from './stac-api.js';
import { StaticPublisher } from './static.js';

export { CataloguePublisher } from './catalogue.js';
export { StacApiPublisher, StacApiError, type StacApiPublisherOptions } from './stac-api.js';
export { StaticPublisher, type StaticPublisherOptions } from './static.js';

/** What openPublisher may need besides the spec. */
export interface PublisherDeps {
  /** The embedded catalogue, for `embedded`. */
  readonly catalogue?: Catalogue;
  /** For STAC APIs: `X-API-Key` (default $SHARPSTREAM_STAC_API_KEY). */
  readonly apiKey?: string;
  /** For STAC APIs: bearer token (default $SHARPSTREAM_STAC_TOKEN). */
  readonly bearerToken?: string;
  /** For STAC APIs: retries and timeouts. */
  readonly stacApi?: Partial<Omit<StacApiPublisherOptions, 'url'>>;
}

/** Opens the publisher a spec names; throws naming the spec when it is not understood. */
export function openPublisher(spec: string, deps: PublisherDeps = {}): Publisher {
  const s = typeof spec === 'string' ? spec.trim() : '';
  if (s === '') throw new Error('publisher: the spec is empty (use embedded, http(s)://host/stac or static:<dir>)');
  if (s === 'embedded') {
    if (!deps.catalogue) throw new Error('publisher "embedded": no embedded catalogue is open in this process (start with a catalogue, or publish to a STAC API URL)');
    return new CataloguePublisher(deps.catalogue);
  }
  if (/^https?:\/\//i.test(s)) {
    const apiKey = deps.apiKey ?? process.env.SHARPSTREAM_STAC_API_KEY;
    const bearerToken = deps.bearerToken ?? process.env.SHARPSTREAM_STAC_TOKEN;
    return new StacApiPublisher({ ...(deps.stacApi ?? {}), url: s, ...(apiKey ? { apiKey } : {}), ...(bearerToken ? { bearerToken } : {}) });
  }
  if (s.startsWith('static:')) {
    const dir = s.slice('static:'.length);
    if (!dir) throw new Error(`publisher "${spec}": the folder is missing (static:<dir>)`);
    return new StaticPublisher(resolve(dir));
  }
  if (s.startsWith('file:')) {
    const dir = s.startsWith('file://') ? fileURLToPath(s) : s.slice('file:'.length);
    if (!dir) throw new Error(`publisher "${spec}": the folder is missing (file:<dir>)`);
    return new StaticPublisher(resolve(dir));
  }
  if (s.startsWith('/') || s.startsWith('./') || s.startsWith('../')) return new StaticPublisher(resolve(s));
  throw new Error(`publisher "${spec}": not understood (use embedded, http(s)://host/stac, static:<dir> or a folder path)`);
}
