// CronJob schedules: robfig/cron's standard parser (what Kubernetes validates and schedules
// with) — its grammar, its error messages, the day-of-month/day-of-week rule — next activations
// in time zones across daylight-saving changes, and the zone names Go loads.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatRFC1123Z,
  formatRFC3339InZone,
  loadLocationError,
  parseGoDuration,
  parseStandard,
  timeZoneErrors,
  type CronSchedule,
} from '../../src/util/cron.ts';

const at = (s: string): number => Date.parse(s);
const iso = (ms: number | undefined): string => (ms === undefined ? 'never' : new Date(ms).toISOString().replace('.000Z', 'Z'));

function sched(spec: string, zone = 'UTC'): CronSchedule {
  const r = parseStandard(spec, zone);
  if (!r.ok) throw new Error(r.error);
  return r.schedule;
}

function nexts(spec: string, from: string, n: number, zone = 'UTC'): string[] {
  const s = sched(spec, zone);
  const out: string[] = [];
  let t: number | undefined = at(from);
  for (let i = 0; i < n && t !== undefined; i++) {
    t = s.next(t);
    out.push(iso(t));
  }
  return out;
}

describe('cron schedule parsing (robfig/cron ParseStandard)', () => {
  it('refuses what Kubernetes refuses, with the parser’s own message', () => {
    const cases: [string, string][] = [
      ['', 'empty spec string'],
      ['nonsense', 'expected exactly 5 fields, found 1: [nonsense]'],
      ['* * * *', 'expected exactly 5 fields, found 4: [* * * *]'],
      ['0 * * * * *', 'expected exactly 5 fields, found 6: [0 * * * * *]'],
      ['61 * * * *', 'end of range (61) above maximum (59): 61'],
      ['* 24 * * *', 'end of range (24) above maximum (23): 24'],
      ['* * 0 * *', 'beginning of range (0) below minimum (1): 0'],
      ['* * * 13 *', 'end of range (13) above maximum (12): 13'],
      ['* * * * 7', 'end of range (7) above maximum (6): 7'],
      ['5-1 * * * *', 'beginning of range (5) beyond end of range (1): 5-1'],
      ['*/0 * * * *', 'step of range should be a positive number: */0'],
      ['1-2-3 * * * *', 'too many hyphens: 1-2-3'],
      ['*/2/3 * * * *', 'too many slashes: */2/3'],
      ['foo * * * *', 'failed to parse int from foo: strconv.Atoi: parsing "foo": invalid syntax'],
      ['L * * * *', 'failed to parse int from L: strconv.Atoi: parsing "L": invalid syntax'],
      ['@fortnightly', 'unrecognized descriptor: @fortnightly'],
      ['@every soon', 'failed to parse duration @every soon: time: invalid duration "soon"'],
    ];
    for (const [spec, message] of cases) assert.deepEqual(parseStandard(spec, 'UTC'), { ok: false, error: message }, spec);
  });

  it('accepts lists, ranges, steps, names, ? and the descriptors', () => {
    for (const spec of ['*/1 * * * *', '0,15,30,45 * * * *', '0 9-17/2 * * MON-FRI', '0 0 ? JAN,jul sun', '0 0 31 2 *', '@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly', '@every 1h30m']) {
      assert.equal(parseStandard(spec, 'UTC').ok, true, spec);
    }
  });

  it('next activations: strictly after the given time, whole minutes', () => {
    assert.deepEqual(nexts('*/1 * * * *', '2024-01-01T10:00:00Z', 2), ['2024-01-01T10:01:00Z', '2024-01-01T10:02:00Z']);
    assert.deepEqual(nexts('*/1 * * * *', '2024-01-01T10:00:30.500Z', 1), ['2024-01-01T10:01:00Z']);
    assert.deepEqual(nexts('30 9-17/4 * * *', '2024-01-01T00:00:00Z', 3), ['2024-01-01T09:30:00Z', '2024-01-01T13:30:00Z', '2024-01-01T17:30:00Z']);
    assert.deepEqual(nexts('@hourly', '2024-01-01T10:20:00Z', 2), ['2024-01-01T11:00:00Z', '2024-01-01T12:00:00Z']);
    assert.deepEqual(nexts('@weekly', '2024-01-01T10:20:00Z', 1), ['2024-01-07T00:00:00Z'], 'Sunday midnight');
    assert.deepEqual(nexts('@yearly', '2024-01-01T10:20:00Z', 1), ['2025-01-01T00:00:00Z']);
    assert.deepEqual(nexts('@every 90s', '2024-01-01T10:00:00.700Z', 2), ['2024-01-01T10:01:30Z', '2024-01-01T10:03:00Z']);
    assert.deepEqual(nexts('0 0 31 2 *', '2024-01-01T00:00:00Z', 1), ['never'], 'a date that never comes');
  });

  it('day of month and day of week: either matches when both are restricted, both must when one is *', () => {
    // 2024-01-01 is a Monday. "1st of the month OR Friday":
    assert.deepEqual(nexts('0 0 1 * 5', '2024-01-01T12:00:00Z', 3), ['2024-01-05T00:00:00Z', '2024-01-12T00:00:00Z', '2024-01-19T00:00:00Z']);
    assert.deepEqual(nexts('0 0 1 * 5', '2024-01-25T12:00:00Z', 2), ['2024-01-26T00:00:00Z', '2024-02-01T00:00:00Z']);
    // "*/2" is a restriction (robfig drops the star with a step): odd days OR Mondays.
    assert.deepEqual(nexts('0 0 */2 * 1', '2024-01-01T12:00:00Z', 3), ['2024-01-03T00:00:00Z', '2024-01-05T00:00:00Z', '2024-01-07T00:00:00Z']);
    // "?" is a star: only Fridays.
    assert.deepEqual(nexts('0 0 ? * FRI', '2024-01-01T12:00:00Z', 2), ['2024-01-05T00:00:00Z', '2024-01-12T00:00:00Z']);
  });

  it('time zones: wall-clock times across daylight-saving changes; a TZ= prefix wins', () => {
    // New York: EST (-5) until 2024-03-10 02:00, then EDT (-4).
    assert.deepEqual(nexts('0 9 * * *', '2024-03-08T00:00:00Z', 3, 'America/New_York'), ['2024-03-08T14:00:00Z', '2024-03-09T14:00:00Z', '2024-03-10T13:00:00Z']);
    assert.deepEqual(nexts('TZ=Asia/Tokyo 0 9 * * *', '2024-03-08T00:00:00Z', 1, 'America/New_York'), ['2024-03-09T00:00:00Z']);
    assert.deepEqual(nexts('CRON_TZ=UTC 0 9 * * *', '2024-03-08T00:00:00Z', 1, 'Asia/Tokyo'), ['2024-03-08T09:00:00Z']);
    assert.deepEqual(parseStandard('TZ=Nowhere/City 0 9 * * *', 'UTC'), { ok: false, error: 'provided bad location Nowhere/City: unknown time zone Nowhere/City' });
  });

  it('zone names as Go loads them: IANA names, case-sensitive; UTC and "" are UTC', () => {
    for (const ok of ['UTC', '', 'Europe/Berlin', 'America/Argentina/Buenos_Aires', 'Etc/GMT+5', 'US/Eastern', 'Asia/Calcutta']) assert.equal(loadLocationError(ok), undefined, ok);
    for (const bad of ['utc', 'europe/berlin', 'Mars/Olympus', 'Europe/Nowhere']) assert.equal(loadLocationError(bad), `unknown time zone ${bad}`, bad);
    assert.deepEqual(timeZoneErrors(''), ['timeZone must be nil or non-empty string']);
    assert.deepEqual(timeZoneErrors('Local'), ['timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones']);
    assert.deepEqual(timeZoneErrors('../etc/passwd'), ['unknown time zone ../etc/passwd']);
    assert.deepEqual(timeZoneErrors('+01:00'), ['unknown time zone +01:00']);
    assert.deepEqual(timeZoneErrors('Europe/Berlin'), []);
  });

  it('formats times as Go does (RFC 3339 in a zone, RFC 1123Z in UTC) and reads Go durations', () => {
    const t = at('2024-07-01T12:34:56.789Z');
    assert.equal(formatRFC3339InZone(t, 'UTC'), '2024-07-01T12:34:56Z');
    assert.equal(formatRFC3339InZone(t, 'Europe/Berlin'), '2024-07-01T14:34:56+02:00');
    assert.equal(formatRFC3339InZone(t, 'America/New_York'), '2024-07-01T08:34:56-04:00');
    assert.equal(formatRFC3339InZone(t, 'Asia/Kolkata'), '2024-07-01T18:04:56+05:30');
    assert.equal(formatRFC3339InZone(at('2024-01-01T00:00:00Z'), 'Europe/London'), '2024-01-01T00:00:00Z');
    assert.equal(formatRFC1123Z(t), 'Mon, 01 Jul 2024 12:34:56 +0000');
    assert.equal(parseGoDuration('1h30m'), 5_400_000);
    assert.equal(parseGoDuration('1.5s'), 1500);
    assert.equal(parseGoDuration('0'), 0);
    assert.equal(parseGoDuration('10'), undefined);
    assert.equal(parseGoDuration('3d'), undefined);
  });
});
