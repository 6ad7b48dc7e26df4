// A TCP forwarder in the test process: makes a service that listens on 127.0.0.1 reachable on another
// address (a veth's, for a worker in its own network namespace), and can cut every connection through it.

import net from 'node:net';

export interface TcpProxy {
  host: string;
  port: number;
  /** Connections currently open through the proxy. */
  openConnections(): number;
  /** Local ports of the proxy's connections to the target (e.g. to find their PostgreSQL backends). */
  upstreamPorts(): number[];
  /** Destroys every open connection (both sides); new ones are still accepted. */
  cutAll(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(listenHost: string, target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, listenHost, () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  const cutAll = () => {
    const n = pairs.size;
    for (const [a, b] of [...pairs]) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
    return n;
  };
  return {
    host: listenHost,
    port,
    openConnections: () => pairs.size,
    upstreamPorts: () => [...pairs].map(([, upstream]) => upstream.localPort).filter((p): p is number => p !== undefined),
    cutAll,
    close: () => {
      cutAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
