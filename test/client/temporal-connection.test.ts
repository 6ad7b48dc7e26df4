// How the processes find Temporal: the standard TEMPORAL_* variables and TOML profiles resolve to the
// connection options client and worker use, and with neither the dev server's defaults hold. No network.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config';
import { loadTemporalSettings, temporalConnectionOptions } from '../../config/temporal-connection';

const PROFILES = `
[profile.default]
address = "temporal.internal:7233"
namespace = "jobs"

[profile.cloud]
address = "synapse.a1b2c.tmprl.cloud:7233"
namespace = "synapse.a1b2c"
api_key = "cloud-api-key"

[profile.mtls]
address = "temporal.internal:7233"
namespace = "jobs"
[profile.mtls.tls]
client_cert_data = "CLIENT CERT"
client_key_data = "CLIENT KEY"
server_ca_cert_data = "CA CERT"
server_name = "temporal.example"
`;

let dir: string;
let configFile: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'synapse-envconfig-'));
  configFile = path.join(dir, 'temporal.toml');
  writeFileSync(configFile, PROFILES);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An environment that reads no file the developer may have in their home directory. */
const bare = () => ({ TEMPORAL_CONFIG_FILE: path.join(dir, 'absent.toml') });
const bytes = (text: string) => Buffer.from(text, 'utf8');

test('with no variables and no profile, the dev server address and namespace apply, in plaintext', () => {
  expect(loadTemporalSettings(bare())).toEqual({ namespace: 'default', connection: { address: '127.0.0.1:7233' } });
  const config = loadConfig(bare());
  expect([config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE]).toEqual(['127.0.0.1:7233', 'default']);
  expect(temporalConnectionOptions(config, bare())).toEqual({ address: '127.0.0.1:7233' });
});

test('TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE set the connection as they always did', () => {
  const env = { ...bare(), TEMPORAL_ADDRESS: '10.0.0.5:7233', TEMPORAL_NAMESPACE: 'synapse' };
  const config = loadConfig(env);
  expect([config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE]).toEqual(['10.0.0.5:7233', 'synapse']);
  expect(temporalConnectionOptions(config, env)).toEqual({ address: '10.0.0.5:7233' });
});

test('the default profile of TEMPORAL_CONFIG_FILE applies when no profile is named', () => {
  const config = loadConfig({ TEMPORAL_CONFIG_FILE: configFile });
  expect([config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE]).toEqual(['temporal.internal:7233', 'jobs']);
});

test('a Temporal Cloud profile with an API key gives address, namespace, the key and TLS', () => {
  const env = { TEMPORAL_CONFIG_FILE: configFile, TEMPORAL_PROFILE: 'cloud' };
  expect(loadTemporalSettings(env)).toEqual({
    namespace: 'synapse.a1b2c',
    connection: { address: 'synapse.a1b2c.tmprl.cloud:7233', apiKey: 'cloud-api-key', tls: true },
  });
  const config = loadConfig(env);
  expect([config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE]).toEqual([
    'synapse.a1b2c.tmprl.cloud:7233',
    'synapse.a1b2c',
  ]);
  expect(temporalConnectionOptions(config, env)).toEqual({
    address: 'synapse.a1b2c.tmprl.cloud:7233',
    apiKey: 'cloud-api-key',
    tls: true,
  });
});

test('an mTLS profile gives the client certificate pair, the server CA and the server name', () => {
  const { connection } = loadTemporalSettings({ TEMPORAL_CONFIG_FILE: configFile, TEMPORAL_PROFILE: 'mtls' });
  expect(connection.address).toBe('temporal.internal:7233');
  expect(connection.apiKey).toBeUndefined();
  expect(connection.tls).toEqual({
    serverNameOverride: 'temporal.example',
    serverRootCACertificate: bytes('CA CERT'),
    clientCertPair: { crt: bytes('CLIENT CERT'), key: bytes('CLIENT KEY') },
  });
});

test('variables override the profile: address, API key, and TEMPORAL_TLS=false for a plaintext proxy', () => {
  const env = {
    TEMPORAL_CONFIG_FILE: configFile,
    TEMPORAL_PROFILE: 'cloud',
    TEMPORAL_ADDRESS: 'proxy.internal:7233',
    TEMPORAL_API_KEY: 'rotated-key',
    TEMPORAL_TLS: 'false',
  };
  expect(loadTemporalSettings(env)).toEqual({
    namespace: 'synapse.a1b2c',
    connection: { address: 'proxy.internal:7233', apiKey: 'rotated-key', tls: false },
  });
});

test('an API key from the environment alone turns TLS on; an empty one counts as unset', () => {
  expect(
    loadTemporalSettings({ ...bare(), TEMPORAL_ADDRESS: 'x.tmprl.cloud:7233', TEMPORAL_API_KEY: 'k' }).connection,
  ).toEqual({ address: 'x.tmprl.cloud:7233', apiKey: 'k', tls: true });
  expect(loadTemporalSettings({ ...bare(), TEMPORAL_API_KEY: '' }).connection).toEqual({ address: '127.0.0.1:7233' });
});

test('a profile that does not exist is a configuration error naming the setting', () => {
  expect(() => loadConfig({ TEMPORAL_CONFIG_FILE: configFile, TEMPORAL_PROFILE: 'staging' })).toThrow(
    /Invalid configuration:[\s\S]*TEMPORAL_PROFILE[\s\S]*'staging' not found/,
  );
});
