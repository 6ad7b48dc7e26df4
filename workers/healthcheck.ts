// A container's HEALTHCHECK (Dockerfile, compose.yaml): `node dist/workers/healthcheck.js [url]` exits 0 when the URL
// answers 2xx, else 1. The image has no curl; node is there. Without a URL it probes this worker's /healthz
// (WORKER_HEALTH_PORT); the API's and the stand-in's healthchecks pass their own.

/** Inside the healthchecks' 5 s timeout, so a hung probe counts as a failure rather than killed mid-way. */
const PROBE_TIMEOUT_MS = 4_000;

const url = process.argv[2] ?? `http://127.0.0.1:${process.env.WORKER_HEALTH_PORT ?? '9465'}/healthz`;

fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }).then(
  (response) => process.exit(response.ok ? 0 : 1),
  (error: unknown) => {
    console.error(`${url}: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
