// A TCP proxy to a port on 127.0.0.1 that a test can cut and restore, to play a network
// partition between a client (a node agent) and a server: cut() drops every connection and
// accepts new ones without ever answering (a black hole: requests hang until they time out);
// restore() forwards again (and drops the black-holed connections, so clients reconnect).
import net from 'node:net';

/** A TCP proxy to 127.0.0.1:port that can be cut (a black hole) and restored. */
export class CuttableProxy {
  readonly server: net.Server;
  private readonly live = new Set<net.Socket>();
  private readonly holes = new Set<net.Socket>();
  private isCut = false;

  constructor(private readonly port: number) {
    this.server = net.createServer((client) => {
      if (this.isCut) {
        this.holes.add(client);
        client.on('error', () => undefined);
        client.on('close', () => this.holes.delete(client));
        return;
      }
      const upstream = net.connect(this.port, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.live.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          this.live.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as net.AddressInfo).port;
  }

  cut(): void {
    this.isCut = true;
    for (const s of this.live) s.destroy();
  }

  restore(): void {
    this.isCut = false;
    for (const s of this.holes) s.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    for (const s of this.holes) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}
