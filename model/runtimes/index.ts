/** Registers the built-in runtimes in order of preference for `--runtime auto`: GPU first, then the fastest CPU one. */
import { onnxCpuRuntime, onnxCudaRuntime, onnxWebGpuRuntime } from './onnxruntime.js';
import { registerRuntime } from './runtime.js';
import { tfjsNodeGpuRuntime, tfjsNodeRuntime, tfjsWasmRuntime, tfjsWebGpuRuntime } from './tfjs.js';

registerRuntime(onnxCudaRuntime);
registerRuntime(tfjsNodeGpuRuntime);
registerRuntime(onnxWebGpuRuntime);
registerRuntime(tfjsWebGpuRuntime);
registerRuntime(onnxCpuRuntime);
registerRuntime(tfjsNodeRuntime);
registerRuntime(tfjsWasmRuntime);

export { pickRuntime, registeredRuntimes, registerRuntime, type Runtime, type Session } from './runtime.js';
