import { describe, expect, it } from 'vitest';
import { CatalogueError } from '../../stac/catalogue/errors.js';
import { parseDatetimeParam, parseInstant, parseRfc3339 } from '../../stac/catalogue/datetime.js';
import { cql2ToSql, likeToGlob, parseCql2Text } from '../../stac/catalogue/cql2.js';
import { bboxError, geometriesIntersect, geometryError, segmentsIntersect } from '../../stac/catalogue/geometry.js';
import { parseBbox, parseFields, parseLimit, parseSortby, searchParamsFromBody, searchParamsFromQuery } from '../../stac/catalogue/params.js';
import { applyFields, decodeToken, effectiveSort, encodeToken, keysetPredicate, propertyResolver, queryToCql2, sortSignature } from '../../stac/catalogue/search.js';
import { validateCollection, validateItem } from '../../stac/catalogue/validate.js';

/** The status of the CatalogueError a function throws (or null when it does not throw). */
function statusOf(f: () => unknown): number | null {
  try {
    f();
    return null;
  } catch (e) {
    if (e instanceof CatalogueError) return e.status;
    throw e;
  }
}

describe('RFC 3339 datetimes', () => {
  it('parses instants with offsets and fractions to epoch ms', () => {
    expect(parseInstant('2020-07-23T00:00:00Z')).toBe(Date.UTC(2020, 6, 23));
    expect(parseInstant('2020-07-23T00:00:00+03:00')).toBe(Date.UTC(2020, 6, 22, 21));
    expect(parseInstant('1985-04-12t23:20:50.52z')).toBe(Date.UTC(1985, 3, 12, 23, 20, 50, 520));
    expect(parseInstant('2020-07-23T00:00:00.012345678Z')).toBe(Date.UTC(2020, 6, 23, 0, 0, 0, 12));
    expect(parseInstant('2016-12-31T23:59:60Z')).toBe(Date.UTC(2016, 11, 31, 23, 59, 59, 999));
  });
  it('rejects impossible calendar dates and malformed text', () => {
    for (const bad of ['2020-13-45T00:00:00Z', '2020-13-45', '2021-02-29T00:00:00Z', '2020-04-31T00:00:00Z', '1985-12-01T25:20:50Z', '1985-12-01T00:60:50Z', '1985-12-01T00:06:61Z',
      '1985-04-12T23:20:50.Z', '1985-04-12T23:20:50,52Z', '1985-12-12T23:20:50.52', '37-01-01T12:00:27.87Z', '21985-12-12T23:20:50.52Z', '1937-01-01T12:00:27.87+0100', '1985-04-12']) {
      expect(typeof parseRfc3339(bad), bad).toBe('string');
    }
    expect(parseRfc3339('2020-13-45T00:00:00Z')).toMatch(/month 13/);
    expect(parseRfc3339('2021-02-29T00:00:00Z')).toMatch(/day 29 does not exist/);
    expect(typeof parseRfc3339('2020-02-29T00:00:00Z')).toBe('number');
  });
  it('parses instants and closed, open and half-open intervals', () => {
    const t = Date.UTC(1985, 3, 12, 23, 20, 50, 520);
    expect(parseDatetimeParam('1985-04-12T23:20:50.52Z')).toEqual({ start: t, end: t });
    expect(parseDatetimeParam('../1985-04-12T23:20:50.52Z')).toEqual({ start: null, end: t });
    expect(parseDatetimeParam('1985-04-12T23:20:50.52Z/')).toEqual({ start: t, end: null });
    expect(parseDatetimeParam('/1985-04-12T23:20:50.52Z')).toEqual({ start: null, end: t });
    expect(parseDatetimeParam('1985-04-12T23:20:50.52Z/1986-04-12T23:20:50.52Z').end).toBe(Date.UTC(1986, 3, 12, 23, 20, 50, 520));
    for (const bad of ['/', '../..', '/..', '../', 'a/b/c', '1984-04-12T23:20:50.52Z/1985-04-12T23:20:50.52Z/', '1986-04-12T23:20:50.52Z/1985-04-12T23:20:50.52Z', '2020-13-45T00:00:00Z']) {
      expect(statusOf(() => parseDatetimeParam(bad)), bad).toBe(400);
    }
  });
});

describe('bbox and geometry validation', () => {
  it('accepts valid boxes and names the problem of invalid ones', () => {
    expect(bboxError([-10, -5, 10, 5])).toBeNull();
    expect(bboxError([170, -5, -170, 5])).toBeNull(); // across the antimeridian
    expect(bboxError([-10, -5, 0, 10, 5, 100])).toBeNull();
    expect(bboxError([-10, -5, 200, 5])).toMatch(/longitude 200/);
    expect(bboxError([-10, -95, 10, 5])).toMatch(/latitude -95/);
    expect(bboxError([-10, 5, 10, -5])).toMatch(/south/);
    expect(bboxError([1, 2, 3])).toMatch(/4 or 6/);
    expect(bboxError([1, 2, 3, Number.NaN])).toMatch(/finite/);
    expect(statusOf(() => parseBbox('0,0,181,1'))).toBe(400);
    expect(statusOf(() => parseBbox('0,0,,1'))).toBe(400);
    expect(parseBbox('1,2,3,4')).toEqual([1, 2, 3, 4]);
  });
  it('checks geometry structure, rings and ranges', () => {
    const sq = { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]] };
    expect(geometryError(sq)).toBeNull();
    expect(geometryError({ type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 0.5]]] })).toMatch(/end where it starts/);
    expect(geometryError({ type: 'Point', coordinates: [190, 0] })).toMatch(/longitude 190/);
    expect(geometryError({ type: 'Point', coordinates: [0, -91] })).toMatch(/latitude -91/);
    expect(geometryError({ type: 'Blob', coordinates: [] })).toMatch(/unknown geometry type/);
  });
  it('tests intersections exactly, not by bounding box', () => {
    const tri = { type: 'Polygon', coordinates: [[[0, 0], [10, 0], [0, 10], [0, 0]]] };
    expect(geometriesIntersect(tri, { type: 'Point', coordinates: [2, 2] })).toBe(true);
    // Inside the triangle's bbox, outside the triangle.
    expect(geometriesIntersect(tri, { type: 'Point', coordinates: [8, 8] })).toBe(false);
    expect(geometriesIntersect(tri, { type: 'Polygon', coordinates: [[[7, 7], [9, 7], [9, 9], [7, 9], [7, 7]]] })).toBe(false);
    expect(geometriesIntersect(tri, { type: 'LineString', coordinates: [[-1, 5], [11, 5]] })).toBe(true);
    // One polygon inside the other without boundary contact.
    expect(geometriesIntersect(tri, { type: 'Polygon', coordinates: [[[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]]] })).toBe(true);
    expect(segmentsIntersect([0, 0], [2, 2], [1, 1], [1, 1])).toBe(true);
    expect(segmentsIntersect([0, 0], [2, 2], [3, 3], [4, 4])).toBe(false);
  });
});

describe('CQL2', () => {
  const known = propertyResolver((n) => (n === 'eo:cloud_cover' ? 'number' : ['mission', 'platform', 'name'].includes(n) ? 'string' : null));
  it('parses cql2-text into cql2-json', () => {
    expect(parseCql2Text("eo:cloud_cover >= 5 AND eo:cloud_cover < 10")).toEqual({
      op: 'and',
      args: [{ op: '>=', args: [{ property: 'eo:cloud_cover' }, 5] }, { op: '<', args: [{ property: 'eo:cloud_cover' }, 10] }],
    });
    expect(parseCql2Text("NOT id='a'")).toEqual({ op: 'not', args: [{ op: '=', args: [{ property: 'id' }, 'a'] }] });
    expect(parseCql2Text('mission NOT LIKE \'sentinel%\'')).toEqual({ op: 'not', args: [{ op: 'like', args: [{ property: 'mission' }, 'sentinel%'] }] });
    expect(parseCql2Text('eo:cloud_cover BETWEEN 0 AND 50')).toEqual({ op: 'between', args: [{ property: 'eo:cloud_cover' }, 0, 50] });
    expect(parseCql2Text("platform IN ('a', 'b')")).toEqual({ op: 'in', args: [{ property: 'platform' }, ['a', 'b']] });
    expect(parseCql2Text('eo:cloud_cover IS NOT NULL')).toEqual({ op: 'not', args: [{ op: 'isNull', args: [{ property: 'eo:cloud_cover' }] }] });
    expect(parseCql2Text("datetime > TIMESTAMP('2021-04-08T04:39:23Z')")).toEqual({ op: '>', args: [{ property: 'datetime' }, { timestamp: '2021-04-08T04:39:23Z' }] });
    expect(parseCql2Text('S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 1 1, 0 0)))')).toEqual({
      op: 's_intersects',
      args: [{ property: 'geometry' }, { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 0]]] }],
    });
    expect(parseCql2Text("T_INTERSECTS(datetime, INTERVAL('2020-11-11T00:00:00Z', '..'))")).toEqual({
      op: 't_intersects',
      args: [{ property: 'datetime' }, { interval: ['2020-11-11T00:00:00Z', '..'] }],
    });
    // OR binds looser than AND; parentheses group.
    expect(parseCql2Text('a = 1 OR b = 2 AND c = 3')).toEqual({
      op: 'or',
      args: [{ op: '=', args: [{ property: 'a' }, 1] }, { op: 'and', args: [{ op: '=', args: [{ property: 'b' }, 2] }, { op: '=', args: [{ property: 'c' }, 3] }] }],
    });
  });
  it('reports syntax errors as 400', () => {
    for (const bad of ["name = 'unterminated", 'a = ', '(a = 1', 'a ! 1', 'a NOT 3', '']) expect(statusOf(() => parseCql2Text(bad)), bad).toBe(400);
  });
  it('binds every literal as a parameter, SQL inside strings included', () => {
    const f = cql2ToSql(parseCql2Text("name = 'x''; DROP TABLE items; --'"), known);
    expect(f.sql).not.toContain('DROP');
    expect(f.sql).not.toContain("'x");
    expect(f.params).toEqual(['$.properties."name"', "x'; DROP TABLE items; --"]);
    // Numeric strings compared with a numeric property are numbers (the Query extension sends strings).
    expect(cql2ToSql(queryToCql2({ 'eo:cloud_cover': { lt: '30' } }), known).params).toEqual(['$.properties."eo:cloud_cover"', 30]);
    expect(cql2ToSql(queryToCql2({ mission: { eq: '30' } }), known).params).toEqual(['$.properties."mission"', '30']);
    const g = cql2ToSql({ op: 'in', args: [{ property: 'platform' }, ['a', "b') OR 1=1 --"]] }, known);
    expect(g.sql).toBe('(json_extract(items.content, ?) IN (?, ?))');
    expect(g.params).toEqual(['$.properties."platform"', 'a', "b') OR 1=1 --"]);
  });
  it('translates time comparisons to epoch ms on the indexed columns', () => {
    const f = cql2ToSql({ op: '>=', args: [{ property: 'datetime' }, { timestamp: '2021-04-08T04:39:23Z' }] }, known);
    expect(f).toEqual({ sql: '(items.dt >= ?)', params: [Date.UTC(2021, 3, 8, 4, 39, 23)] });
    const t = cql2ToSql({ op: 't_intersects', args: [{ property: 'datetime' }, { interval: ['2020-11-11T00:00:00Z', '2020-11-12T00:00:00Z'] }] }, known);
    expect(t).toEqual({ sql: '(items.start_dt <= ? AND items.end_dt >= ?)', params: [Date.UTC(2020, 10, 12), Date.UTC(2020, 10, 11)] });
  });
  it('rejects unknown properties, operators and bad types with 400', () => {
    expect(statusOf(() => cql2ToSql({ op: '=', args: [{ property: 'nope' }, 1] }, known))).toBe(400);
    expect(statusOf(() => cql2ToSql({ op: 'frobnicate', args: [] }, known))).toBe(400);
    expect(statusOf(() => cql2ToSql({ op: '=', args: [{ property: 'datetime' }, 5] }, known))).toBe(400);
    expect(statusOf(() => cql2ToSql({ op: 's_intersects', args: [{ property: 'geometry' }, { type: 'Point', coordinates: [200, 0] }] }, known))).toBe(400);
    expect(statusOf(() => cql2ToSql({ op: '=', args: [{ property: 'name); DROP TABLE items; --' }, 1] }, known))).toBe(400);
  });
  it('converts LIKE patterns to case-sensitive GLOB patterns', () => {
    expect(likeToGlob('sentinel%')).toBe('sentinel*');
    expect(likeToGlob('a_c')).toBe('a?c');
    expect(likeToGlob('100\\%')).toBe('100%');
    expect(likeToGlob('a*b?[')).toBe('a[*]b[?][[]');
  });
  it('turns Query extension objects into CQL2', () => {
    expect(queryToCql2({ 'eo:cloud_cover': { lt: 10, gte: 2 }, mission: { startsWith: 'sent_' } })).toEqual({
      op: 'and',
      args: [
        { op: '<', args: [{ property: 'eo:cloud_cover' }, 10] },
        { op: '>=', args: [{ property: 'eo:cloud_cover' }, 2] },
        { op: 'like', args: [{ property: 'mission' }, 'sent\\_%'] },
      ],
    });
    expect(statusOf(() => queryToCql2({ a: { near: 1 } }))).toBe(400);
  });
});

describe('paging tokens and keyset predicates', () => {
  it('round-trips tokens and rejects foreign ones', () => {
    const t = { dir: 'next' as const, sort: 'abc', keys: [1, 'c', null] };
    expect(decodeToken(encodeToken(t))).toEqual(t);
    expect(statusOf(() => decodeToken('not a token!'))).toBe(400);
    expect(statusOf(() => decodeToken(Buffer.from('{"d":"x"}').toString('base64url')))).toBe(400);
  });
  it('adds collection and id as tie-breakers and signs the sort', () => {
    expect(effectiveSort(undefined)).toEqual([
      { field: 'datetime', direction: 'desc' },
      { field: 'collection', direction: 'asc' },
      { field: 'id', direction: 'asc' },
    ]);
    expect(sortSignature(effectiveSort(undefined))).not.toBe(sortSignature(effectiveSort([{ field: 'datetime', direction: 'asc' }])));
  });
  it('builds "strictly after" predicates with bound keys and SQLite NULL ordering', () => {
    const cols = [
      { sql: 'a', params: [], kind: 'value' as const },
      { sql: 'b', params: [], kind: 'value' as const },
    ];
    expect(keysetPredicate(cols, ['desc', 'asc'], [5, 'x'])).toEqual({ sql: '(((a < ? OR a IS NULL)) OR (a IS ? AND b > ?))', params: [5, 5, 'x'] });
    expect(keysetPredicate(cols, ['asc', 'asc'], [null, 'x'])).toEqual({ sql: '((a IS NOT NULL) OR (a IS ? AND b > ?))', params: [null, 'x'] });
    expect(keysetPredicate(cols, ['desc', 'desc'], [null, null]).sql).toBe('0');
  });
});

describe('search parameters', () => {
  it('parses GET and POST forms alike', () => {
    const g = searchParamsFromQuery({ collections: 'a,b', bbox: '-10,-5,10,5', datetime: '2020-01-01T00:00:00Z/..', limit: '5', sortby: '-datetime,+id', fields: 'id,-links' });
    const p = searchParamsFromBody({ collections: ['a', 'b'], bbox: [-10, -5, 10, 5], datetime: '2020-01-01T00:00:00Z/..', limit: 5, sortby: [{ field: 'datetime', direction: 'desc' }, { field: 'id', direction: 'asc' }], fields: { include: ['id'], exclude: ['links'] } });
    expect(g).toEqual(p);
  });
  it('clamps limit to 10000 and rejects non-positive or non-integer limits', () => {
    expect(parseLimit('20000')).toBe(10_000);
    expect(parseLimit(7)).toBe(7);
    for (const bad of ['0', '-1', '1.5', 'ten', 0]) expect(statusOf(() => parseLimit(bad)), String(bad)).toBe(400);
  });
  it('rejects bbox together with intersects, and bad filter-lang or crs', () => {
    expect(statusOf(() => searchParamsFromBody({ bbox: [0, 0, 1, 1], intersects: { type: 'Point', coordinates: [0, 0] } }))).toBe(400);
    expect(statusOf(() => searchParamsFromBody({ filter: {}, 'filter-lang': 'sql' }))).toBe(400);
    expect(statusOf(() => searchParamsFromBody({ filter: {}, 'filter-crs': 'EPSG:3857' }))).toBe(400);
    expect(parseSortby('-a')).toEqual([{ field: 'a', direction: 'desc' }]);
    expect(parseFields('+a,-b')).toEqual({ include: ['a'], exclude: ['b'] });
    expect(parseFields('-b')).toEqual({ exclude: ['b'] });
  });
});

describe('fields', () => {
  const item = { type: 'Feature', stac_version: '1.1.0', id: 'x', bbox: [0, 0, 1, 1], geometry: null, links: [], assets: { a: {} }, collection: 'c', properties: { datetime: 't', gsd: 10, 'eo:cloud_cover': 3 } };
  const { gsd: _g, 'eo:cloud_cover': _c, ...defaultProps } = item.properties;
  it('returns the included fields with type, stac_version, id and links', () => {
    const always = { type: 'Feature', stac_version: '1.1.0', id: 'x', links: [] };
    expect(applyFields(item, { include: ['properties.gsd', 'id'] })).toEqual({ ...always, properties: { gsd: 10 } });
    expect(applyFields(item, parseFields('+geometry,-geometry'))).toEqual({ ...always, geometry: null });
    expect(applyFields(item, parseFields('-properties,+properties.eo:cloud_cover'))).toEqual({ ...always, properties: { 'eo:cloud_cover': 3 } });
    expect(applyFields(item, parseFields('bbox,-links'))).toEqual({ type: 'Feature', stac_version: '1.1.0', id: 'x', bbox: [0, 0, 1, 1] });
  });
  it('excludes from the whole item without include, from the default set with an empty one', () => {
    const { assets: _a, ...noAssets } = item;
    expect(applyFields(item, parseFields('-assets'))).toEqual(noAssets);
    expect(applyFields(item, searchParamsFromBody({ fields: { exclude: ['assets'], include: [] } }).fields)).toEqual({ ...noAssets, properties: defaultProps });
    expect(applyFields(item, searchParamsFromBody({ fields: {} }).fields)).toEqual({ ...item, properties: defaultProps });
    expect(applyFields(item, searchParamsFromQuery({ fields: '' }).fields)).toEqual({ ...item, properties: defaultProps });
    expect(statusOf(() => searchParamsFromBody({ fields: null }))).toBe(400);
    expect(applyFields(item, undefined)).toBe(item);
  });
});

describe('item and collection validation', () => {
  const good = () => ({
    type: 'Feature',
    stac_version: '1.1.0',
    id: 'a',
    collection: 'c',
    geometry: { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]] },
    bbox: [0, 0, 1, 1],
    properties: { datetime: '2020-01-01T00:00:00Z' },
    links: [],
    assets: {},
  });
  it('returns the indexed values of a valid item', () => {
    expect(validateItem(good())).toEqual({ collection: 'c', id: 'a', dt: Date.UTC(2020, 0, 1), start: Date.UTC(2020, 0, 1), end: Date.UTC(2020, 0, 1), bbox: [0, 0, 1, 1] });
    const iv = { ...good(), properties: { datetime: null, start_datetime: '2020-01-01T00:00:00Z', end_datetime: '2020-02-01T00:00:00Z' } };
    expect(validateItem(iv).end).toBe(Date.UTC(2020, 1, 1));
  });
  it('names the problem of invalid items', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...good(), type: 'Fature' }, /"type"/],
      [{ ...good(), id: '' }, /"id"/],
      [{ ...good(), id: 'a/b' }, /"id"/],
      [{ ...good(), bbox: [0, 0, 181, 1] }, /longitude 181/],
      [{ ...good(), properties: { datetime: '2020-13-45T00:00:00Z' } }, /month 13/],
      [{ ...good(), properties: {} }, /datetime is required/],
      [{ ...good(), properties: { datetime: null } }, /start_datetime and end_datetime/],
      [{ ...good(), bbox: undefined }, /bbox/],
      [{ ...good(), geometry: { type: 'Point', coordinates: [0, 95] } }, /latitude 95/],
      [{ ...good(), geometry: { type: 'Point', coordinates: [5, 5] } }, /beyond bbox/],
      [{ ...good(), assets: { a: { title: 'no href' } } }, /href/],
      [{ ...good(), links: [{ href: 'x' }] }, /links\[0\]/],
    ];
    for (const [doc, re] of cases) {
      let msg = '';
      try {
        validateItem(doc);
      } catch (e) {
        msg = (e as Error).message;
        expect((e as CatalogueError).status).toBe(400);
      }
      expect(msg, JSON.stringify(doc).slice(0, 120)).toMatch(re);
    }
    expect(() => validateItem(good(), 'other')).toThrow(/written to collection "other"/);
  });
  it('checks collections', () => {
    const c = { type: 'Collection', stac_version: '1.1.0', id: 'c', description: 'd', license: 'CC-BY-4.0', links: [], extent: { spatial: { bbox: [[-180, -90, 180, 90]] }, temporal: { interval: [['2020-01-01T00:00:00Z', null]] } } };
    expect(() => validateCollection(c)).not.toThrow();
    expect(() => validateCollection({ ...c, extent: { spatial: { bbox: [[-190, -90, 180, 90]] }, temporal: c.extent.temporal } })).toThrow(/longitude -190/);
    expect(() => validateCollection({ ...c, extent: { spatial: c.extent.spatial, temporal: { interval: [['2020-02-30T00:00:00Z', null]] } } })).toThrow(/day 30/);
    expect(() => validateCollection({ ...c, license: undefined })).toThrow(/license/);
  });
});
