/**
 * Writes the model card of a trained model: evaluates it by Wald's protocol on held-out scenes against
 * bicubic (and optionally other models, such as the imported UP42 AESR networks), records the figures
 * in the manifest's `metrics.heldOut`, and writes `<model>/MODEL_CARD.md` with the data, the command, the
 * wall time and the table.
 *
 *   node --import tsx scripts/model-card.ts --model models/s2-l1c-20m --eval <scene> [--eval <scene>]
 *        [--compare <model dir>] [--goal 0.35] [--window x,y,w,h] [--hardware <text>] [--note <markdown line>]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, type ModelPackage } from '../model/package.js';
import { parseWindow } from '../raster/grid.js';
import { satellites } from '../satellites/registry.js';
import { openScene } from '../scene/open.js';
import { evaluateScene, type EvaluationReport } from '../train/evaluate.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    eval: { type: 'string', multiple: true },
    compare: { type: 'string', multiple: true },
    goal: { type: 'string' },
    window: { type: 'string' },
    hardware: { type: 'string' },
    note: { type: 'string', multiple: true },
  },
});
if (!values.model || !values.eval?.length) {
  process.stderr.write('usage: model-card.ts --model <dir> --eval <scene> [--eval <scene>] [--compare <model dir>] [--goal <ratio>]\n');
  process.exit(2);
}
const repo = resolve(import.meta.dirname, '..');
const data = resolve(process.env.SHARPSTREAM_DATA ?? join(repo, '../shared/data'));
/** Paths as a reader of the repository sees them: the shared data as ../shared/data, the rest relative to the repo. */
const show = (p: string): string => (resolve(p).startsWith(data) ? join('../shared/data', relative(data, resolve(p))) : relative(repo, resolve(p)) || '.');
const showCommand = (c: string): string => c.split(data).join('../shared/data').replace(/\.cache\/training\//g, 'models/');

const modelDir = resolve(values.model);
const model = await loadModel(modelDir);
// a scene the model was trained on is no held-out scene: refuse it before evaluating anything
const trainInputs = new Set((((model.manifest.training ?? {}).scenes as { input: string }[] | undefined) ?? []).map((s) => resolve(s.input)));
const seen = values.eval.filter((p) => trainInputs.has(resolve(p)));
if (seen.length) {
  process.stderr.write(`model-card: ${seen.join(', ')} ${seen.length > 1 ? 'were' : 'was'} used in training; a held-out evaluation needs scenes the model has not seen\n`);
  process.exit(2);
}
const compare: ModelPackage[] = await Promise.all((values.compare ?? []).map((d) => loadModel(resolve(d))));
const registry = satellites();
const window = values.window ? parseWindow(values.window) : undefined;

interface Row {
  readonly scene: string;
  readonly uri: string;
  readonly pixels: number;
  readonly model: Record<string, number>;
  readonly bicubic: Record<string, number>;
  readonly ratio: number;
  readonly others: { readonly id: string; readonly rmse: number; readonly ratio: number }[];
  readonly perBand: { readonly band: string; readonly model: number; readonly bicubic: number }[];
}
const pick = (m: EvaluationReport['results'][number]['metrics']): Record<string, number> => ({
  rmse: m.rmse,
  sre: m.sre,
  sam: m.sam,
  ergas: m.ergas,
  psnr: m.psnr,
  ssim: m.ssim ?? Number.NaN,
});
const rows: Row[] = [];
for (const path of values.eval) {
  const scene = await openScene(path, { satellite: model.manifest.satellite, registry });
  try {
    const report = await evaluateScene({ scene, model, baselines: ['bicubic'], ...(window ? { window } : {}) });
    const mine = report.results.find((r) => r.kind === 'model')!;
    const bicubic = report.results.find((r) => r.kind === 'baseline')!;
    const others = [];
    for (const other of compare) {
      const o = await evaluateScene({ scene, model: other, baselines: [], ...(window ? { window } : {}) });
      const r = o.results[0];
      others.push({ id: other.manifest.id, rmse: r.metrics.rmse, ratio: r.metrics.rmse / bicubic.metrics.rmse });
    }
    rows.push({
      scene: report.scene.id,
      uri: show(path),
      pixels: mine.metrics.pixels,
      model: pick(mine.metrics),
      bicubic: pick(bicubic.metrics),
      ratio: mine.metrics.rmse / bicubic.metrics.rmse,
      others,
      perBand: mine.metrics.bands.map((b, i) => ({ band: b.band, model: b.rmse, bicubic: bicubic.metrics.bands[i].rmse })),
    });
    process.stderr.write(`${report.scene.id}: RMSE ${mine.metrics.rmse.toFixed(1)} DN, bicubic ${bicubic.metrics.rmse.toFixed(1)} DN (x${(mine.metrics.rmse / bicubic.metrics.rmse).toFixed(3)})\n`);
  } finally {
    await scene.close?.();
  }
}

// Pooled over the held-out scenes, weighted by pixels, as RMSE pools squared errors.
const pooled = (get: (r: Row) => number): number => Math.sqrt(rows.reduce((a, r) => a + get(r) ** 2 * r.pixels, 0) / rows.reduce((a, r) => a + r.pixels, 0));
const ratio = pooled((r) => r.model.rmse) / pooled((r) => r.bicubic.rmse);
const goal = values.goal ? Number(values.goal) : undefined;

const manifestPath = join(modelDir, 'model.json');
const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown> & { metrics?: Record<string, unknown>; training?: Record<string, unknown> };
manifest.metrics = {
  ...(manifest.metrics ?? {}),
  rmse_ratio_to_bicubic: Math.round(ratio * 1000) / 1000,
  heldOut: rows.map((r) => ({ scene: r.scene, pixels: r.pixels, model: r.model, bicubic: r.bicubic, ratio: r.ratio, compared: r.others })),
};
await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);

const t = manifest.training ?? {};
const f = (x: number, d = 1): string => x.toFixed(d);
const hours = typeof t.wallSeconds === 'number' ? `${f(t.wallSeconds / 3600, 2)} h` : 'unknown';
const scenes = ((t.scenes as { id: string; input: string }[] | undefined) ?? []).map((s) => `- ${s.id} (\`${show(s.input)}\`)`);
const valScenes = ((t.validation as { scenes?: { id: string; input: string }[] } | undefined)?.scenes) ?? [];
const val = valScenes.map((s) => `- ${s.id} (\`${show(s.input)}\`)`);
const valInputs = new Set(valScenes.map((s) => resolve(s.input)));
const extraEval = values.eval.filter((p) => !valInputs.has(resolve(p))).map((p) => `- \`${show(p)}\``);
const arch = model.manifest.architecture;
const sessions = (t.sessions as { command?: string }[] | undefined) ?? [];
// Augmentation is a per-session setting: say which sessions used it when not all did.
const augmented = sessions.filter((s) => / --augment\b/.test(s.command ?? '')).length;
const augmentNote =
  t.augment !== true && augmented === 0
    ? ''
    : augmented > 0 && augmented < sessions.length
      ? ` (turned by random rotations and mirrorings in the session${augmented > 1 ? 's' : ''} run with --augment)`
      : ' turned by random rotations and mirrorings';
const lines = [
  `# ${model.manifest.title ?? model.manifest.id}`,
  '',
  `${model.manifest.description ?? ''}`,
  '',
  '| | |',
  '|---|---|',
  `| id | \`${model.manifest.id}\` (version ${model.manifest.version}) |`,
  `| satellite, group | \`${model.manifest.satellite}\`, \`${model.manifest.group}\` (x${model.manifest.factor}) |`,
  `| inputs | ${model.manifest.inputs.join(', ')} (coarse bands ${model.manifest.upsample}-upsampled to the fine grid) |`,
  `| outputs | ${model.manifest.outputs.join(', ')} |`,
  `| architecture | ${arch.type === 'dsen2' ? `DSen2 ResNet, ${arch.blocks} blocks x ${arch.filters} filters, residual scale ${arch.residualScale}, global skip` : arch.type}; ${String(t.parameters ?? '?')} parameters |`,
  `| normalisation | (DN + offset) / ${model.manifest.normalisation.divisor} |`,
  `| training | Wald's protocol, L1 loss, ${String((t.optimizer as { kind?: string } | undefined)?.kind ?? '?')}, ${String(t.epochs ?? '?')} epochs of ${String(t.patchesPerEpoch ?? '?')} patches of ${String(t.patchSize ?? '?')} px${augmentNote} (best epoch ${String(t.bestEpoch ?? '?')}), ${hours} on ${values.hardware ?? `${cpus().length} cores of ${cpus()[0]?.model ?? 'a CPU'}`}, runtime ${String(t.runtime ?? '?')} |`,
  '',
  '## Data',
  '',
  'Training scenes:',
  ...scenes,
  '',
  'Held out for validation (never seen in training):',
  ...val,
  ...(extraEval.length ? ['', 'Also held out, for evaluation only (used neither in training nor in validation):', ...extraEval] : []),
  ...(values.note?.length ? ['', ...values.note] : []),
  '',
  'The scenes are the crops described in `../shared/data/PROVENANCE.md`; they are not part of this repository.',
  '',
  '## Command',
  '',
  '```sh',
  // The first session's command started the training; `t.command` is the latest session's.
  showCommand(String(sessions[0]?.command ?? t.command ?? '')),
  ...sessions.slice(1).map((s) => `# resumed: ${showCommand(String(s.command ?? ''))}`),
  '```',
  '',
  '## Quality on held-out scenes (Wald\'s protocol, `sharpstream eval`)',
  '',
  `RMSE in DN pooled over pixels and bands as DSen2 reports it; the ratio is to bicubic on the same pixels${goal ? ` (the project's goal for this group: at most ${goal})` : ''}. \`docs/metrics.md\` defines every metric.`,
  '',
  `| scene | pixels | model RMSE | bicubic RMSE | ratio | SRE dB | SAM ° | ERGAS | PSNR dB | SSIM |${compare.map((c) => ` ${c.manifest.id} RMSE (ratio) |`).join('')}`,
  `|---|---|---|---|---|---|---|---|---|---|${compare.map(() => '---|').join('')}`,
  ...rows.map(
    (r) =>
      `| ${r.scene} | ${r.pixels} | ${f(r.model.rmse)} | ${f(r.bicubic.rmse)} | **${f(r.ratio, 3)}** | ${f(r.model.sre, 2)} | ${f(r.model.sam, 3)} | ${f(r.model.ergas, 3)} | ${f(r.model.psnr, 2)} | ${f(r.model.ssim, 4)} |${r.others.map((o) => ` ${f(o.rmse)} (${f(o.ratio, 3)}) |`).join('')}`,
  ),
  '',
  `Pooled over the held-out scenes: **${f(ratio, 3)} x bicubic**${goal ? (ratio <= goal ? ` — meets the goal of ${goal}.` : ` — short of the goal of ${goal}.`) : '.'}`,
  '',
  'Per band (RMSE in DN, model / bicubic):',
  '',
  `| scene | ${rows[0]?.perBand.map((b) => b.band).join(' | ') ?? ''} |`,
  `|---|${rows[0]?.perBand.map(() => '---|').join('') ?? ''}`,
  ...rows.map((r) => `| ${r.scene} | ${r.perBand.map((b) => `${f(b.model)} / ${f(b.bicubic)}`).join(' | ')} |`),
  '',
  '## Limits',
  '',
  '- Trained on a handful of small crops on a 2-core CPU; more scenes and a larger network (`--size dsen2`) on a GPU train a better model with the same command.',
  '- Validation RMSE during training (`metrics.valRmseDn` in model.json) is measured on random patches; the table above is the whole held-out scene through the same tiling as `predict`.',
  '',
  '## Licence',
  '',
  "The weights are sharpstream's own (trained from scratch by the command above) and are released under the project's licence.",
  '',
];
await writeFile(join(modelDir, 'MODEL_CARD.md'), lines.join('\n'));
process.stderr.write(`wrote ${join(modelDir, 'MODEL_CARD.md')} (x${f(ratio, 3)} bicubic)\n`);
