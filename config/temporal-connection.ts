// Where every process gets its Temporal connection from: the standard TEMPORAL_* variables and TOML
// profile (`@temporalio/envconfig`, the same rules as the `temporal` CLI), so one build runs against the
// dev server, a self-hosted cluster or Temporal Cloud by configuration alone.

import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';

/** The dev server `temporal-dev.sh` and the tests start; used when neither variables nor profile say otherwise. */
export const DEV_TEMPORAL_ADDRESS = '127.0.0.1:7233';
export const DEV_TEMPORAL_NAMESPACE = 'default';

/** What both the client's `Connection` and the worker's `NativeConnection` accept. */
export type TemporalConnectionOptions = Required<Pick<NativeConnectionOptions, 'address'>> &
  Pick<NativeConnectionOptions, 'tls' | 'apiKey' | 'metadata'>;

export interface TemporalSettings {
  connection: TemporalConnectionOptions;
  namespace: string;
}

/**
 * Resolves the profile named by TEMPORAL_PROFILE (default `default`) in TEMPORAL_CONFIG_FILE (default the
 * user's temporalio/temporal.toml), overridden by TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
 * TEMPORAL_TLS*, TEMPORAL_GRPC_META_*. An API key turns TLS on unless TEMPORAL_TLS=false says otherwise.
 */
export function loadTemporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  // Empty variables mean "not set" here, as they do for the rest of our configuration.
  const setVariables = Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => typeof entry[1] === 'string' && entry[1] !== ''),
  );
  const { connectionOptions, namespace } = loadClientConnectConfig({ overrideEnvVars: setVariables });
  return {
    namespace: namespace ?? DEV_TEMPORAL_NAMESPACE,
    connection: {
      address: connectionOptions.address ?? DEV_TEMPORAL_ADDRESS,
      ...(connectionOptions.tls === undefined ? {} : { tls: connectionOptions.tls }),
      ...(connectionOptions.apiKey === undefined ? {} : { apiKey: connectionOptions.apiKey }),
      ...(connectionOptions.metadata && Object.keys(connectionOptions.metadata).length
        ? { metadata: connectionOptions.metadata }
        : {}),
    },
  };
}

/**
 * Connection options for `Connection.connect` (client) and `NativeConnection.connect` (worker). The address
 * comes from the loaded config (which resolved it from the same profile, and which tests may point
 * elsewhere); credentials and TLS come from the environment and profile.
 */
export function temporalConnectionOptions(
  config: { TEMPORAL_ADDRESS: string },
  env: NodeJS.ProcessEnv = process.env,
): TemporalConnectionOptions {
  return { ...loadTemporalSettings(env).connection, address: config.TEMPORAL_ADDRESS };
}
