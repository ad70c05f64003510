/**
 * Which remote URLs a server may read on a client's behalf. A service that fetches `urls` or a STAC
 * item's assets must not become a proxy into its own network (server-side request forgery): by default
 * it refuses every host that resolves to a loopback, private, link-local (cloud metadata), carrier-grade
 * NAT, unique-local, multicast or unspecified address. Hosts and networks named in an allow-list are
 * read anyway (a catalogue on the same private network, a test server on 127.0.0.1).
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/** Checks one URL before it is fetched; rejects with a UrlRefusedError naming the reason. */
export type UrlCheck = (url: string) => Promise<void>;

/** A URL the policy will not let the server read. */
export class UrlRefusedError extends Error {
  constructor(
    readonly url: string,
    reason: string,
  ) {
    super(`${url}: refused: ${reason}`);
    this.name = 'UrlRefusedError';
  }
}

const internal = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  internal.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  internal.addSubnet(net, bits, 'ipv6');
}

/** Whether an IP address is not a public unicast address (loopback, private, link-local, ...). */
export function isInternalAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return internal.check(address, 'ipv4');
  if (family === 6) {
    // IPv4-mapped and IPv4-compatible forms are judged by their IPv4 address.
    const mapped = /^::(?:ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return internal.check(mapped[1], 'ipv4');
    return internal.check(address, 'ipv6');
  }
  return true;
}

/** The allow-list of $SHARPSTREAM_ALLOW_URL_HOSTS (comma-separated), empty when unset. */
export function allowedHostsFromEnv(env: Readonly<Record<string, string | undefined>>): string[] {
  return (env.SHARPSTREAM_ALLOW_URL_HOSTS ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
}

/** Options of publicUrlsOnly. */
export interface UrlPolicyOptions {
  /**
   * Hosts and networks read even though they are internal: a host name ("stac.internal"), a domain
   * and its subdomains ("*.corp.example"), an IP address, or a CIDR network ("10.1.0.0/16").
   */
  readonly allow?: readonly string[];
  /** Resolves a host name to its addresses (default: the system resolver). */
  readonly resolve?: (host: string) => Promise<string[]>;
}

/** Parses allow-list entries into host-name rules and a BlockList of allowed networks; throws on a malformed entry. */
function parseAllow(entries: readonly string[]): { hosts: string[]; domains: string[]; nets: BlockList } {
  const hosts: string[] = [];
  const domains: string[] = [];
  const nets = new BlockList();
  for (const raw of entries) {
    const e = raw.trim().toLowerCase();
    if (!e) continue;
    const cidr = /^([^/]+)\/(\d{1,3})$/.exec(e);
    if (cidr) {
      const family = isIP(cidr[1]);
      const bits = Number(cidr[2]);
      if (!family || bits > (family === 4 ? 32 : 128)) throw new Error(`allowed URL hosts: "${raw}" is not a valid CIDR network`);
      nets.addSubnet(cidr[1], bits, family === 4 ? 'ipv4' : 'ipv6');
    } else if (isIP(e)) nets.addAddress(e, isIP(e) === 4 ? 'ipv4' : 'ipv6');
    else if (e.startsWith('*.') && /^[a-z0-9.-]+$/.test(e.slice(2))) domains.push(e.slice(2));
    else if (/^[a-z0-9.-]+$/.test(e)) hosts.push(e);
    else throw new Error(`allowed URL hosts: "${raw}" is not a host name, *.domain, IP address or CIDR network`);
  }
  return { hosts, domains, nets };
}

async function systemResolve(host: string): Promise<string[]> {
  return (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
}

/** A UrlCheck that lets the server read public http(s) URLs and the allowed internal ones, nothing else. */
export function publicUrlsOnly(options: UrlPolicyOptions = {}): UrlCheck {
  const allow = parseAllow(options.allow ?? []);
  const resolve = options.resolve ?? systemResolve;
  const netAllowed = (a: string) => {
    const f = isIP(a);
    return f !== 0 && allow.nets.check(a, f === 4 ? 'ipv4' : 'ipv6');
  };
  return async (raw: string) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new UrlRefusedError(raw, 'not a URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UrlRefusedError(raw, `only http and https URLs are read, not ${url.protocol}`);
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    if (allow.hosts.includes(host) || allow.domains.some((d) => host === d || host.endsWith(`.${d}`))) return;
    let addresses: string[];
    if (isIP(host)) addresses = [host];
    else {
      try {
        addresses = await resolve(host);
      } catch (e) {
        throw new UrlRefusedError(raw, `host ${host} does not resolve (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    }
    if (addresses.length === 0) throw new UrlRefusedError(raw, `host ${host} does not resolve`);
    // Every address must pass: a name that resolves to both a public and an internal address is refused.
    const bad = addresses.find((a) => isInternalAddress(a) && !netAllowed(a));
    if (bad) {
      throw new UrlRefusedError(raw, `host ${host} is the internal address ${bad}; this server reads only public addresses unless the host is allowed (serve --allow-url-host, SHARPSTREAM_ALLOW_URL_HOSTS)`);
    }
  };
}

/** Most redirects fetchChecked follows. */
export const MAX_REDIRECTS = 5;

/**
 * fetch() that follows redirects itself so that every hop passes `check` (without a check, plain fetch).
 * Rejects with UrlRefusedError for a refused hop, or an Error after MAX_REDIRECTS redirects.
 */
export async function fetchChecked(url: string, init: RequestInit = {}, check?: UrlCheck): Promise<Response> {
  if (!check) return fetch(url, init);
  let current = url;
  for (let hop = 0; ; hop++) {
    await check(current);
    const res = await fetch(current, { ...init, redirect: 'manual' });
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) return res;
    await res.body?.cancel().catch(() => undefined);
    if (hop >= MAX_REDIRECTS) throw new Error(`${url}: more than ${MAX_REDIRECTS} redirects`);
    current = new URL(location, current).href;
  }
}
