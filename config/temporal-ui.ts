// Links into the Temporal Web UI, built in one place from TEMPORAL_UI_URL and the namespace, so every process
// that shows one (the demo, and any page or status answer that adds one) points where the operator said.

import type { Config } from './index';

/**
 * The Web UI page of a workflow (its latest run): `TEMPORAL_UI_URL/namespaces/NAMESPACE/workflows/ID`.
 *
 * @example temporalUiLink(config, jobId) // http://localhost:8233/namespaces/default/workflows/3f2a…
 */
export function temporalUiLink(
  config: Pick<Config, 'TEMPORAL_UI_URL' | 'TEMPORAL_NAMESPACE'>,
  workflowId: string,
): string {
  const base = config.TEMPORAL_UI_URL.replace(/\/+$/, '');
  return `${base}/namespaces/${encodeURIComponent(config.TEMPORAL_NAMESPACE)}/workflows/${encodeURIComponent(workflowId)}`;
}
