/**
 * Training patches by Wald's protocol, streamed from scenes: random positions (seeded) on the group's
 * target grid, each patch read as windows of the degraded bands (plus the blur radius) and of the
 * original targets, the degraded inputs upsampled per patch exactly as inference does (`resamplePatch`
 * with the model's method), normalised by the model's normalisation, and skipped when any pixel under it
 * is nodata or saturated. Training and validation patches come from different scenes, or from disjoint
 * row bands of one scene, never from interleaved pixels of one area.
 */
import { bandWindowFor, type Grid, type PixelWindow } from '../raster/grid.js';
import type { PixelArray } from '../raster/types.js';
import type { ModelManifest } from '../model/package.js';
import { resamplePatch } from '../patches/upsample.js';
import { groupInputs, type GroupSpec, type SatelliteSpec } from '../satellites/spec.js';
import { SceneError, type Scene, type SceneBand } from '../scene/types.js';
import { TrainRng } from './rng.js';
import { coveredWindow, degradeScene, MASK_NODATA, MASK_SATURATED, type DegradeOptions, type DegradedBandSource, type DegradedScene } from './wald.js';

/** What a dataset needs to know of the model: band orders, upsampling and normalisation. */
export type PatchModel = Pick<ModelManifest, 'inputs' | 'outputs' | 'upsample' | 'normalisation'>;

/** One training example: NHWC planes of one patch (size x size x channels), normalised. */
export interface Patch {
  /** Network input, size*size*inputs values, channel-last. */
  readonly input: Float32Array;
  /** Truth (the original target bands), size*size*outputs values, channel-last. */
  readonly label: Float32Array;
  /** Side of the patch in target-grid pixels. */
  readonly size: number;
  /** Where it came from: scene index in the dataset, and the label-grid position. */
  readonly scene: number;
  readonly x: number;
  readonly y: number;
}

/** DSen2's label patch size at the target grid: 32 for x2, 96 for x6 (and 16 x factor otherwise). */
export function defaultPatchSize(factor: number): number {
  if (factor <= 2) return 32;
  if (factor === 6) return 96;
  return 16 * factor;
}

/** Options of PatchSource. */
export interface PatchSourceOptions extends DegradeOptions {
  /** Label patch size in target-grid pixels (default: DSen2's for the factor). */
  readonly size?: number;
  /** Label-grid rows patches may use, [start, end) (default: all rows). */
  readonly rows?: readonly [number, number];
  /** Skip patches holding saturated pixels (default true). */
  readonly skipSaturated?: boolean;
}

interface BandPlan {
  readonly band: SceneBand;
  readonly source: DegradedBandSource;
  readonly offset: number;
}

/** One band's pixels over a region: a degraded input or an original target. */
interface RegionBand {
  readonly window: PixelWindow;
  readonly data: Float32Array;
  /** MASK_* bits per pixel (0 = usable). */
  readonly mask: Uint8Array;
}

/** The bands of one region of a scene, from which patches are cut. */
export interface Region {
  /** The region on the target grid. */
  readonly window: PixelWindow;
  readonly inputs: readonly RegionBand[];
  readonly targets: readonly RegionBand[];
}

/**
 * The patches of one scene for one group: geometry, position drawing and reading. Reads fetch a whole
 * region (one window per band) and patches are cut from it, so a patch costs no file access of its own.
 * Positions step by the coarsest degraded pixel (in target pixels), so every low-resolution patch starts
 * on a pixel, as in DSen2.
 */
export class PatchSource {
  readonly scene: Scene;
  readonly group: GroupSpec;
  readonly size: number;
  /** The target grid (the network's grid in Wald's protocol). */
  readonly grid: Grid;
  /** Step between positions in target pixels. */
  readonly step: number;
  /** Label-grid rows patches use, [start, end). */
  readonly rows: readonly [number, number];
  /** The part of the target grid every degraded input band covers. */
  readonly extent: PixelWindow;
  /** Target pixels of context that reads take beyond a patch (the blur radius, rounded up). */
  readonly reach: number;
  private readonly degraded: DegradedScene;
  private readonly inputs: BandPlan[];
  private readonly targets: SceneBand[];
  private readonly model: PatchModel;
  private readonly skipSaturated: boolean;
  private last: { key: string; region: Region } | null = null;

  constructor(scene: Scene, group: GroupSpec, model: PatchModel, options: PatchSourceOptions = {}) {
    this.scene = scene;
    this.group = group;
    this.model = model;
    this.size = options.size ?? defaultPatchSize(group.factor);
    if (!Number.isInteger(this.size) || this.size < 2) throw new Error(`patch size must be an integer of at least 2, got ${this.size}`);
    this.skipSaturated = options.skipSaturated ?? true;
    const missing = [...model.inputs, ...model.outputs].filter((id) => !scene.bands.some((b) => b.spec.id === id));
    if (missing.length) throw new SceneError(scene.uri, `scene ${scene.id} lacks band${missing.length > 1 ? 's' : ''} ${[...new Set(missing)].join(', ')} needed to train group ${group.id}`);
    this.degraded = degradeScene(scene, group, { ...options, markSaturated: this.skipSaturated });
    this.grid = this.degraded.grid;
    this.inputs = model.inputs.map((id) => {
      const band = this.degraded.bands.find((b) => b.spec.id === id)!;
      return { band, source: this.degraded.degraded.get(id)!, offset: model.normalisation.applyDnOffset ? band.dnOffset : 0 };
    });
    this.targets = model.outputs.map((id) => scene.bands.find((b) => b.spec.id === id)!);
    const labelRes = Math.abs(this.grid.transform.dx);
    this.step = Math.max(1, ...this.inputs.map((p) => Math.round(Math.abs(p.source.grid.transform.dx) / labelRes)));
    this.reach = Math.max(0, ...this.inputs.map((p) => Math.ceil((p.source.radius * Math.abs(p.source.original.grid.transform.dx)) / labelRes - 1e-9)));
    // The extent every degraded band covers (their grids hold floor(size / factor) pixels, and may be offset).
    this.extent = coveredWindow(this.degraded, model.inputs, { x: 0, y: 0, width: this.grid.width, height: this.grid.height });
    const rows = options.rows ?? [0, this.grid.height];
    if (!(rows[0] >= 0 && rows[1] <= this.grid.height && rows[0] < rows[1])) {
      throw new Error(`${scene.uri}: patch rows ${rows[0]}..${rows[1]} lie outside the target grid's ${this.grid.height} rows`);
    }
    this.rows = [Math.max(rows[0], this.extent.y), Math.min(rows[1], this.extent.y + this.extent.height)];
    if (this.counts().nx < 1 || this.counts().ny < 1) {
      throw new SceneError(
        scene.uri,
        `scene ${scene.id} is too small for ${this.size}x${this.size} patches of group ${group.id}: its target grid has ${this.grid.width}x${this.grid.height} pixels${
          options.rows ? ` and rows ${rows[0]}..${rows[1]} are for this split` : ''
        }`,
      );
    }
  }

  /** The label-grid positions a patch may start at along x and y. */
  private counts(): { nx: number; ny: number; x0: number; y0: number } {
    const x0 = Math.ceil(this.extent.x / this.step) * this.step;
    const y0 = Math.ceil(this.rows[0] / this.step) * this.step;
    const nx = Math.floor((this.extent.x + this.extent.width - this.size - x0) / this.step) + 1;
    const ny = Math.floor((this.rows[1] - this.size - y0) / this.step) + 1;
    return { nx: Math.max(0, nx), ny: Math.max(0, ny), x0, y0 };
  }

  /** How many distinct patch positions there are. */
  positions(): number {
    const { nx, ny } = this.counts();
    return nx * ny;
  }

  /** Draws a random region of at most `side` target pixels a side (a multiple of the step, at least one patch). */
  drawRegion(rng: TrainRng, side: number): PixelWindow {
    const { nx, ny, x0, y0 } = this.counts();
    const sx = Math.min(this.size + (nx - 1) * this.step, Math.max(this.size, this.size + Math.floor((side - this.size) / this.step) * this.step));
    const sy = Math.min(this.size + (ny - 1) * this.step, Math.max(this.size, this.size + Math.floor((side - this.size) / this.step) * this.step));
    const px = nx - (sx - this.size) / this.step;
    const py = ny - (sy - this.size) / this.step;
    return { x: x0 + rng.int(px) * this.step, y: y0 + rng.int(py) * this.step, width: sx, height: sy };
  }

  /** Draws a random patch position inside a region. */
  drawIn(rng: TrainRng, region: PixelWindow): { x: number; y: number } {
    const nx = Math.floor((region.width - this.size) / this.step) + 1;
    const ny = Math.floor((region.height - this.size) / this.step) + 1;
    return { x: region.x + rng.int(nx) * this.step, y: region.y + rng.int(ny) * this.step };
  }

  /** Reads every band over a region of the target grid: degraded inputs (one windowed read each) and original targets. */
  async readRegion(window: PixelWindow): Promise<Region> {
    // A small scene gives the same region every time: keep the last one.
    const key = `${window.x},${window.y},${window.width},${window.height}`;
    if (this.last?.key === key) return this.last.region;
    const inputs: RegionBand[] = [];
    for (const p of this.inputs) {
      const m = bandWindowFor(this.grid.transform, p.source.grid.transform, window, 0);
      const { data, mask } = await p.source.readMasked(m.window);
      inputs.push({ window: m.window, data, mask });
    }
    const sat = this.skipSaturated ? this.scene.satellite.radiometry.saturated : undefined;
    const targets: RegionBand[] = [];
    for (const b of this.targets) {
      const nd = b.source.nodata ?? this.scene.satellite.radiometry.nodata;
      let raw: PixelArray;
      try {
        raw = await b.source.read(window, nd ?? 0);
      } catch (e) {
        if (e instanceof SceneError) throw e;
        throw new SceneError(b.source.uri, `cannot read band ${b.spec.id}: ${(e as Error).message}`, { cause: e });
      }
      const data = new Float32Array(raw.length);
      const mask = new Uint8Array(raw.length);
      for (let i = 0; i < raw.length; i++) {
        const v = raw[i];
        if ((nd !== null && v === nd) || Number.isNaN(v)) mask[i] = MASK_NODATA;
        else if (sat !== undefined && v >= sat) mask[i] = MASK_SATURATED;
        data[i] = v;
      }
      targets.push({ window, data, mask });
    }
    const region = { window, inputs, targets };
    this.last = { key, region };
    return region;
  }

  /** Cuts the patch at a target-grid position out of a region, or null when a pixel under it is nodata or saturated. */
  cut(region: Region, x: number, y: number, sceneIndex = 0): Patch | null {
    const L = this.size;
    const W: PixelWindow = { x, y, width: L, height: L };
    const C = this.inputs.length;
    const T = this.targets.length;
    const div = this.model.normalisation.divisor;
    const reject = MASK_NODATA | (this.skipSaturated ? MASK_SATURATED : 0);
    const input = new Float32Array(L * L * C);
    const plane = new Float32Array(L * L);
    for (let j = 0; j < C; j++) {
      const p = this.inputs[j];
      const rb = region.inputs[j];
      const m = bandWindowFor(this.grid.transform, p.source.grid.transform, W, 0);
      const dx = m.window.x - rb.window.x;
      const dy = m.window.y - rb.window.y;
      if (dx < 0 || dy < 0 || dx + m.window.width > rb.window.width || dy + m.window.height > rb.window.height) {
        throw new Error(`patch at ${x},${y} lies outside the region read at ${region.window.x},${region.window.y}`);
      }
      const pw = m.window.width;
      const ph = m.window.height;
      const lr = new Float32Array(pw * ph);
      for (let r = 0; r < ph; r++) {
        const src = (dy + r) * rb.window.width + dx;
        for (let c = 0; c < pw; c++) {
          if (rb.mask[src + c] & reject) return null;
          lr[r * pw + c] = (rb.data[src + c] + p.offset) / div;
        }
      }
      const ox = m.originX - m.window.x;
      const oy = m.originY - m.window.y;
      if (pw === L && ph === L && Math.abs(ox) < 1e-6 && Math.abs(oy) < 1e-6 && Math.abs(m.scaleX - 1) < 1e-6) {
        plane.set(lr);
      } else {
        resamplePatch(lr, ph, pw, L, L, { offsetX: ox, offsetY: oy, scaleX: m.scaleX, scaleY: m.scaleY }, this.model.upsample, plane, 0);
      }
      for (let i = 0; i < L * L; i++) input[i * C + j] = plane[i];
    }
    const label = new Float32Array(L * L * T);
    const dx = x - region.window.x;
    const dy = y - region.window.y;
    for (let t = 0; t < T; t++) {
      const rb = region.targets[t];
      const off = this.model.normalisation.applyDnOffset ? this.targets[t].dnOffset : 0;
      for (let r = 0; r < L; r++) {
        const src = (dy + r) * rb.window.width + dx;
        for (let c = 0; c < L; c++) {
          if (rb.mask[src + c] & reject) return null;
          label[(r * L + c) * T + t] = (rb.data[src + c] + off) / div;
        }
      }
    }
    return { input, label, size: L, scene: sceneIndex, x, y };
  }

  /** Reads the one patch at a target-grid position, or null when a pixel under it is nodata or saturated. */
  async read(x: number, y: number, sceneIndex = 0): Promise<Patch | null> {
    const W = { x, y, width: this.size, height: this.size };
    const e = this.extent;
    if (x < e.x || y < e.y || x + this.size > e.x + e.width || y + this.size > e.y + e.height) return null;
    return this.cut(await this.readRegion(W), x, y, sceneIndex);
  }
}

/** How training and validation patches are kept apart. */
export type SplitSpec = { readonly kind: 'scene' } | { readonly kind: 'region'; readonly fraction: number };

/**
 * Splits one scene's target-grid rows into a training band on top and a validation band at the bottom
 * (`fraction` of the rows), with a gap of `reach` rows on each side of the cut so that no original pixel
 * read for a training patch is read for a validation patch.
 */
export function regionSplit(height: number, fraction: number, step: number, reach: number): { train: [number, number]; val: [number, number] } {
  if (!(fraction > 0 && fraction < 1)) throw new Error(`validation fraction must lie strictly between 0 and 1, got ${fraction}`);
  const cut = Math.round((height * (1 - fraction)) / step) * step;
  const gap = Math.ceil(reach / step) * step;
  return { train: [0, Math.max(0, cut - gap)], val: [Math.min(height, cut + gap), height] };
}

/** Options of PatchStream. */
export interface PatchStreamOptions {
  /** Side of the regions read at once, in target pixels (default: 8 patches for x2, 4 otherwise). */
  readonly regionSize?: number;
  /** Patches cut from each region (default: as many as patch areas it holds, so reads cost little per patch). */
  readonly patchesPerRegion?: number;
  /** Regions whose patches are shuffled together (default 8): the shuffle buffer holds their patches. */
  readonly regionsPerChunk?: number;
  /** Give up after this many regions in a row gave no usable patch (default 200). */
  readonly maxEmptyRegions?: number;
  /**
   * Each patch turned by a random one of the 8 rotations and mirrorings of the square (input and label
   * alike): eight times the distinct examples from the same scenes, for a network that should not care
   * about orientation. Default off (as DSen2).
   */
  readonly augment?: boolean;
}

/** A patch rotated and mirrored: transform t in 0..7 (bit 0: mirror columns, bit 1: mirror rows, bit 2: swap axes). */
export function orientPatch(p: Patch, t: number): Patch {
  if (t === 0) return p;
  const n = p.size;
  const turn = (src: Float32Array): Float32Array => {
    const c = src.length / (n * n);
    const out = new Float32Array(src.length);
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        let sx = t & 1 ? n - 1 - x : x;
        let sy = t & 2 ? n - 1 - y : y;
        if (t & 4) [sx, sy] = [sy, sx];
        const o = (y * n + x) * c;
        const i = (sy * n + sx) * c;
        for (let k = 0; k < c; k++) out[o + k] = src[i + k];
      }
    }
    return out;
  };
  return { ...p, input: turn(p.input), label: turn(p.label) };
}

/** Where a patch stream is: the generator state when the current chunk began and how many of its patches were used. */
export interface StreamState {
  readonly rng: number;
  readonly consumed: number;
}

/**
 * An endless stream of patches from a set of patch sources, driven by one seeded generator. Patches come
 * in chunks: a few random regions (each from a random scene) are read, a few random patches cut from each,
 * and the chunk is shuffled (the bounded shuffle buffer). The state is the generator state at the chunk's
 * start plus the patches used, so a stream restored from it regenerates the chunk and carries on identically.
 */
export class PatchStream {
  private rng: TrainRng;
  private chunkStart: number;
  private queue: Patch[] = [];
  private used = 0;
  private skip: number;
  private readonly regionSize: number;
  private readonly perRegion: number;
  private readonly regionsPerChunk: number;
  private readonly maxEmpty: number;
  private readonly augment: boolean;
  /** Patch positions rejected so far (nodata, saturation). */
  rejected = 0;
  /** Regions read so far. */
  regionsRead = 0;

  constructor(
    readonly sources: readonly PatchSource[],
    start: number | StreamState,
    options: PatchStreamOptions = {},
  ) {
    if (sources.length === 0) throw new Error('no scene to draw patches from');
    const state = typeof start === 'number' ? { rng: new TrainRng(start).state, consumed: 0 } : start;
    this.rng = TrainRng.fromState(state.rng);
    this.chunkStart = state.rng;
    this.skip = state.consumed;
    const s0 = sources[0];
    const L = s0.size;
    this.regionSize = options.regionSize ?? L * (s0.group.factor <= 2 ? 8 : 4);
    const areas = Math.max(1, Math.floor(this.regionSize / L) ** 2);
    this.perRegion = options.patchesPerRegion ?? areas;
    this.regionsPerChunk = options.regionsPerChunk ?? 8;
    this.maxEmpty = options.maxEmptyRegions ?? 200;
    this.augment = options.augment ?? false;
    if (!(this.perRegion >= 1 && this.regionsPerChunk >= 1)) throw new Error('patches per region and regions per chunk must be at least 1');
  }

  /** The state to save in a checkpoint. */
  get state(): StreamState {
    return this.queue.length === 0 ? { rng: this.chunkStart, consumed: this.skip } : { rng: this.chunkStart, consumed: this.used };
  }

  private async fill(): Promise<void> {
    this.chunkStart = this.rng.state;
    this.used = 0;
    const rng = this.rng;
    const chunk: Patch[] = [];
    let empty = 0;
    for (let r = 0; r < this.regionsPerChunk; r++) {
      const s = rng.int(this.sources.length);
      const src = this.sources[s];
      const win = src.drawRegion(rng, this.regionSize);
      const region = await src.readRegion(win);
      this.regionsRead++;
      let got = 0;
      for (let k = 0; k < this.perRegion * 4 && got < this.perRegion; k++) {
        const { x, y } = src.drawIn(rng, win);
        const p = src.cut(region, x, y, s);
        if (p) {
          chunk.push(this.augment ? orientPatch(p, rng.int(8)) : p);
          got++;
        } else this.rejected++;
      }
      if (got > 0) empty = 0;
      else {
        empty++;
        r--;
        if (empty >= this.maxEmpty) {
          throw new SceneError(src.scene.uri, `${this.maxEmpty} regions in a row held no patch free of nodata and saturated pixels (last in scene ${src.scene.id}); too little valid data to train on`);
        }
      }
    }
    for (let i = chunk.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [chunk[i], chunk[j]] = [chunk[j], chunk[i]];
    }
    this.queue = chunk;
  }

  /** The next patch. */
  async next(): Promise<Patch> {
    if (this.used >= this.queue.length) await this.fill();
    while (this.skip > 0) {
      this.skip--;
      this.used++;
      if (this.used >= this.queue.length) await this.fill();
    }
    return this.queue[this.used++];
  }

  /** The next `n` patches as an NHWC batch. */
  async batch(n: number): Promise<Batch> {
    const patches: Patch[] = [];
    for (let i = 0; i < n; i++) patches.push(await this.next());
    return toBatch(patches);
  }
}

/** A batch of patches: NHWC input and label arrays. */
export interface Batch {
  readonly n: number;
  readonly size: number;
  readonly channels: number;
  readonly outputs: number;
  readonly input: Float32Array;
  readonly label: Float32Array;
}

/** Stacks patches of one size into NHWC batch arrays. */
export function toBatch(patches: readonly Patch[]): Batch {
  if (patches.length === 0) throw new Error('empty batch');
  const { size } = patches[0];
  const channels = patches[0].input.length / (size * size);
  const outputs = patches[0].label.length / (size * size);
  const input = new Float32Array(size * size * channels * patches.length);
  const label = new Float32Array(size * size * outputs * patches.length);
  patches.forEach((p, i) => {
    if (p.size !== size || p.input.length !== size * size * channels) throw new Error('patches of one batch must share size and bands');
    input.set(p.input, i * size * size * channels);
    label.set(p.label, i * size * size * outputs);
  });
  return { n: patches.length, size, channels, outputs, input, label };
}

/** The satellite group by id, or a clear error listing the groups. */
export function findGroup(satellite: SatelliteSpec, id: string | undefined): GroupSpec {
  if (satellite.groups.length === 0) throw new Error(`satellite ${satellite.id} defines no super-resolution group`);
  if (id === undefined) return satellite.groups[0];
  const g = satellite.groups.find((x) => x.id === id);
  if (!g) throw new Error(`satellite ${satellite.id} has no group "${id}" (groups: ${satellite.groups.map((x) => x.id).join(', ')})`);
  return g;
}

/** The network band orders for a group: inputs (finer bands, then targets) and outputs (targets). */
export function groupBands(satellite: SatelliteSpec, group: GroupSpec): { inputs: string[]; outputs: string[] } {
  return { inputs: groupInputs(satellite, group), outputs: [...group.targets] };
}
