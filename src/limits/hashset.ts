// A set of 64-bit series hashes (u64 LE, as the core gives them), kept as
// pairs of u32 in one typed array: no BigInt and no allocation per hash, so
// the cardinality guard costs a few nanoseconds per series of a batch.
//
// Open addressing with linear probing, grown at half full. The hashes are
// xxh3 output, so their low word is already a good slot index. The pair
// (0, 0) marks an empty slot; the hash 0 itself is held apart.

const INITIAL_SLOTS = 1024;

export class HashSet64 {
  private words = new Uint32Array(INITIAL_SLOTS * 2);
  private mask = INITIAL_SLOTS - 1;
  private count = 0;
  private hasZero = false;

  get size(): number {
    return this.count + (this.hasZero ? 1 : 0);
  }

  /** Whether the hash whose low and high words are `lo`, `hi` is in the set. */
  has(lo: number, hi: number): boolean {
    if (lo === 0 && hi === 0) return this.hasZero;
    const w = this.words;
    for (let i = lo & this.mask; ; i = (i + 1) & this.mask) {
      const a = w[2 * i]!;
      const b = w[2 * i + 1]!;
      if (a === lo && b === hi) return true;
      if (a === 0 && b === 0) return false;
    }
  }

  add(lo: number, hi: number): void {
    if (lo === 0 && hi === 0) {
      this.hasZero = true;
      return;
    }
    if (this.insert(this.words, this.mask, lo, hi)) this.count++;
    if (this.count * 2 > this.mask + 1) this.grow();
  }

  clear(): void {
    if (this.words.length > INITIAL_SLOTS * 2) {
      this.words = new Uint32Array(INITIAL_SLOTS * 2);
      this.mask = INITIAL_SLOTS - 1;
    } else this.words.fill(0);
    this.count = 0;
    this.hasZero = false;
  }

  /** Inserts into `w`; false when it was there. */
  private insert(w: Uint32Array, mask: number, lo: number, hi: number): boolean {
    for (let i = lo & mask; ; i = (i + 1) & mask) {
      const a = w[2 * i]!;
      const b = w[2 * i + 1]!;
      if (a === lo && b === hi) return false;
      if (a === 0 && b === 0) {
        w[2 * i] = lo;
        w[2 * i + 1] = hi;
        return true;
      }
    }
  }

  private grow(): void {
    const old = this.words;
    const slots = (this.mask + 1) * 2;
    const w = new Uint32Array(slots * 2);
    const mask = slots - 1;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i] !== 0 || old[i + 1] !== 0) this.insert(w, mask, old[i]!, old[i + 1]!);
    }
    this.words = w;
    this.mask = mask;
  }
}
