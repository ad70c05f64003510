/**
 * The contract every `sharpstream` command implements. A command is one file in `cli/commands/` whose
 * `command` export satisfies `Command`; `cli/registry.ts` finds it, `cli/main.ts` parses its arguments
 * with `node:util` `parseArgs` and builds its help from these declarations.
 */

/** One option of a command, as `parseArgs` takes it plus the text shown by `--help`. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  /** One-letter alias, without the dash. */
  readonly short?: string;
  /** May be given more than once (values collect into an array). */
  readonly multiple?: boolean;
  /** Name of the value in help text, such as "file" or "id|file" (string options only). */
  readonly valueName?: string;
  /** One line shown by `--help`. */
  readonly description: string;
}

/** One positional argument of a command. */
export interface PositionalSpec {
  readonly name: string;
  readonly description: string;
  /** May be left out. */
  readonly optional?: boolean;
}

/** Parsed arguments handed to a command. */
export interface CommandArgs {
  readonly positionals: readonly string[];
  readonly values: Readonly<Record<string, string | boolean | readonly string[] | undefined>>;
}

/** Where a command writes: stdout for results, stderr for progress and warnings. */
export interface CommandIO {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** A `sharpstream` sub-command. */
export interface Command {
  /** The word typed after `sharpstream`. */
  readonly name: string;
  /** One line shown in `sharpstream --help`. */
  readonly summary: string;
  /** Example invocations; the first is shown in `sharpstream --help`. */
  readonly examples: readonly string[];
  readonly positionals: readonly PositionalSpec[];
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Further paragraphs shown by `sharpstream <command> --help`. */
  readonly details?: string;
  /** Position in `sharpstream --help` (lower first; ties by name). */
  readonly order?: number;
  /** Runs the command; resolves to the exit code (0 when nothing is returned). */
  run(args: CommandArgs, io: CommandIO): Promise<number | void>;
}

/** A mistake in how a command was called: reported with a hint to `--help`, exit code 2. */
export class UsageError extends Error {
  /** The command whose help the message should point to, if any. */
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

/** The value of a string option, or undefined; a usage error when the option was given as a flag. */
export function stringOption(args: CommandArgs, name: string): string | undefined {
  const v = args.values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new UsageError(`--${name} needs a value`);
  return v;
}

/** The value of a required string option; a usage error naming the option when it is missing. */
export function requiredStringOption(args: CommandArgs, name: string, command?: string): string {
  const v = stringOption(args, name);
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`, command);
  return v;
}

/** True when a boolean option was given. */
export function flagOption(args: CommandArgs, name: string): boolean {
  return args.values[name] === true;
}

/** A positive integer option with a default; a usage error naming the option when the value is not one. */
export function positiveIntOption(args: CommandArgs, name: string, fallback: number, command?: string): number {
  const v = stringOption(args, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n <= 0) {
    throw new UsageError(`--${name} must be a positive integer, got "${v}"`, command);
  }
  return n;
}

/** A comma-separated list option ("B04,B03,B02"), or undefined; a usage error when an entry is empty. */
export function listOption(args: CommandArgs, name: string, command?: string): string[] | undefined {
  const v = stringOption(args, name);
  if (v === undefined) return undefined;
  const parts = v.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) {
    throw new UsageError(`--${name} must be a comma-separated list without empty entries, got "${v}"`, command);
  }
  return parts;
}
