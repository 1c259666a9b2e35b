/**
 * Builds the storefront (storefront/src) into static files with esbuild: one script and one
 * stylesheet with content hashes in their names, and index.html naming them. The output folder is
 * named after a hash of the sources and the toolchain's versions (dist/storefront/<hash>/), so a
 * build happens only when something changed, and two processes building at once (two test files'
 * stacks) each end with the same complete folder: each builds aside and renames it into place.
 *
 *   node --import tsx storefront/build.ts     # prints the folder and the script's gzipped size
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildSync } from 'esbuild';

const repoRoot = join(__dirname, '..');
const source = join(__dirname, 'src');
const outRoot = join(repoRoot, 'dist', 'storefront');

/** The budget: the script a first visit downloads, gzipped. */
export const scriptBudgetBytes = 100 * 1024;

export interface StorefrontBuild {
  /** The folder nginx serves at `/`. */
  dir: string;
  /** Its scripts' size gzipped at nginx's default level (1), which the budget is checked against. */
  scriptGzipBytes: number;
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

/** What the output depends on: the sources and the versions of the compiler and the framework. */
function sourceHash(): string {
  const hash = createHash('sha256');
  for (const file of files(source).sort()) hash.update(relative(source, file)).update('\0').update(readFileSync(file)).update('\0');
  for (const pkg of ['esbuild', 'preact']) hash.update(JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')).version);
  return hash.digest('hex').slice(0, 16);
}

const scriptGzipBytes = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .reduce((sum, f) => sum + gzipSync(readFileSync(join(dir, f)), { level: 1 }).length, 0);

/** Builds kept beside the newest: a running stack's nginx may still serve one of the last few. */
const keptBuilds = 5;

function pruneOldBuilds(): void {
  const builds = readdirSync(outRoot)
    .filter((name) => /^[0-9a-f]{16}$/.test(name))
    .map((name) => ({ name, at: statSync(join(outRoot, name)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const old of builds.slice(keptBuilds + 1)) rmSync(join(outRoot, old.name), { recursive: true, force: true });
}

/** The built storefront, building it first when its sources changed since the last build. */
export function buildStorefront(): StorefrontBuild {
  const dir = join(outRoot, sourceHash());
  if (existsSync(join(dir, 'index.html'))) {
    // In use again: the newest as far as pruning goes.
    const now = new Date();
    utimesSync(dir, now, now);
    return { dir, scriptGzipBytes: scriptGzipBytes(join(dir, 'assets')) };
  }

  const aside = join(outRoot, `.building-${randomBytes(6).toString('hex')}`);
  mkdirSync(aside, { recursive: true });
  try {
    const result = buildSync({
      entryPoints: { app: join(source, 'main.tsx'), style: join(source, 'style.css') },
      outdir: join(aside, 'assets'),
      entryNames: '[name]-[hash]',
      bundle: true,
      minify: true,
      format: 'esm',
      target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
      jsx: 'automatic',
      jsxImportSource: 'preact',
      tsconfig: join(source, 'tsconfig.json'),
      metafile: true,
      absWorkingDir: repoRoot,
      logLevel: 'silent',
    });
    const outputs = Object.keys(result.metafile.outputs).map((f) => relative(aside, join(repoRoot, f)));
    const script = outputs.find((f) => f.endsWith('.js'));
    const style = outputs.find((f) => f.endsWith('.css'));
    if (!script || !style) throw new Error(`storefront build: unexpected outputs ${outputs.join(', ')}`);
    const html = readFileSync(join(source, 'index.html'), 'utf8').replace('{{script}}', script).replace('{{style}}', style);
    writeFileSync(join(aside, 'index.html'), html);
    const size = scriptGzipBytes(join(aside, 'assets'));
    if (size > scriptBudgetBytes) throw new Error(`storefront build: the script is ${size} bytes gzipped, over the budget of ${scriptBudgetBytes}`);
    try {
      renameSync(aside, dir);
    } catch (err) {
      // Another process put the same build in place first: theirs is identical.
      if (!existsSync(join(dir, 'index.html'))) throw err;
    }
    pruneOldBuilds();
  } finally {
    rmSync(aside, { recursive: true, force: true });
  }
  return { dir, scriptGzipBytes: scriptGzipBytes(join(dir, 'assets')) };
}

if (require.main === module) {
  const build = buildStorefront();
  process.stdout.write(`storefront: ${relative(process.cwd(), build.dir)} (script ${build.scriptGzipBytes} bytes gzipped; budget ${scriptBudgetBytes})\n`);
}
