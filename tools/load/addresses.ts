/**
 * Source addresses for the virtual customers. The gateway limits each client address (50 requests/s
 * on the API, 30 sign-ins/min on /auth: deploy/src/gateway.ts `gatewayLimits`), so a load from
 * one address measures mostly 429s. On Linux the whole of 127.0.0.0/8 is on the loopback interface:
 * any of its addresses can be a connection's source with no setup, e.g. `127.0.1.0/24`.
 */
import { createServer, isIPv4, isIP } from 'node:net';

function ipv4ToInt(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/**
 * The addresses a flag names: a CIDR (`127.0.1.0/24`: its host addresses, without the network and
 * broadcast ones for prefixes up to /30), a comma-separated list (`127.0.1.1,127.0.1.2`), or both.
 * At most `limit` addresses are produced (a /8 holds 16 million).
 */
export function parseSourceAddresses(spec: string | readonly string[], limit = 65_536): string[] {
  const parts = (typeof spec === 'string' ? [spec] : spec).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  const out: string[] = [];
  for (const part of parts) {
    const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(part);
    if (cidr) {
      const [, base, bitsText] = cidr;
      const bits = Number(bitsText);
      if (!isIPv4(base) || bits < 8 || bits > 32) throw new Error(`--source-addresses: ${part} is not an IPv4 CIDR between /8 and /32`);
      const size = 2 ** (32 - bits);
      const network = ipv4ToInt(base) - (ipv4ToInt(base) % size);
      const [first, last] = bits <= 30 ? [network + 1, network + size - 2] : [network, network + size - 1];
      for (let n = first; n <= last && out.length < limit; n++) out.push(intToIpv4(n));
    } else if (isIP(part)) {
      if (out.length < limit) out.push(part);
    } else {
      throw new Error(`--source-addresses: ${part} is neither an address nor a CIDR`);
    }
  }
  return [...new Set(out)];
}

/** Fails with a clear message when an address cannot be a source here (not on any interface). */
export async function checkBindable(address: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`source address ${address} cannot be used here (${err.code ?? err.message}); on Linux every 127.x.y.z address is on the loopback interface`)),
    );
    server.listen(0, address, () => server.close(() => resolve()));
  });
}
