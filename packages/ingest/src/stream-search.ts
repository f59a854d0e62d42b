import type { EmbeddingRow } from "./documents.js";
import type { LocalSearchOptions, RowHit } from "./local-rows-file.js";

/**
 * Exact cosine search over a stream of rows (e.g. `streamOutputRows` over the parts of an
 * output), keeping only the best `limit` hits: memory is one row plus the hits, whatever the
 * number of rows. Best first; ties by id.
 *
 * @example
 * ```ts
 * const hits = await searchRowStream(streamOutputRows("gembed.json"), queryVector, { limit: 5 });
 * ```
 */
export async function searchRowStream(
  rows: AsyncIterable<EmbeddingRow>,
  query: Float32Array | number[],
  options: LocalSearchOptions = {},
): Promise<RowHit[]> {
  const limit = options.limit ?? 10;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError("limit must be an integer ≥ 1");
  let queryNorm = 0;
  for (const value of query) queryNorm += value * value;
  queryNorm = Math.sqrt(queryNorm);
  const best: RowHit[] = [];
  const worse = (left: RowHit, right: RowHit) =>
    left.score < right.score || (left.score === right.score && left.id > right.id);
  for await (const row of rows) {
    if (row.vector.length !== query.length) {
      throw new RangeError(
        `the query has ${query.length} values, row ${row.id} has ${row.vector.length}`,
      );
    }
    if (options.where !== undefined && !options.where(row)) continue;
    let dot = 0;
    let norm = 0;
    for (let index = 0; index < query.length; index++) {
      const value = row.vector[index]!;
      dot += query[index]! * value;
      norm += value * value;
    }
    const denominator = queryNorm * Math.sqrt(norm);
    const hit: RowHit = { score: denominator === 0 ? 0 : dot / denominator, id: row.id, row };
    if (best.length < limit) {
      best.push(hit);
    } else {
      // The worst kept hit is replaced when this one beats it (limit is small: a scan is fine).
      let worst = 0;
      for (let index = 1; index < best.length; index++)
        if (worse(best[index]!, best[worst]!)) worst = index;
      if (worse(best[worst]!, hit)) best[worst] = hit;
    }
  }
  return best.sort((left, right) => right.score - left.score || (left.id < right.id ? -1 : 1));
}
