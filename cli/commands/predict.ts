/** `sharpstream predict`: super-resolves one scene into a COG and its STAC item. */
import { flagOption, listOption, positiveIntOption, requiredStringOption, stringOption, UsageError, type Command } from '../command.js';
import { runtimeOption } from '../runtime-option.js';
import { ProgressBar } from '../progress.js';

/** The `predict` command. */
export const command: Command = {
  name: 'predict',
  order: 30,
  summary: 'super-resolve a scene: writes <out>/<scene id>_sr.tif (COG) and <out>/<scene id>_sr.json (STAC item)',
  examples: [
    'sharpstream predict --scene S2A_MSIL1C_20170216T102101_N0204_R065_T33UUU.SAFE.zip --out results/',
    'sharpstream predict --scene scene/ --out results/ --model bicubic --window 0,0,1024,1024',
    'sharpstream predict --scene item.json --out results/ --model models/s2-l1c-20m --runtime tfjs-wasm',
  ],
  positionals: [],
  options: {
    scene: { type: 'string', valueName: 'path|url', description: 'scene folder, archive (.SAFE zip, Landsat tar, zip of GeoTIFFs) or STAC item file/URL' },
    out: { type: 'string', valueName: 'dir', description: 'output folder (created if missing)' },
    model: {
      type: 'string',
      multiple: true,
      valueName: 'id|path',
      description: 'model id, model folder, or bicubic/bilinear; repeat for several groups (default: the shipped models for the scene)',
    },
    window: { type: 'string', valueName: 'x,y,w,h', description: 'region in fine-grid pixels (default: the whole scene)' },
    runtime: runtimeOption(),
    satellite: { type: 'string', valueName: 'id|file', description: 'satellite definition id or JSON file (default: recognised from the scene)' },
    batch: { type: 'string', valueName: 'n', description: 'patches per inference call (default 8)' },
    threads: { type: 'string', valueName: 'n', description: 'CPU threads for the model runtime (default: all cores)' },
    ensemble: { type: 'boolean', description: "average each model over its input's 8 rotations and mirrorings (geometric self-ensemble: a little more accurate, 8x the time)" },
    groups: { type: 'string', valueName: 'ids', description: 'only these super-resolution groups, e.g. 20m (default: every group with a model)' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run(args, io) {
    const sceneArg = requiredStringOption(args, 'scene', 'predict');
    const out = requiredStringOption(args, 'out', 'predict');
    const satellite = stringOption(args, 'satellite');
    const runtime = stringOption(args, 'runtime') ?? 'auto';
    const batch = positiveIntOption(args, 'batch', 8, 'predict');
    const threads = stringOption(args, 'threads') ? positiveIntOption(args, 'threads', 1, 'predict') : undefined;
    const groups = listOption(args, 'groups', 'predict');
    const windowText = stringOption(args, 'window');
    const modelRefs = (args.values.model as readonly string[] | undefined) ?? [];

    const [{ openScene }, { parseWindow }, { satellites }, { resolveModels, defaultModels }, { predictScene }] = await Promise.all([
      import('../../scene/open.js'),
      import('../../raster/grid.js'),
      import('../../satellites/registry.js'),
      import('../../model/catalog.js'),
      import('../../pipeline/predict.js'),
    ]);
    let window;
    try {
      window = windowText ? parseWindow(windowText) : undefined;
    } catch (e) {
      throw new UsageError(`--window: ${(e as Error).message}`, 'predict');
    }
    const registry = satellites();
    const scene = await openScene(sceneArg, satellite ? { satellite, registry } : { registry });
    try {
      let models = [];
      for (const ref of modelRefs) models.push(...(await resolveModels(ref, scene.satellite, registry)));
      if (modelRefs.length === 0) {
        models = await defaultModels(scene.satellite, registry);
        if (models.length === 0) {
          throw new Error(`no shipped model for ${scene.satellite.id}; pass --model bicubic for the baseline, or a model folder (see \`sharpstream models\`)`);
        }
      }
      if (groups) {
        const unknown = groups.filter((g) => !scene.satellite.groups.some((x) => x.id === g));
        if (unknown.length) throw new UsageError(`--groups: ${scene.satellite.id} has no group ${unknown.join(', ')} (groups: ${scene.satellite.groups.map((g) => g.id).join(', ')})`, 'predict');
        models = models.filter((m) => groups.includes(m.manifest.group));
      }
      // A group whose model needs bands the scene lacks is skipped with a warning when others can run.
      const runnable = models.filter((m) => m.manifest.inputs.every((id) => scene.bands.some((b) => b.spec.id === id)));
      for (const m of models) {
        if (!runnable.includes(m)) {
          const lacking = m.manifest.inputs.filter((id) => !scene.bands.some((b) => b.spec.id === id));
          io.stderr.write(`warning: skipping model ${m.manifest.id}: scene ${scene.id} lacks band${lacking.length > 1 ? 's' : ''} ${lacking.join(', ')}\n`);
        }
      }
      if (runnable.length === 0 && models.length > 0) {
        const m = models[0];
        const lacking = m.manifest.inputs.filter((id) => !scene.bands.some((b) => b.spec.id === id));
        throw new Error(`model ${m.manifest.id} needs band${lacking.length > 1 ? 's' : ''} ${lacking.join(', ')}, which scene ${scene.id} lacks`);
      }
      const bar = new ProgressBar(io.stderr as { write(t: string): unknown; isTTY?: boolean }, `predict ${scene.id}`, 1, 'rows');
      const result = await predictScene({
        scene,
        models: runnable,
        outDir: out,
        runtime,
        batch,
        ...(threads ? { threads } : {}),
        ...(args.values.ensemble === true ? { ensemble: true } : {}),
        ...(window ? { window } : {}),
        onProgress: (p) => {
          bar.setTotal(p.rowsTotal);
          bar.update(p.rowsDone);
        },
      });
      bar.done();
      const summary = {
        cog: result.cogPath,
        item: result.itemPath,
        window: result.window,
        bands: result.bands,
        models: runnable.map((m) => m.manifest.id),
        runtime: result.runtime,
        seconds: result.seconds,
      };
      io.stdout.write(
        flagOption(args, 'json')
          ? `${JSON.stringify(summary, null, 2)}\n`
          : `wrote ${result.cogPath}\n      ${result.itemPath}\nbands ${result.bands.join(' ')}\nmodels ${summary.models.join(', ')} on ${result.runtime}, ${result.seconds.toFixed(1)} s\n`,
      );
    } finally {
      await scene.close();
    }
  },
};
