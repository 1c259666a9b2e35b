/**
 * TRUSTED_PROXIES: the load balancers in front of the gateway, as addresses or CIDRs, comma- or
 * space-separated; empty (the default): none. One setting for the whole stack:
 * - nginx takes the client's address from X-Forwarded-For only when it comes from one of them
 *   (gateway/nginx.ts, real_ip), so its limits count clients, not the load balancer;
 * - a service, when it is set, takes its client address (ctx.ip) from the one X-Forwarded-For entry
 *   its gateway writes (app.ts); a service's peer is always its gateway or another service, never a
 *   load balancer, so a service needs the switch, not the addresses.
 */
import { isIP } from 'node:net';

/** The list, or the problems with it (what nginx would refuse at start). */
export function parseTrustedProxies(raw: string | undefined): { proxies: string[]; problems: string[] } {
  const proxies = (raw ?? '').split(/[\s,]+/).filter(Boolean);
  const problems = proxies.filter((p) => !validProxy(p)).map((p) => `TRUSTED_PROXIES: "${p}" is not an IP address or CIDR`);
  return { proxies, problems };
}

function validProxy(value: string): boolean {
  const [address, bits, ...rest] = value.split('/');
  const family = isIP(address);
  if (!family || rest.length) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}
