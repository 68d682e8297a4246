// Non-resource endpoints: health, version, discovery (aggregated v2 and legacy), OpenAPI v2 and v3.
import type { IncomingMessage } from 'node:http';
import type { Registry } from '../registry/index.ts';
import type { UserInfo } from './auth.ts';
import { ApiError, errors } from './errors.ts';
import {
  AGGREGATED_DISCOVERY_CONTENT_TYPE,
  aggregatedDiscovery,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  versionInfo,
  wantsAggregatedDiscovery,
} from './discovery.ts';
import { openapiV3DocumentForPath, openapiV3Index } from './openapi.ts';
import { openapiV2Response } from './openapi-v2.ts';

export interface NonResourceReply {
  code: number;
  body: unknown;
  contentType?: string;
}

const notFound = () => new ApiError(404, 'NotFound', 'the server could not find the requested resource');

export async function serveNonResource(req: IncomingMessage, path: string, registry: Registry, _user: UserInfo | null, query: URLSearchParams): Promise<NonResourceReply> {
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') throw errors.methodNotAllowed();
  const defs = registry.defs;
  switch (path) {
    case '/healthz':
    case '/livez':
    case '/readyz':
      return { code: 200, body: query.has('verbose') ? `[+]ping ok\n[+]etcd ok\n${path.slice(1)} check passed\n` : 'ok', contentType: 'text/plain; charset=utf-8' };
    case '/version':
      return { code: 200, body: versionInfo() };
    case '/api':
      if (wantsAggregatedDiscovery(req.headers.accept)) return { code: 200, body: aggregatedDiscovery(defs, 'api'), contentType: AGGREGATED_DISCOVERY_CONTENT_TYPE };
      return { code: 200, body: apiVersions() };
    case '/apis':
      if (wantsAggregatedDiscovery(req.headers.accept)) return { code: 200, body: aggregatedDiscovery(defs, 'apis'), contentType: AGGREGATED_DISCOVERY_CONTENT_TYPE };
      return { code: 200, body: apiGroupList(defs) };
    case '/api/v1':
      return { code: 200, body: apiResourceList(defs, '', 'v1') ?? {} };
    case '/openapi/v2': {
      const r = openapiV2Response(defs, req.headers.accept);
      return { code: 200, body: r.body, contentType: r.contentType };
    }
    case '/openapi/v3':
      return { code: 200, body: openapiV3Index(defs) };
    case '/':
      return { code: 200, body: { paths: ['/api', '/api/v1', '/apis', '/healthz', '/livez', '/openapi/v2', '/openapi/v3', '/readyz', '/version'] } };
  }
  let m = path.match(/^\/apis\/([^/]+)$/);
  if (m) {
    const g = apiGroup(defs, m[1]);
    if (!g) throw notFound();
    return { code: 200, body: g };
  }
  m = path.match(/^\/apis\/([^/]+)\/([^/]+)$/);
  if (m) {
    const list = apiResourceList(defs, m[1], m[2]);
    if (!list) throw notFound();
    return { code: 200, body: list };
  }
  if (path.startsWith('/openapi/v3/')) {
    const doc = openapiV3DocumentForPath(defs, path);
    if (!doc) throw notFound();
    return { code: 200, body: doc.json };
  }
  throw notFound();
}
