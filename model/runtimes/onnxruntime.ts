/**
 * onnxruntime-node: the default CPU runtime (the fastest measured here, about 6x the wasm backend), its
 * CUDA execution provider where the GPU provider libraries are installed, and its WebGPU execution
 * provider (bundled with onnxruntime-node on Linux x64, Windows and macOS; Dawn over Vulkan, D3D12 or
 * Metal), which needs no CUDA install at all. Loaded lazily so the package is optional at run time; each
 * session runs in a worker thread of its own.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { exportOnnx } from '../onnx.js';
import { inferChannels } from '../graph.js';
import type { ModelPackage } from '../package.js';
import { webGpuUnavailableReason } from './gpu-device.js';
import { OrtWorker } from './ort-worker.js';
import type { Runtime, Session, SessionOptions } from './runtime.js';

type Ort = typeof import('onnxruntime-node');

let ortPromise: Promise<Ort | Error> | null = null;

/** Imports onnxruntime-node once; an Error when it is not installed or its native library fails to load. */
function loadOrt(): Promise<Ort | Error> {
  ortPromise ??= import('onnxruntime-node').then(
    (m) => ((m as { default?: Ort }).default ?? m) as Ort,
    (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
  );
  return ortPromise;
}

/** A session whose network runs in a worker thread (see ort-worker.ts), so the caller's thread stays free. */
class OrtSession implements Session {
  constructor(
    readonly runtime: string,
    readonly device: 'cpu' | 'gpu',
    private readonly worker: OrtWorker,
    private readonly inputChannels: number,
  ) {}

  async run(input: Float32Array, batch: number, height: number, width: number): Promise<Float32Array> {
    if (input.length !== batch * this.inputChannels * height * width) {
      throw new Error(`input has ${input.length} values, expected ${batch}x${this.inputChannels}x${height}x${width}`);
    }
    return this.worker.run(input, [batch, this.inputChannels, height, width]);
  }

  async dispose(): Promise<void> {
    await this.worker.close();
  }

  broken(): boolean {
    return this.worker.failed;
  }
}

/** An onnxruntime execution provider that sharpstream offers as a runtime. */
type Provider = 'cpu' | 'cuda' | 'webgpu';

const DESCRIPTIONS: Record<Provider, string> = {
  cpu: 'onnxruntime-node, CPU execution provider',
  cuda: 'onnxruntime-node, CUDA execution provider (GPU)',
  webgpu: 'onnxruntime-node, WebGPU execution provider (GPU through Vulkan, D3D12 or Metal)',
};

/** Why a provider cannot run here, or null when it can; probed once per process. */
const probes = new Map<Provider, Promise<string | null>>();

function makeRuntime(name: string, provider: Provider): Runtime {
  return {
    name,
    description: DESCRIPTIONS[provider],
    async available() {
      const ort = await loadOrt();
      if (ort instanceof Error) return { ok: false, reason: `onnxruntime-node cannot load: ${ort.message}` };
      if (provider === 'cpu') return { ok: true };
      let probe = probes.get(provider);
      if (!probe) {
        probe = provider === 'cuda' ? probeCuda(ort) : probeWebGpu(ort);
        probes.set(provider, probe);
      }
      const reason = await probe;
      return reason === null ? { ok: true } : { ok: false, reason };
    },
    async load(pkg: ModelPackage, options: SessionOptions = {}): Promise<Session> {
      const ort = await loadOrt();
      if (ort instanceof Error) throw new Error(`onnxruntime-node cannot load: ${ort.message}`);
      const outC = inferChannels(pkg.manifest.graph, pkg.weights).get(pkg.manifest.graph.output)!;
      const bytes = exportOnnx(pkg.manifest.graph, pkg.weights, outC, pkg.manifest.id);
      const worker = await OrtWorker.start(bytes, {
        // Operators a GPU provider lacks fall back to the CPU provider.
        executionProviders: provider === 'cpu' ? ['cpu'] : [provider, 'cpu'],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: options.threads ?? cpus().length,
        interOpNumThreads: 1,
        // Spinning worker threads would burn the cores that patch building and COG compression need
        // between inference calls, and several sessions (one per group) run side by side.
        extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
      });
      return new OrtSession(name, provider === 'cpu' ? 'cpu' : 'gpu', worker, pkg.manifest.graph.inputChannels);
    },
  };
}

/** Why onnxruntime's CUDA provider cannot run here, or null when a session on it starts. */
async function probeCuda(ort: Ort): Promise<string | null> {
  const cuda = ort.listSupportedBackends().find((b) => b.name === 'cuda');
  if (!cuda) return 'this onnxruntime-node build has no CUDA provider';
  // The CUDA provider libraries are only present when installed with ONNXRUNTIME_NODE_INSTALL=cuda12.
  if (!cudaLibrariesPresent()) {
    return 'the CUDA provider libraries are not installed (reinstall onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 on a host with CUDA 12 and cuDNN 9)';
  }
  return probeSession(ort, 'cuda', 'CUDA provider unavailable');
}

/** Why onnxruntime's WebGPU provider cannot run here, or null when a session on it starts (see gpu-device.ts). */
async function probeWebGpu(ort: Ort): Promise<string | null> {
  if (!ort.listSupportedBackends().some((b) => b.name === 'webgpu')) return 'this onnxruntime-node build has no WebGPU provider';
  const noGpu = webGpuUnavailableReason();
  if (noGpu) return noGpu;
  return probeSession(ort, 'webgpu', 'WebGPU provider unavailable (a GPU with a Vulkan driver and libvulkan.so.1 are needed)');
}

/** Null when a one-node session starts on the provider; otherwise the first line of its error. */
async function probeSession(ort: Ort, provider: 'cuda' | 'webgpu', prefix: string): Promise<string | null> {
  try {
    const s = await ort.InferenceSession.create(tinyModel(), { executionProviders: [provider], logSeverityLevel: 4 });
    await s.release();
    return null;
  } catch (e) {
    return `${prefix}: ${(e as Error).message.split('\n')[0]}`;
  }
}

/** Whether onnxruntime-node's folder holds the CUDA provider libraries (they come from a separate download). */
function cudaLibrariesPresent(): boolean {
  try {
    const req = createRequire(import.meta.url);
    const pkgDir = dirname(req.resolve('onnxruntime-node/package.json'));
    const bin = join(pkgDir, 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(join(bin, 'libonnxruntime_providers_cuda.so')) || existsSync(join(bin, 'onnxruntime_providers_cuda.dll'));
  } catch {
    return false;
  }
}

/** A one-node model used to probe execution providers. */
function tinyModel(): Uint8Array {
  return exportOnnx({ inputChannels: 1, nodes: [{ op: 'relu', name: 'r', input: 'input' }], output: 'r' }, new Map(), 1);
}

/** onnxruntime on the GPU (CUDA), when present. */
export const onnxCudaRuntime = makeRuntime('onnx-cuda', 'cuda');
/** onnxruntime on the GPU through WebGPU (Vulkan on Linux), when a GPU is present. */
export const onnxWebGpuRuntime = makeRuntime('onnx-webgpu', 'webgpu');
/** onnxruntime on the CPU. */
export const onnxCpuRuntime = makeRuntime('onnx', 'cpu');
