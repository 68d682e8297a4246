// The cluster DNS server: state (indexes fed by informers), the answer builder, wire format
// (dns-packet), forwarding, and the UDP/TCP server.
export { startDnsServer, DNS_USER_AGENT, type DnsServer, type DnsServerOptions, type DnsListen, type DnsStats } from './server.ts';
export { buildAnswer, addressFromReverse, normalizeName, soaRecord, DNS_SCHEMA_VERSION, type AnswerConfig, type AnswerResult, type BuiltAnswer, type Rcode } from './answers.ts';
export { DnsState, dnsServiceOf, dnsEndpointsOfSlice, dnsEndpointsOfEndpoints, endpointHostname, ipKey, type DnsEndpoint, type DnsPort, type DnsService, type DnsView } from './state.ts';
export { parseQuery, encodeResponse, encodeQuery, errorResponse, headerReply, maxResponseSize, MAX_UDP_PLAIN, MAX_UDP_EDNS, MAX_TCP, type ParsedQuery } from './message.ts';
export { Forwarder, parseUpstream, parseResolvConf, defaultUpstreams, withoutSelf, type Upstream } from './forward.ts';
