/**
 * @product-store/deploy: the one deployment spec. Compose (compose/generate.ts), the cluster
 * (charts/), the gateway (gateway/nginx.ts), Prometheus's scrape configuration and the local stack
 * (tools/stack) all read it; none repeats its values.
 *
 * The runtime facts a running service needs too (its name and port, who may call which internal
 * endpoint, the credentials, its Cassandra role, the gateway's upstream timings its shutdown waits
 * for) stay in the kit, bundled into every service image, and are re-exported here, so a deployment
 * reads every fact from this one package. See README.md.
 */
export {
  gatewayUpstream,
  internalCallers,
  internalCredentialsOf,
  internalEndpoints,
  internalTokenVariable,
  serviceRole,
  serviceSpec,
  services,
  type ServiceName,
  type ServiceSpec,
} from '@product-store/kit/topology';
// The settings the services declare (the kit's, and through components.ts each service's own).
export { defaultText, kitSettings, type Setting, type Settings } from '@product-store/kit/settings';
export * from './images';
export * from './infrastructure';
export * from './gateway';
export * from './replicas';
export * from './components';
