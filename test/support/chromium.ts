// Debian's headless Chromium (or CHROMIUM_PATH's), driven by playwright-core, for the browser suites (the jobs page, a
// job's page, the API reference page): one set of flags, so every suite runs the browser the same quiet way.

import { chromium, type Browser } from 'playwright-core';

/** Headless, no sandbox (CI runs as root), and nothing that would reach the network on its own. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
}
