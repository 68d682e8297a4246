// The /openapi/v2 document in protobuf: the `openapi.v2.Document` message of gnostic's
// OpenAPIv2.proto, which kubectl (client-go's discovery) decodes. Only the parts of Swagger 2.0
// that openapi-v2.ts produces are written; vendor extensions (`x-…`) become NamedAny entries
// whose value carries the extension as YAML text (JSON is YAML), as gnostic stores them.
import protobuf from 'protobufjs/minimal.js';
import type { SwaggerDocument } from './openapi-v2.ts';

type W = protobuf.Writer;
type Json = Record<string, unknown>;

const VARINT = 0;
const LEN = 2;

function key(no: number, wire: number): number {
  return ((no << 3) | wire) >>> 0;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(w: W, no: number, v: unknown): void {
  if (typeof v === 'string' && v !== '') w.uint32(key(no, LEN)).string(v);
}

function strs(w: W, no: number, v: unknown): void {
  if (Array.isArray(v)) for (const s of v) if (typeof s === 'string') w.uint32(key(no, LEN)).string(s);
}

function bool(w: W, no: number, v: unknown): void {
  if (v === true) w.uint32(key(no, VARINT)).bool(true);
}

/** A nested message, written through `body` between fork and ldelim. */
function msg(w: W, no: number, body: (w: W) => void): void {
  w.uint32(key(no, LEN)).fork();
  body(w);
  w.ldelim();
}

/** Any { yaml = 2 }. */
function any(w: W, no: number, v: unknown): void {
  msg(w, no, (a) => str(a, 2, JSON.stringify(v) ?? 'null'));
}

/** repeated NamedAny (name = 1, value = 2) of the `x-` keys of an object. */
function extensions(w: W, no: number, o: Json): void {
  for (const [k, v] of Object.entries(o)) {
    if (!k.startsWith('x-')) continue;
    msg(w, no, (n) => {
      str(n, 1, k);
      any(n, 2, v);
    });
  }
}

/** Schema (gnostic field numbers). */
function schema(w: W, s: Json): void {
  str(w, 1, s.$ref);
  str(w, 2, s.format);
  str(w, 3, s.title);
  str(w, 4, s.description);
  if (s.default !== undefined) any(w, 5, s.default);
  bool(w, 16, s.uniqueItems);
  strs(w, 19, s.required);
  if (Array.isArray(s.enum)) for (const e of s.enum) any(w, 20, e);
  const ap = s.additionalProperties;
  if (isObject(ap)) msg(w, 21, (a) => msg(a, 1, (x) => schema(x, ap)));
  else if (typeof ap === 'boolean') msg(w, 21, (a) => a.uint32(key(2, VARINT)).bool(ap));
  if (typeof s.type === 'string') msg(w, 22, (t) => str(t, 1, s.type));
  else if (Array.isArray(s.type)) msg(w, 22, (t) => strs(t, 1, s.type));
  const items = s.items;
  if (isObject(items)) msg(w, 23, (i) => msg(i, 1, (x) => schema(x, items)));
  if (Array.isArray(s.allOf)) for (const sub of s.allOf) if (isObject(sub)) msg(w, 24, (x) => schema(x, sub));
  const props = s.properties;
  if (isObject(props)) {
    msg(w, 25, (p) => {
      for (const [name, sub] of Object.entries(props)) {
        if (!isObject(sub)) continue;
        msg(p, 1, (n) => {
          str(n, 1, name);
          msg(n, 2, (x) => schema(x, sub));
        });
      }
    });
  }
  bool(w, 27, s.readOnly);
  extensions(w, 31, s);
}

/** ParametersItem { parameter = 1 { body_parameter = 1 | non_body_parameter = 2 } }. */
function parameter(w: W, p: Json): void {
  msg(w, 1, (param) => {
    if (p.in === 'body') {
      msg(param, 1, (b) => {
        str(b, 1, p.description);
        str(b, 2, p.name);
        str(b, 3, p.in);
        bool(b, 4, p.required);
        if (isObject(p.schema)) msg(b, 5, (x) => schema(x, p.schema as Json));
        extensions(b, 6, p);
      });
      return;
    }
    msg(param, 2, (nb) => {
      if (p.in === 'path') {
        // PathParameterSubSchema
        msg(nb, 4, (x) => {
          bool(x, 1, p.required);
          str(x, 2, p.in);
          str(x, 3, p.description);
          str(x, 4, p.name);
          str(x, 5, p.type);
          str(x, 6, p.format);
          bool(x, 19, p.uniqueItems);
          extensions(x, 22, p);
        });
      } else {
        // QueryParameterSubSchema (every other parameter kennel declares is a query parameter)
        msg(nb, 3, (x) => {
          bool(x, 1, p.required);
          str(x, 2, p.in);
          str(x, 3, p.description);
          str(x, 4, p.name);
          str(x, 6, p.type);
          str(x, 7, p.format);
          bool(x, 20, p.uniqueItems);
          extensions(x, 23, p);
        });
      }
    });
  });
}

function parameters(w: W, no: number, list: unknown): void {
  if (!Array.isArray(list)) return;
  for (const p of list) if (isObject(p)) msg(w, no, (x) => parameter(x, p));
}

/** Operation. */
function operation(w: W, op: Json): void {
  strs(w, 1, op.tags);
  str(w, 2, op.summary);
  str(w, 3, op.description);
  str(w, 5, op.operationId);
  strs(w, 6, op.produces);
  strs(w, 7, op.consumes);
  parameters(w, 8, op.parameters);
  const responses = op.responses;
  if (isObject(responses)) {
    msg(w, 9, (rs) => {
      for (const [code, r] of Object.entries(responses)) {
        if (!isObject(r)) continue;
        // NamedResponseValue { name = 1, value = 2 ResponseValue { response = 1 } }
        msg(rs, 1, (n) => {
          str(n, 1, code);
          msg(n, 2, (rv) =>
            msg(rv, 1, (resp) => {
              str(resp, 1, r.description);
              if (isObject(r.schema)) msg(resp, 2, (si) => msg(si, 1, (x) => schema(x, r.schema as Json)));
              extensions(resp, 5, r);
            }),
          );
        });
      }
    });
  }
  strs(w, 10, op.schemes);
  bool(w, 11, op.deprecated);
  extensions(w, 13, op);
}

const PATH_ITEM_FIELDS: Record<string, number> = { get: 2, put: 3, post: 4, delete: 5, options: 6, head: 7, patch: 8 };

function pathItem(w: W, item: Json): void {
  for (const [method, no] of Object.entries(PATH_ITEM_FIELDS)) {
    const op = item[method];
    if (isObject(op)) msg(w, no, (x) => operation(x, op));
  }
  parameters(w, 9, item.parameters);
  extensions(w, 10, item);
}

/** The protobuf encoding of a Swagger 2.0 document (gnostic `openapi.v2.Document`). */
export function encodeOpenApiV2Protobuf(doc: SwaggerDocument): Buffer {
  const w = protobuf.Writer.create();
  str(w, 1, doc.swagger);
  msg(w, 2, (i) => {
    str(i, 1, doc.info.title);
    str(i, 2, doc.info.version);
  });
  msg(w, 8, (ps) => {
    for (const [path, item] of Object.entries(doc.paths)) {
      msg(ps, 2, (n) => {
        str(n, 1, path);
        msg(n, 2, (x) => pathItem(x, item));
      });
    }
  });
  msg(w, 9, (ds) => {
    for (const [name, s] of Object.entries(doc.definitions)) {
      msg(ds, 1, (n) => {
        str(n, 1, name);
        msg(n, 2, (x) => schema(x, s));
      });
    }
  });
  for (const req of doc.security) {
    // SecurityRequirement { additional_properties = 1 NamedStringArray { name = 1, value = 2 StringArray { value = 1 } } }
    msg(w, 12, (sr) => {
      for (const [name, scopes] of Object.entries(req)) {
        msg(sr, 1, (n) => {
          str(n, 1, name);
          msg(n, 2, (sa) => strs(sa, 1, scopes));
        });
      }
    });
  }
  msg(w, 13, (sd) => {
    for (const [name, d] of Object.entries(doc.securityDefinitions)) {
      // NamedSecurityDefinitionsItem { name = 1, value = 2 { api_key_security = 2 ApiKeySecurity } }
      msg(sd, 1, (n) => {
        str(n, 1, name);
        msg(n, 2, (item) =>
          msg(item, 2, (k) => {
            str(k, 1, d.type);
            str(k, 2, d.name);
            str(k, 3, d.in);
            str(k, 4, d.description);
          }),
        );
      });
    }
  });
  return Buffer.from(w.finish());
}
