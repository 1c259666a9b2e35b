/**
 * Pending work (a checkout under way, a cancellation's stock release): what recovery looks for.
 *
 * Recovery must find every unfinished item, yet almost every item finishes within milliseconds and its
 * row is deleted: a table recovery scans whole would be a table of tombstones (and Cassandra fails a
 * read past `tombstone_failure_threshold`). So a pass never reads finished items:
 *
 * - Each process (a *writer*, with a time-based id of its own) writes its items into small partitions
 *   of its own, one per `SLOT_MS` slot of time: `work_items ((writer, slot), order_id, kind)`.
 * - `work_slots (hour, slot, writer, drained)` lists those partitions. A writer lists a slot before its
 *   first item goes in, and marks it `drained` as soon as the slot is over and every item the writer
 *   put in it has finished (the writer knows: it did the work). That is one row per writer per slot,
 *   never deleted (it expires), however many items the slot held.
 * - A recovery pass reads `work_slots` from a persisted cursor (`work_cursors`), which only moves past
 *   drained slots, and reads the items of a slot only when it is not drained and old enough to hold
 *   work older than the checkout timeout: the slot of a writer that crashed, or of an item a request left
 *   to recovery. When such a slot reads empty, recovery marks it drained itself. So a pass reads live
 *   rows only (the slot list since the cursor), plus the items of the few undrained slots; the
 *   tombstones of finished work sit in partitions no pass reads again.
 * - Should a partition hold more tombstones than Cassandra accepts in one read (a crashed writer's slot
 *   under extreme load, the old hourly table), it is read in halves of its clustering range, recursively.
 *
 * The old hourly table `pending_work` (migration 1) is still drained, from its own cursor, so work
 * written by a replica of the previous release (or left before an upgrade) is recovered too; once its
 * hours are empty and over, they are never read again.
 */
import { idempotent, types, type Client } from '@product-store/kit';

const { Uuid, TimeUuid } = types;

export type WorkKind = 'checkout' | 'cancel';

export interface PendingWork {
  order_id: string;
  kind: WorkKind;
  user_id: string;
  created_at: Date;
  /** Where a recovery pass found the item (absent for work this process added). */
  source?: { writer: string; slot: number } | { legacyBucket: number };
}

/** What one pass read: the items, and the partitions it failed to read (the pass is then incomplete). */
export interface PendingScan {
  items: PendingWork[];
  errors: Error[];
  /** Partitions read: the slot list and cursors, plus undrained slots and old hourly buckets. */
  reads: number;
}

/** Width of a writer's slot. A crashed writer's last slot holds at most this long of its work. */
export const SLOT_MS = 5_000;
/**
 * Slots younger than this (by their end) are not moved past by the cursor, nor marked drained by
 * recovery: room for clock skew between hosts and for writes still in flight.
 */
export const SKEW_MARGIN_MS = 60_000;
/** A slot that ended this long ago and is not drained has work left to recovery. */
const SEAL_GRACE_MS = 2_000;
/** A writer forgets its slots this long after they end; undrained ones are then recovery's. */
const TRACK_MS = 10 * 60_000;
const HOUR_MS = 3_600_000;

/** pending_work's and work_slots' partition: the hour (UTC), as YYYYMMDDHH. */
export function workBucket(at: Date): number {
  return Number(at.toISOString().slice(0, 13).replace(/[-T]/g, ''));
}

const slotOf = (ms: number) => Math.floor(ms / SLOT_MS);
const slotStart = (slot: number) => slot * SLOT_MS;
/** A slot as stored: the time it starts. */
const slotTime = (slot: number) => new Date(slotStart(slot));
const hourStart = (ms: number) => Math.floor(ms / HOUR_MS) * HOUR_MS;
const workKey = (orderId: string, kind: string) => `${orderId}/${kind}`;

/** Cassandra refused a read that would scan more tombstones than `tombstone_failure_threshold`. */
function tooManyTombstones(err: unknown): boolean {
  const e = err as { code?: number; reasons?: Record<string, number> };
  if (e?.code !== types.responseErrorCodes.readFailure) return false;
  // RequestFailureReason.READ_TOO_MANY_TOMBSTONES is 1; older nodes send no reasons.
  return !e.reasons || Object.values(e.reasons).some((reason) => reason === 1);
}

interface TrackedSlot {
  open: number;
  registered: Promise<void>;
  timer?: NodeJS.Timeout;
}

export class WorkQueue {
  /** This process's writer id. */
  readonly writer = TimeUuid.now();
  private readonly slots = new Map<number, TrackedSlot>();
  /** Items this writer added and has not finished: their slot. */
  private readonly inflight = new Map<string, number>();
  /** Slots below this one are sealed (or forgotten): new work never goes into them. */
  private nextSlot = 0;

  constructor(private readonly db: Client) {}

  // Writing

  async add(work: PendingWork): Promise<void> {
    const slot = Math.max(slotOf(Date.now()), this.nextSlot);
    const tracked = this.track(slot);
    // Counted before the write: an insert that fails may still have landed, and then the slot must
    // never be marked drained by this writer (recovery reads it instead).
    tracked.open++;
    const key = workKey(work.order_id, work.kind);
    this.inflight.set(key, slot);
    try {
      await tracked.registered;
    } catch (err) {
      // Nothing was written: the item does not count.
      tracked.open--;
      this.inflight.delete(key);
      throw err;
    }
    await this.db.execute(
      'INSERT INTO work_items (writer, slot, order_id, kind, user_id, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      [this.writer, slotTime(slot), TimeUuid.fromString(work.order_id), work.kind, Uuid.fromString(work.user_id), work.created_at],
      idempotent,
    );
  }

  async finish(work: Pick<PendingWork, 'order_id' | 'kind' | 'created_at' | 'source'>): Promise<void> {
    const key = workKey(work.order_id, work.kind);
    const source = work.source;
    if (source && 'legacyBucket' in source) {
      await this.db.execute('DELETE FROM pending_work WHERE bucket = ? AND order_id = ? AND kind = ?', [source.legacyBucket, TimeUuid.fromString(work.order_id), work.kind], idempotent);
      return;
    }
    const mine = !source || source.writer === this.writer.toString();
    const slot = source ? source.slot : this.inflight.get(key);
    if (slot === undefined) throw new Error(`no pending work ${work.kind} ${work.order_id} was added by this process`);
    await this.db.execute(
      'DELETE FROM work_items WHERE writer = ? AND slot = ? AND order_id = ? AND kind = ?',
      [source ? TimeUuid.fromString(source.writer) : this.writer, slotTime(slot), TimeUuid.fromString(work.order_id), work.kind],
      idempotent,
    );
    if (mine && this.inflight.get(key) === slot) {
      this.inflight.delete(key);
      const tracked = this.slots.get(slot);
      if (tracked) {
        tracked.open--;
        // Not awaited: a failed seal only leaves the slot to recovery.
        if (slotStart(slot + 1) <= Date.now()) void this.seal(slot).catch(() => undefined);
      }
    }
  }

  private track(slot: number): TrackedSlot {
    let tracked = this.slots.get(slot);
    if (tracked) return tracked;
    const at = slotStart(slot);
    const registered = this.db
      .execute('INSERT INTO work_slots (hour, slot, writer, drained) VALUES (?, ?, ?, false)', [workBucket(new Date(at)), slotTime(slot), this.writer], idempotent)
      .then(() => undefined);
    tracked = { open: 0, registered };
    // A slot whose registration failed is forgotten, so the next item tries again.
    registered.catch(() => this.slots.get(slot) === tracked && this.slots.delete(slot));
    // Sealed right after it ends when nothing is open then; otherwise by its last finish.
    tracked.timer = setTimeout(() => void this.seal(slot).catch(() => undefined), Math.max(0, at + SLOT_MS - Date.now()) + 50);
    tracked.timer.unref();
    this.slots.set(slot, tracked);
    return tracked;
  }

  /** Marks an ended slot drained when every item this writer put in it has finished. */
  private async seal(slot: number): Promise<void> {
    const tracked = this.slots.get(slot);
    if (!tracked || slotStart(slot + 1) > Date.now()) return;
    if (tracked.open > 0) {
      // Still in flight: its finish seals it. Past TRACK_MS it is left to recovery.
      if (slotStart(slot + 1) + TRACK_MS < Date.now()) this.forget(slot);
      return;
    }
    this.forget(slot);
    await tracked.registered;
    await this.db.execute('UPDATE work_slots SET drained = true WHERE hour = ? AND slot = ? AND writer = ?', [workBucket(new Date(slotStart(slot))), slotTime(slot), this.writer], idempotent);
  }

  private forget(slot: number): void {
    const tracked = this.slots.get(slot);
    if (tracked?.timer) clearTimeout(tracked.timer);
    this.slots.delete(slot);
    this.nextSlot = Math.max(this.nextSlot, slot + 1);
  }

  /** Seals what can be sealed and forgets slots left to recovery; run by every recovery pass. */
  private async housekeeping(): Promise<void> {
    for (const slot of [...this.slots.keys()]) await this.seal(slot).catch(() => undefined);
  }

  // Reading (recovery)

  /**
   * Unfinished work that may be older than `olderThanMs` at `now`, created within the last `hours`.
   * `now` may lie ahead of the clock (tests); the cursors only ever move by the real clock.
   */
  async pending(now: Date, hours: number, olderThanMs: number): Promise<PendingScan> {
    await this.housekeeping();
    const scan: PendingScan = { items: [], errors: [], reads: 0 };
    const at = now.getTime();
    const clock = Date.now();
    const floor = at - hours * HOUR_MS;
    const cursors = await this.db.execute("SELECT name, position FROM work_cursors WHERE name IN ('slots', 'legacy')", [], idempotent);
    scan.reads++;
    const cursor = (name: string) => {
      const row = cursors.rows.find((r) => r.get('name') === name);
      const position = row?.get('position') as Date | null | undefined;
      return Math.max(position ? position.getTime() : floor, floor);
    };
    // No cursor moves past work that may still be written, nor past what `now` has seen.
    const limit = Math.min(at, clock) - SKEW_MARGIN_MS;
    await this.scanSlots(scan, cursor('slots'), at, clock, olderThanMs, limit);
    await this.scanLegacy(scan, cursor('legacy'), at, clock, limit);
    return scan;
  }

  private async scanSlots(scan: PendingScan, from: number, at: number, clock: number, olderThanMs: number, limit: number): Promise<void> {
    const firstSlot = slotOf(from);
    const listed: Array<{ slot: number; writer: string; drained: boolean }> = [];
    try {
      for (let hour = hourStart(from); hour <= Math.max(at, clock); hour += HOUR_MS) {
        let pageState: string | undefined;
        do {
          const rs = await this.db.execute('SELECT slot, writer, drained FROM work_slots WHERE hour = ? AND slot >= ?', [workBucket(new Date(hour)), slotTime(firstSlot)], {
            ...idempotent,
            fetchSize: 1000,
            pageState,
          });
          scan.reads++;
          for (const row of rs.rows) listed.push({ slot: slotOf((row.get('slot') as Date).getTime()), writer: row.get('writer').toString(), drained: row.get('drained') === true });
          pageState = rs.pageState ?? undefined;
        } while (pageState);
      }
    } catch (err) {
      scan.errors.push(err as Error);
      return; // the cursor stays
    }
    let oldestUndrained = Infinity;
    for (const entry of listed) {
      if (entry.drained) continue;
      const start = slotStart(entry.slot);
      const end = start + SLOT_MS;
      // Its items are all younger than the timeout, or its writer is about to seal it: not yet.
      if (start > at - olderThanMs || end + SEAL_GRACE_MS > at) {
        oldestUndrained = Math.min(oldestUndrained, entry.slot);
        continue;
      }
      try {
        const items = await this.readPartition(
          scan,
          'SELECT order_id, kind, user_id, created_at FROM work_items WHERE writer = ? AND slot = ?',
          [TimeUuid.fromString(entry.writer), slotTime(entry.slot)],
        );
        for (const row of items) scan.items.push({ ...toWork(row), source: { writer: entry.writer, slot: entry.slot } });
        if (items.length === 0 && end + SKEW_MARGIN_MS <= clock) {
          await this.db.execute('UPDATE work_slots SET drained = true WHERE hour = ? AND slot = ? AND writer = ?', [workBucket(new Date(start)), slotTime(entry.slot), TimeUuid.fromString(entry.writer)], idempotent);
        } else {
          oldestUndrained = Math.min(oldestUndrained, entry.slot);
        }
      } catch (err) {
        scan.errors.push(err as Error);
        oldestUndrained = Math.min(oldestUndrained, entry.slot);
      }
    }
    const next = Math.min(oldestUndrained, slotOf(limit));
    if (next > firstSlot) await this.moveCursor(scan, 'slots', slotStart(next));
  }

  /** The hourly buckets of migration 1, from their cursor: written only by replicas of the previous release. */
  private async scanLegacy(scan: PendingScan, from: number, at: number, clock: number, limit: number): Promise<void> {
    let position = hourStart(from);
    let advancing = true;
    for (let hour = hourStart(from); hour <= Math.max(at, clock); hour += HOUR_MS) {
      const bucket = workBucket(new Date(hour));
      try {
        const rows = await this.readPartition(scan, 'SELECT order_id, kind, user_id, created_at FROM pending_work WHERE bucket = ?', [bucket]);
        for (const row of rows) scan.items.push({ ...toWork(row), source: { legacyBucket: bucket } });
        if (advancing && rows.length === 0 && hour + HOUR_MS <= limit) position = hour + HOUR_MS;
        else advancing = false;
      } catch (err) {
        scan.errors.push(err as Error);
        advancing = false;
      }
    }
    if (position > hourStart(from)) await this.moveCursor(scan, 'legacy', position);
  }

  private async moveCursor(scan: PendingScan, name: string, position: number): Promise<void> {
    // Replicas may race: an older position written last only makes the next pass read a little more.
    await this.db.execute('UPDATE work_cursors SET position = ? WHERE name = ?', [new Date(position), name], idempotent).catch((err: Error) => scan.errors.push(err));
  }

  /**
   * Every row of one partition, page by page; a read Cassandra refuses for its tombstones is split in
   * halves of the order_id range (time-based UUIDs), recursively, so each read stays under the limit.
   */
  private async readPartition(scan: PendingScan, cql: string, key: unknown[], range?: [number, number]): Promise<types.Row[]> {
    const rows: types.Row[] = [];
    const bounded = range ? `${cql} AND order_id >= ? AND order_id <= ?` : cql;
    const params = range ? [...key, TimeUuid.min(new Date(range[0]), 0), TimeUuid.max(new Date(range[1]), 9999)] : key;
    try {
      let pageState: string | undefined;
      do {
        const rs = await this.db.execute(bounded, params, { ...idempotent, fetchSize: 500, pageState });
        scan.reads++;
        rows.push(...rs.rows);
        pageState = rs.pageState ?? undefined;
      } while (pageState);
      return rows;
    } catch (err) {
      const [lo, hi] = range ?? [0, Date.now() + 24 * HOUR_MS];
      if (!tooManyTombstones(err) || hi - lo < 2) throw err;
      const mid = Math.floor((lo + hi) / 2);
      return [...(await this.readPartition(scan, cql, key, [lo, mid])), ...(await this.readPartition(scan, cql, key, [mid + 1, hi]))];
    }
  }
}

function toWork(row: types.Row): PendingWork {
  return { order_id: row.get('order_id').toString(), kind: row.get('kind'), user_id: row.get('user_id').toString(), created_at: row.get('created_at') };
}
