// build.mjs bundles the portal into ../internal/portal/dist, where the Go
// binary embeds it: one content-hashed JS and CSS bundle (fonts next to
// them) under assets/, and an index.html that names them.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, '../internal/portal/dist');

// Keep the committed README; everything else is the previous build.
await mkdir(out, { recursive: true });
for (const name of await readdir(out)) {
  if (name !== 'README') await rm(path.join(out, name), { recursive: true, force: true });
}

const result = await esbuild.build({
  entryPoints: { app: path.join(here, 'src/main.js'), style: path.join(here, 'src/app.css') },
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  outdir: path.join(out, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  loader: { '.woff2': 'file', '.woff': 'file', '.svg': 'file', '.png': 'file', '.jpg': 'file' },
  metafile: true,
  logLevel: 'warning',
});

const built = Object.keys(result.metafile.outputs).map((p) => path.relative(out, path.resolve(p)));
const js = built.find((p) => /^assets\/app-.*\.js$/.test(p));
const css = built.find((p) => /^assets\/style-.*\.css$/.test(p));
if (!js || !css) throw new Error(`build produced no app bundle: ${built.join(', ')}`);

// The first rows' request starts from the head, before the bundles load.
const prefetch = (await esbuild.transform(await readFile(path.join(here, 'src/prefetch.js'), 'utf8'), { minify: true, target: 'es2017' })).code.trim();

// Content Security Policy: only the portal's own files and the API, and the
// one inline script by its hash. The token lives in localStorage, so no
// injected script may run.
const hash = createHash('sha256').update(prefetch).digest('base64');
const csp = [
  "default-src 'self'", `script-src 'self' 'sha256-${hash}'`, "style-src 'self'", "img-src 'self' data:",
  "font-src 'self'", "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
].join('; ');

await writeFile(path.join(out, 'index.html'), `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<link rel="icon" href="data:,">
<title>govirt Administration Portal</title>
<script>${prefetch}</script>
<link rel="stylesheet" href="/${css}">
<script type="module" src="/${js}"></script>
</head>
<body><div id="app"></div></body>
</html>
`);
console.log(`portal built into ${path.relative(process.cwd(), out)}: ${js}, ${css}`);
