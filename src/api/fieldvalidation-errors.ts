// Strict field validation errors as Kubernetes words them (`unknown field "spec.foo"`), and the
// sink that collects them deduplicated and capped.

/** Kubernetes keeps at most this many strict decoding errors. */
export const MAX_ERRORS = 100;

export type StrictErrorKind = 'unknown' | 'duplicate';

export interface StrictError {
  kind: StrictErrorKind;
  path: string;
}

/** `unknown field "spec.foo"` / `duplicate field "metadata.name"`. */
export function strictErrorText(e: StrictError): string {
  return `${e.kind} field ${goQuote(e.path)}`;
}

/** Go's %q for the strings that appear here (JSON escaping is the same for printable text). */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

export class ErrorSink {
  readonly texts: string[] = [];
  private readonly seen = new Set<string>();
  add(kind: StrictErrorKind, path: string): void {
    if (this.texts.length >= MAX_ERRORS) return;
    const t = strictErrorText({ kind, path });
    if (this.seen.has(t)) return;
    this.seen.add(t);
    this.texts.push(t);
  }
}
