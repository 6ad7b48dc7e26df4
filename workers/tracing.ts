// The worker's tracing, started by its first import in workers/main.ts when the OTEL_* settings ask for it
// (config/tracing.ts): before pg and http load, because the instrumentations patch a module as it is first required
// and never one loaded earlier. workers/create-worker.ts takes the activity interceptors and the workflow sink from it.

import { startProcessTracing } from '../config/tracing';

startProcessTracing('synapse-jobs-worker', 'worker');
