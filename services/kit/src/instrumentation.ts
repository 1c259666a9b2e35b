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

/**
 * How long one export, and the final flush at shutdown, may take. Tracing is best effort: a
 * collector that is gone or silent (a stopped Jaeger, a dropped network) must never hold a service's
 * requests or its shutdown (Docker kills a container 10 s after SIGTERM), so spans are dropped instead.
 */
export const TRACE_EXPORT_TIMEOUT_MS = 2000;
export const TRACE_FLUSH_DEADLINE_MS = 2500;

if (endpoint && process.env.OTEL_SDK_DISABLED !== 'true') {
  const sdk = new NodeSDK({
    serviceName: serviceName(),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ timeoutMillis: TRACE_EXPORT_TIMEOUT_MS }), {
        scheduledDelayMillis: 1000,
        exportTimeoutMillis: TRACE_EXPORT_TIMEOUT_MS,
      }),
    ],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req: IncomingMessage) => operational.has((req.url ?? '').split('?')[0]),
      }),
      new KoaInstrumentation({ ignoreLayersType: [KoaLayerType.MIDDLEWARE] }),
      new CassandraDriverInstrumentation({ enhancedDatabaseReporting: false }),
    ],
  });
  sdk.start();
  // The kit flushes spans on graceful shutdown through this hook (see service.ts): whatever the
  // collector does, it settles within TRACE_FLUSH_DEADLINE_MS.
  (globalThis as { __productStoreTracing?: () => Promise<void> }).__productStoreTracing = () => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, TRACE_FLUSH_DEADLINE_MS);
      timer.unref();
    });
    return Promise.race([sdk.shutdown().catch(() => undefined), deadline]).finally(() => clearTimeout(timer));
  };
}
