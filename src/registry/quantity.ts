// Kubernetes resource.Quantity: parsing, canonical formatting and comparison.
//
// A quantity is a signed decimal number with an optional suffix: a binary SI suffix (Ki, Mi,
// Gi, Ti, Pi, Ei), a decimal SI suffix (n, u, m, '', k, M, G, T, P, E) or a decimal exponent
// (e3, E-6). Values are kept exactly at nano precision (as Kubernetes does: anything finer is
// rounded up, away from zero), as a bigint count of nano-units.

export type QuantityFormat = 'BinarySI' | 'DecimalSI' | 'DecimalExponent';

export interface Quantity {
  /** The value in units of 10^-9. */
  nanos: bigint;
  /** The format the value was written in; canonical output keeps it. */
  format: QuantityFormat;
}

export const QUANTITY_FORMAT_ERROR =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const NUMERIC_ERROR = 'unable to parse numeric part of quantity';
const SUFFIX_ERROR = "unable to parse quantity's suffix";

const FORMAT_RE = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const NUMBER_RE = /^([0-9]+\.?[0-9]*|\.[0-9]+)$/;

const DECIMAL_SUFFIX: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIX: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const NANO = 1_000_000_000n;
/** Kubernetes caps quantities at the int64 range of their scaled form; we cap at 2^63-1 units. */
const MAX_UNITS = (1n << 63n) - 1n;

export class QuantityError extends Error {}

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

/** Divide rounding away from zero (Kubernetes rounds non-zero values up to 1n). */
function divUp(num: bigint, den: bigint): bigint {
  const q = num / den;
  return num % den === 0n ? q : num < 0n ? q - 1n : q + 1n;
}

/** Parse a quantity string (or a JSON number) the way resource.ParseQuantity does. */
export function parseQuantity(input: string | number): Quantity {
  let s: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) throw new QuantityError(QUANTITY_FORMAT_ERROR);
    s = Number.isInteger(input) ? BigInt(input).toString() : String(input);
    // String(1e-7) gives '1e-7' which the grammar accepts as a decimal exponent.
    if (/e\+/.test(s)) s = s.replace('e+', 'e');
  } else s = input;
  if (s.length === 0) throw new QuantityError(QUANTITY_FORMAT_ERROR);
  const m = FORMAT_RE.exec(s);
  if (!m) throw new QuantityError(QUANTITY_FORMAT_ERROR);
  let numPart = m[1];
  const suffix = m[2];
  let sign = 1n;
  if (numPart[0] === '+' || numPart[0] === '-') {
    if (numPart[0] === '-') sign = -1n;
    numPart = numPart.slice(1);
  }
  if (!NUMBER_RE.test(numPart)) throw new QuantityError(NUMERIC_ERROR);
  const [intDigits, fracDigits = ''] = numPart.split('.');
  // mantissa = digits as an integer, value = mantissa * 10^-(fraction digits)
  const mantissa = BigInt((intDigits || '0') + fracDigits) * sign;
  const fracLen = fracDigits.length;

  let format: QuantityFormat;
  let num: bigint; // value * 10^9 = num / den
  let den: bigint;
  if (suffix in BINARY_SUFFIX) {
    format = 'BinarySI';
    num = mantissa * (1n << BigInt(BINARY_SUFFIX[suffix])) * NANO;
    den = pow10(fracLen);
  } else if (suffix in DECIMAL_SUFFIX) {
    format = 'DecimalSI';
    const exp = DECIMAL_SUFFIX[suffix] + 9 - fracLen;
    if (exp >= 0) {
      num = mantissa * pow10(exp);
      den = 1n;
    } else {
      num = mantissa;
      den = pow10(-exp);
    }
  } else if (/^[eE][+-]?[0-9]+$/.test(suffix)) {
    format = 'DecimalExponent';
    const e = Number(suffix.slice(1));
    if (!Number.isSafeInteger(e) || Math.abs(e) > 1000) throw new QuantityError(SUFFIX_ERROR);
    const exp = e + 9 - fracLen;
    if (exp >= 0) {
      num = mantissa * pow10(exp);
      den = 1n;
    } else {
      num = mantissa;
      den = pow10(-exp);
    }
  } else {
    throw new QuantityError(SUFFIX_ERROR);
  }
  let nanos = divUp(num, den);
  const max = MAX_UNITS * NANO;
  if (nanos > max) nanos = max;
  if (nanos < -max) nanos = -max;
  return { nanos, format };
}

/** The parse error for a value, or undefined when it is a valid quantity. */
export function quantityError(input: unknown): string | undefined {
  if (typeof input !== 'string' && typeof input !== 'number') return QUANTITY_FORMAT_ERROR;
  try {
    parseQuantity(input);
    return undefined;
  } catch (e) {
    return e instanceof QuantityError ? e.message : String(e);
  }
}

export function tryParseQuantity(input: unknown): Quantity | undefined {
  if (typeof input !== 'string' && typeof input !== 'number') return undefined;
  try {
    return parseQuantity(input);
  } catch {
    return undefined;
  }
}

/** -1, 0 or 1 as a is less than, equal to or greater than b. */
export function compareQuantities(a: Quantity, b: Quantity): number {
  return a.nanos < b.nanos ? -1 : a.nanos > b.nanos ? 1 : 0;
}

/** Canonical string, as Kubernetes serializes quantities (`1.5Gi` → `1536Mi`, `0.5` → `500m`). */
export function formatQuantity(q: Quantity): string {
  if (q.nanos === 0n) return '0';
  const neg = q.nanos < 0n;
  const abs = neg ? -q.nanos : q.nanos;
  const sign = neg ? '-' : '';
  let format = q.format;
  if (format === 'BinarySI') {
    // Fractional values and values below 1024 fall back to decimal SI.
    if (abs % NANO !== 0n || abs < 1024n * NANO) format = 'DecimalSI';
  }
  if (format === 'BinarySI') {
    let units = abs / NANO;
    let i = 0;
    const suffixes = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
    while (i < suffixes.length - 1 && units % 1024n === 0n) {
      units /= 1024n;
      i++;
    }
    return `${sign}${units}${suffixes[i]}`;
  }
  // Decimal: mantissa * 10^exp with exp a multiple of 3 (from -9), as large as keeps it integral.
  let mantissa = abs;
  let exp = -9;
  while (exp < 18 && mantissa % 1000n === 0n) {
    mantissa /= 1000n;
    exp += 3;
  }
  if (format === 'DecimalExponent') return exp === 0 ? `${sign}${mantissa}` : `${sign}${mantissa}e${exp}`;
  const suffix = Object.entries(DECIMAL_SUFFIX).find(([, e]) => e === exp)?.[0] ?? '';
  return `${sign}${mantissa}${suffix}`;
}

/** Canonical form of a quantity value, or undefined if it does not parse. */
export function canonicalQuantity(input: unknown): string | undefined {
  const q = tryParseQuantity(input);
  return q ? formatQuantity(q) : undefined;
}

/** Replace every valid quantity of a ResourceList-like map by its canonical string form. */
export function canonicalizeResourceList(list: unknown): void {
  if (!list || typeof list !== 'object' || Array.isArray(list)) return;
  const rec = list as Record<string, unknown>;
  for (const [k, v] of Object.entries(rec)) {
    const c = canonicalQuantity(v);
    if (c !== undefined) rec[k] = c;
  }
}

export function isZeroQuantity(q: Quantity): boolean {
  return q.nanos === 0n;
}

/** The value in whole units, rounded up (Quantity.Value()). */
export function quantityValue(q: Quantity): bigint {
  return divUp(q.nanos, NANO);
}

/** The value in milli-units, rounded up (Quantity.MilliValue()). */
export function quantityMilliValue(q: Quantity): bigint {
  return divUp(q.nanos, 1_000_000n);
}

export function addQuantities(a: Quantity, b: Quantity): Quantity {
  return { nanos: a.nanos + b.nanos, format: a.nanos === 0n ? b.format : a.format };
}
