/**
 * Validates STAC items and collections offline against the official JSON Schemas kept in
 * ../shared/schemas (laid out by URL; see its README for the pitfalls handled here).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import AjvModule, { type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { REPO_ROOT } from './data.js';

/** Folder of the offline schemas. */
export const SCHEMAS_DIR = process.env.SHARPSTREAM_SCHEMAS ? resolve(process.env.SHARPSTREAM_SCHEMAS) : resolve(REPO_ROOT, '../shared/schemas');

// ajv and ajv-formats are CommonJS modules whose classes sit on `.default` under NodeNext.
const Ajv = AjvModule.default;
const addFormats = addFormatsModule.default;
type AjvInstance = InstanceType<typeof Ajv>;

let ajv: AjvInstance | null = null;

function instance(): AjvInstance {
  if (ajv) return ajv;
  const a = new Ajv({ strict: false, allErrors: true });
  addFormats(a);
  a.addFormat('iri', true);
  a.addFormat('iri-reference', true);
  const index = JSON.parse(readFileSync(join(SCHEMAS_DIR, 'index.json'), 'utf8')) as { schemas: Record<string, string> };
  for (const [url, rel] of Object.entries(index.schemas)) {
    if (url === 'http://json-schema.org/draft-07/schema') continue;
    a.addSchema(JSON.parse(readFileSync(join(SCHEMAS_DIR, rel), 'utf8')) as object, url);
  }
  ajv = a;
  return a;
}

function validator(url: string): ValidateFunction {
  const v = instance().getSchema(url);
  if (!v) throw new Error(`schema ${url} is not in ${SCHEMAS_DIR}`);
  return v;
}

/** Validation errors of a STAC item or collection against its core schema and every declared extension ([] when valid). */
export function stacErrors(doc: Record<string, unknown>): string[] {
  const version = String(doc.stac_version);
  const type = doc.type === 'Feature' ? 'item' : doc.type === 'Collection' ? 'collection' : 'catalog';
  const urls = [`https://schemas.stacspec.org/v${version}/${type}-spec/json-schema/${type}.json`, ...((doc.stac_extensions as string[] | undefined) ?? [])];
  const errors: string[] = [];
  for (const url of urls) {
    const v = validator(url);
    if (!v(doc)) errors.push(...(v.errors ?? []).map((e) => `${url}: ${e.instancePath} ${e.message ?? ''}`));
  }
  return errors;
}
