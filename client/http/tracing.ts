// The API's tracing, started by the first import of client/http/main.ts when the OTEL_* settings ask for it
// (config/tracing.ts): before http and pg load, because the instrumentations patch a module as it is first required
// and never one loaded earlier. A request's span is named by its route here, which the HTTP layer does not know.

import { startProcessTracing } from '../../config/tracing';
import type { ApiServer } from './server';

const tracing = startProcessTracing('synapse-jobs-api', 'api');

/** Names each traced request's span by method and route template (`GET /api/v1/jobs/:id`); nothing when tracing is off. */
export function nameRequestSpans(server: ApiServer): void {
  if (!tracing) return;
  server.addHook('onRequest', (request, _reply, done) => {
    // A request no route matched keeps the method alone: its raw path would make a span name per URL.
    const route = request.routeOptions.url;
    if (route !== undefined) tracing.nameRequestSpan(request.method, route);
    done();
  });
}
