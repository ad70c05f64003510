/**
 * onnxruntime-node: the default CPU runtime (the fastest measured here, about 6x the wasm backend), and
 * its CUDA execution provider where the GPU provider libraries are installed. Loaded lazily so the
 * package is optional at run time; each session runs in a worker thread of its own.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { exportOnnx } from '../onnx.js';
import { inferChannels } from '../graph.js';
import type { ModelPackage } from '../package.js';
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

function makeRuntime(name: string, provider: 'cpu' | 'cuda'): Runtime {
  return {
    name,
    description: provider === 'cpu' ? 'onnxruntime-node, CPU execution provider' : 'onnxruntime-node, CUDA execution provider (GPU)',
    async available() {
      const ort = await loadOrt();
      if (ort instanceof Error) return { ok: false, reason: `onnxruntime-node cannot load: ${ort.message}` };
      if (provider === 'cpu') return { ok: true };
      const cuda = ort.listSupportedBackends().find((b) => b.name === 'cuda');
      if (!cuda) return { ok: false, reason: 'this onnxruntime-node build has no CUDA provider' };
      // The CUDA provider libraries are only present when installed with ONNXRUNTIME_NODE_INSTALL=cuda12.
      if (!cudaLibrariesPresent()) {
        return { ok: false, reason: 'the CUDA provider libraries are not installed (reinstall onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 on a host with CUDA 12 and cuDNN 9)' };
      }
      try {
        const s = await ort.InferenceSession.create(tinyModel(), { executionProviders: ['cuda'], logSeverityLevel: 4 });
        await s.release();
        return { ok: true };
      } catch (e) {
        return { ok: false, reason: `CUDA provider unavailable: ${(e as Error).message.split('\n')[0]}` };
      }
    },
    async load(pkg: ModelPackage, options: SessionOptions = {}): Promise<Session> {
      const ort = await loadOrt();
      if (ort instanceof Error) throw new Error(`onnxruntime-node cannot load: ${ort.message}`);
      const outC = inferChannels(pkg.manifest.graph, pkg.weights).get(pkg.manifest.graph.output)!;
      const bytes = exportOnnx(pkg.manifest.graph, pkg.weights, outC, pkg.manifest.id);
      const worker = await OrtWorker.start(bytes, {
        executionProviders: provider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: options.threads ?? cpus().length,
        interOpNumThreads: 1,
        // Spinning worker threads would burn the cores that patch building and COG compression need
        // between inference calls, and several sessions (one per group) run side by side.
        extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
      });
      return new OrtSession(name, provider === 'cuda' ? 'gpu' : 'cpu', worker, pkg.manifest.graph.inputChannels);
    },
  };
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
/** onnxruntime on the CPU. */
export const onnxCpuRuntime = makeRuntime('onnx', 'cpu');
