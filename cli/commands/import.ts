/** `sharpstream import`: turns a Keras HDF5 model (DSen2, UP42 AESR) into a sharpstream model package. */
import { requiredStringOption, stringOption, UsageError, type Command } from '../command.js';

/** The `import` command. */
export const command: Command = {
  name: 'import',
  order: 37,
  summary: 'import a Keras .h5/.hdf5 model (DSen2, UP42 AESR) as a model package that every runtime runs',
  examples: [
    'sharpstream import --keras s2_032_lr_1e-04.hdf5 --satellite sentinel-2-l1c --group 20m --out ~/.sharpstream/models/dsen2-20m',
    'sharpstream import --keras aesr_60m_s2_038_lr_1e-04.hdf5 --satellite sentinel-2-l1c --group 60m --out models/aesr-60m --id aesr-60m',
  ],
  positionals: [],
  options: {
    keras: { type: 'string', valueName: 'file', description: 'Keras HDF5 file: a whole model, or DSen2 weights only' },
    satellite: { type: 'string', valueName: 'id|file', description: 'satellite definition the model was trained for' },
    group: { type: 'string', valueName: 'id', description: 'super-resolution group it sharpens, e.g. 20m or 60m' },
    out: { type: 'string', valueName: 'dir', description: 'model folder to write (model.json + weights.bin)' },
    id: { type: 'string', valueName: 'id', description: "model id (default: the output folder's name)" },
    title: { type: 'string', valueName: 'text', description: 'title in the manifest' },
    divisor: { type: 'string', valueName: 'x', description: "normalisation divisor the model was trained with (default 2000, DSen2's)" },
    'residual-scale': { type: 'string', valueName: 'x', description: 'factor of the Lambda layers that scale residuals (default: read from the file, else 0.1)' },
  },
  async run(args, io) {
    const file = requiredStringOption(args, 'keras', 'import');
    const satellite = requiredStringOption(args, 'satellite', 'import');
    const group = requiredStringOption(args, 'group', 'import');
    const out = requiredStringOption(args, 'out', 'import');
    const number = (name: string): number | undefined => {
      const text = stringOption(args, name);
      if (text === undefined) return undefined;
      const v = Number(text);
      if (!Number.isFinite(v) || v <= 0) throw new UsageError(`--${name}: "${text}" is not a positive number`, 'import');
      return v;
    };
    const divisor = number('divisor');
    const residualScale = number('residual-scale');
    const [{ importKeras }, { saveModel }, { basename, resolve }] = await Promise.all([import('../../model/keras.js'), import('../../model/package.js'), import('node:path')]);
    const id = stringOption(args, 'id') ?? basename(resolve(out));
    const title = stringOption(args, 'title');
    const pkg = await importKeras(file, {
      satellite,
      group,
      id,
      ...(title ? { title } : {}),
      ...(divisor !== undefined ? { divisor } : {}),
      ...(residualScale !== undefined ? { residualScale } : {}),
    });
    const { weights: _w, format: _f, ...manifest } = pkg.manifest;
    await saveModel(out, manifest, pkg.weights);
    const m = pkg.manifest;
    io.stdout.write(`imported ${file} as ${m.id}: ${m.satellite} ${m.group} (x${m.factor}), ${m.architecture.type}, inputs ${m.inputs.join(',')} -> ${m.outputs.join(',')}\nwrote ${resolve(out)}\n`);
  },
};
