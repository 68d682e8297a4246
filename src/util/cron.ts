// CronJob schedules as Kubernetes reads them: github.com/robfig/cron/v3's ParseStandard (five
// fields: minute hour day-of-month month day-of-week; `*`, `?`, lists, ranges, steps, month and
// weekday names; the @yearly/@annually/@monthly/@weekly/@daily/@midnight/@hourly descriptors and
// `@every <duration>`; an optional `TZ=`/`CRON_TZ=` prefix), with its error messages, and the
// time zones Go's time.LoadLocation accepts.
//
// Parsing (and so validation and its messages) is ours, to match the Go library exactly; the
// next activation of a five-field schedule in a time zone (daylight-saving gaps and repeats) is
// computed by the `cron-parser` library from the parsed fields, written out explicitly, so that
// the day-of-month/day-of-week rule is robfig's: when either field is `*` or `?` both must
// match, otherwise either may.
import { CronExpressionParser } from 'cron-parser';

/** A parsed schedule. Times are milliseconds since the epoch. */
export interface CronSchedule {
  /** The first activation strictly after `after` (robfig's Next), or undefined when there is
   *  none (a schedule that never fires, such as `0 0 31 2 *`). */
  next(after: number): number | undefined;
}

export type ScheduleParse = { ok: true; schedule: CronSchedule } | { ok: false; error: string };

interface Bounds {
  min: number;
  max: number;
  names?: Record<string, number>;
}

const MINUTES: Bounds = { min: 0, max: 59 };
const HOURS: Bounds = { min: 0, max: 23 };
const DOM: Bounds = { min: 1, max: 31 };
const MONTHS: Bounds = {
  min: 1,
  max: 12,
  names: { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 },
};
const DOW: Bounds = { min: 0, max: 6, names: { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 } };

/** One field: the values it allows and whether it was written as `*`/`?` (robfig's starBit). */
interface FieldSet {
  values: Set<number>;
  star: boolean;
}

class ParseError extends Error {}

/** Go's strconv.Atoi wording. */
function atoi(s: string): number {
  if (!/^[+-]?[0-9]+$/.test(s)) throw new ParseError(`failed to parse int from ${s}: strconv.Atoi: parsing ${JSON.stringify(s)}: invalid syntax`);
  const n = Number(s);
  if (!Number.isSafeInteger(n) || Math.abs(n) > 2 ** 63) throw new ParseError(`failed to parse int from ${s}: strconv.Atoi: parsing ${JSON.stringify(s)}: value out of range`);
  return n;
}

function mustParseInt(s: string): number {
  const n = atoi(s);
  if (n < 0) throw new ParseError(`negative number (${n}) not allowed: ${s}`);
  return n;
}

function parseIntOrName(s: string, names: Record<string, number> | undefined): number {
  const named = names?.[s.toLowerCase()];
  return named !== undefined ? named : mustParseInt(s);
}

/** robfig's getRange for one comma-separated part. */
function getRange(expr: string, r: Bounds, into: FieldSet): void {
  const rangeAndStep = expr.split('/');
  const lowAndHigh = rangeAndStep[0].split('-');
  const singleDigit = lowAndHigh.length === 1;
  let start: number;
  let end: number;
  let star = false;
  if (lowAndHigh[0] === '*' || lowAndHigh[0] === '?') {
    start = r.min;
    end = r.max;
    star = true;
  } else {
    start = parseIntOrName(lowAndHigh[0], r.names);
    if (lowAndHigh.length === 1) end = start;
    else if (lowAndHigh.length === 2) end = parseIntOrName(lowAndHigh[1], r.names);
    else throw new ParseError(`too many hyphens: ${expr}`);
  }
  let step = 1;
  if (rangeAndStep.length === 2) {
    step = mustParseInt(rangeAndStep[1]);
    if (singleDigit) end = r.max; // "N/step" means "N-max/step"
    if (step > 1) star = false;
  } else if (rangeAndStep.length > 2) {
    throw new ParseError(`too many slashes: ${expr}`);
  }
  if (start < r.min) throw new ParseError(`beginning of range (${start}) below minimum (${r.min}): ${expr}`);
  if (end > r.max) throw new ParseError(`end of range (${end}) above maximum (${r.max}): ${expr}`);
  if (start > end) throw new ParseError(`beginning of range (${start}) beyond end of range (${end}): ${expr}`);
  if (step === 0) throw new ParseError(`step of range should be a positive number: ${expr}`);
  for (let v = start; v <= end; v += step) into.values.add(v);
  if (star) into.star = true;
}

function getField(field: string, r: Bounds): FieldSet {
  const set: FieldSet = { values: new Set(), star: false };
  for (const part of field.split(',').filter((p) => p !== '')) getRange(part, r, set);
  return set;
}

function all(r: Bounds): FieldSet {
  const values = new Set<number>();
  for (let v = r.min; v <= r.max; v++) values.add(v);
  return { values, star: true };
}

function only(v: number): FieldSet {
  return { values: new Set([v]), star: false };
}

interface Fields {
  minute: FieldSet;
  hour: FieldSet;
  dom: FieldSet;
  month: FieldSet;
  dow: FieldSet;
}

/** A field written out for cron-parser: `*` for the full range, otherwise the explicit list. */
function written(f: FieldSet, r: Bounds, starMeansAny: boolean): string {
  if (starMeansAny) return f.star ? '*' : [...f.values].sort((a, b) => a - b).join(',');
  return f.values.size === r.max - r.min + 1 ? '*' : [...f.values].sort((a, b) => a - b).join(',');
}

class SpecSchedule implements CronSchedule {
  private readonly expression: string;
  constructor(
    fields: Fields,
    private readonly zone: string,
  ) {
    this.expression = [
      '0',
      written(fields.minute, MINUTES, false),
      written(fields.hour, HOURS, false),
      written(fields.dom, DOM, true),
      written(fields.month, MONTHS, false),
      written(fields.dow, DOW, true),
    ].join(' ');
  }
  next(after: number): number | undefined {
    try {
      // robfig starts at the upcoming whole second.
      const from = Math.floor(after / 1000) * 1000;
      const expr = CronExpressionParser.parse(this.expression, { currentDate: new Date(from), tz: this.zone });
      const t = expr.next().getTime();
      return t > after ? t : undefined;
    } catch {
      return undefined;
    }
  }
}

/** `@every <duration>`: the previous activation (truncated to the second) plus the delay. */
class EverySchedule implements CronSchedule {
  constructor(private readonly delayMs: number) {}
  next(after: number): number {
    return Math.floor(after / 1000) * 1000 + this.delayMs;
  }
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in milliseconds. */
export function parseGoDuration(s: string): number | undefined {
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let total = 0;
  while (rest !== '') {
    const m = /^([0-9]*(?:\.[0-9]*)?)([a-zµμ]+)/.exec(rest);
    if (!m || m[1] === '' || m[1] === '.') return undefined;
    const unit = DURATION_UNITS[m[2]];
    if (unit === undefined) return undefined;
    total += Number(m[1]) * unit;
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}

function parseDescriptor(descriptor: string, zone: string): CronSchedule {
  const spec = (fields: Partial<Fields>): CronSchedule =>
    new SpecSchedule({ minute: only(0), hour: only(0), dom: all(DOM), month: all(MONTHS), dow: all(DOW), ...fields }, zone);
  switch (descriptor) {
    case '@yearly':
    case '@annually':
      return spec({ dom: only(1), month: only(1) });
    case '@monthly':
      return spec({ dom: only(1) });
    case '@weekly':
      return spec({ dow: only(0) });
    case '@daily':
    case '@midnight':
      return spec({});
    case '@hourly':
      return spec({ hour: all(HOURS) });
  }
  const every = '@every ';
  if (descriptor.startsWith(every)) {
    const d = parseGoDuration(descriptor.slice(every.length));
    if (d === undefined) throw new ParseError(`failed to parse duration ${descriptor}: time: invalid duration ${JSON.stringify(descriptor.slice(every.length))}`);
    const delay = Math.max(1000, d - (d % 1000));
    return new EverySchedule(delay);
  }
  throw new ParseError(`unrecognized descriptor: ${descriptor}`);
}

/** Go's %s of a []string: `[a b c]`. */
function goList(items: string[]): string {
  return `[${items.join(' ')}]`;
}

/**
 * robfig/cron's ParseStandard. `zone` is the time zone a schedule without a TZ= prefix runs in
 * (the CronJob's spec.timeZone, or the controller's local zone).
 */
export function parseStandard(schedule: string, zone: string): ScheduleParse {
  try {
    let spec = schedule;
    let loc = zone;
    if (spec === '') throw new ParseError('empty spec string');
    if (spec.startsWith('TZ=') || spec.startsWith('CRON_TZ=')) {
      const i = spec.indexOf(' ');
      const eq = spec.indexOf('=');
      const name = i < 0 ? spec.slice(eq + 1) : spec.slice(eq + 1, i);
      const err = loadLocationError(name);
      if (err !== undefined || i < 0) throw new ParseError(`provided bad location ${name}: ${err ?? 'missing schedule'}`);
      loc = name === '' ? 'UTC' : name;
      spec = spec.slice(i).trim();
    }
    if (spec.startsWith('@')) return { ok: true, schedule: parseDescriptor(spec, loc) };
    const fields = spec.split(/\s+/).filter((f) => f !== '');
    if (fields.length !== 5) throw new ParseError(`expected exactly 5 fields, found ${fields.length}: ${goList(fields)}`);
    const parsed: Fields = {
      minute: getField(fields[0], MINUTES),
      hour: getField(fields[1], HOURS),
      dom: getField(fields[2], DOM),
      month: getField(fields[3], MONTHS),
      dow: getField(fields[4], DOW),
    };
    return { ok: true, schedule: new SpecSchedule(parsed, loc) };
  } catch (e) {
    if (e instanceof ParseError) return { ok: false, error: e.message };
    throw e;
  }
}

const VALID_ZONE_PART = /^[A-Za-z.\-_0-9+]{1,14}$/;

/**
 * Why Go's time.LoadLocation refuses a zone name (`unknown time zone X`), or undefined when it
 * loads it. "" and "UTC" are UTC; names are IANA names, case-sensitive.
 */
export function loadLocationError(name: string): string | undefined {
  if (name === '' || name === 'UTC' || name === 'Local') return undefined;
  const unknown = `unknown time zone ${name}`;
  if (name.split('/').some((p) => !/^[A-Z]/.test(p))) return unknown;
  try {
    const resolved = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
    // Intl ignores case; the tz database does not.
    if (resolved !== name && resolved.toLowerCase() === name.toLowerCase()) return unknown;
    return undefined;
  } catch {
    return unknown;
  }
}

/**
 * The causes Kubernetes' validateTimeZone gives for spec.timeZone (messages only; the caller
 * names the field): empty, characters no zone name has, `Local`, or a zone Go cannot load.
 */
export function timeZoneErrors(tz: string): string[] {
  if (tz === '') return ['timeZone must be nil or non-empty string'];
  for (const part of tz.split('/')) {
    if (part === '.' || part === '..' || part.startsWith('-') || !VALID_ZONE_PART.test(part)) return [`unknown time zone ${tz}`];
  }
  if (tz.toLowerCase() === 'local') return ['timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones'];
  const err = loadLocationError(tz);
  return err === undefined ? [] : [err];
}

/** The zone this process runs in (what Kubernetes' controller manager calls time.Local). */
export function localTimeZone(): string {
  return new Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** The UTC offset of a zone at an instant, in minutes. */
export function zoneOffsetMinutes(ms: number, zone: string): number {
  if (zone === 'UTC' || zone === '') return 0;
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(ms));
  const get = (t: string): number => Number(parts.find((p) => p.type === t)?.value ?? '0');
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return Math.round((wall - Math.floor(ms / 1000) * 1000) / 60_000);
}

/** Go's time.Format(time.RFC3339) of an instant in a zone: `2024-01-02T03:04:05+01:00` (`Z` for
 *  a zero offset). */
export function formatRFC3339InZone(ms: number, zone: string): string {
  const off = zoneOffsetMinutes(ms, zone);
  const d = new Date(Math.floor(ms / 1000) * 1000 + off * 60_000);
  const base = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  if (off === 0) return `${base}Z`;
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  return `${base}${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

/** Go's time.RFC1123Z of an instant in UTC: `Mon, 02 Jan 2006 15:04:05 +0000`. */
export function formatRFC1123Z(ms: number): string {
  const d = new Date(ms);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  return `${days[d.getUTCDay()]}, ${pad(d.getUTCDate())} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}
