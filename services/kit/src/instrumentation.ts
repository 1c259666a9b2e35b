/**
 * Tracing: loaded before anything else (`node --require <this>`), so the HTTP, Koa and Cassandra
 * instrumentations see those modules load. Exports OTLP over HTTP when OTEL_EXPORTER_OTLP_ENDPOINT
 * (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; without one it does nothing at all.
 *
 * Server spans are named by route template (`GET /products/:id`), Cassandra queries are child spans,
 * and W3C trace context travels on calls between services, so one checkout is one trace.
 */
import type { IncomingMessage } from 'node:http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { KoaInstrumentation, KoaLayerType } from '@opentelemetry/instrumentation-koa';
import { CassandraDriverInstrumentation } from '@opentelemetry/instrumentation-cassandra-driver';

const operational = new Set(['/health', '/ready', '/metrics', '/openapi.json']);

/** OTEL_SERVICE_NAME, else the service folder the entry point lives in (services/<name>/...). */
function serviceName(): string | undefined {
  return process.env.OTEL_SERVICE_NAME || /services\/([a-z-]+)\//.exec(process.argv[1] ?? '')?.[1];
}

const endpoint = process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_ENDPOINT;

if (endpoint && process.env.OTEL_SDK_DISABLED !== 'true') {
  const sdk = new NodeSDK({
    serviceName: serviceName(),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 1000 })],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req: IncomingMessage) => operational.has((req.url ?? '').split('?')[0]),
      }),
      new KoaInstrumentation({ ignoreLayersType: [KoaLayerType.MIDDLEWARE] }),
      new CassandraDriverInstrumentation({ enhancedDatabaseReporting: false }),
    ],
  });
  sdk.start();
  // The kit flushes spans on graceful shutdown through this hook (see service.ts).
  (globalThis as { __productStoreTracing?: () => Promise<void> }).__productStoreTracing = () => sdk.shutdown();
}
