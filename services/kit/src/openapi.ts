/** Each service serves its own part of the public OpenAPI document (docs/openapi.json) at /openapi.json. */
import document from '../../../docs/openapi.json';

type Document = typeof document;

/** The whole public API, which the gateway serves as its /openapi.json. */
export const wholeApi: Document = document;

/** The document narrowed to the operations tagged with this service (tags are the runtime names). */
export function openApiFor(service: string): Document {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations as Record<string, { tags: string[] }>)) {
      if (operation.tags.includes(service)) (paths[path] ??= {})[method] = operation;
    }
  }
  return { ...document, tags: document.tags.filter((t) => t.name === service), paths: paths as Document['paths'] };
}
