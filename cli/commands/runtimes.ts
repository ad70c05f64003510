/** `sharpstream runtimes`: lists the model runtimes, whether each can run here (and why not), and which `auto` picks. */
import { flagOption, type Command } from '../command.js';

/** One runtime as `runtimes --json` prints it. */
export interface RuntimeInfo {
  readonly name: string;
  readonly description: string;
  readonly available: boolean;
  readonly reason: string | null;
  /** Whether `--runtime auto` (the default) would pick it. */
  readonly auto: boolean;
}

/** The registered runtimes in `auto`'s order of preference, each with its availability here. */
export async function runtimeInfo(): Promise<RuntimeInfo[]> {
  const { registeredRuntimes } = await import('../../model/runtimes/index.js');
  const out: RuntimeInfo[] = [];
  let picked = false;
  for (const r of registeredRuntimes()) {
    const a = await r.available();
    out.push({ name: r.name, description: r.description, available: a.ok, reason: a.ok ? null : (a.reason ?? 'unavailable'), auto: a.ok && !picked });
    picked ||= a.ok;
  }
  return out;
}

/** The `runtimes` command. */
export const command: Command = {
  name: 'runtimes',
  order: 36,
  summary: 'list the model runtimes (CPU and GPU), whether each can run here, and which one auto picks',
  examples: ['sharpstream runtimes', 'sharpstream runtimes --json'],
  positionals: [],
  options: {
    json: { type: 'boolean', description: 'print the list as JSON' },
  },
  details: 'Runtimes are listed in the order `--runtime auto` tries them: GPU ones first, then the fastest CPU one.',
  async run(args, io) {
    const list = await runtimeInfo();
    if (flagOption(args, 'json')) {
      io.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      return;
    }
    const w = Math.max(...list.map((r) => r.name.length)) + 2;
    const lines = list.map((r) => {
      const mark = r.auto ? '* ' : '  ';
      return r.available ? `${mark}${r.name.padEnd(w)}${r.description}` : `${mark}${r.name.padEnd(w)}unavailable: ${r.reason}`;
    });
    lines.push('', '* picked by --runtime auto (the default)');
    io.stdout.write(`${lines.join('\n')}\n`);
  },
};
