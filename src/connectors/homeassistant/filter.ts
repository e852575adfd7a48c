// Which Home Assistant entities a connector reads: entity_id globs and
// domains to include, globs and domains to exclude.
//
// - A glob matches a whole entity_id: `*` any characters (none too), `?` one;
//   everything else stands for itself (`sensor.*`, `*_temperature`,
//   `light.kitchen_?`).
// - An entity is read when it is selected, and not excluded. Selected: by an
//   `include` glob or by `domains` (either one; with neither set, or both
//   empty, every entity is). Excluded: by an `exclude` glob or by `excludeDomains`, which
//   win over any selection.
// - Decisions are remembered per entity_id (an instance has thousands of
//   entities, not millions), so each event costs one map look-up.

export interface FilterRules {
  include?: readonly string[] | undefined;
  exclude?: readonly string[] | undefined;
  domains?: readonly string[] | undefined;
  excludeDomains?: readonly string[] | undefined;
}

const GLOB_CHARS = /^[A-Za-z0-9_.*?-]+$/;

/** A glob as a RegExp of the whole string; throws an Error naming the problem. */
export function parseGlob(glob: string): RegExp {
  if (glob === '') throw new Error('a glob must not be empty');
  if (!GLOB_CHARS.test(glob)) throw new Error(`"${glob}": an entity_id glob holds letters, digits, _, ., - and the wildcards * and ?`);
  const body = glob.replace(/[.\-]/g, '\\$&').replace(/\*+/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** The domain of an entity_id (`sensor` of `sensor.kitchen`); '' when it has none. */
export function domainOf(entityId: string): string {
  const dot = entityId.indexOf('.');
  return dot <= 0 ? '' : entityId.slice(0, dot);
}

/** Cached decisions beyond this many entities are dropped (and recomputed as needed). */
const MAX_CACHED = 100_000;

export class EntityFilter {
  private readonly include: RegExp[];
  private readonly exclude: RegExp[];
  private readonly domains: ReadonlySet<string>;
  private readonly excludeDomains: ReadonlySet<string>;
  private readonly selectAll: boolean;
  private readonly cache = new Map<string, boolean>();

  constructor(rules: FilterRules) {
    this.include = (rules.include ?? []).map(parseGlob);
    this.exclude = (rules.exclude ?? []).map(parseGlob);
    this.domains = new Set(rules.domains ?? []);
    this.excludeDomains = new Set(rules.excludeDomains ?? []);
    this.selectAll = this.include.length === 0 && this.domains.size === 0;
  }

  /** Whether entity `entityId` is read. */
  matches(entityId: string): boolean {
    let m = this.cache.get(entityId);
    if (m === undefined) {
      m = this.decide(entityId);
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      this.cache.set(entityId, m);
    }
    return m;
  }

  private decide(entityId: string): boolean {
    const domain = domainOf(entityId);
    if (this.excludeDomains.has(domain) || this.exclude.some((r) => r.test(entityId))) return false;
    if (this.selectAll) return true;
    return this.domains.has(domain) || this.include.some((r) => r.test(entityId));
  }
}
