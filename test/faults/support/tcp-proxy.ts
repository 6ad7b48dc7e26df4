// A TCP forwarder in the test process: makes a service that listens on 127.0.0.1 reachable on another
// address (a veth's, for a worker in its own network namespace), can cut every connection through it, and
// can hold them: bytes stop flowing both ways while the connections stay open, as behind a hung link.

import net from 'node:net';

export interface TcpProxy {
  host: string;
  port: number;
  /** Connections currently open through the proxy. */
  openConnections(): number;
  /**
   * Bytes received from clients so far (forwarded or held): how a test sees a client talking again after a partition.
   */
  bytesFromClients(): number;
  /** Local ports of the proxy's connections to the target (e.g. to find their PostgreSQL backends). */
  upstreamPorts(): number[];
  /** Destroys every open connection (both sides); new ones are still accepted. */
  cutAll(): number;
  /** From now on nothing is forwarded either way (open and new connections alike); what arrives is kept. */
  hold(): void;
  /** Forwards what was held, in order, and everything after. */
  release(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(listenHost: string, target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  let held = false;
  let fromClients = 0;
  const flushes = new Set<() => void>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      flushes.delete(flush);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    // Forwarded by hand rather than piped, so that a hold can keep what arrives instead of passing it on.
    const pending: [net.Socket, Buffer][] = [];
    const forward = (to: net.Socket) => (chunk: Buffer) => {
      if (held) pending.push([to, chunk]);
      else to.write(chunk);
    };
    const flush = () => {
      for (const [to, chunk] of pending.splice(0)) to.write(chunk);
    };
    flushes.add(flush);
    client.on('data', (chunk: Buffer) => (fromClients += chunk.length));
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
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
    bytesFromClients: () => fromClients,
    upstreamPorts: () =>
      [...pairs].map(([, upstream]) => upstream.localPort).filter((p): p is number => p !== undefined),
    cutAll,
    hold: () => {
      held = true;
    },
    release: () => {
      held = false;
      for (const flush of flushes) flush();
    },
    close: () => {
      cutAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
