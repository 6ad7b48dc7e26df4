// `npm run standin`: the LLM stand-in as its own process, for a worker or benchmark in another process
// to point OPENAI_BASE_URL at and drive through the /_standin control endpoints.

import { parseArgs } from 'node:util';
import { defaultResponders } from './responders/index';
import { startLlmStandin } from './server';

function nonNegativeInteger(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0)
    throw new Error(`--${name} must be a non-negative integer, got '${value}'`);
  return number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string' }, 'latency-ms': { type: 'string' }, host: { type: 'string' } },
  });
  const port = nonNegativeInteger('port', values.port, 0);
  const latencyMs = nonNegativeInteger('latency-ms', values['latency-ms'], 0);
  const standin = await startLlmStandin({
    port,
    host: values.host,
    responders: defaultResponders,
    faults: { latencyMs },
  });
  console.log(`LLM stand-in listening on ${standin.url}`);

  const stop = (signal: NodeJS.Signals) => {
    console.log(`${signal}: stopping the LLM stand-in`);
    standin.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('LLM stand-in did not close cleanly', error);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
