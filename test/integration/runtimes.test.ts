/** Every runtime present gives the reference executor's output within 1e-4 (normalised units); absent ones say why. */
import { describe, expect, it } from 'vitest';
import { runReference } from '../../model/reference.js';
import { Rng } from '../../model/random.js';
import { pickRuntime, registeredRuntimes } from '../../model/runtimes/index.js';
import { satellites } from '../../satellites/registry.js';
import { tinyDsen2 } from '../helpers/models.js';
import { useSoftwareWebGpu } from '../helpers/webgpu.js';

const s2 = satellites().get('sentinel-2-l1c');
// Without a GPU, the WebGPU runtimes run on Mesa's software Vulkan driver, so the loop below tests them too.
const softwareWebGpu = useSoftwareWebGpu();

describe('model runtimes', () => {
  const cases = [
    ['20m', 2, 24, 19],
    ['60m', 1, 30, 30],
  ] as const;

  for (const rt of registeredRuntimes()) {
    it(`${rt.name}: matches the reference executor, or says why it is unavailable`, async () => {
      const a = await rt.available();
      if (!a.ok) {
        // Optional runtimes (GPU, tfjs-node) must explain themselves; the CPU defaults must be present.
        expect(['onnx', 'tfjs-wasm']).not.toContain(rt.name);
        expect(a.reason).toMatch(/\S+ \S+ \S+ \S+/);
        return;
      }
      for (const [group, batch, h, w] of cases) {
        const pkg = tinyDsen2(s2, group, 2, 16, 11);
        const c = pkg.manifest.graph.inputChannels;
        const rng = new Rng(5);
        const x = Float32Array.from({ length: batch * c * h * w }, () => rng.uniform(0, 2));
        const ref = runReference(pkg.manifest.graph, pkg.weights, x, batch, h, w);
        const session = await rt.load(pkg, { threads: 2 });
        const y = await session.run(x, batch, h, w);
        await session.dispose();
        expect(y.length).toBe(ref.length);
        let max = 0;
        for (let i = 0; i < y.length; i++) max = Math.max(max, Math.abs(y[i] - ref[i]));
        expect(max, `${rt.name} ${group} max abs difference`).toBeLessThan(1e-4);
        // The network is not the identity: outputs differ from the skip input.
        expect(ref.some((v, i) => Math.abs(v - x[i % x.length]) > 1e-3)).toBe(true);
      }
    });
  }

  for (const name of ['onnx-webgpu', 'tfjs-webgpu']) {
    it(`${name} is available: on the GPU, or on the software Vulkan driver that the test setup unpacks`, async (ctx) => {
      if (!softwareWebGpu.ok && !/has a GPU/.test(softwareWebGpu.reason)) ctx.skip(softwareWebGpu.reason);
      const rt = registeredRuntimes().find((r) => r.name === name)!;
      expect(await rt.available()).toEqual({ ok: true });
      const session = await rt.load(tinyDsen2(s2, '20m'));
      expect(session.device).toBe('gpu');
      await session.dispose();
    });
  }

  it('picks an available runtime for auto, and names the choices for an unknown one', async () => {
    const r = await pickRuntime('auto');
    expect((await r.available()).ok).toBe(true);
    await expect(pickRuntime('warp-drive')).rejects.toThrow(/unknown runtime "warp-drive" \(runtimes: auto, .*onnx.*tfjs-wasm/);
  });

  it('rejects input of the wrong size with a clear error', async () => {
    const pkg = tinyDsen2(s2, '20m');
    const session = await (await pickRuntime('onnx')).load(pkg);
    await expect(session.run(new Float32Array(10), 1, 4, 4)).rejects.toThrow(/expected 1x10x4x4/);
    await session.dispose();
  });
});
