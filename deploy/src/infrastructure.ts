/** The other parts of the stack and their ports (compose and clusters; the local stack may move them). */
export const infrastructure = {
  /** Published on 80/443; inside its container (non-root) nginx listens on 8080/8443. */
  nginx: { port: 80, tlsPort: 443, containerPort: 8080, containerTlsPort: 8443, localPort: 8080, statusPort: 8081 },
  /** The storefront image's own nginx (images/storefront): behind the compose gateway and the cluster's Ingress. */
  storefront: { port: 8080 },
  nginxExporter: { port: 9113 },
  cassandra: { port: 9042, metricsPort: 7070 },
  prometheus: { port: 9090 },
  alertmanager: { port: 9093 },
  grafana: { port: 3000 },
  jaeger: { uiPort: 16686, otlpHttpPort: 4318, otlpGrpcPort: 4317 },
} as const;
