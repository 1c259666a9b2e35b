/**
 * Which order-service replica runs recovery: one at a time, under a lease that fails over.
 *
 * Every replica used to scan all pending work each interval and race the others on the same
 * conditional writes, so the work per interval grew with the number of replicas. Now each replica,
 * before a pass, renews the lease if it holds it, or takes it if nobody does (a lightweight
 * transaction either way: one Paxos round per replica per interval, instead of a scan); only the
 * holder runs the pass. The lease expires (TTL) LEASE_INTERVALS intervals after its last renewal, so
 * when its holder dies or stops another replica takes over within that time. Recovery's steps stay
 * idempotent, so a pass that outlives the lease and overlaps a new holder's does no harm: the lease
 * divides the work, it does not guard correctness.
 */
import { randomUUID } from 'node:crypto';
import { conditional, type Client } from '@product-store/kit';

/** The lease lasts this many recovery intervals after its holder's last renewal. */
export const LEASE_INTERVALS = 3;

export class RecoveryLease {
  readonly owner = randomUUID();
  private readonly ttlSeconds: number;

  constructor(
    private readonly db: Client,
    intervalMs: number,
    private readonly name = 'recovery',
  ) {
    this.ttlSeconds = Math.max(1, Math.ceil((LEASE_INTERVALS * intervalMs) / 1000));
  }

  /** True when this replica holds the lease now (renewed or just taken) and should run the pass. */
  async acquire(): Promise<boolean> {
    const renewed = await this.db.execute(
      `UPDATE recovery_leases USING TTL ${this.ttlSeconds} SET owner = ? WHERE name = ? IF owner = ?`,
      [this.owner, this.name, this.owner],
      conditional,
    );
    if (renewed.wasApplied()) return true;
    const taken = await this.db.execute(
      `INSERT INTO recovery_leases (name, owner) VALUES (?, ?) IF NOT EXISTS USING TTL ${this.ttlSeconds}`,
      [this.name, this.owner],
      conditional,
    );
    return taken.wasApplied();
  }

  /** Gives the lease up (a replica stopping), so another takes it at its next pass, not after the TTL. */
  async release(): Promise<void> {
    await this.db.execute('DELETE FROM recovery_leases WHERE name = ? IF owner = ?', [this.name, this.owner], conditional).catch(() => undefined);
  }
}
