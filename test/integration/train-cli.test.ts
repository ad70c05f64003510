/**
 * `sharpstream train` as a user runs it: a real process on real scenes, stopped with Ctrl-C (SIGINT),
 * which saves a checkpoint and exits 130; `--resume` then finishes the run. Also the usage errors and
 * scene lists (@file).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandSceneList } from '../../cli/commands/train.js';
import { main } from '../../cli/main.js';
import { loadCheckpoint } from '../../train/checkpoint.js';
import { dataPath, DATA_DIR, missingData, REPO_ROOT } from '../helpers/data.js';

const BEN_A = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_36_85'];
const BEN_B = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_4_55'];
const missing = missingData(BEN_A, BEN_B);

function capture() {
  const o = { out: '', err: '' };
  return { o, io: { stdout: { write: (t: string) => (o.out += t) }, stderr: { write: (t: string) => (o.err += t) }, env: {} } };
}

describe.skipIf(missing)('sharpstream train (CLI)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'sharpstream-train-cli-'));

  it('saves a checkpoint on Ctrl-C, exits 130, and --resume finishes the run', async () => {
    const out = join(tmp, 'model');
    const args = [
      '--import', 'tsx', join(REPO_ROOT, 'cli/main.ts'), 'train',
      '--scenes', dataPath(...BEN_A), '--val-scene', dataPath(...BEN_B), '--out', out,
      '--size', 'dsen2-tiny', '--epochs', '2', '--patches-per-scene', '80', '--batch', '8', '--val-patches', '16', '--lr', '1e-3', '--seed', '3',
    ];
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: { ...process.env, SHARPSTREAM_DEBUG: '1' } });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // The progress bar prints a line every 10 % when stderr is not a terminal.
      if (!signalled && /^train +\d+% \d+\/20 steps/m.test(stderr)) {
        signalled = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(signalled, stderr).toBe(true);
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/interrupted: saving a checkpoint after this step/);
    // On every core by default (at most one per patch of the batch); one core trains on the main thread.
    const cores = Math.min(availableParallelism(), 8);
    expect(stderr).toContain(`training 11,606 parameters on tfjs-wasm${cores > 1 ? ` (${cores} threads)` : ''}: `);
    expect(stderr).toMatch(/training 11,606 parameters on tfjs-wasm.*: 10 steps of 8 patches \(32 px\) per epoch, epochs 1\.\.2/);
    expect(stdout).toMatch(/^interrupted after epoch \d/);
    expect(stdout).toContain(`continue with --resume ${out}`);
    const ck = await loadCheckpoint(join(out, 'checkpoint'));
    expect(ck.state.globalStep).toBeGreaterThan(0);
    expect(ck.state.globalStep).toBeLessThan(20);
    expect(existsSync(join(out, 'model.json'))).toBe(true);

    const r = capture();
    expect(await main(['train', '--resume', out, '--out', out], r.io), r.o.err).toBe(0);
    expect(r.o.out).toMatch(/^finished after epoch 2 \(20 steps/);
    expect(r.o.err).toContain(`resumed from ${out}`);
    const manifest = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as { training: Record<string, unknown> };
    expect(manifest.training).toMatchObject({ status: 'finished', epochs: 2, steps: 20, seed: 3 });
    const sessions = manifest.training.sessions as { command: string | null }[];
    expect(sessions.length).toBe(2);
    expect(sessions[0].command).toMatch(/^sharpstream train --scenes \S+ --val-scene \S+ --out \S+ --size dsen2-tiny --epochs 2/);
    expect(sessions[1].command).toBe(`sharpstream train --resume ${out} --out ${out}`);
  });

  it('prints a JSON summary', async () => {
    const r = capture();
    const out = join(tmp, 'json');
    const code = await main(
      ['train', '--scenes', dataPath(...BEN_A), '--val-scene', dataPath(...BEN_B), '--out', out, '--size', 'dsen2-tiny', '--epochs', '1', '--patches-per-scene', '16', '--batch', '8', '--val-patches', '8', '--optimizer', 'adam', '--json'],
      r.io,
    );
    expect(code, r.o.err).toBe(0);
    const s = JSON.parse(r.o.out) as Record<string, unknown>;
    expect(s).toMatchObject({ status: 'finished', model: out, epochs: 1, steps: 2 });
    expect(typeof s.valRmseDn).toBe('number');
    expect(JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).training.optimizer.kind).toBe('adam');
  });
});

describe('sharpstream train usage', () => {
  const cases: [string[], RegExp][] = [
    [['train', '--out', '/tmp/x'], /--scenes is required/],
    [['train', '--scenes', 'a', '--out', '/tmp/x', '--val-scene', 'b', '--val-fraction', '0.2'], /--val-scene and --val-fraction exclude each other/],
    [['train', '--scenes', 'a', '--out', '/tmp/x', '--val-fraction', '1.5'], /--val-fraction must be a number between 0 and 1/],
    [['train', '--scenes', 'a', '--out', '/tmp/x', '--lr', 'fast'], /--lr must be a positive number, got "fast"/],
    [['train', '--scenes', 'a', '--out', '/tmp/x', '--optimizer', 'sgd'], /--optimizer must be nadam or adam/],
    [['train', '--scenes', 'a', '--out', '/tmp/x', '--epochs', '0'], /--epochs must be a positive integer/],
    [['train', '--scenes', 'a'], /--out is required/],
    [['train', '--scenes', '@/nonexistent/list.txt', '--out', '/tmp/x'], /cannot read scene list \/nonexistent\/list.txt/],
  ];
  for (const [argv, msg] of cases) {
    it(`exits 2 for ${argv.slice(1).join(' ')}`, async () => {
      const r = capture();
      expect(await main(argv, r.io)).toBe(2);
      expect(r.o.err).toMatch(msg);
    });
  }

  it('reports a scene it cannot open as an error (exit 1) naming it', async () => {
    const r = capture();
    expect(await main(['train', '--scenes', '/nonexistent/scene', '--out', join(tmpdir(), 'never'), '--satellite', 'sentinel-2-l1c'], r.io)).toBe(1);
    expect(r.o.err).toMatch(/\/nonexistent\/scene: no such file or folder/);
  });

  it('reads scene lists from @files, relative to the list, with comments', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scene-list-'));
    writeFileSync(join(dir, 'train.txt'), `# training scenes\nscenes/a.zip\n\n${DATA_DIR}/b  # absolute\nhttps://example.com/item.json\n`);
    expect(expandSceneList(['x', `@${join(dir, 'train.txt')}`])).toEqual(['x', join(dir, 'scenes/a.zip'), `${DATA_DIR}/b`, 'https://example.com/item.json']);
  });

  it('documents its options in --help', async () => {
    const r = capture();
    expect(await main(['train', '--help'], r.io)).toBe(0);
    for (const o of ['--satellite', '--scenes', '--out', '--group', '--size', '--epochs', '--resume', '--seed', '--val-scene', '--val-fraction', '--patches-per-scene', '--batch', '--lr', '--runtime']) {
      expect(r.o.out).toContain(o);
    }
  });
});
