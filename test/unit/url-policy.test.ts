/** The server's request-forgery policy: public addresses pass, internal ones are refused unless allowed. */
import { describe, expect, it } from 'vitest';
import { isInternalAddress, publicUrlsOnly, UrlRefusedError } from '../../scene/url-policy.js';

const dns: Record<string, string[]> = {
  'public.example': ['93.184.216.34'],
  'metadata.example': ['169.254.169.254'],
  'split.example': ['93.184.216.34', '10.0.0.7'],
  'v6.example': ['2606:2800:220:1:248:1893:25c8:1946'],
  'stac.corp.example': ['10.1.2.3'],
  'other.corp.example': ['10.9.9.9'],
};
const resolve = async (host: string): Promise<string[]> => {
  const a = dns[host];
  if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return a;
};

describe('isInternalAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['10.20.30.40', true],
    ['172.16.0.1', true],
    ['172.32.0.1', false],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['224.0.0.1', true],
    ['8.8.8.8', false],
    ['::1', true],
    ['::', true],
    ['fd00::1', true],
    ['fe80::1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:8.8.8.8', false],
    ['2001:4860:4860::8888', false],
    ['not-an-ip', true],
  ])('%s -> %s', (a, internal) => expect(isInternalAddress(a)).toBe(internal));
});

describe('publicUrlsOnly', () => {
  const check = publicUrlsOnly({ resolve });

  it('lets public hosts and addresses through', async () => {
    await expect(check('https://public.example/scene.zip')).resolves.toBeUndefined();
    await expect(check('http://8.8.8.8/x')).resolves.toBeUndefined();
    await expect(check('https://v6.example/item.json')).resolves.toBeUndefined();
  });

  it('refuses internal addresses, names that resolve inward, and other schemes, naming the reason', async () => {
    await expect(check('http://127.0.0.1:8080/x.zip')).rejects.toThrow(/internal address 127\.0\.0\.1/);
    await expect(check('http://[::1]/x')).rejects.toThrow(/internal address ::1/);
    await expect(check('http://metadata.example/latest/meta-data')).rejects.toThrow(/metadata\.example is the internal address 169\.254\.169\.254/);
    // One internal address among public ones is enough to refuse (DNS answers can rotate).
    await expect(check('http://split.example/')).rejects.toThrow(/10\.0\.0\.7/);
    await expect(check('http://nowhere.example/')).rejects.toThrow(/does not resolve \(ENOTFOUND\)/);
    await expect(check('ftp://public.example/x')).rejects.toThrow(/only http and https/);
    await expect(check('not a url')).rejects.toBeInstanceOf(UrlRefusedError);
  });

  it('reads the allowed hosts, domains and networks, and only those', async () => {
    const allowed = publicUrlsOnly({ resolve, allow: ['stac.corp.example', '127.0.0.1', '169.254.0.0/16'] });
    await expect(allowed('http://stac.corp.example/item.json')).resolves.toBeUndefined();
    await expect(allowed('http://127.0.0.1:9000/b.tif')).resolves.toBeUndefined();
    await expect(allowed('http://metadata.example/')).resolves.toBeUndefined();
    await expect(allowed('http://other.corp.example/')).rejects.toThrow(/10\.9\.9\.9/);
    await expect(allowed('http://127.0.0.2/')).rejects.toThrow(/127\.0\.0\.2/);
    const domain = publicUrlsOnly({ resolve, allow: ['*.corp.example'] });
    await expect(domain('http://other.corp.example/')).resolves.toBeUndefined();
    await expect(domain('http://metadata.example/')).rejects.toThrow(UrlRefusedError);
  });

  it('rejects a malformed allow-list entry when the policy is made', () => {
    expect(() => publicUrlsOnly({ allow: ['10.0.0.0/99'] })).toThrow(/not a valid CIDR/);
    expect(() => publicUrlsOnly({ allow: ['http://x/'] })).toThrow(/not a host name/);
  });
});
