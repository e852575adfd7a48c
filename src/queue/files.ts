// The durable queue's only way to the disk. Everything the queue does to
// files goes through QueueFs / QueueFile, so tests can put a fault layer in
// between (short writes, a full disk, failing fsyncs) and so the queue code
// never touches `fs` directly.

import { constants } from 'node:fs';
import { type FileHandle, mkdir, open, readFile, readdir, stat, unlink } from 'node:fs/promises';

export interface QueueFile {
  /** Writes all of `chunks` at `position` (positional: concurrent writes to distinct ranges are fine); throws otherwise. */
  write(chunks: Buffer[], position: number): Promise<void>;
  /** fsync: what was written is on stable storage when this resolves. */
  sync(): Promise<void>;
  /** Reads exactly `length` bytes at `position`; throws on a short read. */
  read(position: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

export interface QueueFs {
  mkdirp(dir: string): Promise<void>;
  /** Names of the entries of `dir` (none when it does not exist). */
  list(dir: string): Promise<string[]>;
  /** Opens `path` for positional reads and writes, creating it when missing. */
  open(path: string): Promise<QueueFile>;
  readAll(path: string): Promise<Buffer>;
  /** The content of `path`, or undefined when it does not exist. */
  readOptional(path: string): Promise<Buffer | undefined>;
  size(path: string): Promise<number>;
  remove(path: string): Promise<void>;
  /** fsync of a directory, so that created and removed entries are durable. */
  syncDir(dir: string): Promise<void>;
}

class NodeQueueFile implements QueueFile {
  constructor(private readonly fh: FileHandle) {}

  async write(chunks: Buffer[], position: number): Promise<void> {
    let pending = chunks.filter((c) => c.byteLength > 0);
    let at = position;
    while (pending.length > 0) {
      const { bytesWritten } = await this.fh.writev(pending, at);
      if (bytesWritten <= 0) throw new Error(`write at ${at} wrote nothing`);
      at += bytesWritten;
      // A short write: continue with what is left.
      let skip = bytesWritten;
      const rest: Buffer[] = [];
      for (const c of pending) {
        if (skip >= c.byteLength) {
          skip -= c.byteLength;
          continue;
        }
        rest.push(skip > 0 ? c.subarray(skip) : c);
        skip = 0;
      }
      pending = rest;
    }
  }

  async sync(): Promise<void> {
    await this.fh.datasync();
  }

  async read(position: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafeSlow(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await this.fh.read(buf, got, length - got, position + got);
      if (bytesRead === 0) throw new Error(`short read: ${got} of ${length} bytes at ${position}`);
      got += bytesRead;
    }
    return buf;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** The real file system. */
export const nodeQueueFs: QueueFs = {
  async mkdirp(dir) {
    await mkdir(dir, { recursive: true });
  },
  async list(dir) {
    try {
      return await readdir(dir);
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  },
  async open(path) {
    // Not O_APPEND: Linux would ignore the positions of positional writes.
    return new NodeQueueFile(await open(path, constants.O_RDWR | constants.O_CREAT, 0o600));
  },
  readAll(path) {
    return readFile(path);
  },
  async readOptional(path) {
    try {
      return await readFile(path);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  },
  async size(path) {
    return (await stat(path)).size;
  },
  async remove(path) {
    try {
      await unlink(path);
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  },
  async syncDir(dir) {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};
