// A network namespace joined to the root namespace by a veth pair with loopback-range addresses
// (127.200.N.1 here, 127.200.N.2 inside). Such addresses are martians on a non-loopback interface unless
// route_localnet is on, so it is switched on for the two veth ends only, never system-wide.

import { execFileSync } from 'node:child_process';

export interface IsolatedNetwork {
  name: string;
  /** The root namespace's end: services for the isolated worker listen here. */
  hostAddress: string;
  /** Runs a command inside the namespace (it must exec its program, so the pid is the program's). */
  wrapper: string[];
  /** Drops every packet both ways; TCP connections stay open, as across a real partition. */
  cut(): void;
  restore(): void;
  destroy(): void;
}

const run = (...args: string[]) =>
  execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** True when this process may create namespaces (root with iproute2), as in CI. */
export function canIsolateNetwork(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    run('ip', 'netns', 'list');
    return true;
  } catch {
    return false;
  }
}

export function createIsolatedNetwork(): IsolatedNetwork {
  const id = process.pid % 10_000;
  const name = `sjfault${id}`;
  const [hostIf, nsIf] = [`sjf${id}h`, `sjf${id}n`];
  const subnet = `127.200.${process.pid % 250}`;
  const hostAddress = `${subnet}.1`;
  const destroy = () => {
    for (const args of [
      ['ip', 'route', 'del', 'blackhole', `${subnet}.2/32`],
      ['ip', 'link', 'del', hostIf],
      ['ip', 'netns', 'del', name],
    ]) {
      try {
        run(...args);
      } catch {
        // Already gone.
      }
    }
  };
  destroy();
  run('ip', 'netns', 'add', name);
  run('ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
  run('ip', 'link', 'set', nsIf, 'netns', name);
  run('sysctl', '-qw', `net.ipv4.conf.${hostIf}.route_localnet=1`);
  run('ip', 'addr', 'add', `${hostAddress}/30`, 'dev', hostIf);
  run('ip', 'link', 'set', hostIf, 'up');
  const inside = (...args: string[]) => run('ip', 'netns', 'exec', name, ...args);
  inside('sysctl', '-qw', 'net.ipv4.conf.all.route_localnet=1', `net.ipv4.conf.${nsIf}.route_localnet=1`);
  inside('ip', 'addr', 'add', `${subnet}.2/30`, 'dev', nsIf);
  inside('ip', 'link', 'set', nsIf, 'up');
  inside('ip', 'link', 'set', 'lo', 'up');
  return {
    name,
    hostAddress,
    wrapper: ['ip', 'netns', 'exec', name],
    // Not `ip link set down`: with the veth route gone, the root namespace's own 127.0.0.0/8 route answers
    // for the worker's address with resets, which no real partition does. Blackhole routes lose packets silently.
    cut: () => {
      run('ip', 'route', 'add', 'blackhole', `${subnet}.2/32`);
      inside('ip', 'route', 'add', 'blackhole', `${hostAddress}/32`);
    },
    restore: () => {
      run('ip', 'route', 'del', 'blackhole', `${subnet}.2/32`);
      inside('ip', 'route', 'del', 'blackhole', `${hostAddress}/32`);
    },
    destroy,
  };
}
