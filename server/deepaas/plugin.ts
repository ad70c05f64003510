/**
 * The DEEPaaS v2 API as a fastify plugin: the same routes and answers as DEEPaaS
 * (indigo-dc/ai4os DEEPaaS: `GET /v2/`, `GET /v2/models/`, `GET /v2/models/{name}/`,
 * `POST /v2/models/{name}/predict/`, `POST|GET /v2/models/{name}/train/`,
 * `GET|DELETE /v2/models/{name}/train/{uuid}`), so DEEPaaS clients work unchanged, with every route's
 * JSON schema in the OpenAPI document. Predictions run in a bounded pool of their own with a timeout;
 * trainings run as child processes in another pool (jobs/training.ts), recorded in the jobs table so
 * that a restarted server resumes them. Also serves prediction outputs under `/outputs/` and a docs
 * page at `/docs`.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import multipart from '@fastify/multipart';
import type {} from '@fastify/swagger';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { JobStore, type JobRecord } from '../../jobs/store.js';
import { PoolFullError, WorkPool } from '../../jobs/pool.js';
import { TrainingJobs, TRAIN_KIND, type TrainJobArgs } from '../../jobs/training.js';
import { requireApiKey, type ApiKeyOptions } from '../auth.js';
import { baseUrlOf } from '../http.js';
import { userModelsDir } from '../../model/catalog.js';
import { predictScene, type PredictResult } from '../../pipeline/predict.js';
import { intersectWindows } from '../../raster/grid.js';
import { openScene } from '../../scene/open.js';
import type { InputLimits } from '../../scene/reader.js';
import { SceneError, type Scene } from '../../scene/types.js';
import type { StacItem } from '../../stac/item.js';
import { openDatabase, type Database } from '../../stac/catalogue/database.js';
import { docsPage } from './docs.js';
import { deepaasModels, findDeepaasModel, ModelMismatchError, packagesFor, type DeepaasModel } from './models.js';
import { sendOutput, sweepOutputs } from './outputs.js';
import { publicUrlsOnly, UrlRefusedError } from '../../scene/url-policy.js';
import { bboxToWindow, cleanTmp, fetchArchiveUrl, gatherInput, HttpError } from './predict.js';
import {
  errorResponse,
  jobParams,
  modelListSchema,
  modelMetaSchema,
  nameParams,
  predictBody,
  predictQuery,
  predictResponses,
  trainArgsSchema,
  trainingListSchema,
  trainingSchema,
  trainResponses,
  versionSchema,
} from './schemas.js';

/** Options of the DEEPaaS plugin. */
export interface DeepaasOptions {
  /** Folder for outputs (`outputs/`), request scratch space (`tmp/`) and training jobs (`jobs/`). */
  readonly dataDir: string;
  /** Database holding the jobs table (the catalogue's); default `<dataDir>/jobs.sqlite`, owned by the plugin. */
  readonly db?: Database;
  /** API-key protection of train and delete (server/auth.ts): without a key they answer 403 unless allowAnonymous. */
  readonly auth?: ApiKeyOptions;
  /** Public base URL of the server (default: from each request's Host). */
  readonly baseUrl?: string;
  /** Seconds a prediction may take, queueing included, before it is aborted with 504 (default 600). */
  readonly predictTimeoutSeconds?: number;
  /** Predictions running at once (default 2) and waiting at most (default 8; then 503). */
  readonly predictConcurrency?: number;
  readonly predictQueue?: number;
  /** Largest scene upload in bytes (default 4 GiB); larger ones get 413. */
  readonly uploadLimitBytes?: number;
  /** Archive extraction limits (defaults of scene/reader.ts). */
  readonly archiveLimits?: Partial<InputLimits>;
  /** Inference runtime (default auto). */
  readonly runtime?: string;
  /** Folder of the user's models: listed by /v2/models/ (before the catalogue's) and where finished trainings publish (default: the catalogue's, $SHARPSTREAM_MODELS). */
  readonly modelsDir?: string;
  /** Trainings running at once (default 1). */
  readonly trainConcurrency?: number;
  /** Resume running and start queued jobs when the server is ready (default true). */
  readonly recoverJobs?: boolean;
  /** Seconds a training worker gets to checkpoint when the server closes (default 60). */
  readonly shutdownGraceSeconds?: number;
  /**
   * Internal hosts and networks that `urls` and STAC item assets may point at (scene/url-policy.ts):
   * host names, *.domains, IP addresses or CIDR networks. Everything else internal (loopback, private,
   * link-local, ...) is refused, so the server cannot be used to reach its own network.
   */
  readonly allowUrlHosts?: readonly string[];
  /** Hours a prediction's outputs (`/outputs/<id>/`) are kept before they are deleted (default 72; 0 keeps them). */
  readonly outputTtlHours?: number;
}

function errorBody(code: string, description: string): { code: string; description: string; message: string } {
  return { code, description, message: description };
}

/** 'json' or 'tiff' from the `accept` parameter or the Accept header; a 406 when neither is acceptable. */
export function negotiate(header: string | undefined, override: string | undefined): 'json' | 'tiff' {
  const pick = (t: string): 'json' | 'tiff' | null => {
    const v = t.trim().toLowerCase();
    if (v === 'application/json' || v === 'application/geo+json' || v === '*/*' || v === 'application/*') return 'json';
    if (v === 'image/tiff' || v === 'image/geotiff' || v === 'image/*') return 'tiff';
    return null;
  };
  if (override) {
    const r = pick(override);
    if (!r) throw new HttpError(406, 'NotAcceptable', `accept must be application/json or image/tiff, got "${override}"`);
    return r;
  }
  if (!header || !header.trim()) return 'json';
  const ranges = header
    .split(',')
    .map((part, i) => {
      const [type, ...params] = part.split(';');
      const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)).find(Boolean);
      return { type: type.trim(), q: q ? Number(q[1]) : 1, i };
    })
    .filter((r) => r.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const r of ranges) {
    const p = pick(r.type.split(';')[0]);
    if (p) return p;
  }
  throw new HttpError(406, 'NotAcceptable', `predict answers application/json (the output STAC item) or image/tiff (the COG), not "${header}"`);
}

/** The metadata DEEPaaS clients read for a model. */
function modelMeta(m: DeepaasModel, base: string): Record<string, unknown> {
  const self = `${base}/v2/models/${encodeURIComponent(m.name)}/`;
  return {
    id: m.name,
    name: m.name,
    title: m.title,
    description: m.description,
    author: 'sharpstream',
    license: 'Apache-2.0',
    version: m.version,
    url: self,
    source: m.source,
    kind: m.kind,
    ...(m.satellite ? { satellite: m.satellite } : {}),
    ...(m.group ? { group: m.group } : {}),
    ...(m.factor !== undefined ? { factor: m.factor } : {}),
    ...(m.inputs || m.outputs ? { bands: { ...(m.inputs ? { inputs: m.inputs } : {}), ...(m.outputs ? { outputs: m.outputs } : {}) } } : {}),
    ...(m.metrics ? { metrics: m.metrics } : {}),
    trainable: m.trainable,
    links: [
      { rel: 'self', href: self, type: 'application/json' },
      { rel: 'predict', href: `${self}predict/`, method: 'POST', type: 'application/json' },
      ...(m.trainable ? [{ rel: 'train', href: `${self}train/`, method: 'POST', type: 'application/json' }] : []),
    ],
  };
}

/** A training job as DEEPaaS answers it (uuid, date, status, args) with progress and links. */
function trainingView(job: JobRecord, base: string, modelId: string): Record<string, unknown> {
  const self = `${base}/v2/models/${encodeURIComponent(job.model)}/train/${job.id}`;
  return {
    uuid: job.id,
    model: job.model,
    date: job.created,
    started: job.started,
    finished: job.finished,
    status: job.status,
    message: job.message,
    args: job.args,
    attempts: job.attempts,
    progress: job.progress,
    result: job.result,
    links: [
      { rel: 'self', href: self, type: 'application/json' },
      ...(job.status === 'done' ? [{ rel: 'model', href: `${base}/v2/models/${encodeURIComponent(modelId)}/`, type: 'application/json' }] : []),
    ],
  };
}

/** Training arguments as the client gave them (snake_case) to the job's arguments. */
function jobArgs(a: Record<string, unknown>): TrainJobArgs {
  const num = (k: string): number | undefined => (typeof a[k] === 'number' ? (a[k] as number) : undefined);
  const str = (k: string): string | undefined => (typeof a[k] === 'string' && a[k] !== '' ? (a[k] as string) : undefined);
  const list = (k: string): string[] | undefined => (Array.isArray(a[k]) ? (a[k] as unknown[]).flatMap((v) => String(v).split(',')).map((s) => s.trim()).filter(Boolean) : undefined);
  const out: Record<string, unknown> = {
    scenes: list('scenes'),
    valScenes: list('val_scenes'),
    valFraction: num('val_fraction'),
    satellite: str('satellite'),
    group: str('group'),
    size: str('size'),
    epochs: num('epochs'),
    patchesPerScene: num('patches_per_scene'),
    stepsPerEpoch: num('steps_per_epoch'),
    valPatches: num('val_patches'),
    patchSize: num('patch_size'),
    augment: typeof a.augment === 'boolean' ? a.augment : undefined,
    batch: num('batch'),
    lr: num('lr'),
    optimizer: str('optimizer'),
    seed: num('seed'),
    runtime: str('runtime'),
    threads: num('threads'),
    id: str('id'),
    title: str('title'),
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out as TrainJobArgs;
}

/** Rewrites an output item's asset hrefs and self link to this server's `/outputs/` URLs. */
function publishItem(item: StacItem, result: PredictResult, outUrl: string): StacItem {
  const assets: Record<string, Record<string, unknown>> = {};
  for (const [k, a] of Object.entries(item.assets)) {
    const href = typeof a.href === 'string' ? a.href : '';
    const local = /^[a-z][a-z0-9+.-]*:/i.test(href) ? href : `${outUrl}/${basename(href)}`;
    assets[k] = { ...a, href: local };
  }
  const links = (Array.isArray(item.links) ? (item.links as Record<string, unknown>[]) : []).filter((l) => l.rel !== 'self');
  links.unshift({ rel: 'self', href: `${outUrl}/${basename(result.itemPath)}`, type: 'application/geo+json' });
  return { ...item, assets, links };
}

/** Registers the DEEPaaS v2 routes, the outputs and the docs page on a fastify instance. */
export async function deepaasPlugin(app: FastifyInstance, options: DeepaasOptions): Promise<void> {
  const dataDir = resolve(options.dataDir);
  const outputsDir = join(dataDir, 'outputs');
  const tmpRoot = join(dataDir, 'tmp');
  await mkdir(outputsDir, { recursive: true });
  await mkdir(tmpRoot, { recursive: true });
  const ownDb = options.db ? null : openDatabase(join(dataDir, 'jobs.sqlite'));
  const store = new JobStore(options.db ?? ownDb!);
  const jobs = new TrainingJobs({
    store,
    jobsDir: join(dataDir, 'jobs'),
    modelsDir: options.modelsDir ?? userModelsDir,
    concurrency: options.trainConcurrency ?? 1,
    ...(options.shutdownGraceSeconds !== undefined ? { shutdownGraceSeconds: options.shutdownGraceSeconds } : {}),
  });
  const predictPool = new WorkPool({ name: 'prediction', concurrency: options.predictConcurrency ?? 2, maxQueue: options.predictQueue ?? 8 });
  const timeoutMs = (options.predictTimeoutSeconds ?? 600) * 1000;
  const uploadLimit = options.uploadLimitBytes ?? 4 * 1024 ** 3;
  // Every remote URL a request makes the server read (the scene, redirects, item assets) passes this check.
  const checkUrl = publicUrlsOnly({ allow: options.allowUrlHosts ?? [] });

  if (!app.hasContentTypeParser('multipart/form-data')) {
    await app.register(multipart, { limits: { fileSize: uploadLimit, files: 1 } });
  }

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown; headers?: Record<string, string> }, request, reply) => {
    if (err instanceof HttpError) {
      for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
      return reply.code(err.statusCode).send(errorBody(err.code, err.message));
    }
    if (err.validation) return reply.code(400).send(errorBody('InvalidParameterValue', err.message));
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) {
      // Internals (paths, stack) stay in the log; the client gets the request id to quote.
      request.log.error({ err }, 'DEEPaaS request failed');
      return reply.code(status).send(errorBody('InternalServerError', `internal server error (request ${request.id})`));
    }
    const code = status === 413 ? 'PayloadTooLarge' : status === 415 ? 'UnsupportedMediaType' : 'InvalidRequest';
    return reply.code(status).send(errorBody(code, status === 413 ? `the request body is larger than the server accepts: ${err.message}` : err.message));
  });

  const baseOf = (request: FastifyRequest): string => baseUrlOf(request, options.baseUrl);
  const requireKey = requireApiKey(options.auth ?? {});
  const modelOr404 = (name: string): DeepaasModel => {
    const m = findDeepaasModel(name, undefined, options.modelsDir);
    if (!m) throw new HttpError(404, 'NotFound', `no model "${name}" (models: ${deepaasModels(undefined, options.modelsDir).map((x) => x.name).join(', ')})`);
    return m;
  };

  app.get('/v2/', { schema: { tags: ['versions'], summary: 'V2 API version information', response: { 200: versionSchema } } }, async (request) => ({
    version: 'stable',
    id: 'v2',
    links: [
      { rel: 'self', type: 'application/json', href: `${baseOf(request)}/v2/` },
      { rel: 'models', type: 'application/json', href: `${baseOf(request)}/v2/models/` },
      { rel: 'service-doc', type: 'text/html', href: `${baseOf(request)}/docs` },
    ],
  }));

  app.get('/v2/models/', { schema: { tags: ['models'], summary: 'The models served, with their metadata', response: { 200: modelListSchema } } }, async (request) => ({
    models: deepaasModels(undefined, options.modelsDir).map((m) => modelMeta(m, baseOf(request))),
  }));

  app.get<{ Params: { name: string } }>(
    '/v2/models/:name/',
    { schema: { tags: ['models'], summary: "A model's metadata", params: nameParams, response: { 200: modelMetaSchema, 404: errorResponse } } },
    async (request) => modelMeta(modelOr404(request.params.name), baseOf(request)),
  );

  app.post<{ Params: { name: string }; Querystring: { urls?: string; bbox?: string; window?: string; accept?: string } }>(
    '/v2/models/:name/predict/',
    {
      attachValidation: true,
      schema: {
        tags: ['models'],
        summary: 'Super-resolve a scene: an uploaded archive, a URL or a STAC item; answers the output STAC item or the COG',
        params: nameParams,
        querystring: predictQuery,
        body: predictBody,
        response: predictResponses,
      },
    },
    async (request, reply) => {
      const verr = request.validationError as (Error & { validationContext?: string }) | undefined;
      // Multipart bodies are streamed and checked field by field below, not by the schema.
      if (verr && !(verr.validationContext === 'body' && request.isMultipart())) throw new HttpError(400, 'InvalidParameterValue', verr.message);
      const model = modelOr404(request.params.name);
      await mkdir(tmpRoot, { recursive: true });
      const tmp = await mkdtemp(join(tmpRoot, 'predict-'));
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new Error('prediction timed out'));
      }, timeoutMs);
      const onGone = (): void => {
        if (!reply.raw.writableFinished) controller.abort(new Error('client went away'));
      };
      reply.raw.once('close', onGone);
      try {
        const given = await gatherInput(request, tmp, { uploadBytes: uploadLimit, ...(options.archiveLimits ? { archive: options.archiveLimits } : {}) });
        const answer = negotiate(request.headers.accept, request.query.accept ?? given.accept);
        const result = await predictPool.run(async (signal) => {
          const input = await fetchArchiveUrl(given, tmp, uploadLimit, signal, checkUrl);
          let scene: Scene;
          try {
            scene = await openScene(input.input, { workDir: tmp, checkUrl, ...(options.archiveLimits ? { limits: options.archiveLimits } : {}) });
          } catch (e) {
            if (e instanceof UrlRefusedError) throw new HttpError(400, 'InvalidParameterValue', e.message);
            if (e instanceof SceneError) throw new HttpError(400, 'InvalidScene', e.message.replace(input.input, input.shownAs));
            throw new HttpError(422, 'UnreadableScene', `${input.shownAs}: ${(e as Error).message}`.replace(input.input, input.shownAs));
          }
          try {
            if (scene.grid.crs.epsg === null) throw new HttpError(422, 'UnprocessableScene', `scene ${scene.id} has no georeferencing, so no georeferenced COG can be made from it`);
            const window = input.window ?? (input.bbox ? bboxToWindow(scene, input.bbox) : undefined);
            if (window && !intersectWindows(window, { x: 0, y: 0, width: scene.grid.width, height: scene.grid.height })) {
              throw new HttpError(400, 'InvalidParameterValue', `window ${window.x},${window.y},${window.width},${window.height} lies outside scene ${scene.id} (${scene.grid.width}x${scene.grid.height} pixels)`);
            }
            let packages;
            try {
              packages = await packagesFor(model, scene.satellite, undefined, options.modelsDir);
            } catch (e) {
              if (e instanceof ModelMismatchError) throw new HttpError(422, 'ModelMismatch', e.message);
              throw e;
            }
            const outId = randomUUID();
            return {
              outId,
              r: await predictScene({
                scene,
                models: packages,
                outDir: join(outputsDir, outId),
                ...(window ? { window } : {}),
                ...(options.runtime ? { runtime: options.runtime } : {}),
                signal,
              }),
            };
          } finally {
            await scene.close().catch(() => undefined);
          }
        }, controller.signal);
        const outUrl = `${baseOf(request)}/outputs/${result.outId}`;
        const item = publishItem(result.r.item, result.r, outUrl);
        await writeFile(result.r.itemPath, `${JSON.stringify(item, null, 2)}\n`);
        if (answer === 'tiff') {
          return reply
            .type('image/tiff')
            .header('Content-Disposition', `attachment; filename="${basename(result.r.cogPath)}"`)
            .header('Link', `<${outUrl}/${basename(result.r.itemPath)}>; rel="describedby"; type="application/geo+json"`)
            .send(createReadStream(result.r.cogPath));
        }
        return reply.type('application/json').send(item);
      } catch (e) {
        if (e instanceof HttpError) throw e;
        if (e instanceof PoolFullError) throw new HttpError(503, 'ServiceUnavailable', e.message, { 'Retry-After': '30' });
        if (timedOut) throw new HttpError(504, 'PredictionTimeout', `the prediction took longer than ${timeoutMs / 1000} s and was aborted; ask for a smaller window or bbox`);
        if (controller.signal.aborted) throw new HttpError(499 as number, 'ClientClosedRequest', 'the client went away; the prediction was aborted');
        throw e;
      } finally {
        clearTimeout(timer);
        reply.raw.off('close', onGone);
        await cleanTmp(tmp);
      }
    },
  );

  app.post<{ Params: { name: string }; Querystring: Record<string, unknown>; Body: Record<string, unknown> | undefined }>(
    '/v2/models/:name/train/',
    {
      schema: {
        tags: ['models'],
        summary: 'Train: starts an asynchronous training job (API key)',
        description: 'Arguments in the query string (as DEEPaaS) or a JSON body. Training a model fine-tunes it into a new model; training "dsen2" fits a new network. The finished model is published under `id`.',
        params: nameParams,
        querystring: trainArgsSchema,
        body: trainArgsSchema,
        response: trainResponses(201, trainingSchema),
        security: [{ apiKey: [] }, { bearer: [] }],
      },
      preHandler: requireKey,
    },
    async (request, reply) => {
      const model = modelOr404(request.params.name);
      if (!model.trainable) throw new HttpError(409, 'NotTrainable', `model ${model.name} is not trainable (trainable: ${deepaasModels(undefined, options.modelsDir).filter((m) => m.trainable).map((m) => m.name).join(', ')})`);
      const args = jobArgs({ ...(request.query ?? {}), ...(request.body ?? {}) });
      if (!args.scenes || args.scenes.length === 0) throw new HttpError(400, 'MissingParameterValue', 'scenes: give at least one training scene (a server path or a URL)');
      for (const s of [...args.scenes, ...(args.valScenes ?? [])]) {
        if (!/^https?:\/\//i.test(s) && !existsSync(s)) throw new HttpError(400, 'InvalidParameterValue', `scene ${s}: no such file or folder on the server (and not an http(s) URL)`);
      }
      if (args.valScenes?.length && args.valFraction !== undefined) throw new HttpError(400, 'InvalidParameterValue', 'give val_scenes or val_fraction, not both');
      if (args.id && existsSync(join(options.modelsDir ?? userModelsDir(), args.id))) throw new HttpError(409, 'ModelExists', `a model named ${args.id} already exists`);
      if (args.id && jobs.store.list(TRAIN_KIND).some((j) => (j.status === 'queued' || j.status === 'running') && (j.args as TrainJobArgs).id === args.id)) {
        throw new HttpError(409, 'ModelExists', `a training job already makes a model named ${args.id}`);
      }
      const full: TrainJobArgs = model.kind === 'package' ? { ...args, base: model.dir! } : args;
      let job: JobRecord;
      try {
        job = jobs.submit(model.name, full);
      } catch (e) {
        if (e instanceof PoolFullError) throw new HttpError(503, 'ServiceUnavailable', e.message, { 'Retry-After': '60' });
        throw e;
      }
      return reply.code(201).header('Location', `${baseOf(request)}/v2/models/${encodeURIComponent(model.name)}/train/${job.id}`).send(trainingView(job, baseOf(request), jobs.modelId(job)));
    },
  );

  app.get<{ Params: { name: string } }>(
    '/v2/models/:name/train/',
    { schema: { tags: ['models'], summary: "The model's training jobs (queued, running or finished)", params: nameParams, response: { 200: trainingListSchema, 404: errorResponse } } },
    async (request) => {
      const model = modelOr404(request.params.name);
      return jobs.store.list(TRAIN_KIND, model.name).map((j) => trainingView(j, baseOf(request), jobs.modelId(j)));
    },
  );

  const jobOr404 = (name: string, uuid: string): JobRecord => {
    const job = jobs.store.get(uuid);
    if (!job || job.kind !== TRAIN_KIND || job.model !== name) throw new HttpError(404, 'NotFound', `no training ${uuid} of model ${name}`);
    return job;
  };

  app.get<{ Params: { name: string; uuid: string } }>(
    '/v2/models/:name/train/:uuid',
    { schema: { tags: ['models'], summary: 'Status and progress of a training job', params: jobParams, response: { 200: trainingSchema, 404: errorResponse } } },
    async (request) => {
      const job = jobOr404(request.params.name, request.params.uuid);
      return trainingView(job, baseOf(request), jobs.modelId(job));
    },
  );

  app.delete<{ Params: { name: string; uuid: string } }>(
    '/v2/models/:name/train/:uuid',
    { schema: { tags: ['models'], summary: 'Cancel a training job (API key)', params: jobParams, response: trainResponses(200, trainingSchema), security: [{ apiKey: [] }, { bearer: [] }] }, preHandler: requireKey },
    async (request) => {
      const job = jobOr404(request.params.name, request.params.uuid);
      const after = jobs.cancel(job.id) ?? job;
      return trainingView(after, baseOf(request), jobs.modelId(after));
    },
  );

  app.get<{ Params: { id: string; file: string } }>(
    '/outputs/:id/:file',
    {
      schema: {
        tags: ['outputs'],
        summary: 'A prediction output: the COG (range requests), its STAC item or a quicklook',
        params: { type: 'object', required: ['id', 'file'], properties: { id: { type: 'string' }, file: { type: 'string' } } },
        response: {
          200: { description: 'The file', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          206: { description: 'A byte range of the file', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          404: errorResponse,
          416: errorResponse,
        },
      },
    },
    async (request, reply) => sendOutput(outputsDir, request.params.id, request.params.file, request, reply),
  );

  app.get('/docs', { schema: { tags: ['docs'], summary: 'The API documentation page (renders /openapi.json)', response: { 200: { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } } } } }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(docsPage()),
  );

  // Prediction outputs expire, or the data folder would only grow: swept at start and every hour.
  const ttlHours = options.outputTtlHours ?? 72;
  let sweeper: NodeJS.Timeout | null = null;
  const sweep = async (): Promise<void> => {
    try {
      const removed = await sweepOutputs(outputsDir, ttlHours * 3600_000);
      if (removed.length) app.log.info({ removed: removed.length, ttlHours }, 'expired prediction outputs deleted');
    } catch (e) {
      app.log.warn({ err: e }, 'sweeping expired prediction outputs failed');
    }
  };

  app.addHook('onReady', async () => {
    if (options.recoverJobs !== false) jobs.recover();
    if (ttlHours > 0) {
      void sweep();
      sweeper = setInterval(() => void sweep(), Math.min(3600_000, ttlHours * 3600_000));
      sweeper.unref();
    }
  });
  app.addHook('onClose', async () => {
    if (sweeper) clearInterval(sweeper);
    await predictPool.close();
    await jobs.close();
    ownDb?.close();
  });
}

export default deepaasPlugin;
