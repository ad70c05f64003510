/** In-order offset commits (connectors/kafka/offsets.ts), DLQ headers, broker lists and the source's report lines. */
import { describe, expect, it } from 'vitest';
import { errorLogOnce, parseBrokers } from '../../connectors/kafka/client.js';
import { deadLetterHeaders, readDeadLetter } from '../../connectors/kafka/dlq.js';
import { OffsetTracker } from '../../connectors/kafka/offsets.js';
import { describeKafkaEvent, timestampMs } from '../../connectors/kafka/source.js';

describe('OffsetTracker', () => {
  it('commits only the highest contiguous acknowledged offset + 1, per partition', () => {
    const t = new OffsetTracker();
    const a = t.track(0, '10')!;
    const b = t.track(0, '11')!;
    const c = t.track(0, '12')!;
    const d = t.track(1, '5')!;
    expect(t.pending()).toBe(4);
    expect(t.ack(0, '12', c)).toBeNull(); // 10 and 11 still running
    expect(t.ack(0, '11', b)).toBeNull();
    expect(t.ack(1, '5', d)).toBe('6'); // partitions are independent
    expect(t.ack(0, '10', a)).toBe('13'); // 10, 11, 12 all done
    expect(t.pending()).toBe(0);
    expect(t.has(0, '10')).toBe(false);
  });

  it('refuses a redelivery of an offset in flight, and a stale ticket after a revoke', () => {
    const t = new OffsetTracker();
    const a = t.track(2, 7n)!;
    expect(t.track(2, '7')).toBeNull();
    expect(t.retain([0, 1])).toEqual([2]);
    expect(t.ack(2, '7', a)).toBeNull(); // revoked: the new owner commits
    const again = t.track(2, '7')!; // reassigned later and redelivered
    expect(again).not.toBe(a);
    expect(t.ack(2, '7', a)).toBeNull(); // the old delivery's ack does not count
    expect(t.has(2, '7', again)).toBe(true);
    expect(t.ack(2, '7', again)).toBe('8');
  });
});

describe('dead-letter headers', () => {
  it('round-trip and keep the original headers', () => {
    const err = new Error('B05 is truncated');
    err.name = 'SceneError';
    const h = deadLetterHeaders({ error: err, stage: 'read', attempts: 3, topic: 'scenes', partition: 4, offset: '99' }, { trace: 'x' }, new Date('2024-05-01T00:00:00Z'));
    expect(h.trace).toBe('x');
    const buffers = Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Buffer.from(String(v))]));
    expect(readDeadLetter(buffers)).toEqual({
      error: 'B05 is truncated',
      errorName: 'SceneError',
      stage: 'read',
      attempts: 3,
      topic: 'scenes',
      partition: 4,
      offset: '99',
      failedAt: '2024-05-01T00:00:00.000Z',
    });
    expect(readDeadLetter({ trace: Buffer.from('x') })).toBeNull();
  });
});

describe('options', () => {
  it('parse broker lists and timestamps, naming what is wrong', () => {
    expect(parseBrokers(' a:9092, b:19092 ')).toEqual(['a:9092', 'b:19092']);
    expect(() => parseBrokers('a:9092,http://b')).toThrow(/"http:\/\/b" is not host:port/);
    expect(() => parseBrokers(' , ')).toThrow(/empty/);
    expect(timestampMs('2024-05-01T00:00:00Z')).toBe(Date.UTC(2024, 4, 1));
    expect(() => timestampMs('yesterday')).toThrow(/"yesterday" is not a time/);
  });
});

describe('describeKafkaEvent', () => {
  it('says what needs attention in one line and keeps routine events quiet', () => {
    expect(describeKafkaEvent('scenes', { type: 'dead-letter', partition: 2, offset: '41', stage: 'read', error: 'no such file' })).toBe(
      'kafka: scenes/2@41 dead-lettered after failing at read: no such file',
    );
    expect(describeKafkaEvent('scenes', { type: 'crash', error: 'boom', restart: false })).toBe('kafka: the consumer crashed (kafkajs gave up): boom');
    expect(describeKafkaEvent('scenes', { type: 'consumer-restart', reason: 'no fetch or heartbeat for 95 s', attempt: 2 })).toBe(
      'kafka: replacing the consumer (2 in a row): no fetch or heartbeat for 95 s',
    );
    expect(describeKafkaEvent('scenes', { type: 'assigned', partitions: [], dropped: [1] })).toBe('kafka: partitions of scenes assigned to this worker: none (taken away: 1)');
    for (const e of [
      { type: 'committed', partition: 0, offset: '1' },
      { type: 'duplicate', partition: 0, offset: '1' },
      { type: 'paused', inFlight: 2 },
      { type: 'resumed', inFlight: 1 },
    ] as const) expect(describeKafkaEvent('scenes', e)).toBeNull();
  });
});

describe('errorLogOnce', () => {
  it('passes each distinct kafkajs error once per interval and drops warnings', async () => {
    const lines: string[] = [];
    const log = errorLogOnce((t) => lines.push(t), 50);
    log('error', 'Connection error: ECONNREFUSED');
    log('error', 'Connection error: ECONNREFUSED');
    log('warn', 'a warning');
    log('error', 'another');
    expect(lines).toEqual(['Connection error: ECONNREFUSED', 'another']);
    await new Promise((r) => setTimeout(r, 60));
    log('error', 'Connection error: ECONNREFUSED');
    expect(lines).toHaveLength(3);
  });
});
