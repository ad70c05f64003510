/** `sharpstream eval`: Wald's-protocol quality of a model (and the bicubic baseline) on a scene. */
import { flagOption, listOption, positiveIntOption, requiredStringOption, stringOption, UsageError, type Command } from '../command.js';
import { runtimeOption } from '../runtime-option.js';
import { ProgressBar } from '../progress.js';

const BASELINES = ['bicubic', 'bilinear'] as const;

function fmt(v: number | null, digits: number): string {
  return v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

function pad(s: string, n: number, left = false): string {
  return left ? s.padStart(n) : s.padEnd(n);
}

/** The `eval` command. */
export const command: Command = {
  name: 'eval',
  order: 45,
  summary: "measure a model by Wald's protocol on a scene (degrade, super-resolve, compare): RMSE, SRE, SAM, ERGAS, PSNR, SSIM",
  examples: [
    'sharpstream eval --model models/s2-20m --scene S2A_MSIL1C_20170216T102101_N0204_R065_T33UUU.SAFE.zip',
    'sharpstream eval --model models/s2-60m --scene scene/ --window 0,0,512,512 --json',
    'sharpstream eval --model bicubic --scene scene/ --baselines bilinear',
  ],
  positionals: [],
  options: {
    model: { type: 'string', multiple: true, valueName: 'id|path', description: 'model folder or id, or bicubic/bilinear (one per group)' },
    scene: { type: 'string', valueName: 'path|url', description: 'scene folder, archive or STAC item with the original bands' },
    json: { type: 'boolean', description: 'print the full report as JSON' },
    baselines: { type: 'string', valueName: 'list', description: 'interpolation baselines evaluated alongside: bicubic (default), bilinear, both comma-separated, or none' },
    window: { type: 'string', valueName: 'x,y,w,h', description: "region in pixels of the group's target grid (the original coarse bands), default: all" },
    runtime: runtimeOption(),
    satellite: { type: 'string', valueName: 'id|file', description: 'satellite definition id or JSON file (default: recognised from the scene)' },
    batch: { type: 'string', valueName: 'n', description: 'patches per inference call (default 8)' },
    threads: { type: 'string', valueName: 'n', description: 'CPU threads for the model runtime (default: all cores)' },
    ensemble: { type: 'boolean', description: "average the model over its input's 8 rotations and mirrorings (geometric self-ensemble; 8x the time)" },
  },
  details: [
    "Wald's protocol: every band of the scene is degraded by the group's factor (Gaussian blur, sigma 1/factor",
    'pixels, then block averaging), the model super-resolves the degraded scene through the same tiling and',
    'runtime as `predict`, and the result is compared with the original coarse bands. RMSE is in DN, pooled',
    'over pixels and bands as DSen2 reports it. docs/metrics.md gives every formula.',
  ].join('\n'),
  async run(args, io) {
    const sceneArg = requiredStringOption(args, 'scene', 'eval');
    const modelRefs = (args.values.model as readonly string[] | undefined) ?? [];
    if (modelRefs.length === 0) throw new UsageError('--model is required', 'eval');
    const baselineList = listOption(args, 'baselines', 'eval') ?? ['bicubic'];
    const baselines = baselineList.length === 1 && baselineList[0] === 'none' ? [] : baselineList;
    for (const b of baselines) {
      if (!(BASELINES as readonly string[]).includes(b)) throw new UsageError(`--baselines: unknown baseline "${b}" (bicubic, bilinear or none)`, 'eval');
    }
    const batch = positiveIntOption(args, 'batch', 8, 'eval');
    const threads = stringOption(args, 'threads') ? positiveIntOption(args, 'threads', 1, 'eval') : undefined;
    const satellite = stringOption(args, 'satellite');
    const windowText = stringOption(args, 'window');
    const [{ openScene }, { parseWindow }, { satellites }, { resolveModels }, { evaluateScene }] = await Promise.all([
      import('../../scene/open.js'),
      import('../../raster/grid.js'),
      import('../../satellites/registry.js'),
      import('../../model/catalog.js'),
      import('../../train/evaluate.js'),
    ]);
    let window;
    try {
      window = windowText ? parseWindow(windowText) : undefined;
    } catch (e) {
      throw new UsageError(`--window: ${(e as Error).message}`, 'eval');
    }
    const registry = satellites();
    const scene = await openScene(sceneArg, satellite ? { satellite, registry } : { registry });
    try {
      const models = [];
      for (const ref of modelRefs) models.push(...(await resolveModels(ref, scene.satellite, registry)));
      const reports = [];
      for (const model of models) {
        const bar = new ProgressBar(io.stderr as { write(t: string): unknown; isTTY?: boolean }, `eval ${model.manifest.id}`, 1, 'rows');
        reports.push(
          await evaluateScene({
            scene,
            model,
            baselines: baselines as ('bicubic' | 'bilinear')[],
            runtime: stringOption(args, 'runtime') ?? 'auto',
            batch,
            ...(threads ? { threads } : {}),
            ...(args.values.ensemble === true ? { ensemble: true } : {}),
            ...(window ? { window } : {}),
            onProgress: (done, total) => {
              bar.setTotal(total);
              bar.update(done);
            },
          }),
        );
        bar.done();
      }
      if (flagOption(args, 'json')) {
        io.stdout.write(`${JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2)}\n`);
        return;
      }
      for (const r of reports) {
        const w = r.window;
        io.stdout.write(
          `Wald x${r.factor} on ${r.scene.id} (${r.satellite}, group ${r.group}): ${w.width}x${w.height} px at ${r.resolution} m from ${w.x},${w.y}, ${r.results[0].metrics.pixels} pixels compared\n`,
        );
        const idw = Math.max(8, ...r.results.map((x) => x.id.length)) + 2;
        io.stdout.write(`${pad('model', idw)}${['RMSE(DN)', 'SRE(dB)', 'SAM(deg)', 'ERGAS', 'PSNR(dB)', 'SSIM'].map((h) => pad(h, 10, true)).join('')}\n`);
        for (const x of r.results) {
          const m = x.metrics;
          io.stdout.write(`${pad(x.id, idw)}${[fmt(m.rmse, 2), fmt(m.sre, 2), fmt(m.sam, 3), fmt(m.ergas, 3), fmt(m.psnr, 2), fmt(m.ssim, 4)].map((v) => pad(v, 10, true)).join('')}\n`);
        }
        io.stdout.write(`per-band RMSE (DN)\n${pad('model', idw)}${r.bands.map((b) => pad(b, 9, true)).join('')}\n`);
        for (const x of r.results) io.stdout.write(`${pad(x.id, idw)}${x.metrics.bands.map((b) => pad(fmt(b.rmse, 2), 9, true)).join('')}\n`);
      }
    } finally {
      await scene.close();
    }
  },
};
