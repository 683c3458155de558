/**
 * Finding Java 21+ and the official emulator binaries, offline, in the documented order — and
 * one error that names every missing piece. Fake JVMs and SDK folders in a temp dir.
 */
import fc from 'fast-check';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  EmulatorSetupError,
  findFirestoreEmulator,
  findJava,
  findPubSubEmulator,
  locateEmulatorPieces,
  parseJavaVersion,
} from '../../../../dev/emulators/locate.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'haltgate-locate-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A JVM home whose bin/java prints `version` like OpenJDK does (on stderr). */
function fakeJvm(name: string, version: string): string {
  const home = join(dir, 'jvm', name);
  mkdirSync(join(home, 'bin'), { recursive: true });
  const java = join(home, 'bin', 'java');
  writeFileSync(java, `#!/bin/sh\necho 'openjdk version "${version}" 2026-01-01' >&2\n`);
  chmodSync(java, 0o755);
  return home;
}

function touch(path: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, '');
  return path;
}

const noPath = { PATH: '/nonexistent', HOME: '/nonexistent' };

describe('parseJavaVersion', () => {
  it('reads the major version of modern and legacy version strings', () => {
    expect(parseJavaVersion('openjdk version "17.0.15" 2025-04-15')).toBe(17);
    expect(parseJavaVersion('openjdk version "25.0.3" 2026-04-21 LTS')).toBe(25);
    expect(parseJavaVersion('openjdk version "21" 2023-09-19')).toBe(21);
    expect(parseJavaVersion('java version "1.8.0_392"')).toBe(8);
    expect(parseJavaVersion('no java here')).toBeNull();
  });

  it('property: any "N.x.y" string gives N', () => {
    fc.assert(
      fc.property(fc.integer({ min: 9, max: 99 }), fc.nat(99), fc.nat(99), (major, minor, patch) => {
        expect(parseJavaVersion(`openjdk version "${major}.${minor}.${patch}"`)).toBe(major);
      }),
    );
  });
});

describe('findJava', () => {
  it('takes JAVA_HOME when it is 21 or newer', () => {
    fakeJvm('temurin-25', '25.0.3');
    const home = fakeJvm('zulu-21', '21.0.2');
    expect(findJava({ ...noPath, JAVA_HOME: home }, join(dir, 'jvm'))).toEqual({ home, major: 21 });
  });

  it('passes over a JAVA_HOME older than 21 and takes the newest installed JVM', () => {
    const old = fakeJvm('java-17', '17.0.15');
    fakeJvm('java-21', '21.0.1');
    const newest = fakeJvm('temurin-25', '25.0.3');
    expect(findJava({ ...noPath, JAVA_HOME: old }, join(dir, 'jvm'))).toEqual({ home: newest, major: 25 });
  });

  it('names what it looked at when only older JVMs exist', () => {
    fakeJvm('java-17', '17.0.15');
    const found = findJava(noPath, join(dir, 'jvm'));
    expect(found).toMatchObject({ problem: expect.stringContaining('Java 21 or newer') });
    expect((found as { problem: string }).problem).toContain('java-17 (17)');
  });
});

describe('emulator binaries', () => {
  it('an explicit *_EMULATOR_BINARY_PATH wins, and a wrong one is an error, not a fallback', () => {
    const sdk = join(dir, 'sdk');
    touch(join(sdk, 'platform/cloud-firestore-emulator/cloud-firestore-emulator.jar'));
    const jar = touch(join(dir, 'my-firestore.jar'));
    expect(findFirestoreEmulator({ ...noPath, FIRESTORE_EMULATOR_BINARY_PATH: jar }, sdk)).toMatchObject({ kind: 'runnable-jar', path: jar });
    expect(findFirestoreEmulator({ ...noPath, FIRESTORE_EMULATOR_BINARY_PATH: join(dir, 'gone.jar') }, sdk)).toMatchObject({
      problem: expect.stringContaining('gone.jar does not exist'),
    });
  });

  it("firebase-tools' cache comes before the Google Cloud CLI components", () => {
    const home = join(dir, 'home');
    const sdk = join(dir, 'sdk');
    touch(join(sdk, 'platform/cloud-firestore-emulator/cloud-firestore-emulator.jar'));
    touch(join(sdk, 'platform/pubsub-emulator/bin/cloud-pubsub-emulator'));
    expect(findFirestoreEmulator({ ...noPath, HOME: home }, sdk)).toMatchObject({ kind: 'component-jar' });
    expect(findPubSubEmulator({ ...noPath, HOME: home }, sdk)).toMatchObject({ from: expect.stringContaining('Google Cloud CLI') });

    const cachedJar = touch(join(home, '.cache/firebase/emulators/cloud-firestore-emulator-v1.20.2.jar'));
    const cachedPubsub = touch(join(home, '.cache/firebase/emulators/pubsub-emulator-0.8.25/pubsub-emulator/bin/cloud-pubsub-emulator'));
    expect(findFirestoreEmulator({ ...noPath, HOME: home }, sdk)).toEqual({ kind: 'runnable-jar', path: cachedJar, from: "firebase-tools' cache" });
    expect(findPubSubEmulator({ ...noPath, HOME: home }, sdk)).toEqual({ path: cachedPubsub, from: "firebase-tools' cache" });
  });

  it('one error names every missing piece and how to get it', () => {
    fakeJvm('java-17', '17.0.15');
    let error: unknown;
    try {
      locateEmulatorPieces({ ...noPath, HOME: join(dir, 'home') }, { jvmDir: join(dir, 'jvm'), sdkRoot: null });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(EmulatorSetupError);
    const e = error as EmulatorSetupError;
    expect(e.missing).toHaveLength(3);
    expect(e.message).toMatch(/Java 21 or newer/);
    expect(e.message).toMatch(/setup:emulators:firestore/);
    expect(e.message).toMatch(/setup:emulators:pubsub/);
    expect(e.message).toMatch(/no fallback/);
  });

  it('finds everything when it is there', () => {
    const java = fakeJvm('temurin-25', '25.0.3');
    const sdk = join(dir, 'sdk');
    const jar = touch(join(sdk, 'platform/cloud-firestore-emulator/cloud-firestore-emulator.jar'));
    const pubsub = touch(join(sdk, 'platform/pubsub-emulator/bin/cloud-pubsub-emulator'));
    expect(locateEmulatorPieces({ ...noPath, HOME: join(dir, 'home') }, { jvmDir: join(dir, 'jvm'), sdkRoot: sdk })).toEqual({
      javaHome: java,
      javaMajor: 25,
      firestore: { kind: 'component-jar', path: jar, from: expect.any(String) },
      pubsub: { path: pubsub, from: expect.any(String) },
    });
  });
});
