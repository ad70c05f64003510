/**
 * Mesa's software Vulkan driver (lavapipe), unpacked into .cache/lavapipe by scripts/setup-test-env.sh,
 * lets the onnx-webgpu runtime run in the tests on a machine without a GPU.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { gpuDeviceNodes } from '../../model/runtimes/gpu-device.js';
import { REPO_ROOT } from './data.js';

/** The lavapipe ICD manifest that the test setup writes. */
export const LAVAPIPE_ICD = join(REPO_ROOT, '.cache/lavapipe/lvp_icd.json');

/**
 * On a machine without a GPU, points the Vulkan loader at lavapipe and lets onnx-webgpu use it; call
 * before any runtime is probed. Returns what it did, or why it could not (in CI a missing lavapipe is an
 * error, as missing shared data is).
 */
export function useSoftwareWebGpu(): { ok: true; icd: string } | { ok: false; reason: string } {
  if (gpuDeviceNodes()) return { ok: false, reason: 'this machine has a GPU: onnx-webgpu is tested on it instead of lavapipe' };
  if (!existsSync(LAVAPIPE_ICD)) {
    const reason = `no software Vulkan driver at ${LAVAPIPE_ICD} (scripts/setup-test-env.sh unpacks it)`;
    if (process.env.CI === 'true') throw new Error(reason);
    return { ok: false, reason };
  }
  // vitest runs each file in a child process of its own (pool: forks), so these reach Dawn's getenv
  // and stay within this file.
  process.env.VK_DRIVER_FILES = LAVAPIPE_ICD;
  process.env.SHARPSTREAM_WEBGPU_SOFTWARE = '1';
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  return { ok: true, icd: LAVAPIPE_ICD };
}
