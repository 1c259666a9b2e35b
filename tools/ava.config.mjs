// tools' own tests (`nx run tools:test`), without the deployments (npm run test:deploy) and without the
// drills, which run after these, one at a time (ava.drills.config.mjs).
import base from '../ava.config.mjs';
import { drills } from './ava.drills.config.mjs';

export default {
  ...base,
  files: ['tools/**/test/**/*.test.ts', '!tools/deploy/**', ...drills.map((file) => `!${file}`)],
};
