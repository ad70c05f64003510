import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCatalogueNote } from '../../cli/commands/serve.js';
import { listOption, positiveIntOption, requiredStringOption, UsageError, type Command, type CommandArgs } from '../../cli/command.js';
import { commandHelp, EXIT_ERROR, EXIT_OK, EXIT_USAGE, main, mainHelp, parseCommandArgs } from '../../cli/main.js';
import { loadCommands } from '../../cli/registry.js';
import { registeredRuntimes } from '../../model/runtimes/index.js';

/** Runs the CLI in-process, capturing what it writes. */
async function cli(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env,
  });
  return { code, out, err };
}

const fake: Command = {
  name: 'fake',
  summary: 'a command for tests',
  examples: ['sharpstream fake a'],
  positionals: [
    { name: 'first', description: 'needed' },
    { name: 'second', description: 'may be left out', optional: true },
  ],
  options: {
    out: { type: 'string', short: 'o', valueName: 'file', description: 'where to write' },
    json: { type: 'boolean', description: 'JSON output' },
    tag: { type: 'string', multiple: true, description: 'a tag' },
  },
  async run() {
    return 0;
  },
};

const args = (values: CommandArgs['values']): CommandArgs => ({ positionals: [], values });

describe('command registry', () => {
  it('finds every command module, in help order', async () => {
    const names = (await loadCommands()).map((c) => c.name);
    expect(names.filter((n) => ['satellites', 'info', 'quicklook'].includes(n))).toEqual(['satellites', 'info', 'quicklook']);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('help', () => {
  it('lists every command with its summary and an example', async () => {
    const commands = await loadCommands();
    const text = mainHelp(commands);
    for (const c of commands) {
      expect(text).toMatch(new RegExp(`^  ${c.name} +${c.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
      expect(text).toContain(`e.g. ${c.examples[0]}`);
    }
    const r = await cli(['--help']);
    expect(r).toMatchObject({ code: EXIT_OK, out: text, err: '' });
  });

  it('shows a command usage line, arguments, options and examples', () => {
    const text = commandHelp(fake);
    expect(text).toMatch(/^Usage: sharpstream fake <first> \[second\] \[options\]$/m);
    expect(text).toMatch(/^ {2}-o, --out <file> +where to write$/m);
    expect(text).toMatch(/^ {6}--json +JSON output$/m);
    expect(text).toMatch(/--tag <value> +a tag \(may be repeated\)/);
    expect(text).toMatch(/^ {2}-h, --help +show this help$/m);
    expect(text).toContain('  sharpstream fake a');
  });

  it('answers <command> --help and help <command> with the command help', async () => {
    const commands = await loadCommands();
    const info = commands.find((c) => c.name === 'info')!;
    expect(await cli(['info', '--help'])).toMatchObject({ code: EXIT_OK, out: commandHelp(info) });
    expect(await cli(['help', 'info'])).toMatchObject({ code: EXIT_OK, out: commandHelp(info) });
    expect(await cli(['quicklook', '-h'])).toMatchObject({ code: EXIT_OK });
  });

  it('offers every registered runtime, in auto\'s order, wherever a command runs a model', async () => {
    const names = registeredRuntimes().map((r) => r.name);
    expect(names).toContain('tfjs-webgpu');
    for (const cmd of ['predict', 'run', 'eval']) {
      const r = await cli([cmd, '--help']);
      expect(r.code).toBe(EXIT_OK);
      expect(r.out).toContain(`--runtime <name>`);
      expect(r.out).toContain(`the first available of ${names.join(', ')}`);
    }
  });

  it('points serve at the catalogue that run fills, when serve opens another one', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'sharpstream-cli-'));
    try {
      const home = join(cwd, 'home', 'catalogue.sqlite');
      expect(runCatalogueNote(cwd, home)).toBeNull();
      mkdirSync(join(cwd, 'results'));
      writeFileSync(join(cwd, 'results', 'catalogue.sqlite'), '');
      expect(runCatalogueNote(cwd, home)).toMatch(/^note: serving .*home\/catalogue\.sqlite; the catalogue that `sharpstream run` fills by default is .*results\/catalogue\.sqlite: serve it with --catalogue results\/catalogue\.sqlite\n$/);
      expect(runCatalogueNote(cwd, join(cwd, 'results', 'catalogue.sqlite'))).toBeNull();
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('prints the version', async () => {
    const r = await cli(['--version']);
    expect(r.code).toBe(EXIT_OK);
    expect(r.out).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});

describe('argument parsing', () => {
  it('parses options and positionals', () => {
    const p = parseCommandArgs(fake, ['x', '-o', 'f.png', '--json', '--tag', 'a', '--tag=b', 'y']);
    expect(p.positionals).toEqual(['x', 'y']);
    expect(p.values).toEqual({ out: 'f.png', json: true, tag: ['a', 'b'] });
    expect(p.help).toBe(false);
  });

  it('turns parse failures into usage errors naming the command and option', () => {
    const fails = (argv: string[], re: RegExp) => {
      let caught: unknown;
      try {
        parseCommandArgs(fake, argv);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(UsageError);
      expect((caught as UsageError).message).toMatch(re);
      expect((caught as UsageError).command).toBe('fake');
    };
    fails(['x', '--nope'], /^unknown option --nope for "fake"$/);
    fails(['x', '--out'], /^option --out needs a value$/);
    fails(['x', '--json=yes'], /^option --json takes no value$/);
    fails([], /^missing <first>$/);
    fails(['x', 'y', 'z'], /^unexpected argument "z"$/);
  });

  it('lets --help through without the required arguments', () => {
    expect(parseCommandArgs(fake, ['--help']).help).toBe(true);
  });

  it('checks typed option values', () => {
    expect(positiveIntOption(args({ size: '512' }), 'size', 1024)).toBe(512);
    expect(positiveIntOption(args({}), 'size', 1024)).toBe(1024);
    for (const bad of ['0', '-3', '1.5', 'big', '']) expect(() => positiveIntOption(args({ size: bad }), 'size', 1)).toThrow(UsageError);
    expect(listOption(args({ bands: 'B04, B03,B02' }), 'bands')).toEqual(['B04', 'B03', 'B02']);
    expect(() => listOption(args({ bands: 'B04,,B02' }), 'bands')).toThrow(/without empty entries/);
    expect(() => requiredStringOption(args({}), 'out')).toThrow(/^--out is required$/);
  });
});

describe('exit codes and messages', () => {
  it('exits 2 with a hint for unknown commands and options', async () => {
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(EXIT_USAGE);
    expect(unknown.err).toMatch(/^sharpstream: unknown command "frobnicate" \(commands: .*\)\n/);
    for (const name of ['satellites', 'info', 'quicklook']) expect(unknown.err.split('\n')[0]).toMatch(new RegExp(`[ ,]${name}[,)]`));
    expect(unknown.err).toMatch(/Run "sharpstream --help" for usage\.\n$/);
    const opt = await cli(['info', 'x', '--fast']);
    expect(opt.code).toBe(EXIT_USAGE);
    expect(opt.err).toMatch(/^sharpstream: unknown option --fast for "info"\nRun "sharpstream info --help" for usage\.\n$/);
    expect((await cli(['--fast'])).code).toBe(EXIT_USAGE);
    expect((await cli(['quicklook', 'x'])).err).toMatch(/--out is required/);
    expect((await cli(['quicklook', 'x', '--out', 'a.png', '--size', 'huge'])).err).toMatch(/--size must be a positive integer, got "huge"/);
    expect((await cli(['quicklook', 'x', '--out', 'a.gif'])).code).toBe(EXIT_USAGE);
    expect((await cli(['quicklook', 'x', '--out', 'a.png', '--bands', 'B04,B03'])).err).toMatch(/--bands takes 1 band \(grey\) or 3/);
  });

  it('prints the whole help on stderr and exits 2 when no command is given', async () => {
    const r = await cli([]);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.out).toBe('');
    expect(r.err).toContain('Commands:');
  });

  it('exits 1 with one line for failures, and a stack only with SHARPSTREAM_DEBUG=1', async () => {
    const r = await cli(['info', '/nonexistent/scene-folder']);
    expect(r.code).toBe(EXIT_ERROR);
    expect(r.err).toBe('sharpstream: /nonexistent/scene-folder: no such file or folder\n');
    const d = await cli(['info', '/nonexistent/scene-folder'], { SHARPSTREAM_DEBUG: '1' });
    expect(d.code).toBe(EXIT_ERROR);
    expect(d.err).toMatch(/^sharpstream: SceneError: \/nonexistent\/scene-folder: no such file or folder\n\s+at /);
  });

  it('exits 1 for an unknown satellite id', async () => {
    const r = await cli(['satellites', 'sentinel-9']);
    expect(r.code).toBe(EXIT_ERROR);
    expect(r.err).toMatch(/^sharpstream: unknown satellite "sentinel-9" \(known: .*sentinel-2-l2a.*\)\n$/);
  });
});
