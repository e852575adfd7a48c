// A fault layer over QueueFs for tests: a disk that fills up, writes that
// stop half-way, fsyncs that fail. Faults can be switched on and off while
// a queue runs.

import type { QueueFile, QueueFs } from './files.js';

export interface Faults {
  /** Writes fail with ENOSPC once this many bytes were written through the layer (undefined: never). */
  diskBytes?: number;
  /** The next write puts only this many bytes on disk, then fails (a crash or I/O error mid-record). */
  tearNextWriteAt?: number;
  /** fsyncs fail with EIO. */
  failSync?: boolean;
}

function ioError(code: string, message: string): NodeJS.ErrnoException {
  const e = new Error(`${code}: ${message}`) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

export class FaultyFs implements QueueFs {
  written = 0;
  syncs = 0;
  /** write() calls (each a positional writev). */
  writes = 0;

  constructor(
    private readonly inner: QueueFs,
    readonly faults: Faults = {},
  ) {}

  mkdirp(dir: string): Promise<void> {
    return this.inner.mkdirp(dir);
  }
  list(dir: string): Promise<string[]> {
    return this.inner.list(dir);
  }
  readAll(path: string): Promise<Buffer> {
    return this.inner.readAll(path);
  }
  readOptional(path: string): Promise<Buffer | undefined> {
    return this.inner.readOptional(path);
  }
  size(path: string): Promise<number> {
    return this.inner.size(path);
  }
  remove(path: string): Promise<void> {
    return this.inner.remove(path);
  }
  syncDir(dir: string): Promise<void> {
    return this.inner.syncDir(dir);
  }

  async open(path: string): Promise<QueueFile> {
    const file = await this.inner.open(path);
    const fs = this;
    return {
      async write(chunks: Buffer[], position: number): Promise<void> {
        fs.writes++;
        const data = Buffer.concat(chunks);
        // Space is accounted before the first await: concurrent writes see each other.
        const tear = fs.faults.tearNextWriteAt;
        if (tear !== undefined) {
          fs.faults.tearNextWriteAt = undefined;
          fs.written += Math.min(tear, data.byteLength);
          await file.write([data.subarray(0, tear)], position);
          throw ioError('EIO', `write torn after ${tear} of ${data.byteLength} bytes`);
        }
        const limit = fs.faults.diskBytes;
        if (limit !== undefined && fs.written + data.byteLength > limit) {
          // A full disk takes what fits, then refuses.
          const room = Math.max(0, limit - fs.written);
          fs.written += room;
          if (room > 0) await file.write([data.subarray(0, room)], position);
          throw ioError('ENOSPC', 'no space left on device');
        }
        fs.written += data.byteLength;
        await file.write([data], position);
      },
      async sync(): Promise<void> {
        fs.syncs++;
        if (fs.faults.failSync) throw ioError('EIO', 'fsync failed');
        await file.sync();
      },
      read: (position, length) => file.read(position, length),
      close: () => file.close(),
    };
  }
}
