/**
 * Training patches (train/dataset.ts) on synthetic scenes: a patch is exactly what the inference path
 * (sharpenGroup) feeds the network for the same window of the degraded scene, plus the original targets;
 * nodata holes are never sampled; streams are reproducible from a seed and from a saved state; the
 * region split keeps training and validation pixels apart.
 */
import { describe, expect, it } from 'vitest';
import type { ModelManifest } from '../../model/package.js';
import type { Session } from '../../model/runtimes/runtime.js';
import { sharpenGroup } from '../../patches/sharpen.js';
import type { PixelWindow } from '../../raster/grid.js';
import { satellites } from '../../satellites/registry.js';
import { defaultPatchSize, findGroup, groupBands, orientPatch, PatchSource, PatchStream, regionSplit, toBatch, type Patch, type PatchModel } from '../../train/dataset.js';
import { syntheticScene, MemoryBandSource } from '../../train/synthetic.js';
import { degradeScene } from '../../train/wald.js';

const s2 = satellites().get('sentinel-2-l1c');
const g20 = findGroup(s2, '20m');
const g60 = findGroup(s2, '60m');
const model = (group = g20): PatchModel => ({ ...groupBands(s2, group), upsample: 'bilinear', normalisation: { divisor: 2000, applyDnOffset: true } });

/** A session that records what it is asked to run and returns zeros. */
class RecordingSession implements Session {
  readonly runtime = 'recording';
  readonly device = 'cpu' as const;
  inputs: { data: Float32Array; batch: number; h: number; w: number }[] = [];
  constructor(private readonly outputs: number) {}
  async run(input: Float32Array, batch: number, h: number, w: number): Promise<Float32Array> {
    this.inputs.push({ data: Float32Array.from(input), batch, h, w });
    return new Float32Array(batch * this.outputs * h * w);
  }
  async dispose(): Promise<void> {}
}

describe('PatchSource', () => {
  const scene = syntheticScene(s2, { width: 240, height: 192, seed: 9 });

  it('steps by the coarsest degraded pixel and uses DSen2 patch sizes', () => {
    expect(defaultPatchSize(2)).toBe(32);
    expect(defaultPatchSize(6)).toBe(96);
    const p20 = new PatchSource(scene, g20, model());
    expect([p20.size, p20.step, p20.reach, p20.grid.width, p20.grid.height]).toEqual([32, 2, 2, 120, 96]);
    expect(p20.positions()).toBe(45 * 33);
    const p60 = new PatchSource(scene, g60, model(g60), { size: 24 });
    expect([p60.step, p60.grid.width, p60.grid.height]).toEqual([6, 40, 32]);
  });

  for (const [group, size] of [
    [g20, 32],
    [g60, 12],
  ] as const) {
    it(`gives the network exactly what inference gives it for the same window (group ${group.id})`, async () => {
      const src = new PatchSource(scene, group, model(group), { size });
      const x = 2 * src.step;
      const y = 3 * src.step;
      const patch = (await src.read(x, y))!;
      expect(patch).not.toBeNull();
      // sharpenGroup on the degraded scene, one patch without border over the same window.
      const ds = degradeScene(scene, group);
      const manifest = { id: 't', ...model(group), patch: { size, border: 0 } } as unknown as ModelManifest;
      const session = new RecordingSession(group.targets.length);
      for await (const _ of sharpenGroup({ scene: ds, roi: { x, y, width: size, height: size }, model: manifest, session })) void _;
      expect(session.inputs.length).toBe(1);
      const nchw = session.inputs[0].data;
      const C = manifest.inputs.length;
      let maxDiff = 0;
      for (let c = 0; c < C; c++) for (let i = 0; i < size * size; i++) maxDiff = Math.max(maxDiff, Math.abs(nchw[c * size * size + i] - patch.input[i * C + c]));
      expect(maxDiff).toBe(0);
      // The label is the original target band, normalised.
      const t0 = scene.bands.find((b) => b.spec.id === group.targets[0])!.source as MemoryBandSource;
      const T = group.targets.length;
      for (const [r, c] of [
        [0, 0],
        [size - 1, 5],
        [7, size - 1],
      ]) {
        expect(patch.label[(r * size + c) * T]).toBeCloseTo(t0.data[(y + r) * t0.grid.width + x + c] / 2000, 6);
      }
    });
  }

  it('never samples a patch whose pixels or blur support touch nodata', async () => {
    const hole: PixelWindow = { x: 100, y: 80, width: 20, height: 30 }; // fine (10 m) pixels
    const holed = syntheticScene(s2, { width: 240, height: 192, seed: 9, holes: [hole] });
    const src = new PatchSource(holed, g20, model());
    const stream = new PatchStream([src], 5, { regionSize: 64, patchesPerRegion: 8, regionsPerChunk: 4 });
    // The hole on the 20 m target grid, grown by the blur support of the 10 m and 20 m bands (2 target pixels).
    const h = { x0: 50 - 2, y0: 40 - 2, x1: 60 + 2, y1: 55 + 2 };
    const seen: Patch[] = [];
    for (let i = 0; i < 100; i++) seen.push(await stream.next());
    for (const p of seen) expect(p.x + 32 <= h.x0 || p.x >= h.x1 || p.y + 32 <= h.y0 || p.y >= h.y1, `${p.x},${p.y}`).toBe(true);
    expect(stream.rejected).toBeGreaterThan(0);
    // A patch over the hole reads as rejected.
    expect(await src.read(40, 40)).toBeNull();
  });

  it('names what is wrong with a scene it cannot use', () => {
    expect(() => new PatchSource(syntheticScene(s2, { width: 48, height: 48 }), g20, model())).toThrow(/too small for 32x32 patches of group 20m/);
    expect(() => new PatchSource(syntheticScene(s2, { width: 120, height: 96, omit: ['B03'] }), g20, model())).toThrow(/lacks band B03 needed to train group 20m/);
  });
});

describe('PatchStream', () => {
  const a = syntheticScene(s2, { width: 240, height: 192, seed: 1 });
  const b = syntheticScene(s2, { width: 180, height: 120, seed: 2 });
  const sources = () => [new PatchSource(a, g20, model()), new PatchSource(b, g20, model())];
  const opts = { regionSize: 64, patchesPerRegion: 5, regionsPerChunk: 3 };
  const key = (p: Patch) => `${p.scene}:${p.x},${p.y}`;

  it('is reproducible from its seed and draws from every scene', async () => {
    const s1 = new PatchStream(sources(), 42, opts);
    const s2_ = new PatchStream(sources(), 42, opts);
    const other = new PatchStream(sources(), 43, opts);
    const k1: string[] = [];
    const k2: string[] = [];
    const k3: string[] = [];
    for (let i = 0; i < 40; i++) {
      const p = await s1.next();
      const q = await s2_.next();
      expect(q.input.reduce((x, v) => x + v, 0)).toBe(p.input.reduce((x, v) => x + v, 0));
      k1.push(key(p));
      k2.push(key(q));
      k3.push(key(await other.next()));
    }
    expect(k2).toEqual(k1);
    expect(k3).not.toEqual(k1);
    expect(new Set(k1.map((k) => k[0]))).toEqual(new Set(['0', '1']));
  });

  it('carries on identically from a saved state, mid-chunk or at a chunk boundary', async () => {
    const full = new PatchStream(sources(), 7, opts);
    const keys: string[] = [];
    for (let i = 0; i < 50; i++) keys.push(key(await full.next()));
    for (const cut of [0, 6, 15, 23]) {
      const first = new PatchStream(sources(), 7, opts);
      for (let i = 0; i < cut; i++) await first.next();
      const resumed = new PatchStream(sources(), JSON.parse(JSON.stringify(first.state)), opts);
      const rest: string[] = [];
      for (let i = cut; i < 50; i++) rest.push(key(await resumed.next()));
      expect(rest, `cut at ${cut}`).toEqual(keys.slice(cut));
    }
  });

  it('with augment, turns patches by random rotations and mirrorings, reproducibly and resumably', async () => {
    const aug = { ...opts, augment: true };
    const plain = new PatchStream(sources(), 42, opts);
    const turned = new PatchStream(sources(), 42, aug);
    const again = new PatchStream(sources(), 42, aug);
    let differs = 0;
    const sums: number[] = [];
    for (let i = 0; i < 30; i++) {
      const p = await turned.next();
      const q = await again.next();
      expect(Array.from(q.input)).toEqual(Array.from(p.input));
      sums.push(p.input.reduce((x, v) => x + v, 0));
      const r = await plain.next();
      if (p.input.some((v, k) => v !== r.input[k])) differs++;
    }
    expect(differs).toBeGreaterThan(0);
    // Resumed mid-chunk, the stream gives the same turned patches.
    const first = new PatchStream(sources(), 42, aug);
    for (let i = 0; i < 11; i++) await first.next();
    const resumed = new PatchStream(sources(), JSON.parse(JSON.stringify(first.state)), aug);
    for (let i = 11; i < 30; i++) expect((await resumed.next()).input.reduce((x, v) => x + v, 0)).toBeCloseTo(sums[i], 6);
  });

  it('stacks patches into NHWC batches', async () => {
    const s = new PatchStream(sources(), 1, opts);
    const batch = await s.batch(3);
    expect([batch.n, batch.size, batch.channels, batch.outputs]).toEqual([3, 32, 10, 6]);
    expect(batch.input.length).toBe(3 * 32 * 32 * 10);
    expect(() => toBatch([])).toThrow(/empty batch/);
  });
});

describe('orientPatch', () => {
  // A 3x3 patch with 2 input channels and 1 label channel; the label is input channel 0.
  const n = 3;
  const input = Float32Array.from({ length: n * n * 2 }, (_, i) => (i % 2 === 0 ? i / 2 : 100 + i));
  const label = Float32Array.from({ length: n * n }, (_, i) => input[i * 2]);
  const base: Patch = { input, label, size: n, scene: 0, x: 0, y: 0 };
  const at = (a: Float32Array, c: number, y: number, x: number, channels: number) => a[(y * n + x) * channels + c];

  it('gives the 8 distinct orientations, each a rearrangement of the same pixels, input and label together', () => {
    const seen = new Set<string>();
    for (let t = 0; t < 8; t++) {
      const p = orientPatch(base, t);
      seen.add(Array.from(p.label).join(','));
      expect(Array.from(p.label).sort((u, v) => u - v)).toEqual(Array.from(label).sort((u, v) => u - v));
      for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) expect(at(p.label, 0, y, x, 1)).toBe(at(p.input, 0, y, x, 2));
    }
    expect(seen.size).toBe(8);
    expect(orientPatch(base, 0)).toBe(base);
  });

  it('maps pixels as documented: bit 0 mirrors columns, bit 1 rows, bit 2 swaps axes', () => {
    const v = (t: number, y: number, x: number) => at(orientPatch(base, t).label, 0, y, x, 1);
    const o = (y: number, x: number) => at(label, 0, y, x, 1);
    expect(v(1, 0, 0)).toBe(o(0, 2));
    expect(v(2, 0, 0)).toBe(o(2, 0));
    expect(v(4, 0, 1)).toBe(o(1, 0));
    expect(v(4, 2, 0)).toBe(o(0, 2));
  });
});

describe('region split', () => {
  it('keeps a gap of the blur reach on both sides of the cut', () => {
    expect(regionSplit(384, 0.1, 2, 2)).toEqual({ train: [0, 344], val: [348, 384] });
    expect(regionSplit(128, 0.25, 6, 1)).toEqual({ train: [0, 90], val: [102, 128] });
    expect(() => regionSplit(100, 1, 2, 2)).toThrow(/strictly between 0 and 1/);
  });

  it('yields training and validation patches whose read pixels never meet', async () => {
    const scene = syntheticScene(s2, { width: 240, height: 240, seed: 4 });
    const probe = new PatchSource(scene, g20, model());
    const rows = regionSplit(probe.rows[1], 0.3, probe.step, probe.reach);
    const train = new PatchStream([new PatchSource(scene, g20, model(), { rows: rows.train })], 1, { regionSize: 64 });
    const val = new PatchStream([new PatchSource(scene, g20, model(), { rows: rows.val })], 2, { regionSize: 64 });
    let trainBottom = 0;
    let valTop = Infinity;
    for (let i = 0; i < 40; i++) {
      trainBottom = Math.max(trainBottom, (await train.next()).y + 32 + probe.reach);
      valTop = Math.min(valTop, (await val.next()).y - probe.reach);
    }
    expect(trainBottom).toBeLessThanOrEqual(valTop);
  });
});
