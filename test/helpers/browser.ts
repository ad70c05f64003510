/**
 * A real headless browser for page tests: Debian's chromium (installed by scripts/setup-test-env.sh)
 * driven by playwright-core. Tests skip with a message naming what is missing, except in CI
 * (CI=true), where a missing browser fails, as missingData does for shared data.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';

/** Where a Chromium executable is looked for, in order ($CHROMIUM_PATH first). */
export function chromiumCandidates(): string[] {
  return [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].filter(
    (p): p is string => typeof p === 'string' && p.length > 0,
  );
}

/** The first Chromium executable found, or null. */
export function chromiumPath(): string | null {
  return chromiumCandidates().find((p) => existsSync(p)) ?? null;
}

/** Why a browser test cannot run, or null when it can; in CI a missing browser is an error, not a skip. */
export function missingBrowser(): string | null {
  if (chromiumPath()) return null;
  const msg = `no Chromium found (looked for ${chromiumCandidates().join(', ')}; scripts/setup-test-env.sh installs Debian's chromium, or set CHROMIUM_PATH)`;
  if (process.env.CI === 'true') throw new Error(msg);
  return msg;
}

/** Launches headless Chromium (throws naming the executable when it cannot start). */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error(missingBrowser() ?? 'no Chromium found');
  try {
    return await chromium.launch({ executablePath, headless: true, args: ['--disable-gpu', '--no-first-run', '--disable-dev-shm-usage'] });
  } catch (e) {
    throw new Error(`could not start ${executablePath}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Problems a page reported: console errors and uncaught exceptions, in order. */
export interface PageProblems {
  readonly messages: string[];
}

/** Collects a page's console errors, uncaught exceptions and failed requests from now on. */
export function collectProblems(page: Page): PageProblems {
  const messages: string[] = [];
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error') messages.push(`console.error: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e: Error) => messages.push(`uncaught: ${e.message}`));
  page.on('requestfailed', (r) => messages.push(`request failed: ${r.url()} (${r.failure()?.errorText ?? 'unknown'})`));
  return { messages };
}
