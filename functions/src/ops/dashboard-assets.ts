import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DASHBOARD_CSS, DASHBOARD_SCRIPT } from './dashboard-client.js';

/**
 * The dashboard's static assets, served by the `ops` function from its own origin: uPlot
 * (MIT, https://github.com/leeoniya/uPlot) read from the installed npm package — a dependency
 * of the deployed functions, so Cloud Build installs exactly the locked version — and the
 * page's own script and stylesheet. No CDN: the page works offline and its CSP names no other
 * origin for code.
 *
 * Each asset's name carries its content hash, so it can be cached for good (`immutable`) and a
 * new deploy is a new name. The page also pins each one with Subresource Integrity.
 */

export interface DashboardAsset {
  name: string;
  contentType: string;
  body: string;
  /** Hex SHA-256 of the body (the name's hash and the ETag). */
  hash: string;
  /** Subresource Integrity value for the page's tag. */
  integrity: string;
}

export interface DashboardAssets {
  uplotJs: DashboardAsset;
  uplotCss: DashboardAsset;
  appJs: DashboardAsset;
  appCss: DashboardAsset;
  uplotVersion: string;
}

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

function asset(stem: string, ext: 'js' | 'css', body: string): DashboardAsset {
  const hash = createHash('sha256').update(body).digest('hex');
  return {
    name: `${stem}.${hash.slice(0, 16)}.${ext}`,
    contentType: ext === 'js' ? JS : CSS,
    body,
    hash,
    integrity: `sha384-${createHash('sha384').update(body).digest('base64')}`,
  };
}

let loaded: DashboardAssets | undefined;

/**
 * Read once, on first use (not at import: every function imports index.ts, and only the
 * dashboard needs uPlot). Throws when the package is missing — a broken install, which the
 * page route answers as an internal error.
 */
export function dashboardAssets(): DashboardAssets {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const pkg = JSON.parse(readFileSync(require.resolve('uplot/package.json'), 'utf8')) as { version?: unknown };
  const version = typeof pkg.version === 'string' ? pkg.version : 'unknown';
  // The IIFE build defines the global `uPlot` the page script uses; the minified one is ~51 kB.
  const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  loaded = {
    uplotJs: asset(`uplot-${version}.min`, 'js', js),
    uplotCss: asset(`uplot-${version}.min`, 'css', css),
    appJs: asset('dashboard', 'js', DASHBOARD_SCRIPT),
    appCss: asset('dashboard', 'css', DASHBOARD_CSS),
    uplotVersion: version,
  };
  return loaded;
}

/** The asset of that exact name, or null (unknown names, and names of an older deploy, are 404). */
export function dashboardAsset(name: string): DashboardAsset | null {
  const a = dashboardAssets();
  return [a.uplotJs, a.uplotCss, a.appJs, a.appCss].find((x) => x.name === name) ?? null;
}
