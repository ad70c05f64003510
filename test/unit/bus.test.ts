/** The in-process bus: publish resolves on ack and rejects on the final nack; events wait for a subscriber; retries up to maxAttempts. */
import { describe, expect, it } from 'vitest';
import { createBus } from '../../connectors/bus.js';
import type { Delivery } from '../../pipeline/types.js';

describe('bus', () => {
  it('queues events until the stream subscribes, in order, and resolves publish on ack', async () => {
    const bus = createBus();
    const a = bus.publish({ href: '/scenes/a.SAFE' });
    const b = bus.publish({ href: '/scenes/b.zip', models: ['bicubic'] });
    expect(bus.pending).toBe(2);
    const seen: Delivery[] = [];
    bus.deliveries().subscribe((d) => {
      seen.push(d);
      void d.ack();
    });
    await Promise.all([a, b]);
    expect(seen.map((d) => [d.value.id, d.source, d.attempt])).toEqual([
      ['a', 'bus', 1],
      ['b', 'bus', 1],
    ]);
    expect(seen[1].value.models).toEqual(['bicubic']);
    expect(bus.pending).toBe(0);
  });

  it('redelivers a nacked event up to maxAttempts, then rejects publish with the error', async () => {
    const bus = createBus({ maxAttempts: 2 });
    const attempts: number[] = [];
    bus.deliveries().subscribe((d) => {
      attempts.push(d.attempt);
      void d.nack(new Error(`failed at attempt ${d.attempt}`));
    });
    await expect(bus.publish({ href: '/scenes/x' })).rejects.toThrow('failed at attempt 2');
    expect(attempts).toEqual([1, 2]);
  });

  it('refuses invalid events, a second subscriber and publishing after close; close completes the stream', async () => {
    const bus = createBus();
    await expect(bus.publish({ nohref: 1 })).rejects.toThrow(/no "href"/);
    let completed = false;
    bus.deliveries().subscribe({ complete: () => (completed = true) });
    let err: Error | null = null;
    bus.deliveries().subscribe({ error: (e: Error) => (err = e) });
    expect(err).toMatchObject({ message: 'bus already has a subscriber' });
    await bus.close();
    expect(completed).toBe(true);
    await expect(bus.publish({ href: '/a' })).rejects.toThrow('bus is closed');
  });
});
