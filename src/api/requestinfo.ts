// Turn a request path and method into what it addresses, as apiserver's RequestInfoFactory does.
import { errors } from './errors.ts';

export interface ResourceRequest {
  kind: 'resource';
  verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';
  group: string;
  version: string;
  namespace?: string;
  resource: string;
  name?: string;
  subresource?: string;
}

export interface NonResourceRequest {
  kind: 'nonresource';
  path: string;
}

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

export function parseRequest(method: string, pathname: string, query: URLSearchParams): ResourceRequest | NonResourceRequest {
  let parts: string[];
  try {
    parts = pathname.split('/').filter((p) => p !== '');
    if (pathname.includes('%')) parts = parts.map((p) => decodeURIComponent(p));
  } catch {
    throw errors.badRequest(`malformed percent-encoding in the request path ${JSON.stringify(pathname)}`);
  }
  let rest: string[];
  let group: string;
  let version: string;
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    version = parts[1];
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1];
    version = parts[2];
    rest = parts.slice(3);
  } else {
    return { kind: 'nonresource', path: pathname };
  }

  let watchPath = false;
  if (rest[0] === 'watch') {
    watchPath = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1];
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2])) rest = rest.slice(2);
  }
  const [resource, name, subresource, ...extra] = rest;
  if (!resource || extra.length > 0) return { kind: 'nonresource', path: pathname };

  const m = method.toUpperCase();
  let verb: ResourceRequest['verb'];
  const isWatch = watchPath || query.get('watch') === 'true' || query.get('watch') === '1';
  switch (m) {
    case 'GET':
    case 'HEAD':
      verb = name ? (isWatch ? 'watch' : 'get') : isWatch ? 'watch' : 'list';
      break;
    case 'POST':
      verb = 'create';
      break;
    case 'PUT':
      verb = 'update';
      break;
    case 'PATCH':
      verb = 'patch';
      break;
    case 'DELETE':
      verb = name ? 'delete' : 'deletecollection';
      break;
    default:
      verb = 'get';
  }
  // For the namespaces resource itself, /namespaces/{name} sets namespace = name; the object is
  // cluster-scoped, so name is what matters.
  if (resource === 'namespaces' && namespace !== undefined && rest[0] === 'namespaces') {
    return { kind: 'resource', verb, group, version, resource, name: namespace, subresource: rest[2], namespace: undefined };
  }
  return { kind: 'resource', verb, group, version, namespace, resource, name, subresource };
}
