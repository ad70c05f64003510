/** `sharpstream serve`: the embedded STAC API (and the DEEPaaS API and results page, when present) on one port. */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { allowedHostsFromEnv } from '../../scene/url-policy.js';
import { listOption, positiveIntOption, stringOption, UsageError, type Command } from '../command.js';

/** The catalogue file used when none is given: $SHARPSTREAM_CATALOGUE, else ~/.sharpstream/catalogue.sqlite. */
export function defaultCatalogueFile(env: Readonly<Record<string, string | undefined>>): string {
  return env.SHARPSTREAM_CATALOGUE ? resolve(env.SHARPSTREAM_CATALOGUE) : join(homedir(), '.sharpstream', 'catalogue.sqlite');
}

/** A note for when serve opens its default catalogue while `run`'s default one (./results/catalogue.sqlite) is another file. */
export function runCatalogueNote(cwd: string, file: string): string | null {
  const runs = resolve(cwd, 'results', 'catalogue.sqlite');
  if (!existsSync(runs) || runs === resolve(file)) return null;
  return `note: serving ${resolve(file)}; the catalogue that \`sharpstream run\` fills by default is ${runs}: serve it with --catalogue results/catalogue.sqlite\n`;
}

/** The `serve` command. */
export const command: Command = {
  name: 'serve',
  order: 50,
  summary: 'serve the embedded STAC API (item search, transactions), the DEEPaaS API and the results page',
  examples: [
    'sharpstream serve --port 8080',
    'sharpstream serve --host 0.0.0.0 --catalogue /data/catalogue.sqlite --api-key "$KEY" --cors https://maps.example.org',
  ],
  positionals: [],
  options: {
    port: { type: 'string', valueName: 'n', description: 'TCP port (default 8080; 0 picks a free one)' },
    host: { type: 'string', valueName: 'address', description: 'address to listen on (default 127.0.0.1)' },
    catalogue: { type: 'string', valueName: 'file', description: 'SQLite catalogue file (default $SHARPSTREAM_CATALOGUE or ~/.sharpstream/catalogue.sqlite)' },
    'api-key': { type: 'string', valueName: 'key', description: 'API key for writes (default $SHARPSTREAM_API_KEY; without one, writes are refused)' },
    cors: { type: 'string', valueName: 'origins', description: 'comma-separated origins allowed by CORS, or * (default *)' },
    'base-url': { type: 'string', valueName: 'url', description: 'public URL used in links (default: from each request)' },
    'body-limit': { type: 'string', valueName: 'bytes', description: 'largest JSON body accepted (default 8 MiB)' },
    'data-dir': { type: 'string', valueName: 'dir', description: "DEEPaaS uploads, prediction outputs and training job folders (default: sharpstream-server/ next to the catalogue)" },
    'predict-timeout': { type: 'string', valueName: 'seconds', description: 'a DEEPaaS prediction taking longer is aborted with 504 (default 600)' },
    'upload-limit': { type: 'string', valueName: 'MiB', description: 'largest scene upload to DEEPaaS predict, larger ones get 413 (default 4096)' },
    'allow-url-host': {
      type: 'string',
      valueName: 'hosts',
      description: 'comma-separated internal hosts, *.domains or CIDR networks that DEEPaaS `urls` and item assets may point at (default $SHARPSTREAM_ALLOW_URL_HOSTS; otherwise only public addresses are read)',
    },
    'output-ttl': { type: 'string', valueName: 'hours', description: 'DEEPaaS prediction outputs older than this are deleted (default 72; 0 keeps them)' },
    files: { type: 'string', valueName: 'dir|none', description: "local output folder served under /files/ (default: the catalogue's folder, where `run` writes)" },
  },
  details: 'Writes (STAC transactions, DEEPaaS jobs) need the API key in X-API-Key or Authorization: Bearer. Stop with Ctrl-C.',
  async run(args, io) {
    const portText = stringOption(args, 'port');
    const port = portText === '0' ? 0 : positiveIntOption(args, 'port', 8080, 'serve');
    if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`, 'serve');
    const host = stringOption(args, 'host') ?? '127.0.0.1';
    const file = stringOption(args, 'catalogue') ?? defaultCatalogueFile(io.env);
    const apiKey = stringOption(args, 'api-key') ?? io.env.SHARPSTREAM_API_KEY;
    const corsOrigins = listOption(args, 'cors', 'serve') ?? ['*'];
    const baseUrl = stringOption(args, 'base-url');
    if (baseUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(baseUrl)) throw new UsageError(`--base-url must be an http(s) URL, got "${baseUrl}"`, 'serve');
    const bodyLimit = stringOption(args, 'body-limit') ? positiveIntOption(args, 'body-limit', 1, 'serve') : undefined;

    const dataDir = resolve(stringOption(args, 'data-dir') ?? join(dirname(resolve(file)), 'sharpstream-server'));
    const predictTimeoutSeconds = stringOption(args, 'predict-timeout') ? positiveIntOption(args, 'predict-timeout', 600, 'serve') : undefined;
    const uploadMiB = stringOption(args, 'upload-limit') ? positiveIntOption(args, 'upload-limit', 4096, 'serve') : undefined;
    const allowUrlHosts = listOption(args, 'allow-url-host', 'serve') ?? allowedHostsFromEnv(io.env);
    const ttlText = stringOption(args, 'output-ttl');
    const outputTtlHours = ttlText === undefined ? undefined : Number(ttlText);
    if (outputTtlHours !== undefined && !(Number.isFinite(outputTtlHours) && outputTtlHours >= 0)) throw new UsageError(`--output-ttl must be a number of hours (0 keeps outputs), got "${ttlText}"`, 'serve');
    const deepaas = {
      ...(outputTtlHours !== undefined ? { outputTtlHours } : {}),
      ...(allowUrlHosts.length ? { allowUrlHosts } : {}),
      ...(predictTimeoutSeconds ? { predictTimeoutSeconds } : {}),
      ...(uploadMiB ? { uploadLimitBytes: uploadMiB * 1024 * 1024 } : {}),
    };
    const filesArg = stringOption(args, 'files');
    const filesRoot = filesArg === 'none' ? undefined : resolve(filesArg ?? dirname(resolve(file)));
    const [{ Catalogue }, { buildServer }] = await Promise.all([import('../../stac/catalogue/catalogue.js'), import('../../server/app.js')]);
    const catalogue = Catalogue.open(resolve(file));
    let app;
    try {
      app = await buildServer({ catalogue, apiKey: apiKey || undefined, corsOrigins, baseUrl, bodyLimit, dataDir, deepaas, ...(filesRoot ? { filesRoot } : {}) });
      await app.listen({ port, host });
    } catch (e) {
      catalogue.close();
      throw e;
    }
    const addr = app.server.address();
    const actualPort = typeof addr === 'object' && addr ? addr.port : port;
    const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
    const root = (baseUrl ?? `http://${shown}:${actualPort}`).replace(/\/+$/, '');
    const lines = [`STAC API      ${root}/`, `OpenAPI       ${root}/openapi.json`];
    if (app.hasRoute({ method: 'GET', url: '/v2/' })) lines.push(`DEEPaaS API   ${root}/v2/`);
    if (app.hasRoute({ method: 'GET', url: '/docs' })) lines.push(`API docs      ${root}/docs`);
    if (app.hasRoute({ method: 'GET', url: '/map' })) lines.push(`map page      ${root}/map`);
    if (filesRoot) lines.push(`output files  ${root}/files/ (from ${filesRoot})`);
    io.stdout.write(`sharpstream serving catalogue ${resolve(file)}\n${lines.map((l) => `  ${l}\n`).join('')}`);
    if (!apiKey) io.stderr.write('warning: no API key (--api-key or SHARPSTREAM_API_KEY): writes are refused\n');
    const note = stringOption(args, 'catalogue') ? null : runCatalogueNote(process.cwd(), file);
    if (note) io.stderr.write(note);

    await new Promise<void>((done) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        done();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await app.close();
    catalogue.close();
    return 0;
  },
};
