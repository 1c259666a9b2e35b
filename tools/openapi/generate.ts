/** `npm run openapi`: writes docs/openapi.json from the services' schemas. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDocument } from './document';

export const documentPath = join(__dirname, '..', '..', 'docs', 'openapi.json');
export const render = () => `${JSON.stringify(buildDocument(), null, 2)}\n`;

if (require.main === module) {
  writeFileSync(documentPath, render());
  process.stdout.write(`wrote ${documentPath}\n`);
}
