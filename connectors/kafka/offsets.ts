/**
 * In-order offset commits for a consumer that processes several messages at once: each partition
 * tracks its outstanding offsets, and only the highest offset below which everything is acknowledged
 * is committed (Kafka's committed offset is "the next message to read", so that offset + 1). A scene
 * that finishes early never lets the committed offset jump over a slower scene that is still running.
 */

/** Offsets of one topic's partitions that were handed out and not yet committed. */
export class OffsetTracker {
  /** partition -> offset -> { ticket, acknowledged? } (insertion order is not relied upon). */
  private readonly outstanding = new Map<number, Map<bigint, { ticket: number; done: boolean }>>();
  private tickets = 0;

  /**
   * Starts tracking an offset and returns its ticket (needed to acknowledge it), or null when it is
   * tracked already (a redelivery of work still in flight, e.g. after a rebalance).
   */
  track(partition: number, offset: string | bigint): number | null {
    const o = BigInt(offset);
    let p = this.outstanding.get(partition);
    if (!p) this.outstanding.set(partition, (p = new Map()));
    if (p.has(o)) return null;
    const ticket = ++this.tickets;
    p.set(o, { ticket, done: false });
    return ticket;
  }

  /** Whether an offset is tracked (handed out, not yet committed), under this ticket when one is given. */
  has(partition: number, offset: string | bigint, ticket?: number): boolean {
    const e = this.outstanding.get(partition)?.get(BigInt(offset));
    return e !== undefined && (ticket === undefined || e.ticket === ticket);
  }

  /**
   * Marks an offset done and returns the offset to commit for its partition (the first offset not yet
   * done, as a string), or null when nothing new can be committed (an earlier offset is still running,
   * or the partition was revoked meanwhile and the ticket is stale). Committed offsets stop being tracked.
   */
  ack(partition: number, offset: string | bigint, ticket: number): string | null {
    const p = this.outstanding.get(partition);
    const o = BigInt(offset);
    const entry = p?.get(o);
    if (!p || !entry || entry.ticket !== ticket) return null;
    entry.done = true;
    const sorted = [...p.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let commit: bigint | null = null;
    for (const k of sorted) {
      if (!p.get(k)!.done) break;
      p.delete(k);
      commit = k + 1n;
    }
    return commit === null ? null : commit.toString();
  }

  /** Forgets partitions no longer assigned (their uncommitted work is redone by their new owner). */
  retain(partitions: Iterable<number>): number[] {
    const keep = new Set(partitions);
    const dropped: number[] = [];
    for (const p of [...this.outstanding.keys()]) {
      if (!keep.has(p)) {
        this.outstanding.delete(p);
        dropped.push(p);
      }
    }
    return dropped;
  }

  /** Number of tracked offsets not yet acknowledged, over all partitions. */
  pending(): number {
    let n = 0;
    for (const p of this.outstanding.values()) for (const e of p.values()) if (!e.done) n++;
    return n;
  }
}
