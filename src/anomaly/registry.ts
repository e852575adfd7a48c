// The model registry, engine side: the user models stored in the metadata
// store (src/store: user_models; uploaded through /api/anomaly/models) made
// into ONNX Models (./onnx.ts) and handed to the anomaly engine, which
// scores each round the active version and every shadow version of each
// name, every one writing its own score series (`model`, `model_version`).
// Retired versions are kept, not scored (a promotion back is a rollback).
//
// - Reload: at start; on this instance at once after an API change
//   (reload()); on the other instances of a cluster by polling the store's
//   registry version (a count and the newest change) every `pollMs`: a
//   change reaches them within one poll, with no pub/sub to lose a message.
// - A version whose ONNX cannot be loaded (checked on upload, so only a
//   store shared with a different onnxruntime, or a bad row, gets here) is
//   counted (sentio_anomaly_model_loads_total{outcome="failed"}), logged,
//   shown in the API with its error, and not scored; it is tried again only
//   when the registry changes. A reload that fails (the store down) keeps
//   the models scored so far, and is tried again at the next poll.

import client from 'prom-client';
import type { Registry } from 'prom-client';
import type { Logger } from '../log/index.js';
import type { MetaStore, UserModel } from '../store/types.js';
import type { Model } from './models.js';
import { OnnxModel, onnxPool, type OnnxPool } from './onnx.js';

export type RegistryStore = Pick<MetaStore, 'listUserModels' | 'getUserModel' | 'userModelsVersion'>;

export interface ModelRegistryOptions {
  store: RegistryStore;
  /** Where the scored models go (undefined: the engine is off; the registry still answers status). */
  engine?: { setUserModels(models: readonly Model[]): void } | undefined;
  log: Logger;
  registry: Registry;
  /** How often the store's registry version is checked (default 10 s). */
  pollMs?: number;
  pool?: OnnxPool;
}

/** A version's state on this instance. */
export type LoadState = { state: 'scored' } | { state: 'failed'; error: string } | { state: 'not_scored' };

const key = (m: Pick<UserModel, 'name' | 'version' | 'sha256'>) => `${m.name}\0${m.version}\0${m.sha256}`;

export class ModelRegistry {
  private readonly loaded = new Map<string, OnnxModel>();
  private readonly failed = new Map<string, string>();
  private version: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private readonly loads: client.Counter;
  private readonly pool: OnnxPool;

  constructor(private readonly o: ModelRegistryOptions) {
    this.pool = o.pool ?? onnxPool();
    const loaded = this.loaded;
    this.loads = new client.Counter({
      name: 'sentio_anomaly_model_loads_total',
      help: 'User model versions loaded for scoring (from the model registry), by outcome: loaded, failed (its ONNX did not load or fit its inputs).',
      labelNames: ['outcome'],
      registers: [o.registry],
    });
    new client.Gauge({
      name: 'sentio_anomaly_user_models',
      help: 'User model versions this instance scores (active and shadow ones of the model registry).',
      registers: [o.registry],
      collect() {
        this.set(loaded.size);
      },
    });
  }

  /** Loads the registry now, then polls it. */
  async start(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => void this.poll(), this.o.pollMs ?? 10_000);
    this.timer.unref();
  }

  /** Checks the store's registry version; reloads when it changed. */
  private async poll(): Promise<void> {
    try {
      if ((await this.o.store.userModelsVersion()) !== this.version) await this.reload();
    } catch (err) {
      this.o.log.warn(`model registry: poll failed: ${(err as Error).message}`);
    }
  }

  /** Reloads from the store (one at a time; a call during one runs once more after it). */
  reload(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.reloadOnce();
        } while (this.again && !this.closed);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async reloadOnce(): Promise<void> {
    let version: string;
    let rows: UserModel[];
    try {
      version = await this.o.store.userModelsVersion();
      rows = await this.o.store.listUserModels();
    } catch (err) {
      this.o.log.warn(`model registry: reload failed, the models scored so far stay: ${(err as Error).message}`);
      return;
    }
    // The engine off: nothing to score, no model loaded (the API still shows the registry).
    if (this.o.engine === undefined) {
      this.version = version;
      return;
    }
    // A version that failed is tried again once the registry changed.
    if (version !== this.version) this.failed.clear();
    const wanted = rows.filter((m) => m.role !== 'retired');
    const keys = new Set(wanted.map(key));
    for (const m of wanted) {
      const k = key(m);
      if (this.loaded.has(k) || this.failed.has(k)) continue;
      try {
        const rec = await this.o.store.getUserModel(m.name, m.version);
        if (!rec) continue; // deleted meanwhile
        this.loaded.set(k, await OnnxModel.load({ name: m.name, version: m.version, inputs: m.inputs, bytes: rec.onnx, output: m.output ?? undefined }, this.pool));
        this.loads.inc({ outcome: 'loaded' });
      } catch (err) {
        this.failed.set(k, (err as Error).message);
        this.loads.inc({ outcome: 'failed' });
        this.o.log.warn(`model registry: ${m.name} ${m.version} not scored: ${(err as Error).message}`);
      }
    }
    for (const k of [...this.loaded.keys()]) if (!keys.has(k)) this.loaded.delete(k);
    this.version = version;
    if (!this.closed) this.o.engine?.setUserModels([...this.loaded.values()]);
  }

  /** What this instance does with a version. */
  state(m: Pick<UserModel, 'name' | 'version' | 'sha256'>): LoadState {
    const k = key(m);
    if (this.loaded.has(k)) return this.o.engine ? { state: 'scored' } : { state: 'not_scored' };
    const error = this.failed.get(k);
    return error !== undefined ? { state: 'failed', error } : { state: 'not_scored' };
  }

  /** Checks a model in the ONNX pool (upload validation); rejects with OnnxModelError. */
  check(spec: { name: string; version: string; inputs: readonly string[]; bytes: Uint8Array; output?: string | undefined }): Promise<OnnxModel> {
    return OnnxModel.load(spec, this.pool);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.running;
  }
}
