// Where a completion callback may go: a start request's `callbackUrl` is checked against CALLBACK_ALLOWED_HOSTS when
// the job is started (400, nothing started) and again before every POST (the setting may have changed since). Pure,
// so the start request's validation and the sending activity apply one rule.

import type { Config } from '../../config';

export type CallbackSettings = Pick<Config, 'CALLBACK_ALLOWED_HOSTS' | 'CALLBACK_SECRET'>;

/** Longest callback URL: far beyond any real endpoint, and it is kept in the job's input and delivery record. */
export const CALLBACK_URL_MAX_LENGTH = 2_000;

/**
 * Whether `url` is one allow-list entry's: a host entry (`hooks.example.com`, or `10.0.0.5:9000` with its port) names
 * the URL's host exactly; a URL-prefix entry (`https://hooks.example.com/synapse/`) has the same scheme, host and port,
 * and a path the URL's path starts with at a `/` boundary (`/synapse` does not admit `/synapse-evil`).
 */
function allowedBy(entry: string, url: URL): boolean {
  if (!/^https?:\/\//i.test(entry)) {
    const host = entry.toLowerCase();
    return host.includes(':') ? url.host === host : url.hostname === host && url.port === '';
  }
  let prefix: URL;
  try {
    prefix = new URL(entry);
  } catch {
    return false;
  }
  if (prefix.origin !== url.origin) return false;
  const path = prefix.pathname.endsWith('/') ? prefix.pathname : `${prefix.pathname}/`;
  return url.pathname === prefix.pathname || url.pathname.startsWith(path);
}

/** Why the job may not call `text` back, or undefined when it may. */
export function callbackUrlProblem(text: string, settings: CallbackSettings): string | undefined {
  if (!settings.CALLBACK_SECRET) return 'callbacks are not configured on this server (CALLBACK_SECRET is unset)';
  if (text.length > CALLBACK_URL_MAX_LENGTH) return `is longer than ${CALLBACK_URL_MAX_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http or https URL';
  // Credentials in a URL end up in logs and in the job's input; a receiver authenticates us by the signature instead.
  if (url.username !== '' || url.password !== '') return 'must not carry a user name or password';
  if (!settings.CALLBACK_ALLOWED_HOSTS.some((entry) => allowedBy(entry, url)))
    return `points outside the hosts callbacks may go to (CALLBACK_ALLOWED_HOSTS)`;
  return undefined;
}
