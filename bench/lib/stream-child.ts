/**
 * Child process of bench/stream.bench.ts: one scene through the whole stream (bus -> superResolveScenes
 * -> local store) with the bicubic model, printing {seconds, maxRssMB} as JSON so the peak RSS is the
 * stream's alone. argv: <scene> <outDir> [previews: 1|0]
 */
import { lastValueFrom, toArray } from 'rxjs';
import { createBus } from '../../connectors/bus.js';
import { LocalStore } from '../../connectors/storage/local.js';
import { superResolveScenes } from '../../pipeline/stream.js';

const [scene, outDir, previews = '1'] = process.argv.slice(2);
const bus = createBus();
const t0 = performance.now();
const done = lastValueFrom(
  bus.deliveries().pipe(superResolveScenes({ store: new LocalStore(outDir), publishers: [], models: ['bicubic'], previews: previews === '1', workDir: outDir }), toArray()),
);
await bus.publish({ href: scene });
await bus.close();
const outcomes = await done;
const o = outcomes[0];
if (!o || o.kind !== 'done') throw new Error(`stream failed: ${o && o.kind === 'failed' ? `${o.stage}: ${o.error.message}` : 'no outcome'}`);
process.stdout.write(`${JSON.stringify({ seconds: +((performance.now() - t0) / 1000).toFixed(2), maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`);
