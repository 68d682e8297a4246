// The service proxy (ClusterIP → endpoints with nftables), as kube-proxy's nftables mode.
export * from './rules.ts';
export * from './nft.ts';
export * from './service-proxy.ts';
