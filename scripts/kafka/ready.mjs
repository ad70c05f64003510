// Readiness probe for scripts/kafka/start.sh: one Kafka metadata round trip through kafkajs.
//
//   node scripts/kafka/ready.mjs <host:port> [timeoutMs]
//
// Exit 0: a broker answers on host:port with cluster metadata that lists itself and a controller.
// Exit 1: nothing answered, or the answer was not a ready broker (the reason goes to stderr).
// Exit 3: kafkajs cannot be loaded (npm ci not run); start.sh then falls back to log line + TCP.
const [target, timeoutArg] = process.argv.slice(2);
if (!target || !/^[^:]+:\d+$/.test(target)) {
  console.error('usage: node scripts/kafka/ready.mjs <host:port> [timeoutMs]');
  process.exit(2);
}
const timeoutMs = Number(timeoutArg ?? 3000);

let kafkajs;
try {
  kafkajs = await import('kafkajs');
} catch (err) {
  console.error(`kafkajs is not installed (${err instanceof Error ? err.message : String(err)})`);
  process.exit(3);
}
const { Kafka, logLevel } = kafkajs.default ?? kafkajs;

const kafka = new Kafka({
  clientId: 'sharpstream-kafka-ready',
  brokers: [target],
  logLevel: logLevel.NOTHING,
  connectionTimeout: Math.min(timeoutMs, 2000),
  requestTimeout: timeoutMs,
  retry: { retries: 0 },
});
const admin = kafka.admin();
const timer = setTimeout(() => {
  console.error(`no answer from ${target} within ${timeoutMs} ms`);
  process.exit(1);
}, timeoutMs + 500);

let code = 1;
try {
  await admin.connect();
  const cluster = await admin.describeCluster();
  const port = Number(target.split(':')[1]);
  if (!cluster.brokers.some((b) => b.port === port)) {
    console.error(`${target} answered, but its metadata does not list a broker on port ${port}: ${JSON.stringify(cluster.brokers)}`);
  } else if (cluster.controller === null || cluster.controller === undefined || cluster.controller < 0) {
    console.error(`${target} answered, but reports no controller yet`);
  } else {
    console.log(`cluster ${cluster.clusterId}, brokers ${cluster.brokers.map((b) => `${b.nodeId}@${b.host}:${b.port}`).join(',')}`);
    code = 0;
  }
} catch (err) {
  console.error(`${target}: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  await admin.disconnect().catch(() => undefined);
  clearTimeout(timer);
}
process.exit(code);
