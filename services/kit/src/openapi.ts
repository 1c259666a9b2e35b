/** Each service serves its own part of the public OpenAPI document (docs/openapi.json) at /openapi.json. */
import document from '../../../docs/openapi.json';

type Document = typeof document;

/** The whole public API, which the gateway serves as its /openapi.json. */
export const wholeApi: Document = document;

interface OperationObject {
  tags: string[];
  operationId: string;
  responses: Record<string, { links?: Record<string, { operationId: string }> }>;
}

/**
 * The document narrowed to the operations tagged with this service (tags are the runtime names).
 * Links to another service's operations are left out: they name nothing in this part.
 */
export function openApiFor(service: string): Document {
  const mine = (operation: OperationObject) => operation.tags.includes(service);
  const all = Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.entries(operations as Record<string, OperationObject>).map(([method, operation]) => ({ path, method, operation })),
  );
  const ids = new Set(all.filter(({ operation }) => mine(operation)).map(({ operation }) => operation.operationId));
  const paths: Record<string, Record<string, unknown>> = {};
  for (const { path, method, operation } of all) {
    if (!mine(operation)) continue;
    const responses = Object.fromEntries(
      Object.entries(operation.responses).map(([status, response]) => {
        if (!response.links) return [status, response];
        const links = Object.fromEntries(Object.entries(response.links).filter(([, link]) => ids.has(link.operationId)));
        const { links: _all, ...rest } = response;
        return [status, Object.keys(links).length ? { ...rest, links } : rest];
      }),
    );
    (paths[path] ??= {})[method] = { ...operation, responses };
  }
  return { ...document, tags: document.tags.filter((t) => t.name === service), paths: paths as Document['paths'] };
}
