/** `sharpstream replay`: historic scenes from a STAC API into a Kafka topic, or a topic's history again under a consumer group of its own. */
import { listOption, positiveIntOption, requiredStringOption, stringOption, UsageError, flagOption, type Command } from '../command.js';

const NAME = 'replay';

function numberList(text: string, what: string, count: number): number[] {
  const parts = text.split(',').map((s) => Number(s.trim()));
  if (parts.length !== count || parts.some((n) => !Number.isFinite(n))) throw new UsageError(`--${what} must be ${count} comma-separated numbers, got "${text}"`, NAME);
  return parts;
}

/** The `replay` command. */
export const command: Command = {
  name: NAME,
  order: 55,
  summary: 'produce historic scenes from a STAC API into a Kafka topic, or re-process a topic from a time under a separate consumer group',
  examples: [
    'sharpstream replay --stac https://earth-search.aws.element84.com/v1 --collections sentinel-2-l1c --datetime 2024-05-01T00:00:00Z/2024-05-31T23:59:59Z --bbox 12.3,41.8,12.6,42.0 --max-cloud 20 --topic scenes',
    'sharpstream replay --topic scenes --from-timestamp 2024-05-01T00:00:00Z --group replay-2024-05',
  ],
  positionals: [],
  options: {
    stac: { type: 'string', valueName: 'url', description: 'STAC API to search (mode 1: scenes from a catalogue into the topic)' },
    collections: { type: 'string', valueName: 'ids', description: 'collections to search, comma-separated (with --stac)' },
    datetime: { type: 'string', valueName: 'interval', description: 'RFC 3339 interval start/end, either side may be .. (with --stac)' },
    bbox: { type: 'string', valueName: 'w,s,e,n', description: 'area in WGS84 degrees (with --stac)' },
    intersects: { type: 'string', valueName: 'geojson', description: 'area as a GeoJSON geometry, inline JSON (with --stac; instead of --bbox)' },
    'max-cloud': { type: 'string', valueName: 'percent', description: 'only items with eo:cloud_cover at most this (with --stac)' },
    'max-items': { type: 'string', valueName: 'n', description: 'stop after n items (with --stac)' },
    topic: { type: 'string', valueName: 'topic', description: 'Kafka topic of scene events (created when missing)' },
    brokers: { type: 'string', valueName: 'host:port,...', description: 'Kafka brokers (default $KAFKA_BROKERS, else 127.0.0.1:9092)' },
    partitions: { type: 'string', valueName: 'n', description: 'partitions when the topic has to be created (default 1)' },
    'from-timestamp': { type: 'string', valueName: 'time', description: 'mode 2: set --group to the topic\'s first messages at or after this ISO 8601 time' },
    group: { type: 'string', valueName: 'group', description: 'the replay consumer group (with --from-timestamp; never the live group)' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  details: [
    'Mode 1 (--stac): searches the STAC API (POST /search, GET when POST is refused; paging through next links) and produces each item, as the scene event, to --topic keyed by item id. Progress goes to stderr, the count to stdout. Workers consuming the topic (sharpstream run --kafka ... --topic ...) process them; outputs are idempotent, so scenes done before are skipped.',
    'Mode 2 (--from-timestamp with --group): sets the consumer group --group to the first offsets of --topic at or after the time, so that `sharpstream run --kafka <brokers> --topic <topic> --group <that group>` re-processes the history from then on while the live group carries on untouched. The group must have no running members. The Kafka source does the same by itself for a new group (no committed offsets yet) given its fromTimestamp option.',
  ].join('\n\n'),
  async run(args, io) {
    const [{ parseBrokers, resolveBrokers, connectKafka, errorLogOnce }, { replayStacToTopic, seekGroupToTimestamp }, { timestampMs }] = await Promise.all([
      import('../../connectors/kafka/client.js'),
      import('../../connectors/kafka/replay.js'),
      import('../../connectors/kafka/source.js'),
    ]);
    const topic = requiredStringOption(args, 'topic', NAME);
    const brokersText = stringOption(args, 'brokers');
    let brokers: string[];
    try {
      brokers = brokersText ? parseBrokers(brokersText) : resolveBrokers(undefined, io.env);
    } catch (e) {
      throw new UsageError(`--brokers: ${(e as Error).message}`, NAME);
    }
    const json = flagOption(args, 'json');
    // a broker that does not answer is retried for minutes: say so meanwhile
    const log = errorLogOnce((t) => io.stderr.write(`replay: kafka: ${t}\n`));
    const stac = stringOption(args, 'stac');
    const from = stringOption(args, 'from-timestamp');
    if (stac && from) throw new UsageError('give either --stac (scenes from a catalogue) or --from-timestamp (a topic\'s history), not both', NAME);
    if (!stac && !from) throw new UsageError('give --stac <url> to replay scenes from a STAC API, or --from-timestamp <time> --group <group> to replay a topic', NAME);

    if (from) {
      const group = requiredStringOption(args, 'group', NAME);
      let ms: number;
      try {
        ms = timestampMs(from);
      } catch (e) {
        throw new UsageError(`--from-timestamp: ${(e as Error).message}`, NAME);
      }
      const offsets = (await seekGroupToTimestamp(connectKafka({ brokers, clientId: 'sharpstream-replay', log }), group, topic, ms))!;
      if (json) io.stdout.write(`${JSON.stringify({ topic, group, from: new Date(ms).toISOString(), offsets })}\n`);
      else {
        io.stdout.write(`consumer group ${group} on ${topic} set to ${new Date(ms).toISOString()}: ${offsets.map((p) => `partition ${p.partition} at offset ${p.offset}`).join(', ')}\n`);
        io.stdout.write(`now run: sharpstream run --kafka ${brokers.join(',')} --topic ${topic} --group ${group}\n`);
      }
      return 0;
    }

    const collections = listOption(args, 'collections', NAME);
    const datetime = stringOption(args, 'datetime');
    const bboxText = stringOption(args, 'bbox');
    const bbox = bboxText ? (numberList(bboxText, 'bbox', 4) as [number, number, number, number]) : undefined;
    const intersectsText = stringOption(args, 'intersects');
    let intersects: { type: string } | undefined;
    if (intersectsText) {
      try {
        intersects = JSON.parse(intersectsText) as { type: string };
      } catch (e) {
        throw new UsageError(`--intersects is not JSON: ${(e as Error).message}`, NAME);
      }
      if (typeof intersects?.type !== 'string') throw new UsageError('--intersects must be a GeoJSON geometry ({"type": ..., "coordinates": ...})', NAME);
    }
    if (bbox && intersects) throw new UsageError('give --bbox or --intersects, not both', NAME);
    const cloudText = stringOption(args, 'max-cloud');
    const maxCloudCover = cloudText === undefined ? undefined : Number(cloudText);
    if (maxCloudCover !== undefined && (!Number.isFinite(maxCloudCover) || maxCloudCover < 0)) throw new UsageError(`--max-cloud must be a number >= 0, got "${cloudText}"`, NAME);
    const maxItems = stringOption(args, 'max-items') ? positiveIntOption(args, 'max-items', 1, NAME) : undefined;
    const partitions = positiveIntOption(args, 'partitions', 1, NAME);
    const count = await replayStacToTopic({
      url: stac!,
      brokers,
      clientId: 'sharpstream-replay',
      log,
      topic,
      partitions,
      ...(collections ? { collections } : {}),
      ...(datetime ? { datetime } : {}),
      ...(bbox ? { bbox } : {}),
      ...(intersects ? { intersects } : {}),
      ...(maxCloudCover !== undefined ? { maxCloudCover } : {}),
      ...(maxItems !== undefined ? { maxItems } : {}),
      onProgress: (n, id) => io.stderr.write(`replay: ${n} ${id}\n`),
    });
    if (json) io.stdout.write(`${JSON.stringify({ topic, produced: count })}\n`);
    else io.stdout.write(`produced ${count} scene event${count === 1 ? '' : 's'} to ${topic}\n`);
    return 0;
  },
};
