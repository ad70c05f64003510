/** `sharpstream satellites`: lists the satellite definitions with their bands and super-resolution groups. */
import { satellites } from '../../satellites/registry.js';
import { groupInputs, groupPatch, type SatelliteSpec } from '../../satellites/spec.js';
import { flagOption, type Command } from '../command.js';

/** The text block describing one satellite definition. */
export function describeSatellite(s: SatelliteSpec): string {
  const lines = [`${s.id}  ${s.title}`];
  lines.push(`  constellation  ${s.constellation} (${s.platforms.join(', ')}), ${s.instruments.join(', ')}, level ${s.processingLevel}`);
  lines.push('  bands');
  const w = Math.max(...s.bands.map((b) => b.id.length)) + 2;
  for (const b of s.bands) {
    const extra = [b.commonName, b.centerWavelength !== undefined ? `${b.centerWavelength} µm` : undefined, b.description]
      .filter((x) => x !== undefined)
      .join(', ');
    lines.push(`    ${b.id.padEnd(w)}${`${b.resolution} m`.padEnd(7)}${extra}`);
  }
  if (s.groups.length) {
    lines.push('  groups');
    for (const g of s.groups) {
      const patch = groupPatch(g);
      lines.push(`    ${g.id}: ${g.targets.join(',')} x${g.factor} from ${groupInputs(s, g).join(',')} (patch ${patch.size}, border ${patch.border})`);
    }
  } else {
    lines.push('  groups         none');
  }
  const r = s.radiometry;
  lines.push(`  radiometry     value = DN * ${r.scale} + ${r.offset}, nodata ${r.nodata ?? 'none'}${r.saturated !== undefined ? `, saturated >= ${r.saturated}` : ''}`);
  if (s.notes) lines.push(`  notes          ${s.notes}`);
  return lines.join('\n');
}

/** The `satellites` command. */
export const command: Command = {
  name: 'satellites',
  order: 10,
  summary: 'list the satellite definitions: bands with their resolutions, super-resolution groups',
  examples: ['sharpstream satellites', 'sharpstream satellites sentinel-2-l2a --json'],
  positionals: [{ name: 'id', description: 'show only this definition', optional: true }],
  options: {
    json: { type: 'boolean', description: 'print the definitions as JSON (an array, or one object when an id is given)' },
  },
  details:
    'Definitions are the JSON files shipped in satellites/ plus any named by SHARPSTREAM_SATELLITES\n(files or folders, path-delimited).',
  async run(args, io) {
    const reg = satellites();
    const id = args.positionals[0];
    const list = id ? [reg.get(id)] : reg.list();
    if (flagOption(args, 'json')) {
      io.stdout.write(`${JSON.stringify(id ? list[0] : list, null, 2)}\n`);
      return;
    }
    io.stdout.write(`${list.map(describeSatellite).join('\n\n')}\n`);
  },
};
