/**
 * Raw request paths no route of the shop uses and that proxies and routers read differently: encoded
 * dots, slashes or backslashes, dot segments, empty segments, `;` parameters (query excluded). The
 * gateway refuses them with 404 (gateway/nginx.ts), and every service refuses them again, so a public
 * entry without the gateway's rules (an ingress-nginx that refuses configuration snippets, a load
 * balancer in front of a service port) cannot reach an internal route through one of them either.
 */
export const refusedPath = String.raw`^[^?]*(%2e|%2f|%5c|//|/\.\.?(/|\?|$)|;|\\)`;

const refused = new RegExp(refusedPath, 'i');

/** True for a raw request target (path and query, as received) that must be answered 404. */
export const isRefusedPath = (rawTarget: string): boolean => refused.test(rawTarget);
