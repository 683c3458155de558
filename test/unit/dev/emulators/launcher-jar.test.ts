/**
 * The Firestore emulator's launcher jar: a manifest within the JAR spec's 72-byte lines, a
 * zip that standard tools read. (That java starts the emulator from it is shown by every
 * emulator-backed test: `npm test` starts the Firestore emulator through it.)
 */
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIRESTORE_EMULATOR_MAIN_CLASS, launcherManifest, writeLauncherJar } from '../../../../dev/emulators/launcher-jar.js';

/** The manifest's headers, continuation lines joined back (JAR spec). */
function parseManifest(text: string): Record<string, string> {
  const lines = text.split('\r\n');
  const joined: string[] = [];
  for (const line of lines) {
    if (line.startsWith(' ')) joined[joined.length - 1] += line.slice(1);
    else if (line !== '') joined.push(line);
  }
  return Object.fromEntries(joined.map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]));
}

describe('launcherManifest', () => {
  it('names the main class and the component jar as a file URL', () => {
    const headers = parseManifest(launcherManifest('/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar'));
    expect(headers['Main-Class']).toBe(FIRESTORE_EMULATOR_MAIN_CLASS);
    expect(headers['Class-Path']).toBe('file:///usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar');
  });

  it('property: every line fits 72 bytes and folding loses nothing, whatever the path', () => {
    // Normalised absolute paths (what the locator finds): no "." or ".." segments.
    const segment = fc.stringMatching(/^[a-zA-Z0-9 ._-]{1,40}$/).filter((s) => s !== '.' && s !== '..');
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 8 }), (parts) => {
        const path = `/${parts.join('/')}/cloud-firestore-emulator.jar`;
        const text = launcherManifest(path);
        for (const line of text.split('\r\n')) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(72);
        expect(decodeURIComponent(new URL(parseManifest(text)['Class-Path']!).pathname)).toBe(path);
      }),
    );
  });
});

describe('writeLauncherJar', () => {
  it('writes a zip that unzip reads, holding exactly the manifest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'haltgate-jar-'));
    try {
      const jar = writeLauncherJar(join(dir, 'launcher.jar'), '/opt/some where/cloud-firestore-emulator.jar');
      execFileSync('unzip', ['-tq', jar]); // throws on a bad archive or CRC
      const manifest = execFileSync('unzip', ['-p', jar, 'META-INF/MANIFEST.MF'], { encoding: 'utf8' });
      expect(manifest).toBe(launcherManifest('/opt/some where/cloud-firestore-emulator.jar'));
      expect(execFileSync('unzip', ['-Z1', jar], { encoding: 'utf8' }).trim()).toBe('META-INF/MANIFEST.MF');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
