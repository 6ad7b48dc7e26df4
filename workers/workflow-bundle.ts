// The prebuilt workflow bundles' file names, beside the compiled code: written by `npm run build` (scripts/build-dist.ts)
// and found by a worker run from dist/ (workers/create-worker.ts). The traced one also holds the OpenTelemetry workflow
// interceptors, which a prebuilt bundle cannot be given at start; a worker that does not trace never loads them.

/** `workflow-bundle.js`, or with the tracing interceptors `workflow-bundle-traced.js`. */
export function workflowBundleFile(traced: boolean): string {
  return traced ? 'workflow-bundle-traced.js' : 'workflow-bundle.js';
}
