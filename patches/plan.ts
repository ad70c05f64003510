/**
 * DSen2's patch grid: patches of `size` fine pixels with `border` pixels of context on each side,
 * laid every `size - 2*border` pixels, plus one flush with the far edge when the extent is not a
 * multiple of the step; each patch's core is pasted, later patches overwriting earlier ones
 * (lanha/DSen2 `utils/patches.py` get_test_patches / recompose_images).
 */

/** Core start positions along one axis of length n (ROI pixels). */
export function coreStarts(n: number, size: number, border: number): number[] {
  const step = size - 2 * border;
  if (step <= 0) throw new Error(`patch size ${size} must exceed twice the border ${border}`);
  const starts: number[] = [];
  const full = Math.floor(n / step);
  for (let k = 0; k < full; k++) starts.push(k * step);
  if (n % step !== 0) starts.push(n - step);
  return starts;
}

/** The rows of the output that a patch row finally owns: [start, next start) or [start, n) for the last. */
export function ownedSpan(starts: readonly number[], k: number, n: number): [number, number] {
  const a = Math.max(0, starts[k]);
  const b = k + 1 < starts.length ? Math.max(0, starts[k + 1]) : n;
  return [a, Math.min(b, n)];
}
