/**
 * RFC 3339 date-times and STAC datetime intervals, with real calendar checks (`2020-13-45` and
 * `2021-02-29` fail). Instants become epoch milliseconds; intervals may be open (`..` or empty).
 */
import { badRequest } from './errors.js';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|([+-])(\d{2}):(\d{2}))$/;

/** Days in a month of a year (proleptic Gregorian). */
function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Parses an RFC 3339 date-time into epoch milliseconds, or returns an error message saying what is wrong. */
export function parseRfc3339(text: string): number | string {
  const m = RFC3339.exec(text);
  if (!m) return `"${text}" is not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm))`;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (month < 1 || month > 12) return `"${text}": month ${m[2]} is not 01-12`;
  if (day < 1 || day > daysInMonth(year, month)) return `"${text}": day ${m[3]} does not exist in ${m[1]}-${m[2]}`;
  if (hour > 23) return `"${text}": hour ${m[4]} is not 00-23`;
  if (minute > 59) return `"${text}": minute ${m[5]} is not 00-59`;
  if (second > 60) return `"${text}": second ${m[6]} is not 00-60`;
  let offsetMin = 0;
  if (m[9]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return `"${text}": time zone offset ${m[9]}${m[10]}:${m[11]} is out of range`;
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const frac = m[7] ? Number(`0.${m[7]}`) : 0;
  // A leap second (:60) counts as the last millisecond of its minute.
  const ms = second === 60 ? 59_999 : second * 1000 + Math.floor(frac * 1000);
  return Date.UTC(year, month - 1, day, hour, minute, 0, ms) - offsetMin * 60_000;
}

/** Parses an RFC 3339 date-time into epoch milliseconds; a 400 CatalogueError naming `what` when invalid. */
export function parseInstant(text: string, what = 'datetime'): number {
  const r = parseRfc3339(text);
  if (typeof r === 'string') throw badRequest(`${what}: ${r}`);
  return r;
}

/** A closed or half-open time interval in epoch milliseconds (null = open end). */
export interface TimeInterval {
  readonly start: number | null;
  readonly end: number | null;
}

/** Parses a STAC `datetime` search value: an instant, or an interval `a/b` with `..` or empty for open ends. */
export function parseDatetimeParam(text: string): TimeInterval {
  const value = text.trim();
  if (value === '') throw badRequest('datetime: empty value');
  const parts = value.split('/');
  if (parts.length === 1) {
    const t = parseInstant(parts[0]);
    return { start: t, end: t };
  }
  if (parts.length !== 2) throw badRequest(`datetime: "${text}" is neither an instant nor an interval start/end`);
  const open = (p: string) => p === '' || p === '..';
  if (open(parts[0]) && open(parts[1])) throw badRequest(`datetime: "${text}" is open at both ends`);
  const start = open(parts[0]) ? null : parseInstant(parts[0], 'datetime start');
  const end = open(parts[1]) ? null : parseInstant(parts[1], 'datetime end');
  if (start !== null && end !== null && start > end) throw badRequest(`datetime: "${text}" ends before it starts`);
  return { start, end };
}

/** The ISO form (UTC, milliseconds) of epoch milliseconds. */
export function isoString(ms: number): string {
  return new Date(ms).toISOString();
}
