// DNS responses on the wire: header bits, EDNS0, truncation and malformed queries.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket, { type Answer } from 'dns-packet';
import { badEdnsVersion, badVersReply, encodeQuery, encodeResponse, errorResponse, maxResponseSize, parseQuery, type ParsedQuery } from '../../src/dns/message.ts';
import type { BuiltAnswer } from '../../src/dns/answers.ts';

function query(buf: Buffer): ParsedQuery {
  const p = parseQuery(buf);
  assert.ok(p.ok, 'the query parses');
  return p.query;
}

function aRecords(n: number): Answer[] {
  return Array.from({ length: n }, (_, i) => ({ name: 'nginx.default.svc.cluster.local', type: 'A', class: 'IN', ttl: 5, data: `10.244.${Math.floor(i / 250)}.${(i % 250) + 1}` }) as Answer);
}

function answer(answers: Answer[], additionals: Answer[] = []): BuiltAnswer {
  return { kind: 'answer', rcode: 'NOERROR', authoritative: true, answers, authorities: [], additionals };
}

describe('DNS wire format', () => {
  it('copies ID, RD and the question; sets QR, AA, RA and the rcode', () => {
    const q = query(encodeQuery(0x1234, 'Web-0.nginx.default.svc.cluster.local', 'A'));
    const { buf, truncated } = encodeResponse(q, { ...answer(aRecords(1)), rcode: 'NXDOMAIN' }, false);
    assert.equal(truncated, false);
    const r = dnsPacket.decode(buf);
    assert.equal(r.id, 0x1234);
    assert.equal(r.flag_qr, true);
    assert.equal(r.flag_aa, true);
    assert.equal(r.flag_rd, true);
    assert.equal(r.flag_ra, true);
    assert.equal((r as unknown as { rcode: string }).rcode, 'NXDOMAIN');
    assert.equal(r.questions?.[0].name, 'Web-0.nginx.default.svc.cluster.local', 'the question keeps its case');
    assert.equal(r.additionals?.length ?? 0, 0, 'no OPT without one in the query');
  });

  it('UDP without EDNS: over 512 bytes drops the additional section first (no TC), then answers (TC)', () => {
    const q = query(encodeQuery(1, 'nginx.default.svc.cluster.local', 'A'));
    assert.equal(maxResponseSize(q, false), 512);
    const extra = aRecords(6).map((a) => ({ ...a, name: 'web.nginx.default.svc.cluster.local' }) as Answer);
    const fitsWithoutExtra = encodeResponse(q, answer(aRecords(5), extra), false);
    assert.equal(fitsWithoutExtra.truncated, false);
    const r1 = dnsPacket.decode(fitsWithoutExtra.buf);
    assert.equal(r1.answers?.length, 5);
    assert.equal(r1.additionals?.length ?? 0, 0);
    assert.equal(r1.flag_tc, false);

    const big = encodeResponse(q, answer(aRecords(60)), false);
    assert.equal(big.truncated, true);
    assert.ok(big.buf.length <= 512, `${big.buf.length} bytes`);
    const r2 = dnsPacket.decode(big.buf);
    assert.equal(r2.flag_tc, true);
    assert.ok((r2.answers?.length ?? 0) > 0 && (r2.answers?.length ?? 0) < 60, 'as many answers as fit');
    // One more record would not have fitted.
    const more = dnsPacket.encodingLength({ ...r2, answers: aRecords((r2.answers?.length ?? 0) + 1) });
    assert.ok(more > 512);
  });

  it('EDNS0: the query buffer size (512..4096) applies and OPT is echoed with the DO bit', () => {
    const q = query(encodeQuery(2, 'nginx.default.svc.cluster.local', 'A', { edns: 1232 }));
    assert.equal(maxResponseSize(q, false), 1232);
    const { buf, truncated } = encodeResponse(q, answer(aRecords(20)), false);
    assert.equal(truncated, false, '20 A records fit in 1232 bytes');
    const r = dnsPacket.decode(buf);
    const opt = r.additionals?.find((a) => a.type === 'OPT');
    assert.ok(opt && opt.type === 'OPT');
    assert.equal(opt.ednsVersion, 0);
    const big = encodeResponse(q, answer(aRecords(100)), false);
    assert.equal(big.truncated, true);
    assert.ok(big.buf.length <= 1232);
    assert.ok(dnsPacket.decode(big.buf).additionals?.some((a) => a.type === 'OPT'), 'OPT survives truncation');
    const tiny = query(encodeQuery(3, 'x.cluster.local', 'A', { edns: 100 }));
    assert.equal(maxResponseSize(tiny, false), 512, 'a buffer below 512 counts as 512');
    const huge = query(encodeQuery(3, 'x.cluster.local', 'A', { edns: 65000 }));
    assert.equal(maxResponseSize(huge, false), 4096);
    // DO bit echoed.
    const doQuery = dnsPacket.encode({
      type: 'query',
      id: 9,
      questions: [{ name: 'x.cluster.local', type: 'A' }],
      additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: dnsPacket.DNSSEC_OK, flag_do: true, options: [] }],
    });
    const rd = dnsPacket.decode(encodeResponse(query(doQuery), answer([]), false).buf);
    const opt2 = rd.additionals?.find((a) => a.type === 'OPT');
    assert.ok(opt2 && opt2.type === 'OPT' && opt2.flag_do === true);
  });

  it('TCP is not truncated', () => {
    const q = query(encodeQuery(4, 'nginx.default.svc.cluster.local', 'A'));
    const { buf, truncated } = encodeResponse(q, answer(aRecords(500)), true);
    assert.equal(truncated, false);
    assert.equal(dnsPacket.decode(buf).answers?.length, 500);
  });

  it('EDNS version 1 answers BADVERS', () => {
    const v1 = dnsPacket.encode({
      type: 'query',
      id: 5,
      questions: [{ name: 'x.cluster.local', type: 'A' }],
      additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 1, flags: 0, flag_do: false, options: [] }],
    });
    const q = query(v1);
    assert.equal(badEdnsVersion(q), true);
    const r = dnsPacket.decode(badVersReply(q));
    const opt = r.additionals?.find((a) => a.type === 'OPT');
    assert.ok(opt && opt.type === 'OPT' && opt.extendedRcode === 1, 'BADVERS = extended rcode 1 << 4');
  });

  it('malformed input: FORMERR when the header is readable, nothing otherwise; responses are ignored', () => {
    assert.deepEqual(parseQuery(Buffer.from([1, 2, 3])), { ok: false });
    const garbage = Buffer.concat([Buffer.from([0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]), Buffer.from([0x3f, 0x41])]);
    const p = parseQuery(garbage);
    assert.ok(!p.ok && p.reply, 'FORMERR reply');
    const r = p.reply!;
    assert.equal(r.readUInt16BE(0), 0xabcd, 'same ID');
    assert.equal(r[2] & 0x80, 0x80, 'QR');
    assert.equal(r[2] & 0x01, 0x01, 'RD copied');
    assert.equal(r[3] & 0x0f, 1, 'FORMERR');
    // Two questions: FORMERR.
    const two = dnsPacket.encode({ type: 'query', id: 7, questions: [{ name: 'a.cluster.local', type: 'A' }, { name: 'b.cluster.local', type: 'A' }] });
    const p2 = parseQuery(two);
    assert.ok(!p2.ok && p2.reply && (p2.reply[3] & 0x0f) === 1);
    // A response is never answered.
    const resp = dnsPacket.encode({ type: 'response', id: 8, questions: [{ name: 'a.cluster.local', type: 'A' }] });
    assert.deepEqual(parseQuery(resp), { ok: false });
    // Another opcode (NOTIFY = 4): NOTIMP.
    const notify = Buffer.from(encodeQuery(9, 'a.cluster.local', 'SOA'));
    notify[2] = (notify[2] & 0x87) | (4 << 3);
    const p3 = parseQuery(notify);
    assert.ok(!p3.ok && p3.reply && (p3.reply[3] & 0x0f) === 4);
  });

  it('SERVFAIL keeps the question and the OPT', () => {
    const q = query(encodeQuery(10, 'example.com', 'A', { edns: 1232 }));
    const r = dnsPacket.decode(errorResponse(q, 'SERVFAIL'));
    assert.equal((r as unknown as { rcode: string }).rcode, 'SERVFAIL');
    assert.equal(r.questions?.[0].name, 'example.com');
    assert.ok(r.additionals?.some((a) => a.type === 'OPT'));
  });
});
