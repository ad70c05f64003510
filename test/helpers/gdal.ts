/**
 * GDAL, the oracle: reads windows and metadata through Debian's python3-gdal, runs GDAL's COG
 * validator and rio-cogeo's. Each helper fails loudly when the tool is missing (scripts/setup-test-env.sh installs them).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './data.js';

const run = promisify(execFile);
const SYSTEM_PYTHON = '/usr/bin/python3';
const VENV_RIO = join(REPO_ROOT, '.venv/bin/rio');

/** Runs a Python snippet with GDAL's bindings and returns stdout as a Buffer. */
async function gdalPython(code: string, args: string[]): Promise<Buffer> {
  const { stdout } = await run(SYSTEM_PYTHON, ['-c', code, ...args], { encoding: 'buffer', maxBuffer: 1 << 30 });
  return stdout;
}

/** Band data as GDAL reads it: raw little-endian samples of a window of one band. */
export async function gdalReadWindow(
  path: string,
  band: number,
  x: number,
  y: number,
  width: number,
  height: number,
): Promise<{ dataType: string; data: Buffer }> {
  const code = `
import sys
from osgeo import gdal
gdal.UseExceptions()
ds = gdal.Open(sys.argv[1])
b = ds.GetRasterBand(int(sys.argv[2]))
x, y, w, h = map(int, sys.argv[3:7])
sys.stdout.buffer.write(gdal.GetDataTypeName(b.DataType).encode() + b"\\n")
sys.stdout.buffer.write(b.ReadRaster(x, y, w, h))
`;
  const out = await gdalPython(code, [path, String(band), String(x), String(y), String(width), String(height)]);
  const nl = out.indexOf(10);
  return { dataType: out.subarray(0, nl).toString(), data: out.subarray(nl + 1) };
}

/** What GDAL reports about a raster: size, geotransform, EPSG, nodata, overviews, structure metadata. */
export interface GdalInfo {
  width: number;
  height: number;
  bands: number;
  geoTransform: number[];
  epsg: number | null;
  /** Per band; a NaN nodata is reported as the string "NaN". */
  nodata: (number | 'NaN' | null)[];
  dataType: string;
  overviews: [number, number][];
  descriptions: string[];
  imageStructure: Record<string, string>;
  scales: (number | null)[];
  offsets: (number | null)[];
}

/** GDAL's view of a raster file. */
export async function gdalInfo(path: string): Promise<GdalInfo> {
  const code = `
import sys, json
from osgeo import gdal, osr
gdal.UseExceptions()
ds = gdal.Open(sys.argv[1])
srs = ds.GetSpatialRef()
epsg = None
if srs is not None:
    srs.AutoIdentifyEPSG()
    code = srs.GetAuthorityCode(None)
    epsg = int(code) if code else None
b1 = ds.GetRasterBand(1)
def nd(v):
    # JSON has no NaN: report a NaN nodata as the string "NaN".
    return "NaN" if v is not None and v != v else v
print(json.dumps({
  "width": ds.RasterXSize, "height": ds.RasterYSize, "bands": ds.RasterCount,
  "geoTransform": list(ds.GetGeoTransform()), "epsg": epsg,
  "nodata": [nd(ds.GetRasterBand(i+1).GetNoDataValue()) for i in range(ds.RasterCount)],
  "dataType": gdal.GetDataTypeName(b1.DataType),
  "overviews": [[b1.GetOverview(i).XSize, b1.GetOverview(i).YSize] for i in range(b1.GetOverviewCount())],
  "descriptions": [ds.GetRasterBand(i+1).GetDescription() for i in range(ds.RasterCount)],
  "imageStructure": ds.GetMetadata("IMAGE_STRUCTURE"),
  "scales": [ds.GetRasterBand(i+1).GetScale() for i in range(ds.RasterCount)],
  "offsets": [ds.GetRasterBand(i+1).GetOffset() for i in range(ds.RasterCount)],
}))
`;
  return JSON.parse((await gdalPython(code, [path])).toString()) as GdalInfo;
}

/** Result of a validator run. */
export interface ValidationResult {
  valid: boolean;
  output: string;
}

/** GDAL's validate_cloud_optimized_geotiff.py --full-check=yes. */
export async function validateCogGdal(path: string): Promise<ValidationResult> {
  try {
    const { stdout, stderr } = await run(SYSTEM_PYTHON, ['-m', 'osgeo_utils.samples.validate_cloud_optimized_geotiff', '--full-check=yes', path]);
    return { valid: true, output: `${stdout}${stderr}` };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    return { valid: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}${err.message}` };
  }
}

/** rio-cogeo's `rio cogeo validate --strict`. */
export async function validateCogRio(path: string): Promise<ValidationResult> {
  if (!existsSync(VENV_RIO)) throw new Error(`${VENV_RIO} is missing: run scripts/setup-test-env.sh`);
  try {
    const { stdout, stderr } = await run(VENV_RIO, ['cogeo', 'validate', '--strict', path]);
    const output = `${stdout}${stderr}`;
    return { valid: /is a valid cloud optimized GeoTIFF/i.test(output) && !/is NOT a valid/i.test(output), output };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    return { valid: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}${err.message}` };
  }
}
