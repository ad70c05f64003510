/** `sharpstream models`: lists the models sharpstream can use (shipped, the user's, and baselines). */
import { flagOption, stringOption, type Command } from '../command.js';

/** The `models` command. */
export const command: Command = {
  name: 'models',
  order: 35,
  summary: 'list the models predict can use: shipped, your own ($SHARPSTREAM_MODELS), and bicubic/bilinear baselines',
  examples: ['sharpstream models', 'sharpstream models --satellite sentinel-2-l1c --json'],
  positionals: [],
  options: {
    satellite: { type: 'string', valueName: 'id', description: 'only models for this satellite definition' },
    baselines: { type: 'boolean', description: 'also list the interpolation baselines of every group' },
    json: { type: 'boolean', description: 'print the list as JSON' },
  },
  async run(args, io) {
    const [{ listModels, shippedModelsDir, userModelsDir }, { satellites }] = await Promise.all([import('../../model/catalog.js'), import('../../satellites/registry.js')]);
    const sat = stringOption(args, 'satellite');
    const registry = satellites();
    if (sat) registry.get(sat);
    const all = listModels(registry).filter((e) => (!sat || e.satellite === sat) && (flagOption(args, 'baselines') || flagOption(args, 'json') || e.source !== 'baseline'));
    if (flagOption(args, 'json')) {
      io.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
      return;
    }
    const lines = [`shipped models: ${shippedModelsDir()}`, `your models:    ${userModelsDir()}`, ''];
    if (all.length === 0) lines.push('no trained models found; `--model bicubic` or `--model bilinear` always work (add --baselines to list them)');
    const idW = Math.max(4, ...all.map((e) => e.id.length)) + 2;
    for (const e of all) {
      const rmse = e.metrics && typeof e.metrics === 'object' ? (e.metrics as Record<string, unknown>).rmse_ratio_to_bicubic : undefined;
      lines.push(`${e.id.padEnd(idW)}${e.satellite.padEnd(18)}${e.group.padEnd(9)}${e.source.padEnd(10)}${e.title ?? ''}${rmse !== undefined ? `  (RMSE ${String(rmse)} x bicubic)` : ''}`);
    }
    io.stdout.write(`${lines.join('\n')}\n`);
  },
};
