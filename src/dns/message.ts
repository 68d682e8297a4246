// DNS messages on the wire (dns-packet does the encoding): reading a query, and writing the
// response with the header bits, EDNS0 and truncation right.
// - The response copies the query's ID, opcode, RD and CD bits and question; RA is set (other
//   names are forwarded); AA for the cluster zone's answers.
// - EDNS0: a query with an OPT record gets one back (version 0, the DO bit echoed, our buffer
//   size); a version above 0 answers BADVERS. UDP answers are limited to 512 bytes, or to the
//   query's advertised buffer size (at most 4096) when it has an OPT record; TCP to 65535.
// - Truncation: first the additional section goes (that needs no TC bit, RFC 2181 §9), then as
//   many answer records as fit stay and the TC bit is set, so the client retries over TCP.
// - A query that cannot be parsed gets FORMERR when its header can be read (else nothing); a
//   message with QR set (a response) is never answered.
import dnsPacket, { type Answer, type DecodedPacket, type OptAnswer, type Packet, type Question } from 'dns-packet';
import type { BuiltAnswer, Rcode } from './answers.ts';

export const MAX_UDP_PLAIN = 512;
export const MAX_UDP_EDNS = 4096;
export const MAX_TCP = 65535;

const RCODES: Record<Rcode, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };

export interface ParsedQuery {
  id: number;
  /** Header flags word of the query (QR clear). */
  flags: number;
  opcode: number;
  question: Question;
  /** The query's OPT record, if any. */
  opt?: OptAnswer;
}

export type ParseResult = { ok: true; query: ParsedQuery; packet: DecodedPacket } | { ok: false; reply?: Buffer };

/** Header-only reply with an rcode (FORMERR, NOTIMP, …) to a message whose header is readable. */
export function headerReply(msg: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(12);
  out[0] = msg[0];
  out[1] = msg[1];
  // QR, the query's opcode and RD; RA; the rcode.
  out[2] = 0x80 | (msg[2] & 0x79);
  out[3] = 0x80 | (rcode & 0x0f);
  return out;
}

/** Read a query; malformed input gives FORMERR (when the header is readable) or nothing. */
export function parseQuery(msg: Buffer): ParseResult {
  if (msg.length < 12) return { ok: false };
  if (msg[2] & 0x80) return { ok: false }; // a response: never answer it
  const opcode = (msg[2] >> 3) & 0x0f;
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(msg);
  } catch {
    return { ok: false, reply: headerReply(msg, RCODES.FORMERR) };
  }
  if (opcode !== 0) return { ok: false, reply: headerReply(msg, RCODES.NOTIMP) };
  const qs = packet.questions ?? [];
  if (qs.length !== 1 || (packet.answers?.length ?? 0) > 0) return { ok: false, reply: headerReply(msg, RCODES.FORMERR) };
  const opts = (packet.additionals ?? []).filter((a): a is OptAnswer => a.type === 'OPT');
  if (opts.length > 1) return { ok: false, reply: headerReply(msg, RCODES.FORMERR) };
  return { ok: true, packet, query: { id: packet.id ?? 0, flags: msg.readUInt16BE(2), opcode, question: qs[0], opt: opts[0] } };
}

/** The largest response the client takes over this transport. */
export function maxResponseSize(q: ParsedQuery, tcp: boolean): number {
  if (tcp) return MAX_TCP;
  if (!q.opt) return MAX_UDP_PLAIN;
  return Math.min(MAX_UDP_EDNS, Math.max(MAX_UDP_PLAIN, q.opt.udpPayloadSize || MAX_UDP_PLAIN));
}

function optFor(q: ParsedQuery, extendedRcode = 0): OptAnswer {
  return {
    name: '.',
    type: 'OPT',
    udpPayloadSize: maxResponseSize(q, false),
    extendedRcode,
    ednsVersion: 0,
    flags: q.opt && q.opt.flags & dnsPacket.DNSSEC_OK ? dnsPacket.DNSSEC_OK : 0,
    flag_do: q.opt ? (q.opt.flags & dnsPacket.DNSSEC_OK) !== 0 : false,
    options: [],
  };
}

/** Whether the query asks for an EDNS version this server does not speak. */
export function badEdnsVersion(q: ParsedQuery): boolean {
  return q.opt !== undefined && (q.opt.ednsVersion ?? 0) > 0;
}

/** BADVERS (extended rcode 16): OPT with extended rcode 1, header rcode 0. */
export function badVersReply(q: ParsedQuery): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags: (q.flags & (dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED)) | dnsPacket.RECURSION_AVAILABLE,
    questions: [q.question],
    additionals: [optFor(q, 1)],
  });
}

/**
 * Encode the response to q. Returns the bytes and whether they were truncated.
 */
export function encodeResponse(q: ParsedQuery, a: BuiltAnswer, tcp: boolean): { buf: Buffer; truncated: boolean } {
  let flags = (q.flags & (dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED)) | dnsPacket.RECURSION_AVAILABLE | RCODES[a.rcode];
  if (a.authoritative) flags |= dnsPacket.AUTHORITATIVE_ANSWER;
  const opt: Answer[] = q.opt ? [optFor(q)] : [];
  const packet: Packet = {
    type: 'response',
    id: q.id,
    flags,
    questions: [q.question],
    answers: a.answers,
    authorities: a.authorities,
    additionals: [...a.additionals, ...opt],
  };
  const max = maxResponseSize(q, tcp);
  const whole = dnsPacket.encode(packet);
  if (whole.length <= max) return { buf: whole, truncated: false };
  // Additional data is optional: drop it first (OPT stays).
  packet.additionals = opt;
  if (dnsPacket.encodingLength(packet) <= max) return { buf: dnsPacket.encode(packet), truncated: false };
  // Then keep as many answers as fit, and say so.
  packet.flags = flags | dnsPacket.TRUNCATED_RESPONSE;
  const all = a.answers;
  let lo = 0;
  let hi = all.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    packet.answers = all.slice(0, mid);
    if (dnsPacket.encodingLength(packet) <= max) lo = mid;
    else hi = mid - 1;
  }
  packet.answers = all.slice(0, lo);
  if (dnsPacket.encodingLength(packet) > max) packet.authorities = [];
  return { buf: dnsPacket.encode(packet), truncated: true };
}

/** A SERVFAIL (or other rcode) response to q, with an OPT when it had one. */
export function errorResponse(q: ParsedQuery, rcode: Rcode): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags: (q.flags & (dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED)) | dnsPacket.RECURSION_AVAILABLE | RCODES[rcode],
    questions: [q.question],
    additionals: q.opt ? [optFor(q)] : [],
  });
}

/** Build a query (for forwarding a chased name, and for tests). */
export function encodeQuery(id: number, name: string, type: Question['type'], opts: { rd?: boolean; edns?: number } = {}): Buffer {
  const p: Packet = { type: 'query', id, flags: opts.rd === false ? 0 : dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }] };
  if (opts.edns) p.additionals = [{ name: '.', type: 'OPT', udpPayloadSize: opts.edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }];
  return dnsPacket.encode(p);
}

export function decodeMessage(buf: Buffer): DecodedPacket {
  return dnsPacket.decode(buf);
}
