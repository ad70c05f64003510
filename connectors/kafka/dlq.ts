/**
 * Dead letters: a message the pipeline gave up on (malformed, or failed its last attempt) is copied,
 * key and value unchanged, to `<topic>.dlq` with headers saying why, where it came from and when, so
 * that an operator can inspect it and re-produce it to the input topic once the cause is fixed.
 */
import type { IHeaders, Producer } from 'kafkajs';

/** Header names of a dead letter (all values UTF-8 strings). */
export const DLQ_HEADERS = {
  error: 'sharpstream-error',
  errorName: 'sharpstream-error-name',
  stage: 'sharpstream-stage',
  attempts: 'sharpstream-attempts',
  topic: 'sharpstream-original-topic',
  partition: 'sharpstream-original-partition',
  offset: 'sharpstream-original-offset',
  timestamp: 'sharpstream-failed-at',
} as const;

/** The DLQ topic of an input topic. */
export function dlqTopicOf(topic: string): string {
  return `${topic}.dlq`;
}

/** Why and where a message failed. */
export interface DeadLetterInfo {
  readonly error: Error;
  /** Stage that failed: parse (malformed event), read, superResolve, publish, ... */
  readonly stage: string;
  readonly attempts: number;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/** A dead letter as read back from the DLQ topic. */
export interface DeadLetter {
  readonly error: string;
  readonly errorName: string;
  readonly stage: string;
  readonly attempts: number;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly failedAt: string;
}

/** The headers of a dead letter: the original message's own headers plus the error headers. */
export function deadLetterHeaders(info: DeadLetterInfo, original: IHeaders = {}, now: Date = new Date()): IHeaders {
  // error messages can be long (stack-like GDAL output): keep headers small
  const message = info.error.message.length > 4000 ? `${info.error.message.slice(0, 4000)}...` : info.error.message;
  return {
    ...original,
    [DLQ_HEADERS.error]: message,
    [DLQ_HEADERS.errorName]: info.error.name,
    [DLQ_HEADERS.stage]: info.stage,
    [DLQ_HEADERS.attempts]: String(info.attempts),
    [DLQ_HEADERS.topic]: info.topic,
    [DLQ_HEADERS.partition]: String(info.partition),
    [DLQ_HEADERS.offset]: info.offset,
    [DLQ_HEADERS.timestamp]: now.toISOString(),
  };
}

function header(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
}

/** Reads the error headers of a DLQ message; null when it has none (not a sharpstream dead letter). */
export function readDeadLetter(headers: IHeaders | undefined): DeadLetter | null {
  const error = header(headers, DLQ_HEADERS.error);
  if (error === undefined) return null;
  return {
    error,
    errorName: header(headers, DLQ_HEADERS.errorName) ?? 'Error',
    stage: header(headers, DLQ_HEADERS.stage) ?? '',
    attempts: Number(header(headers, DLQ_HEADERS.attempts) ?? 0),
    topic: header(headers, DLQ_HEADERS.topic) ?? '',
    partition: Number(header(headers, DLQ_HEADERS.partition) ?? -1),
    offset: header(headers, DLQ_HEADERS.offset) ?? '',
    failedAt: header(headers, DLQ_HEADERS.timestamp) ?? '',
  };
}

/** The original message to dead-letter. */
export interface DeadMessage {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: IHeaders;
}

/** Produces a dead letter to `<info.topic>.dlq` (or `dlqTopic`) and waits until the broker has it (acks from all replicas). */
export async function sendDeadLetter(producer: Producer, message: DeadMessage, info: DeadLetterInfo, dlqTopic: string = dlqTopicOf(info.topic)): Promise<void> {
  await producer.send({
    topic: dlqTopic,
    acks: -1,
    messages: [{ key: message.key, value: message.value, headers: deadLetterHeaders(info, message.headers ?? {}) }],
  });
}
