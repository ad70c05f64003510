/** `sharpstream quicklook`: an RGB (or grey) PNG or JPEG of a scene or of a GeoTIFF. */
import { flagOption, listOption, positiveIntOption, requiredStringOption, stringOption, UsageError, type Command } from '../command.js';

/** The `quicklook` command. */
export const command: Command = {
  name: 'quicklook',
  order: 30,
  summary: 'draw an RGB or grey PNG/JPEG of a scene or GeoTIFF, stretched 2-98 % per band',
  examples: [
    'sharpstream quicklook S2A_MSIL2A_20170617T113321_36_85/ --out look.png',
    'sharpstream quicklook out.tif --bands B8A,B04,B03 --size 512 --out look.jpg',
  ],
  positionals: [{ name: 'input', description: 'a scene (folder, archive, STAC item) or a .tif/.tiff file' }],
  options: {
    out: { type: 'string', short: 'o', valueName: 'file.png|file.jpg', description: 'output image (required); the extension picks PNG or JPEG' },
    bands: {
      type: 'string',
      valueName: 'B04,B03,B02',
      description: '1 band (grey) or 3 (red,green,blue): band ids, or for a GeoTIFF band descriptions or numbers from 1',
    },
    size: { type: 'string', valueName: 'px', description: 'longest side in pixels (default 1024; never enlarged)' },
    satellite: { type: 'string', valueName: 'id|file', description: 'satellite definition id or JSON file (default: recognised)' },
    json: { type: 'boolean', description: 'print what was written as JSON' },
  },
  details: [
    'Default bands are those whose common names are red, green and blue (a pan band alone, in grey, when',
    'they are missing). Pixels are averaged down to the output size; nodata is transparent in PNG and',
    'black in JPEG.',
  ].join('\n'),
  async run(args, io) {
    const out = requiredStringOption(args, 'out', 'quicklook');
    if (!/\.(png|jpe?g)$/i.test(out)) throw new UsageError(`--out must end in .png, .jpg or .jpeg, got "${out}"`, 'quicklook');
    const bands = listOption(args, 'bands', 'quicklook');
    if (bands && bands.length !== 1 && bands.length !== 3) {
      throw new UsageError(`--bands takes 1 band (grey) or 3 (red,green,blue), got ${bands.length}`, 'quicklook');
    }
    const size = positiveIntOption(args, 'size', 1024, 'quicklook');
    const satellite = stringOption(args, 'satellite');
    // Loaded here, not at the top: sharp takes a while to load and `--help` should not wait for it.
    const { quicklook } = await import('../../cog/quicklook.js');
    const result = await quicklook(args.positionals[0], {
      out,
      size,
      ...(bands ? { bands } : {}),
      ...(satellite ? { satellite } : {}),
    });
    if (flagOption(args, 'json')) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else io.stdout.write(`wrote ${result.path}: ${result.width} x ${result.height} ${result.format}, bands ${result.bands.join(',')}\n`);
  },
};
