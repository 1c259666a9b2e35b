/**
 * The public entrance: Ingresses for ingress-nginx built from the spec's `gatewayRoutes` and
 * `gatewayLimits`, as the compose gateway (gateway/nginx.ts) is. Anything else, the services'
 * /internal/, /metrics and /ready included, matches no rule and gets the controller's 404.
 *
 * One Ingress per set of annotations, since annotations apply to a whole Ingress:
 * - `product-store-api`: every route but the auth ones, at apiRatePerSecond per client address;
 * - `product-store-auth`: login and register, at authRatePerMinute per client address;
 * - `product-store-health` and `product-store-openapi`: /health and /openapi.json, rewritten to the
 *   backend's /ready and /openapi/all.json;
 * - `product-store-storefront`: `/` (Prefix) to the storefront's nginx (charts/storefront.ts), at
 *   apiRatePerSecond. Every API path is longer, and ingress-nginx orders its locations longest
 *   first (as plain prefixes, or as the regular expressions a rewrite-target makes of them), so `/`
 *   takes only what no API route does: the storefront's files, and its 404 for anything else
 *   (/internal/, /metrics, /ready included), with the CSP and headers of the storefront's nginx.
 *
 * What ingress-nginx does differently from the compose gateway:
 * - its burst is the rate times an integer multiplier, so the auth burst is authRatePerMinute (30),
 *   not authBurst (10); each controller replica counts on its own, and it answers 503 to a limited
 *   client unless the controller's ConfigMap sets `limit-req-status-code: "429"`;
 * - a rewrite-target on any Ingress of a host makes ingress-nginx match every path of that host as a
 *   case-insensitive regular-expression prefix (`~* "^/products"`): exact paths then also match
 *   longer ones (`/users/me/x` reaches user-service, which answers 404). Nothing new is exposed:
 *   every path still starts with a public route;
 * - pathType Exact with a dot (/openapi.json) needs ingress-nginx 1.12.6+ or 1.13.2+ when
 *   `strict-validate-path-type` is on (the default since 1.12);
 * - no per-route method limits, security headers or problem+json error pages: those need snippets,
 *   which the controller's default annotation risk level refuses (see charts/README.md);
 * - the refusal of paths not in normal form and the removal of a client's X-Internal-Token are a
 *   snippet too (`snippets`, off by default); without it such a path can reach a service's internal
 *   route, which still demands the services' token (401/403 rather than 404);
 * - the client's address behind a load balancer is the controller's setting (its ConfigMap's
 *   `use-forwarded-headers` and `proxy-real-ip-cidr`, charts/README.md); the services read
 *   TRUSTED_PROXIES from product-store-config, as in compose.
 */
import * as k8s from 'cdk8s-plus-27/lib/imports/k8s';
import type { Construct } from 'constructs';
import { gatewayLimits, gatewayRewrites, gatewayRoutes, type ServiceName } from '@product-store/deploy';
import { ingressSnippet } from '../gateway/nginx';
import { annotate, burstMultiplier, ingressNginx } from './lib/ingress-nginx';
import { ProductStoreChart } from './lib/workload';

export const TLS_SECRET_NAME = 'product-store-tls';

/** A path of the Ingresses: the spec's routes, plus the two the gateway rewrites. */
export interface IngressPath {
  readonly path: string;
  readonly pathType: 'Exact' | 'Prefix';
  readonly service: ServiceName | 'storefront';
  /** The path the service receives instead. */
  readonly rewriteTo?: string;
}

/** The gateway's own paths (the spec's `gatewayRewrites`): the operator guide's check and the whole API's document. */
export const rewrittenPaths: readonly IngressPath[] = gatewayRewrites.map((r) => ({ path: r.path, pathType: 'Exact', service: r.service, rewriteTo: r.upstreamPath }));

/** The storefront: everything no API route takes. */
export const storefrontPath: IngressPath = { path: '/', pathType: 'Prefix', service: 'storefront' };

const routePath = (route: (typeof gatewayRoutes)[number]): IngressPath => ({
  path: route.path,
  pathType: route.match === 'exact' ? 'Exact' : 'Prefix',
  service: route.service,
});

export interface IngressChartProps {
  /**
   * The public host name. @default none: the Ingresses answer on every host, and the storefront's
   * `/` becomes the controller's catch-all: set it on a controller other applications share
   * (charts/README.md, TLS).
   */
  readonly host?: string;
  /** Serve HTTPS for `host` with the certificate of the Secret product-store-tls, and redirect HTTP to it. @default false */
  readonly tls?: boolean;
  /** A cert-manager ClusterIssuer that issues product-store-tls. @default none: the operator creates the Secret */
  readonly clusterIssuer?: string;
  /**
   * The compose gateway's refusals as a configuration snippet on every Ingress (gateway/nginx.ts
   * `ingressSnippet`): paths not in normal form get 404 instead of reaching a service's internal
   * route, and a client's X-Internal-Token is dropped. Only for a controller that allows snippets
   * (`allow-snippet-annotations: "true"`, `annotations-risk-level: Critical`); one that does not
   * refuses the whole Ingress. @default false
   */
  readonly snippets?: boolean;
}

export class IngressChart extends ProductStoreChart {
  constructor(scope: Construct, id: string, props: IngressChartProps = {}) {
    super(scope, id);
    if (props.tls && !props.host) throw new Error('IngressChart: tls needs a host');
    if (props.clusterIssuer && !props.tls) throw new Error('IngressChart: clusterIssuer needs tls');

    const common = annotate({
      proxyBodySize: `${gatewayLimits.maxBodyKilobytes}k`,
      // Bodies fit in memory: nothing is buffered to disk.
      clientBodyBufferSize: `${gatewayLimits.maxBodyKilobytes}k`,
      enableCors: false,
      // Keep-alive to the services (their idle timeout outlasts the controller's).
      proxyHttpVersion: '1.1',
      proxyNextUpstream: 'error timeout',
      ...(props.tls ? { sslRedirect: true } : {}),
      ...(props.snippets ? { configurationSnippet: ingressSnippet() } : {}),
    });
    const apiLimit = annotate({
      limitRps: gatewayLimits.apiRatePerSecond,
      limitBurstMultiplier: burstMultiplier(gatewayLimits.apiRatePerSecond, gatewayLimits.apiBurst),
    });
    const authLimit = annotate({
      limitRpm: gatewayLimits.authRatePerMinute,
      limitBurstMultiplier: burstMultiplier(gatewayLimits.authRatePerMinute, gatewayLimits.authBurst),
    });

    const ingress = (name: string, paths: readonly IngressPath[], annotations: Record<string, string>) =>
      new k8s.KubeIngress(this, name, {
        metadata: { name, annotations: { ...common, ...annotations } },
        spec: {
          ingressClassName: ingressNginx.ingressClassName,
          tls: props.tls ? [{ hosts: [props.host!], secretName: TLS_SECRET_NAME }] : undefined,
          rules: [
            {
              host: props.host,
              http: {
                paths: paths.map((p) => ({
                  path: p.path,
                  pathType: p.pathType,
                  backend: { service: { name: p.service, port: { name: 'http' } } },
                })),
              },
            },
          ],
        },
      });

    ingress('product-store-api', gatewayRoutes.filter((r) => r.rateLimit !== 'auth').map(routePath), {
      ...apiLimit,
      ...(props.clusterIssuer ? { 'cert-manager.io/cluster-issuer': props.clusterIssuer } : {}),
    });
    ingress('product-store-auth', gatewayRoutes.filter((r) => r.rateLimit === 'auth').map(routePath), authLimit);
    ingress('product-store-storefront', [storefrontPath], apiLimit);
    for (const rewritten of rewrittenPaths) {
      ingress(`product-store-${rewritten.path.replace(/^\//, '').replace(/\..*$/, '')}`, [rewritten], {
        ...apiLimit,
        ...annotate({ rewriteTarget: rewritten.rewriteTo! }),
      });
    }
  }
}
