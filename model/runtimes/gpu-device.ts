/**
 * Whether this machine shows a GPU that a WebGPU (Dawn over Vulkan) runtime could use. Without one,
 * WebGPU runtimes say so instead of waking Dawn, which would only find no adapter or, with a software
 * Vulkan driver, run far slower than the CPU runtimes. SHARPSTREAM_WEBGPU_SOFTWARE=1 allows a software
 * adapter (Mesa's lavapipe): the tests use it to run the WebGPU runtimes without a GPU.
 */
import { readdirSync } from 'node:fs';

/** Whether Linux shows a GPU device node (NVIDIA's, or a DRM render node of any vendor). */
export function gpuDeviceNodes(): boolean {
  const has = (dir: string, re: RegExp): boolean => {
    try {
      return readdirSync(dir).some((f) => re.test(f));
    } catch {
      return false;
    }
  };
  return has('/dev', /^nvidia\d+$/) || has('/dev/dri', /^renderD\d+$/);
}

/** Why a WebGPU runtime should not be tried here, or null when it may be (other systems: always tried). */
export function webGpuUnavailableReason(): string | null {
  if (process.platform !== 'linux' || gpuDeviceNodes() || process.env.SHARPSTREAM_WEBGPU_SOFTWARE === '1') return null;
  return 'no GPU device in /dev (nvidia*, dri/renderD*): WebGPU needs a GPU with a Vulkan driver';
}
