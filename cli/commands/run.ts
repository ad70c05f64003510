/** `sharpstream run`: the streaming service: watch sources, super-resolve each scene, store, publish. */
import { flagOption, listOption, positiveIntOption, stringOption, UsageError, type Command } from '../command.js';
import { runtimeOption } from '../runtime-option.js';

/** The `run` command. */
export const command: Command = {
  name: 'run',
  order: 50,
  summary: 'run the stream: scenes from an inbox folder (default ./inbox), Kafka or a STAC API -> COG + STAC item in ./results, published to the catalogue',
  examples: [
    'sharpstream run --once --inbox inbox/ --out results/',
    'sharpstream run --serve 8080',
    'sharpstream run --kafka 127.0.0.1:9092 --topic scenes --group sharpstream --out s3://bucket/sr?endpoint=http://127.0.0.1:9000',
    'sharpstream run --stac https://earth-search.aws.element84.com/v1 --collections sentinel-2-l2a --bbox 11,46,12,47 --max-cloud-cover 20',
    'sharpstream run --kafka 127.0.0.1:9092 --topic scenes --group replay-2024 --from-timestamp 2024-06-01T00:00:00Z',
  ],
  positionals: [],
  options: {
    inbox: { type: 'string', valueName: 'dir', description: 'inbox folder watched for scenes (default ./inbox; processed ones go to done/, failed ones to failed/)' },
    out: { type: 'string', valueName: 'dir|s3://...', description: 'output store: a folder, file: URL or s3://bucket/prefix?endpoint=... (default ./results)' },
    catalogue: { type: 'string', valueName: 'file|none', description: 'embedded STAC catalogue (SQLite) to publish into (default <out>/catalogue.sqlite for a folder out)' },
    publish: { type: 'string', multiple: true, valueName: 'uri', description: 'also publish to a STAC API (http(s)://...) or a static catalogue (file:/dir); repeatable' },
    serve: { type: 'string', valueName: 'port', description: 'serve the STAC API, DEEPaaS API and pages on this port (e.g. --serve 8080)' },
    host: { type: 'string', valueName: 'host', description: 'address to serve on (default 127.0.0.1)' },
    'api-key': { type: 'string', valueName: 'key', description: 'API key for writes to the server (default: anonymous writes, local use only)' },
    kafka: { type: 'string', valueName: 'brokers', description: 'consume scene events from Kafka brokers host:port[,host:port]' },
    topic: { type: 'string', valueName: 'topic', description: 'Kafka topic of scene events (with --kafka)' },
    group: { type: 'string', valueName: 'group', description: 'Kafka consumer group (default sharpstream)' },
    'from-timestamp': { type: 'string', valueName: 'time', description: 'with --kafka and a new --group: start at this ISO time (replays a topic\'s history; see `sharpstream replay`)' },
    'output-topic': { type: 'string', valueName: 'topic', description: 'with --kafka: produce each output STAC item to this topic, keyed by item id' },
    stac: { type: 'string', valueName: 'url', description: 'watch a STAC API for new items' },
    collections: { type: 'string', valueName: 'ids', description: 'collections to watch (with --stac)' },
    bbox: { type: 'string', valueName: 'w,s,e,n', description: 'with --stac: only items intersecting this WGS84 box' },
    datetime: { type: 'string', valueName: 'interval', description: 'with --stac: only items in this RFC 3339 interval, e.g. 2024-01-01T00:00:00Z/..' },
    'max-cloud-cover': { type: 'string', valueName: 'percent', description: 'with --stac: only items with eo:cloud_cover at most this' },
    checkpoint: { type: 'string', valueName: 'file', description: 'with --stac: checkpoint file, so a restart emits no item twice (default <out>/.stac-watcher.json for a folder out)' },
    once: { type: 'boolean', description: 'process what is in the inbox, then exit' },
    model: { type: 'string', multiple: true, valueName: 'id|path', description: 'model(s) for events that name none (default: the shipped models; bicubic where a satellite has none)' },
    runtime: runtimeOption(),
    concurrency: { type: 'string', valueName: 'n', description: 'scenes processed at once (default 1)' },
    config: { type: 'string', valueName: 'file', description: 'JSON config file (flags override it, and SHARPSTREAM_* variables)' },
    'no-previews': { type: 'boolean', description: 'skip the quicklook pair (super-resolved and bicubic)' },
  },
  details:
    'Settings come from embedded defaults, then --config, then SHARPSTREAM_* variables (INBOX, OUT, CATALOGUE, PUBLISHERS, CONCURRENCY, RUNTIME, MODEL, KAFKA_BROKERS, KAFKA_TOPIC, KAFKA_GROUP, KAFKA_OUTPUT_TOPIC, API_KEY, WORK_DIR), then flags. ' +
    'Outputs go to <out>/<collection>/<scene>_sr-<hash>/ (hash of input, version and model versions), so a scene already done is skipped. ' +
    'A scene is acknowledged (inbox: moved to done/) only once its COG, quicklooks and item are stored and published.',
  async run(args, io) {
    const [{ configFromEnv, readConfigFile, resolveConfig }, { startRun }, { formatDuration }] = await Promise.all([
      import('../../pipeline/config.js'),
      import('../../pipeline/run.js'),
      import('../progress.js'),
    ]);
    type Layer = import('../../pipeline/config.js').ConfigLayer;
    type Source = import('../../pipeline/config.js').SourceConfig;
    const file = stringOption(args, 'config');
    const flags: Layer = {};
    const sources: Source[] = [];
    const inbox = stringOption(args, 'inbox');
    if (inbox) sources.push({ kind: 'inbox', dir: inbox });
    const kafka = stringOption(args, 'kafka');
    if (kafka) {
      const topic = stringOption(args, 'topic');
      if (!topic) throw new UsageError('--kafka needs --topic', 'run');
      const fromTimestamp = stringOption(args, 'from-timestamp');
      if (fromTimestamp !== undefined && Number.isNaN(Date.parse(fromTimestamp))) throw new UsageError(`--from-timestamp: "${fromTimestamp}" is not an ISO date-time`, 'run');
      sources.push({
        kind: 'kafka',
        brokers: kafka.split(',').map((s) => s.trim()),
        topic,
        group: stringOption(args, 'group') ?? 'sharpstream',
        ...(fromTimestamp ? { fromTimestamp } : {}),
      });
      const outputTopic = stringOption(args, 'output-topic');
      if (outputTopic) flags.outputTopic = outputTopic;
    } else if (stringOption(args, 'from-timestamp') || stringOption(args, 'output-topic')) {
      throw new UsageError('--from-timestamp and --output-topic go with --kafka', 'run');
    }
    const stac = stringOption(args, 'stac');
    if (stac) {
      const collections = listOption(args, 'collections', 'run');
      if (!collections) throw new UsageError('--stac needs --collections', 'run');
      const bboxText = stringOption(args, 'bbox');
      let bbox: [number, number, number, number] | undefined;
      if (bboxText !== undefined) {
        const v = bboxText.split(',').map(Number);
        if (v.length !== 4 || v.some((x) => !Number.isFinite(x)) || v[0] < -180 || v[2] > 180 || v[1] < -90 || v[3] > 90 || v[1] > v[3]) {
          throw new UsageError(`--bbox: "${bboxText}" is not west,south,east,north in WGS84 degrees`, 'run');
        }
        bbox = [v[0], v[1], v[2], v[3]];
      }
      const cloudText = stringOption(args, 'max-cloud-cover');
      const maxCloudCover = cloudText === undefined ? undefined : Number(cloudText);
      if (maxCloudCover !== undefined && !(maxCloudCover >= 0 && maxCloudCover <= 100)) throw new UsageError(`--max-cloud-cover: "${cloudText}" is not a percentage`, 'run');
      const datetime = stringOption(args, 'datetime');
      const outDir = stringOption(args, 'out') ?? './results';
      const checkpoint = stringOption(args, 'checkpoint') ?? (/^[a-z][a-z0-9+.-]*:/i.test(outDir) ? undefined : `${outDir.replace(/\/+$/, '')}/.stac-watcher.json`);
      sources.push({
        kind: 'stac',
        url: stac,
        collections,
        ...(bbox ? { bbox } : {}),
        ...(datetime ? { datetime } : {}),
        ...(maxCloudCover !== undefined ? { maxCloudCover } : {}),
        ...(checkpoint ? { checkpoint } : {}),
      });
    }
    if (sources.length) flags.sources = sources;
    const out = stringOption(args, 'out');
    if (out) flags.out = out;
    const catalogue = stringOption(args, 'catalogue');
    if (catalogue) flags.catalogue = catalogue === 'none' ? null : catalogue;
    else if (out && !/^[a-z][a-z0-9+.-]*:/i.test(out)) flags.catalogue = `${out.replace(/\/+$/, '')}/catalogue.sqlite`;
    const pubs = args.values.publish as readonly string[] | undefined;
    if (pubs?.length) flags.publishers = pubs;
    const serve = stringOption(args, 'serve');
    if (serve !== undefined) {
      const port = Number(serve);
      if (!/^\d+$/.test(serve) || port > 65535) throw new UsageError(`--serve must be a port number, got "${serve}"`, 'run');
      flags.serve = { port, host: stringOption(args, 'host') ?? '127.0.0.1' };
    }
    const apiKey = stringOption(args, 'api-key');
    if (apiKey) flags.apiKey = apiKey;
    if (flagOption(args, 'once')) flags.once = true;
    const models = args.values.model as readonly string[] | undefined;
    if (models?.length) flags.models = models;
    const runtime = stringOption(args, 'runtime');
    if (runtime) flags.runtime = runtime;
    if (stringOption(args, 'concurrency')) flags.concurrency = positiveIntOption(args, 'concurrency', 1, 'run');
    if (flagOption(args, 'no-previews')) flags.previews = false;

    let config;
    try {
      config = resolveConfig(file ? readConfigFile(file) : {}, configFromEnv(io.env), flags);
    } catch (e) {
      throw new UsageError((e as Error).message, 'run');
    }

    const err = io.stderr;
    const lastPct = new Map<string, number>();
    const handle = await startRun(config, {
      line: (t) => err.write(`${t}\n`),
      progress: (p) => {
        // One line per stage, and every 25 % of the rows written.
        const k = `${p.id}/${p.stage}`;
        const pct = p.total ? Math.floor(((p.done ?? 0) / p.total) * 4) * 25 : -1;
        if (lastPct.get(k) === pct) return;
        if (p.stage === 'superResolve' && lastPct.has(k)) return;
        lastPct.set(k, pct);
        err.write(`${p.id}: ${p.stage}${p.total && p.stage === 'writeCog' ? ` ${pct}% of ${p.total} ${p.unit ?? ''}`.trimEnd() : ''}\n`);
      },
      outcome: (o) => {
        for (const k of [...lastPct.keys()]) if (k.startsWith(`${o.event.id}/`)) lastPct.delete(k);
        if (o.kind === 'done') io.stdout.write(`${o.skipped ? 'skipped (already done)' : `done in ${o.seconds.toFixed(1)} s`} ${o.event.id} -> ${o.itemHref}\n`);
        else io.stdout.write(`FAILED ${o.event.id} at ${o.stage}: ${o.error.message}\n`);
      },
    });
    const where = config.sources.map((s) => (s.kind === 'inbox' ? `inbox ${s.dir}` : s.kind === 'kafka' ? `kafka ${s.topic}` : s.kind === 'stac' ? `stac ${s.url}` : 'bus')).join(', ');
    err.write(`sharpstream run: ${config.once ? 'processing what is in' : 'watching'} ${where}; outputs to ${config.out}${config.catalogue ? `, catalogue ${config.catalogue}` : ''}\n`);
    if (handle.url) err.write(`STAC API ${handle.url}/  DEEPaaS ${handle.url}/v2/  OpenAPI ${handle.url}/openapi.json  map ${handle.url}/map\n`);
    if (!config.once) {
      const stop = () => void handle.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    }
    const s = await handle.done;
    io.stdout.write(`${s.done} done, ${s.skipped} skipped, ${s.failed} failed in ${formatDuration(s.seconds)}\n`);
    return s.failed > 0 ? 1 : 0;
  },
};
