#!/usr/bin/env node
// The `sharpstream` launcher: runs the compiled CLI in dist/ (built by `npm install` or `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write(`sharpstream: ${main} is missing: the CLI is not built; run npm install or npm run build\n`);
  process.exit(1);
}
const { runCli } = await import(pathToFileURL(main).href);
await runCli();
