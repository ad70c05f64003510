// STAC helpers of the results page: item search with paging, asset hrefs a browser can load.

/** A fetch that throws an Error naming the URL and the server's description on a non-2xx answer. */
export async function fetchJson(url, init = {}) {
  let response;
  try {
    response = await fetch(url, { ...init, headers: { Accept: 'application/json', ...(init.headers ?? {}) } });
  } catch (e) {
    throw new Error(`${url}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const why = (body && (body.description || body.message || body.detail)) || response.statusText || 'error';
    const err = new Error(`${url}: HTTP ${response.status} ${why}`);
    err.status = response.status;
    throw err;
  }
  if (body === null) throw new Error(`${url}: the answer is not JSON`);
  return body;
}

/** The first search request: GET search?limit=N. */
export function firstSearchRequest(pageSize) {
  return { url: `search?limit=${encodeURIComponent(pageSize)}`, method: 'GET', body: null };
}

/** Runs one search request ({url, method, body}) and returns {items, next, matched}. */
export async function runSearch(request) {
  const init = request.method === 'POST'
    ? { method: 'POST', body: JSON.stringify(request.body ?? {}), headers: { 'Content-Type': 'application/json' } }
    : {};
  const page = await fetchJson(request.url, init);
  const items = Array.isArray(page.features) ? page.features.filter((f) => f && typeof f === 'object' && f.id) : [];
  const nextLink = Array.isArray(page.links) ? page.links.find((l) => l && l.rel === 'next' && l.href) : undefined;
  const next = nextLink
    ? {
        url: nextLink.href,
        method: (nextLink.method || 'GET').toUpperCase(),
        body: nextLink.body ? (nextLink.merge && request.body ? { ...request.body, ...nextLink.body } : nextLink.body) : null,
      }
    : null;
  const matched = typeof page.numberMatched === 'number'
    ? page.numberMatched
    : typeof page.context?.matched === 'number' ? page.context.matched : null;
  return { items, next, matched };
}

/** The URL an item's relative hrefs are resolved against: its self link, else its collection's items URL. */
export function itemBase(item) {
  const self = Array.isArray(item.links) ? item.links.find((l) => l && l.rel === 'self' && l.href) : undefined;
  if (self) return new URL(self.href, document.baseURI).href;
  if (item.collection) {
    return new URL(`collections/${encodeURIComponent(item.collection)}/items/${encodeURIComponent(item.id)}`, document.baseURI).href;
  }
  return document.baseURI;
}

/** The browser-loadable URL of an item's asset, or {error} saying why there is none. */
export function assetUrl(item, key) {
  const asset = item.assets && item.assets[key];
  if (!asset || typeof asset.href !== 'string' || !asset.href) return { error: `no ${key} asset` };
  let url;
  try {
    url = new URL(asset.href, itemBase(item));
  } catch {
    return { error: `${key} asset href ${asset.href} is not a URL` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:' && url.protocol !== 'data:') {
    return { error: `${key} asset ${asset.href} is not reachable from a browser (${url.protocol} URL)` };
  }
  return { url: url.href };
}

/** [[south, west], [north, east]] of an item's bbox (2D or 3D), or null. */
export function itemBounds(item) {
  const b = item.bbox;
  if (!Array.isArray(b) || (b.length !== 4 && b.length !== 6) || !b.every((v) => typeof v === 'number' && Number.isFinite(v))) return null;
  const [w, s, e, n] = b.length === 4 ? b : [b[0], b[1], b[3], b[4]];
  return [[s, w], [n, e]];
}

/** A short human label of an item's acquisition time and models. */
export function itemSummary(item) {
  const p = item.properties ?? {};
  const when = p.datetime || p.start_datetime || '';
  const parts = [];
  if (when) parts.push(String(when).replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC'));
  if (item.collection) parts.push(item.collection);
  const gsd = p.gsd;
  if (typeof gsd === 'number') parts.push(`${gsd} m`);
  return parts.join(' · ');
}
