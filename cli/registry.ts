/**
 * The command registry: every module in `cli/commands/` that exports `command` is a sub-command, so a
 * later issue adds `predict`, `train` or `serve` by adding one file. Works from the TypeScript sources
 * (through tsx) and from the compiled `dist/`.
 */
import { readdirSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Command } from './command.js';

/** The folder holding the command modules next to this file. */
function commandsDir(): string {
  return fileURLToPath(new URL('./commands/', import.meta.url));
}

function isCommand(v: unknown): v is Command {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return typeof c.name === 'string' && typeof c.summary === 'string' && typeof c.run === 'function' && Array.isArray(c.examples);
}

/** Loads every command module; a module that fails to load or exports no command is a clear error. */
export async function loadCommands(dir: string = commandsDir()): Promise<Command[]> {
  // Load the modules of the kind this file was loaded as: .js from dist/, .ts from the sources.
  const ext = extname(fileURLToPath(import.meta.url)) === '.ts' ? '.ts' : '.js';
  const files = readdirSync(dir)
    .filter((f) => extname(f) === ext && !f.endsWith('.d.ts') && !f.startsWith('_'))
    .sort();
  const commands: Command[] = [];
  for (const f of files) {
    const path = `${dir}${dir.endsWith('/') ? '' : '/'}${f}`;
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`command module ${path} failed to load: ${(e as Error).message}`, { cause: e });
    }
    if (!isCommand(mod.command)) throw new Error(`command module ${path} does not export a "command" (name, summary, examples, run)`);
    if (commands.some((c) => c.name === (mod.command as Command).name)) {
      throw new Error(`command module ${path} defines "${(mod.command as Command).name}", which another module already defines`);
    }
    commands.push(mod.command);
  }
  return commands.sort((a, b) => (a.order ?? 100) - (b.order ?? 100) || a.name.localeCompare(b.name));
}
