/**
 * The Google Cloud CLI's Firestore emulator component ships a jar without a `Main-Class`
 * (its own shell wrapper names the class), while firebase-tools starts the Firestore emulator
 * with `java -jar <FIRESTORE_EMULATOR_BINARY_PATH>`. A launcher jar whose manifest names the
 * class and puts the component jar on its `Class-Path` bridges the two. It holds nothing but
 * that manifest, so it is written here directly as a stored (uncompressed) zip.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { crc32 } from 'node:zlib';

export const FIRESTORE_EMULATOR_MAIN_CLASS = 'com.google.cloud.datastore.emulator.firestore.CloudFirestore';

/** Manifest text: lines of at most 72 bytes, continued with a leading space (JAR spec). */
export function launcherManifest(componentJar: string, mainClass = FIRESTORE_EMULATOR_MAIN_CLASS): string {
  const headers = ['Manifest-Version: 1.0', `Main-Class: ${mainClass}`, `Class-Path: ${pathToFileURL(componentJar).href}`, 'Created-By: haltgate dev/emulators'];
  const lines: string[] = [];
  for (const header of headers) {
    let rest = Buffer.from(header, 'utf8');
    let first = true;
    while (rest.length > 0) {
      const room = first ? 72 : 71;
      lines.push((first ? '' : ' ') + rest.subarray(0, room).toString('utf8'));
      rest = rest.subarray(room);
      first = false;
    }
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** A zip archive holding the given files uncompressed. */
export function storedZip(files: Array<{ name: string; data: Buffer }>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const file of files) {
    const name = Buffer.from(file.name, 'utf8');
    const crc = crc32(file.data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0, 10); // time, date
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(file.data.length, 18);
    local.writeUInt32LE(file.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt32LE(0, 12);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(file.data.length, 20);
    central.writeUInt32LE(file.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, file.data);
    centrals.push(central, name);
    offset += local.length + name.length + file.data.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

/** Writes the launcher jar at `target` (atomically: concurrent writers each rename a whole file). */
export function writeLauncherJar(target: string, componentJar: string): string {
  const jar = storedZip([{ name: 'META-INF/MANIFEST.MF', data: Buffer.from(launcherManifest(componentJar), 'utf8') }]);
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, jar, { mode: 0o755 });
  renameSync(tmp, target);
  return target;
}
