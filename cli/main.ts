/**
 * The `sharpstream` command line: finds the sub-commands, parses arguments with `node:util` `parseArgs`,
 * prints help, and turns failures into one-line messages and exit codes
 * (0 success, 1 error, 2 usage error). Set SHARPSTREAM_DEBUG=1 for stack traces.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError, type Command, type CommandArgs, type CommandIO } from './command.js';
import { loadCommands } from './registry.js';

/** Exit code of a successful run. */
export const EXIT_OK = 0;
/** Exit code of a run that failed (bad input, unreadable file, ...). */
export const EXIT_ERROR = 1;
/** Exit code of a mistake in the command line itself (unknown command or option, missing argument). */
export const EXIT_USAGE = 2;

const PROGRAM = 'sharpstream';

/** The package version, read from the package.json above this file (sources or dist/). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === PROGRAM && pkg.version) return pkg.version;
    } catch {
      /* keep looking upwards */
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

function pad(s: string, n: number): string {
  return s.length >= n ? `${s}  ` : s + ' '.repeat(n - s.length);
}

/** The text of `sharpstream --help`: every command with its one-line summary and an example. */
export function mainHelp(commands: readonly Command[]): string {
  const w = Math.max(...commands.map((c) => c.name.length), 8) + 3;
  const lines = [
    `${PROGRAM} ${packageVersion()}: super-resolve multi-spectral satellite imagery (Sentinel-2, Landsat 8/9)`,
    '',
    `Usage: ${PROGRAM} <command> [arguments] [options]`,
    `       ${PROGRAM} <command> --help`,
    '',
    'Commands:',
  ];
  for (const c of commands) {
    lines.push(`  ${pad(c.name, w)}${c.summary}`);
    if (c.examples[0]) lines.push(`  ${' '.repeat(w)}e.g. ${c.examples[0]}`);
  }
  lines.push(
    '',
    'Options:',
    '  -h, --help       show this help',
    '  -V, --version    print the version',
    '',
    'Environment:',
    '  SHARPSTREAM_SATELLITES   extra satellite definition files or folders, path-delimited',
    '  SHARPSTREAM_DEBUG=1      print stack traces with errors',
    '',
    'Exit codes: 0 success, 1 error, 2 usage error.',
    '',
  );
  return lines.join('\n');
}

function usageLine(c: Command): string {
  const pos = c.positionals.map((p) => (p.optional ? `[${p.name}]` : `<${p.name}>`)).join(' ');
  return `Usage: ${PROGRAM} ${c.name}${pos ? ` ${pos}` : ''} [options]`;
}

/** The text of `sharpstream <command> --help`: usage, arguments, options and examples. */
export function commandHelp(c: Command): string {
  const lines = [usageLine(c), '', c.summary];
  if (c.details) lines.push('', c.details.trimEnd());
  if (c.positionals.length) {
    const w = Math.max(...c.positionals.map((p) => p.name.length)) + 4;
    lines.push('', 'Arguments:');
    for (const p of c.positionals) lines.push(`  ${pad(p.name, w)}${p.description}${p.optional ? ' (optional)' : ''}`);
  }
  const opts = Object.entries(c.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` <${o.valueName ?? 'value'}>` : ''}`;
    return [flag, o.description + (o.multiple ? ' (may be repeated)' : '')] as const;
  });
  opts.push(['-h, --help', 'show this help']);
  const w = Math.max(...opts.map(([f]) => f.length)) + 3;
  lines.push('', 'Options:');
  for (const [f, d] of opts) lines.push(`  ${pad(f, w)}${d}`);
  if (c.examples.length) {
    lines.push('', 'Examples:');
    for (const e of c.examples) lines.push(`  ${e}`);
  }
  lines.push('');
  return lines.join('\n');
}

/** Parses a command's arguments, mapping parseArgs failures to usage errors naming the command. */
export function parseCommandArgs(c: Command, argv: readonly string[]): CommandArgs & { help: boolean } {
  const options: NonNullable<ParseArgsConfig['options']> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, o] of Object.entries(c.options)) {
    options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const opt = /'(-[^' ]*)'/.exec(err.message)?.[1] ?? '';
      throw new UsageError(`unknown option ${opt} for "${c.name}"`, c.name);
    }
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      // parseArgs says "Option '-o, --out <value>' argument missing" or "Option '--json' does not take an argument".
      const long = /--([\w-]+)/.exec(err.message)?.[1];
      const name = long ? `--${long}` : 'an option';
      throw new UsageError(long && c.options[long]?.type === 'boolean' ? `option ${name} takes no value` : `option ${name} needs a value`, c.name);
    }
    throw new UsageError(err.message.split('\n')[0], c.name);
  }
  const help = parsed.values.help === true;
  const values: Record<string, string | boolean | readonly string[] | undefined> = {};
  for (const [k, v] of Object.entries(parsed.values)) {
    if (k === 'help') continue;
    values[k] = Array.isArray(v) ? v.map(String) : v;
  }
  if (!help) {
    const required = c.positionals.filter((p) => !p.optional);
    if (parsed.positionals.length < required.length) {
      const missing = required.slice(parsed.positionals.length).map((p) => `<${p.name}>`);
      throw new UsageError(`missing ${missing.join(' ')}`, c.name);
    }
    if (parsed.positionals.length > c.positionals.length) {
      throw new UsageError(`unexpected argument "${parsed.positionals[c.positionals.length]}"`, c.name);
    }
  }
  return { positionals: parsed.positionals, values, help };
}

/** One line (or, with SHARPSTREAM_DEBUG=1, the stack and causes) describing a failure. */
function describeError(e: unknown, debug: boolean): string {
  if (!(e instanceof Error)) return String(e);
  if (!debug) return e.message.replace(/\s*\n\s*/g, ' ');
  let text = e.stack ?? e.message;
  let cause = (e as { cause?: unknown }).cause;
  while (cause instanceof Error) {
    text += `\ncaused by: ${cause.stack ?? cause.message}`;
    cause = (cause as { cause?: unknown }).cause;
  }
  return text;
}

function defaultIO(): CommandIO {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** Runs the command line `argv` (without node and script) and resolves to the exit code. */
export async function main(argv: readonly string[], io: CommandIO = defaultIO()): Promise<number> {
  const debug = io.env.SHARPSTREAM_DEBUG === '1';
  const fail = (e: unknown): number => {
    if (e instanceof UsageError) {
      const hint = e.command ? `${PROGRAM} ${e.command} --help` : `${PROGRAM} --help`;
      io.stderr.write(`${PROGRAM}: ${e.message}\nRun "${hint}" for usage.\n`);
      return EXIT_USAGE;
    }
    io.stderr.write(`${PROGRAM}: ${describeError(e, debug)}\n`);
    return EXIT_ERROR;
  };
  let commands: Command[];
  try {
    commands = await loadCommands();
  } catch (e) {
    return fail(e);
  }
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.stderr.write(mainHelp(commands));
    return EXIT_USAGE;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    if (topic) {
      const c = commands.find((x) => x.name === topic);
      if (!c) return fail(new UsageError(`unknown command "${topic}" (commands: ${commands.map((x) => x.name).join(', ')})`));
      io.stdout.write(commandHelp(c));
    } else {
      io.stdout.write(mainHelp(commands));
    }
    return EXIT_OK;
  }
  if (first === '--version' || first === '-V') {
    io.stdout.write(`${packageVersion()}\n`);
    return EXIT_OK;
  }
  if (first.startsWith('-')) return fail(new UsageError(`unknown option ${first} (options go after the command)`));
  const command = commands.find((c) => c.name === first);
  if (!command) return fail(new UsageError(`unknown command "${first}" (commands: ${commands.map((c) => c.name).join(', ')})`));
  try {
    const args = parseCommandArgs(command, rest);
    if (args.help) {
      io.stdout.write(commandHelp(command));
      return EXIT_OK;
    }
    const code = await command.run(args, io);
    return code ?? EXIT_OK;
  } catch (e) {
    return fail(e);
  }
}

/** Runs the command line of this process and sets its exit code. */
export async function runCli(): Promise<void> {
  process.exitCode = await main(process.argv.slice(2));
  // Every command resolves only when its work is done. What still keeps the process alive then is a
  // library retrying in the background (kafkajs reconnecting to an absent broker for minutes): it
  // must not hold a finished command, so exit once output has had a moment to flush.
  setTimeout(() => process.exit(), 2000).unref();
}

// `node dist/cli/main.js ...` and `tsx cli/main.ts ...` run the CLI directly.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runCli();
}
