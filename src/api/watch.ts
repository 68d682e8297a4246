// WATCH: a stream of {"type","object"} lines fed by the watch cache, with selectors (objects
// moving in or out of a selector become ADDED / DELETED), initial events, bookmarks, Tables,
// and 410 Expired for a resourceVersion that has been compacted.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubeObject, ResourceDef } from '../registry/types.ts';
import type { WatchCache, CacheEvent, Subscription } from './watchcache.ts';
import { listPrefix, toView } from './objectstore.ts';
import { compileFilter, listObjects, matches } from './list.ts';
import type { ObjectStore } from './objectstore.ts';
import { ApiError, errors } from './errors.ts';
import { stampTypeMeta } from './meta.ts';
import { includeObjectOf, partialObject, toTable, type Representation } from './tables.ts';

export interface WatchParams {
  def: ResourceDef;
  namespace?: string;
  name?: string;
  query: URLSearchParams;
  representation: Representation;
}

const MAX_BUFFERED = 16 * 1024 * 1024;
const TOO_LARGE_WAIT_MS = 3000;
/** How often an idle watch that asked for bookmarks gets one (KENNEL_BOOKMARK_INTERVAL_MS overrides). */
const BOOKMARK_INTERVAL_MS = Number(process.env.KENNEL_BOOKMARK_INTERVAL_MS) || 15000;

export async function serveWatch(
  req: IncomingMessage,
  res: ServerResponse,
  objects: ObjectStore,
  cache: WatchCache,
  p: WatchParams,
): Promise<void> {
  const { def, query } = p;
  let fieldSelector = query.get('fieldSelector');
  if (p.name) fieldSelector = fieldSelector ? `${fieldSelector},metadata.name=${p.name}` : `metadata.name=${p.name}`;
  const filter = compileFilter(def, query.get('labelSelector'), fieldSelector);
  const rvParam = query.get('resourceVersion') ?? '';
  const sendInitial = query.get('sendInitialEvents') === 'true';
  const bookmarks = query.get('allowWatchBookmarks') === 'true';
  if (sendInitial && query.get('resourceVersionMatch') !== 'NotOlderThan') {
    throw errors.invalid('meta.k8s.io', 'ListOptions', '', [
      { reason: 'FieldValueForbidden', field: 'resourceVersionMatch', message: "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan" },
    ]);
  }
  let timeoutSeconds = Number(query.get('timeoutSeconds') ?? '');
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) timeoutSeconds = 1800 + Math.floor(Math.random() * 1800);
  if (rvParam !== '' && rvParam !== '0' && !/^\d+$/.test(rvParam)) throw errors.badRequest(`resourceVersion: Invalid value: "${rvParam}": must be a non-negative integer`);

  const include = includeObjectOf(query);
  let first = true;
  const render = (obj: KubeObject): unknown => {
    const view = stampTypeMeta(def, obj);
    if (p.representation === 'table') {
      const t = toTable(def, [view], { include, withColumns: first });
      first = false;
      return t;
    }
    if (p.representation === 'partial') return partialObject(view);
    return view;
  };

  const contentType = p.representation === 'table' ? 'application/json;as=Table;v=v1;g=meta.k8s.io' : 'application/json';
  let startRev: number;
  const initial: KubeObject[] = [];
  if (rvParam === '' || rvParam === '0' || sendInitial) {
    const page = await listObjects(objects, def, { namespace: p.namespace, labelSelector: query.get('labelSelector'), fieldSelector });
    initial.push(...page.items);
    startRev = Number(page.resourceVersion);
  } else {
    startRev = Number(rvParam);
    // A resourceVersion from the future (e.g. a client that talked to a store since restored
    // from a backup) waits briefly for the store to catch up, then answers 504 as Kubernetes does.
    if (startRev > cache.revision) {
      const deadline = Date.now() + TOO_LARGE_WAIT_MS;
      while (startRev > cache.revision && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      if (startRev > cache.revision) {
        throw new ApiError(504, 'Timeout', `Too large resource version: ${startRev}, current: ${cache.revision}`, {
          causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
          retryAfterSeconds: 1,
        });
      }
    }
  }

  res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  let closed = false;
  let lastRev = startRev;
  const out = new WatchOutput(res, () => finish());
  const send = (type: string, object: unknown): void => {
    if (closed) return;
    out.writeLine(JSON.stringify({ type, object }) + '\n');
  };
  for (const obj of initial) send('ADDED', render(obj));
  if (sendInitial && bookmarks) {
    send('BOOKMARK', { kind: def.kind, apiVersion: stampTypeMeta(def, { metadata: {} }).apiVersion, metadata: { resourceVersion: String(startRev), annotations: { 'k8s.io/initial-events-end': 'true' } } });
  }

  // Plain JSON of a kind stored as itself renders the same for every watch: serialize (and
  // frame as an HTTP chunk) once per event and share the bytes.
  const shareable = p.representation === 'object' && !def.storedAs;
  const gv = `${def.group}/${def.version}`;
  const frameKeys: Record<string, string> = { ADDED: `ADDED|${gv}`, MODIFIED: `MODIFIED|${gv}`, DELETED: `DELETED|${gv}` };
  const emit = (e: CacheEvent, type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: KubeObject): void => {
    if (!shareable) return send(type, render(obj));
    const key = frameKeys[type];
    e.frames ??= new Map();
    let frame = e.frames.get(key);
    if (frame === undefined) {
      frame = chunkFrame(JSON.stringify({ type, object: stampTypeMeta(def, obj) }) + '\n');
      e.frames.set(key, frame);
    }
    if (closed) return;
    out.queueFrame(frame);
  };
  const onEvent = (e: CacheEvent): void => {
    lastRev = e.rev;
    let obj: KubeObject;
    let prev: KubeObject | undefined;
    try {
      obj = toView(def, e.obj);
      if (filter.empty) {
        // Every state matches: the previous one only tells a modification (with it) from an
        // object seen for the first time (without it), as below.
        if (e.type === 'ADDED' || e.type === 'DELETED') emit(e, e.type, obj);
        else emit(e, e.prev ? 'MODIFIED' : 'ADDED', obj);
        return;
      }
      prev = e.prev ? toView(def, e.prev) : undefined;
    } catch {
      return; // an undecodable stored value (logged by the cache's owner) is skipped
    }
    if (e.type === 'DELETED') {
      if (matches(def, filter, prev ?? obj)) emit(e, 'DELETED', obj);
      return;
    }
    const now = matches(def, filter, obj);
    if (e.type === 'ADDED') {
      if (now) emit(e, 'ADDED', obj);
      return;
    }
    const before = prev ? matches(def, filter, prev) : false;
    if (now && before) emit(e, 'MODIFIED', obj);
    else if (now) emit(e, 'ADDED', obj);
    else if (before) emit(e, 'DELETED', obj);
  };
  let sub: Subscription | null = null;
  sub = cache.subscribe(
    listPrefix(def, p.namespace),
    startRev,
    onEvent,
    (err) => {
      if (err.code === 'Compacted') {
        send('ERROR', errors.gone(`too old resource version: ${startRev} (${err.compactRevision ?? ''})`).toStatus());
      } else {
        send('ERROR', errors.unavailable(err.message).toStatus());
      }
      finish();
    },
    { deferred: true, onFlush: () => out.flush() },
  );
  if (closed) sub.close(); // finished while replaying
  const bookmarkTimer = bookmarks
    ? setInterval(() => {
        lastRev = Math.max(lastRev, cache.revision);
        send('BOOKMARK', { kind: def.kind, apiVersion: stampTypeMeta(def, { metadata: {} }).apiVersion, metadata: { resourceVersion: String(lastRev) } });
      }, BOOKMARK_INTERVAL_MS)
    : null;
  const timeout = setTimeout(() => finish(), timeoutSeconds * 1000);
  function finish(): void {
    if (closed) return;
    closed = true;
    sub?.close();
    if (bookmarkTimer) clearInterval(bookmarkTimer);
    clearTimeout(timeout);
    out.end();
  }
  req.on('close', finish);
  res.on('close', finish);
}

/** One HTTP/1.1 chunk holding `text`. */
function chunkFrame(text: string): Buffer {
  const len = Buffer.byteLength(text);
  const head = `${len.toString(16)}\r\n`;
  const b = Buffer.allocUnsafe(head.length + len + 2);
  b.write(head, 0, 'latin1');
  b.write(text, head.length, 'utf8');
  b.write('\r\n', head.length + len, 'latin1');
  return b;
}

/**
 * The body of one watch response. Live events come from the watch cache's deferred passes
 * (after the acknowledgements of the writes that caused them went out); each pass queues this
 * watch's chunks and flushes them as one write. An event's chunk is framed once and its bytes
 * shared by every watch that renders it the same way; they go straight to the connection's
 * socket, which Node's own chunked framing would otherwise copy and write as several pieces.
 * Lines written with writeLine (initial events, bookmarks, errors, per-watch renderings) go
 * through the response after whatever was queued, so the order on the wire is the order of the
 * calls.
 */
class WatchOutput {
  private pending: Buffer[] = [];
  private ended = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly onOverflow: () => void,
  ) {}

  queueFrame(frame: Buffer): void {
    if (!this.ended) this.pending.push(frame);
  }

  writeLine(line: string): void {
    if (this.ended) return;
    this.flush();
    this.res.write(line);
    this.checkBuffered();
  }

  /** Writes the queued chunks. */
  flush(): void {
    const frames = this.pending;
    if (frames.length === 0) return;
    this.pending = [];
    if (this.ended) return;
    const data = frames.length === 1 ? frames[0] : Buffer.concat(frames);
    const res = this.res;
    const sock = res.socket;
    // Straight to the socket when the response owns it and holds nothing back itself (its
    // buffered bytes are the socket's); otherwise through the response, unframed.
    if (sock && res.chunkedEncoding && !sock.destroyed && res.writableLength === sock.writableLength) {
      sock.write(data);
    } else {
      for (const f of frames) res.write(f.subarray(f.indexOf(10) + 1, f.length - 2));
    }
    this.checkBuffered();
  }

  end(): void {
    if (this.ended) return;
    if (this.res.writableLength <= MAX_BUFFERED) this.flush();
    this.ended = true;
    this.pending = [];
    this.res.end();
  }

  /** A client too slow to keep up is dropped; it relists. */
  private checkBuffered(): void {
    if (this.res.writableLength > MAX_BUFFERED) this.onOverflow();
  }
}
