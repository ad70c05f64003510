/**
 * A live sharpstream server for the DEEPaaS tests: buildServer (H1's app) on an embedded catalogue in
 * a temporary folder, listening on 127.0.0.1 on a free port, with the DEEPaaS data folder and
 * settings of the test.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../server/app.js';
import type { DeepaasOptions } from '../../server/deepaas/plugin.js';
import { Catalogue } from '../../stac/catalogue/catalogue.js';

/** A started server. */
export interface TestServer {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly catalogue: Catalogue;
  /** Closes the server (interrupting trainings, which stay resumable) and the catalogue. */
  close(): Promise<void>;
}

/** Starts a server whose catalogue (and jobs table) is `<dir>/catalogue.sqlite`. */
export async function startTestServer(dir: string, options: { apiKey?: string; deepaas?: Partial<Omit<DeepaasOptions, 'db' | 'auth'>> } = {}): Promise<TestServer> {
  const catalogue = Catalogue.open(join(dir, 'catalogue.sqlite'));
  const app = await buildServer({
    catalogue,
    dataDir: join(dir, 'data'),
    ...(options.apiKey ? { apiKey: options.apiKey } : {}),
    ...(options.deepaas ? { deepaas: options.deepaas } : {}),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('server has no TCP address');
  return {
    app,
    url: `http://127.0.0.1:${addr.port}`,
    catalogue,
    close: async () => {
      await app.close();
      catalogue.close();
    },
  };
}
