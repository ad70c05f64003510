/**
 * GeoTIFF and GDAL tags of the COG writer's main IFD: GeoKeys (model type, raster type, EPSG code),
 * ModelPixelScale/ModelTiepoint, GDAL_NODATA and the GDAL_METADATA XML (band descriptions, scale,
 * offset, dataset items).
 */
import type { Crs, GeoTransform } from '../raster/grid.js';
import { FieldType, Tag, type TiffField } from './tiff.js';

/** Whether a CRS is projected or geographic, as GTModelTypeGeoKey records it. */
export type CrsKind = 'projected' | 'geographic';

/** EPSG codes in the geographic 4000-4999 block that are in fact projected. */
const PROJECTED_IN_4000S = new Set([4087, 4088]);

/** Guesses whether a CRS is geographic or projected: from its WKT when present, else from the EPSG code range. */
export function crsKind(crs: Crs): CrsKind {
  const wkt = crs.wkt?.trimStart().toUpperCase();
  if (wkt) {
    if (/^(PROJCS|PROJCRS|PROJECTEDCRS)\b/.test(wkt)) return 'projected';
    if (/^(GEOGCS|GEOGCRS|GEOGRAPHICCRS|GEODCRS)\b/.test(wkt)) return 'geographic';
  }
  const code = crs.epsg;
  return code !== null && code >= 4000 && code < 5000 && !PROJECTED_IN_4000S.has(code) ? 'geographic' : 'projected';
}

/** GeoKey ids used by the writer. */
const GeoKey = {
  GTModelType: 1024,
  GTRasterType: 1025,
  GeographicType: 2048,
  ProjectedCSType: 3072,
} as const;

/**
 * The georeferencing fields: ModelPixelScale, ModelTiepoint (top-left corner, PixelIsArea) and a
 * GeoKeyDirectory naming the CRS by EPSG code.
 */
export function geoFields(transform: GeoTransform, crs: Crs, kind: CrsKind = crsKind(crs)): TiffField[] {
  const epsg = crs.epsg;
  if (epsg === null || !Number.isInteger(epsg) || epsg <= 0 || epsg > 65535) {
    throw new Error(`CRS must have an EPSG code between 1 and 65535 to be written as GeoKeys, got ${epsg}`);
  }
  const keys: [number, number][] = [
    [GeoKey.GTModelType, kind === 'projected' ? 1 : 2],
    [GeoKey.GTRasterType, 1], // RasterPixelIsArea
    [kind === 'projected' ? GeoKey.ProjectedCSType : GeoKey.GeographicType, epsg],
  ];
  keys.sort((a, b) => a[0] - b[0]);
  const directory = [1, 1, 0, keys.length];
  for (const [id, value] of keys) directory.push(id, 0, 1, value);
  return [
    { tag: Tag.ModelPixelScale, type: FieldType.DOUBLE, values: [transform.dx, -transform.dy, 0] },
    { tag: Tag.ModelTiepoint, type: FieldType.DOUBLE, values: [0, 0, 0, transform.x0, transform.y0, 0] },
    { tag: Tag.GeoKeyDirectory, type: FieldType.SHORT, values: directory },
  ];
}

/** GDAL's text form of a nodata value (tag 42113): "nan", "inf", "-inf" or the number. */
export function gdalNodataText(nodata: number): string {
  if (Number.isNaN(nodata)) return 'nan';
  if (nodata === Infinity) return 'inf';
  if (nodata === -Infinity) return '-inf';
  return String(nodata);
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Item text as GDAL writes it: escaped twice (GDAL escapes the value, then its XML writer escapes again, and its reader undoes both). */
function itemText(s: string): string {
  return xmlEscape(xmlEscape(s));
}

/** What goes into the GDAL_METADATA tag. */
export interface GdalMetadataInput {
  /** Dataset-level key/value items. */
  readonly items?: Readonly<Record<string, string | number>>;
  /** One description per band (empty strings are skipped). */
  readonly descriptions?: readonly string[];
  /** One scale per band (null skips a band). */
  readonly scales?: readonly (number | null)[];
  /** One offset per band (null skips a band). */
  readonly offsets?: readonly (number | null)[];
}

/**
 * The GDAL_METADATA XML (tag 42112): dataset items, then per-band OFFSET, SCALE and DESCRIPTION items
 * with `sample` (0-based band) and `role` attributes, text escaped twice, as GDAL writes them; null when
 * there is nothing to say.
 */
export function gdalMetadataXml(input: GdalMetadataInput): string | null {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(input.items ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_.:-]*$/.test(k)) throw new Error(`metadata key "${k}" is not a valid GDAL metadata item name`);
    lines.push(`  <Item name="${xmlEscape(k)}">${itemText(String(v))}</Item>`);
  }
  const bandItem = (name: string, role: string, band: number, value: string) =>
    `  <Item name="${name}" sample="${band}" role="${role}">${itemText(value)}</Item>`;
  const bands = Math.max(input.descriptions?.length ?? 0, input.scales?.length ?? 0, input.offsets?.length ?? 0);
  for (let b = 0; b < bands; b++) {
    const offset = input.offsets?.[b];
    const scale = input.scales?.[b];
    const description = input.descriptions?.[b];
    if (offset !== undefined && offset !== null) lines.push(bandItem('OFFSET', 'offset', b, String(offset)));
    if (scale !== undefined && scale !== null) lines.push(bandItem('SCALE', 'scale', b, String(scale)));
    if (description) lines.push(bandItem('DESCRIPTION', 'description', b, description));
  }
  if (lines.length === 0) return null;
  return `<GDALMetadata>\n${lines.join('\n')}\n</GDALMetadata>`;
}
