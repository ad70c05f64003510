/**
 * CQL2 filters (OGC 21-065): a cql2-text parser producing cql2-json, and the translation of cql2-json
 * into an SQLite WHERE clause in which EVERY literal is a bound parameter (nothing the client sends is
 * spliced into SQL; property names are resolved through a whitelist of queryables).
 * Supported: and/or/not, = <> < <= > >=, like, between, in, isNull, s_intersects (and s_disjoint),
 * t_intersects (and t_disjoint), TIMESTAMP/DATE/INTERVAL literals, WKT and GeoJSON geometries, BBOX.
 */
import { badRequest } from './errors.js';
import { parseRfc3339 } from './datetime.js';
import { bboxGeometry, geometryError, type Geometry } from './geometry.js';

/** A cql2-json expression (loosely typed: checked while translating). */
export type Cql2 = unknown;

// ---------------------------------------------------------------- cql2-text -> cql2-json

type Tok = { t: 'str'; v: string } | { t: 'num'; v: number } | { t: 'id'; v: string } | { t: 'qid'; v: string } | { t: 'op'; v: string };

function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= text.length) throw badRequest('filter: unterminated string literal');
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            s += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += text[i++];
      }
      out.push({ t: 'str', v: s });
      continue;
    }
    if (c === '"') {
      const j = text.indexOf('"', i + 1);
      if (j < 0) throw badRequest('filter: unterminated quoted identifier');
      out.push({ t: 'qid', v: text.slice(i + 1, j) });
      i = j + 1;
      continue;
    }
    const num = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(text.slice(i));
    if (num && (/\d|\./.test(c) || ((c === '-' || c === '+') && /[\d.]/.test(text[i + 1] ?? '')))) {
      out.push({ t: 'num', v: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_:.\-]*/.exec(text.slice(i));
    if (id) {
      out.push({ t: 'id', v: id[0] });
      i += id[0].length;
      continue;
    }
    const op = /^(<>|!=|<=|>=|=|<|>|\(|\)|,|\[|\])/.exec(text.slice(i));
    if (op) {
      out.push({ t: 'op', v: op[0] === '!=' ? '<>' : op[0] });
      i += op[0].length;
      continue;
    }
    throw badRequest(`filter: unexpected character ${JSON.stringify(c)} at position ${i}`);
  }
  return out;
}

const WKT_DEPTH: Record<string, [string, number]> = {
  POINT: ['Point', 0],
  LINESTRING: ['LineString', 1],
  POLYGON: ['Polygon', 2],
  MULTIPOINT: ['MultiPoint', 1],
  MULTILINESTRING: ['MultiLineString', 2],
  MULTIPOLYGON: ['MultiPolygon', 3],
};

const SPATIAL = new Set(['s_intersects', 's_disjoint']);
const TEMPORAL = new Set(['t_intersects', 't_disjoint']);
const COMPARISON: Record<string, string> = { '=': '=', '<>': '<>', '<': '<', '<=': '<=', '>': '>', '>=': '>=' };

class TextParser {
  private i = 0;
  constructor(private readonly toks: Tok[]) {}

  private peek(): Tok | undefined {
    return this.toks[this.i];
  }
  private kw(word: string): boolean {
    const t = this.peek();
    if (t?.t === 'id' && t.v.toUpperCase() === word) {
      this.i++;
      return true;
    }
    return false;
  }
  private isKw(word: string, offset = 0): boolean {
    const t = this.toks[this.i + offset];
    return t?.t === 'id' && t.v.toUpperCase() === word;
  }
  private op(v: string): boolean {
    const t = this.peek();
    if (t?.t === 'op' && t.v === v) {
      this.i++;
      return true;
    }
    return false;
  }
  private expect(v: string): void {
    if (!this.op(v)) throw badRequest(`filter: expected "${v}" ${this.where()}`);
  }
  private where(): string {
    const t = this.peek();
    return t ? `near ${JSON.stringify(String(t.v))} (token ${this.i + 1})` : 'at the end';
  }

  parse(): Cql2 {
    if (this.toks.length === 0) throw badRequest('filter: empty expression');
    const e = this.or();
    if (this.i < this.toks.length) throw badRequest(`filter: unexpected ${this.where()}`);
    return e;
  }
  private or(): Cql2 {
    const args = [this.and()];
    while (this.kw('OR')) args.push(this.and());
    return args.length === 1 ? args[0] : { op: 'or', args };
  }
  private and(): Cql2 {
    const args = [this.not()];
    while (this.kw('AND')) args.push(this.not());
    return args.length === 1 ? args[0] : { op: 'and', args };
  }
  private not(): Cql2 {
    if (this.kw('NOT')) return { op: 'not', args: [this.not()] };
    return this.predicate();
  }
  private predicate(): Cql2 {
    const t = this.peek();
    if (t?.t === 'op' && t.v === '(') {
      // A parenthesised boolean expression.
      this.i++;
      const e = this.or();
      this.expect(')');
      return e;
    }
    const left = this.scalar();
    const n = this.peek();
    if (n?.t === 'op' && COMPARISON[n.v]) {
      this.i++;
      return { op: COMPARISON[n.v], args: [left, this.scalar()] };
    }
    if (this.kw('IS')) {
      const neg = this.kw('NOT');
      if (!this.kw('NULL')) throw badRequest(`filter: expected NULL after IS ${this.where()}`);
      const e = { op: 'isNull', args: [left] };
      return neg ? { op: 'not', args: [e] } : e;
    }
    const neg = this.kw('NOT');
    let e: Cql2;
    if (this.kw('LIKE')) e = { op: 'like', args: [left, this.scalar()] };
    else if (this.kw('BETWEEN')) {
      const lo = this.scalar();
      if (!this.kw('AND')) throw badRequest(`filter: expected AND in BETWEEN ${this.where()}`);
      e = { op: 'between', args: [left, lo, this.scalar()] };
    } else if (this.kw('IN')) {
      this.expect('(');
      const list = [this.scalar()];
      while (this.op(',')) list.push(this.scalar());
      this.expect(')');
      e = { op: 'in', args: [left, list] };
    } else {
      if (neg) throw badRequest(`filter: expected LIKE, BETWEEN or IN after NOT ${this.where()}`);
      // A bare boolean value or function call used as a predicate.
      return left;
    }
    return neg ? { op: 'not', args: [e] } : e;
  }
  private scalar(): Cql2 {
    const t = this.peek();
    if (!t) throw badRequest('filter: unexpected end of expression');
    this.i++;
    if (t.t === 'str' || t.t === 'num') return t.v;
    if (t.t === 'qid') return { property: t.v };
    if (t.t === 'op') {
      if (t.v === '(') {
        const e = this.scalar();
        this.expect(')');
        return e;
      }
      throw badRequest(`filter: unexpected "${t.v}" (token ${this.i})`);
    }
    const word = t.v.toUpperCase();
    if (word === 'TRUE') return true;
    if (word === 'FALSE') return false;
    if (word === 'NULL') throw badRequest('filter: NULL is only allowed in "IS NULL"');
    const call = this.peek()?.t === 'op' && this.peek()?.v === '(';
    if (!call) return { property: t.v };
    if (word === 'TIMESTAMP' || word === 'DATE') {
      this.expect('(');
      const s = this.peek();
      if (s?.t !== 'str') throw badRequest(`filter: ${word}() needs a string ${this.where()}`);
      this.i++;
      this.expect(')');
      return word === 'TIMESTAMP' ? { timestamp: s.v } : { date: s.v };
    }
    if (word === 'INTERVAL') {
      this.expect('(');
      const a = this.scalar();
      this.expect(',');
      const b = this.scalar();
      this.expect(')');
      return { interval: [a, b] };
    }
    if (word === 'BBOX' || word === 'ENVELOPE') {
      this.expect('(');
      const nums = [this.number()];
      while (this.op(',')) nums.push(this.number());
      this.expect(')');
      return { bbox: nums };
    }
    if (WKT_DEPTH[word]) {
      const [type, depth] = WKT_DEPTH[word];
      return { type, coordinates: this.wkt(depth, word === 'MULTIPOINT') };
    }
    if (word === 'GEOMETRYCOLLECTION') {
      this.expect('(');
      const gs = [this.scalar()];
      while (this.op(',')) gs.push(this.scalar());
      this.expect(')');
      return { type: 'GeometryCollection', geometries: gs };
    }
    // Any other function: s_intersects, t_intersects, ... with comma-separated arguments.
    this.expect('(');
    const args: Cql2[] = [];
    if (!this.op(')')) {
      args.push(this.scalar());
      while (this.op(',')) args.push(this.scalar());
      this.expect(')');
    }
    return { op: t.v.toLowerCase(), args };
  }
  private number(): number {
    const t = this.peek();
    if (t?.t !== 'num') throw badRequest(`filter: expected a number ${this.where()}`);
    this.i++;
    return t.v;
  }
  /** WKT coordinates of a given nesting depth (0 = one position "x y"). */
  private wkt(depth: number, multipoint = false): unknown {
    if (depth === 0) {
      const paren = this.op('(');
      const pos = [this.number(), this.number()];
      if (this.peek()?.t === 'num') pos.push(this.number());
      if (paren) this.expect(')');
      return pos;
    }
    this.expect('(');
    const list = [this.wkt(depth - 1, multipoint)];
    while (this.op(',')) list.push(this.wkt(depth - 1, multipoint));
    this.expect(')');
    return list;
  }
}

/** Parses a cql2-text filter into its cql2-json form; a 400 CatalogueError saying where it fails. */
export function parseCql2Text(text: string): Cql2 {
  return new TextParser(tokenize(text)).parse();
}

// ---------------------------------------------------------------- cql2-json -> SQL

/** How a property is read in SQL. */
export interface PropertyColumn {
  /** SQL expression; may contain `?` placeholders whose values are `params`. */
  readonly sql: string;
  readonly params: readonly unknown[];
  /** `time`: epoch-ms column; `geometry`: GeoJSON text; `value`: anything else. */
  readonly kind: 'time' | 'geometry' | 'value';
  /** The stored values are numbers: numeric strings compared with it are compared as numbers. */
  readonly numeric?: boolean;
}

/** Resolves a property name (throws a 400 CatalogueError for unknown ones). */
export type PropertyResolver = (name: string) => PropertyColumn;

/** SQL text and its bound parameters. */
export interface SqlFragment {
  readonly sql: string;
  readonly params: unknown[];
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function timeOf(v: unknown): number | null {
  let text: string | null = null;
  if (isObj(v) && typeof v.timestamp === 'string') text = v.timestamp;
  else if (isObj(v) && typeof v.date === 'string') {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(v.date)) throw badRequest(`filter: DATE ${JSON.stringify(v.date)} is not YYYY-MM-DD`);
    text = `${v.date}T00:00:00Z`;
  } else if (typeof v === 'string') text = v;
  if (text === null) return null;
  const r = parseRfc3339(text);
  if (typeof r === 'string') throw badRequest(`filter: ${r}`);
  return r;
}

/** Converts a CQL2 LIKE pattern (% and _ wildcards, \ escapes) into a case-sensitive SQLite GLOB pattern. */
export function likeToGlob(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) {
      const n = pattern[++i];
      out += n === '*' || n === '?' || n === '[' ? `[${n}]` : n;
    } else if (c === '%') out += '*';
    else if (c === '_') out += '?';
    else if (c === '*' || c === '?' || c === '[') out += `[${c}]`;
    else out += c;
  }
  return out;
}

/** The geometry of a CQL2 spatial literal (GeoJSON, or `{bbox: [...]}`); a 400 CatalogueError when invalid. */
export function spatialLiteral(v: unknown): Geometry {
  if (isObj(v) && Array.isArray(v.bbox)) {
    const b = v.bbox as unknown[];
    if ((b.length !== 4 && b.length !== 6) || !b.every((x) => typeof x === 'number')) throw badRequest('filter: BBOX needs 4 or 6 numbers');
    const n = b as number[];
    return bboxGeometry(n.length === 6 ? [n[0], n[1], n[3], n[4]] : [n[0], n[1], n[2], n[3]]);
  }
  const e = geometryError(v, 'filter geometry');
  if (e) throw badRequest(`filter: ${e}`);
  return v as Geometry;
}

class SqlBuilder {
  readonly params: unknown[] = [];
  constructor(private readonly resolve: PropertyResolver) {}

  bool(e: Cql2): string {
    if (typeof e === 'boolean') {
      this.params.push(e ? 1 : 0);
      return '(? = 1)';
    }
    if (!isObj(e) || typeof e.op !== 'string' || !Array.isArray(e.args)) {
      if (isObj(e) && typeof e.property === 'string') {
        const col = this.column(e.property);
        return `(${this.emit(col)} = 1)`;
      }
      throw badRequest(`filter: expected a predicate ({"op": ..., "args": [...]}), got ${JSON.stringify(e).slice(0, 100)}`);
    }
    const op = e.op.toLowerCase();
    const args = e.args as Cql2[];
    const arity = (n: number) => {
      if (args.length !== n) throw badRequest(`filter: "${e.op}" takes ${n} argument${n > 1 ? 's' : ''}, got ${args.length}`);
    };
    switch (op) {
      case 'and':
      case 'or':
        if (args.length < 1) throw badRequest(`filter: "${op}" needs arguments`);
        return `(${args.map((a) => this.bool(a)).join(op === 'and' ? ' AND ' : ' OR ')})`;
      case 'not':
        arity(1);
        return `(NOT ${this.bool(args[0])})`;
      case '=':
      case '<>':
      case '<':
      case '<=':
      case '>':
      case '>=': {
        arity(2);
        const [a, b] = this.pair(args[0], args[1]);
        return `(${a} ${op} ${b})`;
      }
      case 'like': {
        arity(2);
        const left = this.scalar(args[0], 'value');
        if (typeof args[1] !== 'string') throw badRequest('filter: the pattern of "like" must be a string');
        this.params.push(likeToGlob(args[1]));
        return `(${left} GLOB ?)`;
      }
      case 'between': {
        const bounds = args.length === 2 && Array.isArray(args[1]) ? (args[1] as Cql2[]) : args.slice(1);
        if (bounds.length !== 2) throw badRequest('filter: "between" takes a value and two bounds');
        const kind = this.kindOf(args[0]);
        const num = this.numeric(args[0]);
        const v = this.scalar(args[0], kind);
        const lo = this.scalar(bounds[0], kind, num);
        const hi = this.scalar(bounds[1], kind, num);
        return `(${v} BETWEEN ${lo} AND ${hi})`;
      }
      case 'in': {
        arity(2);
        if (!Array.isArray(args[1]) || args[1].length === 0) throw badRequest('filter: "in" needs a non-empty list');
        const kind = this.kindOf(args[0]);
        const num = this.numeric(args[0]);
        const v = this.scalar(args[0], kind);
        const list = (args[1] as Cql2[]).map((x) => this.scalar(x, kind, num));
        return `(${v} IN (${list.join(', ')}))`;
      }
      case 'isnull':
        arity(1);
        return `(${this.scalar(args[0], 'value')} IS NULL)`;
      case 's_intersects':
      case 's_disjoint': {
        arity(2);
        const sql = this.spatial(args[0], args[1]);
        return op === 's_intersects' ? sql : `(NOT ${sql})`;
      }
      case 't_intersects':
      case 't_disjoint': {
        arity(2);
        const sql = this.temporal(args[0], args[1]);
        return op === 't_intersects' ? sql : `(NOT ${sql})`;
      }
      default:
        throw badRequest(`filter: operator "${e.op}" is not supported (supported: and, or, not, =, <>, <, <=, >, >=, like, between, in, isNull, s_intersects, s_disjoint, t_intersects, t_disjoint)`);
    }
  }

  private column(name: string): PropertyColumn {
    return this.resolve(name.startsWith('properties.') ? name.slice('properties.'.length) : name);
  }

  private emit(col: PropertyColumn): string {
    this.params.push(...col.params);
    return col.sql;
  }

  private kindOf(e: Cql2): PropertyColumn['kind'] | 'literal' {
    if (isObj(e) && typeof e.property === 'string') return this.column(e.property).kind;
    return 'literal';
  }

  private numeric(e: Cql2): boolean {
    return isObj(e) && typeof e.property === 'string' && this.column(e.property).numeric === true;
  }

  private pair(a: Cql2, b: Cql2): [string, string] {
    const ka = this.kindOf(a);
    const kb = this.kindOf(b);
    const target = ka === 'time' || kb === 'time' ? 'time' : 'value';
    const num = this.numeric(a) || this.numeric(b);
    return [this.scalar(a, target, num), this.scalar(b, target, num)];
  }

  /** An operand; literals compared with a time column become epoch milliseconds. */
  private scalar(e: Cql2, peer: PropertyColumn['kind'] | 'literal', numeric = false): string {
    if (isObj(e) && typeof e.property === 'string') {
      const col = this.column(e.property);
      if (col.kind === 'geometry') throw badRequest(`filter: "${e.property}" is a geometry; use s_intersects`);
      return this.emit(col);
    }
    if (peer === 'time') {
      const t = timeOf(e);
      if (t === null) throw badRequest(`filter: a time property is compared with ${JSON.stringify(e).slice(0, 80)}, which is not a timestamp`);
      this.params.push(t);
      return '?';
    }
    if (isObj(e) && (typeof e.timestamp === 'string' || typeof e.date === 'string')) {
      this.params.push(new Date(timeOf(e) as number).toISOString());
      return '?';
    }
    if (numeric && typeof e === 'string' && /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(e)) {
      this.params.push(Number(e));
      return '?';
    }
    if (typeof e === 'string' || typeof e === 'number') {
      this.params.push(e);
      return '?';
    }
    if (typeof e === 'boolean') {
      this.params.push(e ? 1 : 0);
      return '?';
    }
    if (isObj(e) && typeof e.op === 'string') throw badRequest(`filter: function "${e.op}" is not supported as a value`);
    throw badRequest(`filter: unsupported operand ${JSON.stringify(e).slice(0, 80)}`);
  }

  private spatial(a: Cql2, b: Cql2): string {
    const side = (e: Cql2): string => {
      if (isObj(e) && typeof e.property === 'string') {
        const col = this.column(e.property);
        if (col.kind !== 'geometry') throw badRequest(`filter: "${e.property}" is not a geometry property`);
        return this.emit(col);
      }
      this.params.push(JSON.stringify(spatialLiteral(e)));
      return '?';
    };
    const sa = side(a);
    const sb = side(b);
    return `(stac_intersects(${sa}, ${sb}) = 1)`;
  }

  private temporal(a: Cql2, b: Cql2): string {
    // Each side is an interval [start, end] in epoch ms: datetime is the item's (start_dt, end_dt),
    // another time property its column; a literal is a timestamp, a date or an interval with ".." ends.
    type End = { sql: string; params: unknown[] };
    const side = (e: Cql2): [End, End] => {
      if (isObj(e) && typeof e.property === 'string') {
        const name = e.property.replace(/^properties\./, '');
        const col = this.column(name);
        if (col.kind !== 'time') throw badRequest(`filter: "${e.property}" is not a time property`);
        if (name === 'datetime') return [{ sql: 'items.start_dt', params: [] }, { sql: 'items.end_dt', params: [] }];
        return [{ sql: col.sql, params: [...col.params] }, { sql: col.sql, params: [...col.params] }];
      }
      if (isObj(e) && Array.isArray(e.interval)) {
        if (e.interval.length !== 2) throw badRequest('filter: INTERVAL needs a start and an end');
        const ends = (e.interval as Cql2[]).map((x, i) => (x === '..' ? (i === 0 ? -8.64e15 : 8.64e15) : timeOf(x)));
        if (ends.some((x) => x === null)) throw badRequest('filter: INTERVAL ends must be timestamps, dates or ".."');
        if ((ends[0] as number) > (ends[1] as number)) throw badRequest('filter: INTERVAL ends before it starts');
        return [{ sql: '?', params: [ends[0]] }, { sql: '?', params: [ends[1]] }];
      }
      const t = timeOf(e);
      if (t === null) throw badRequest(`filter: ${JSON.stringify(e).slice(0, 80)} is not a temporal value`);
      return [{ sql: '?', params: [t] }, { sql: '?', params: [t] }];
    };
    const [as, ae] = side(a);
    const [bs, be] = side(b);
    // Parameters are pushed in the order their placeholders appear in the SQL text.
    this.params.push(...as.params, ...be.params, ...ae.params, ...bs.params);
    return `(${as.sql} <= ${be.sql} AND ${ae.sql} >= ${bs.sql})`;
  }
}

/** Translates a cql2-json filter into an SQL boolean expression with bound parameters. */
export function cql2ToSql(filter: Cql2, resolve: PropertyResolver): SqlFragment {
  const b = new SqlBuilder(resolve);
  const sql = b.bool(filter);
  return { sql, params: b.params };
}
