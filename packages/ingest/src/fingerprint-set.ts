import { digestOf } from "./hash.js";

/**
 * A set of strings kept as 64-bit fingerprints in one typed array (16 bytes a member at most),
 * for what a streaming ingest must remember of every document without holding the ids: which
 * ids were seen (duplicates) and which documents this run read (`--prune`). Two different strings
 * share a fingerprint with odds near n² / 2⁶⁵ (one in 10⁵ for 10 million ids), which would make a
 * duplicate report or keep a row `--prune` could have removed; never lose or mix up rows.
 *
 * @example
 * ```ts
 * const seen = new FingerprintSet();
 * seen.add("corpus/a.md"); // true: new
 * seen.has("corpus/a.md"); // true
 * ```
 */
export class FingerprintSet {
  #slots = new BigUint64Array(1024);
  #size = 0;

  /** How many members. */
  get size(): number {
    return this.#size;
  }

  static #fingerprint(value: string): bigint {
    const digest = digestOf("sha1", value);
    const fingerprint = digest.readBigUInt64LE(0);
    // 0 marks an empty slot.
    return fingerprint === 0n ? 1n : fingerprint;
  }

  #find(fingerprint: bigint): number {
    const mask = this.#slots.length - 1;
    let index = Number(fingerprint & BigInt(mask));
    for (;;) {
      const slot = this.#slots[index]!;
      if (slot === 0n || slot === fingerprint) return index;
      index = (index + 1) & mask;
    }
  }

  /** Adds a member; returns false when it was there already. */
  add(value: string): boolean {
    const fingerprint = FingerprintSet.#fingerprint(value);
    const index = this.#find(fingerprint);
    if (this.#slots[index] === fingerprint) return false;
    this.#slots[index] = fingerprint;
    this.#size++;
    // Kept at most half full, so a probe is short.
    if (this.#size * 2 > this.#slots.length) this.#grow();
    return true;
  }

  /** Whether `value` is a member. */
  has(value: string): boolean {
    const fingerprint = FingerprintSet.#fingerprint(value);
    return this.#slots[this.#find(fingerprint)] === fingerprint;
  }

  #grow(): void {
    const old = this.#slots;
    this.#slots = new BigUint64Array(old.length * 2);
    for (const fingerprint of old)
      if (fingerprint !== 0n) this.#slots[this.#find(fingerprint)] = fingerprint;
  }
}
