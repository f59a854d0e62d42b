/**
 * Refuses option names gembed does not take, naming the right one: users bring pymilvus's
 * snake_case names (`output_dimensionality`, `api_key`, `model_name`, `task_type`), which a plain
 * object would otherwise drop in silence (3072 dims after asking for 768).
 *
 * @module
 */

import { InvalidOptionError } from "../errors.js";

/** Names from other libraries whose meaning lives elsewhere in gembed's options. */
export type OptionAliases = Readonly<Record<string, string>>;

/** Lower case without `_` or `-`: `max_retries`, `MaxRetries` and `maxRetries` meet. */
function folded(name: string): string {
  return name.toLowerCase().replace(/[_-]/g, "");
}

/**
 * Throws {@link InvalidOptionError} for the first key of `options` that is not in `known`: the
 * message names the option to use (from `aliases`, else the known name it folds to), else lists
 * what `where` takes. Keys whose value is `undefined` are checked too: a typo is a typo.
 */
export function checkOptionNames(
  options: object,
  known: readonly string[],
  where: string,
  aliases: OptionAliases = {},
  prefix = "",
): void {
  const knownSet = new Set(known);
  for (const key of Object.keys(options)) {
    if (knownSet.has(key)) continue;
    const written = `${prefix}${key}`;
    const suggestion =
      aliases[key] ?? known.find((name) => folded(name) === folded(key))?.replace(/^/, prefix);
    if (suggestion !== undefined) {
      throw new InvalidOptionError(
        written,
        `${where} has no option "${written}": use "${suggestion}" (gembed's options are camelCase, the output size and task type go in config).`,
        suggestion,
      );
    }
    throw new InvalidOptionError(
      written,
      `${where} has no option "${written}"; it takes ${known.map((name) => `${prefix}${name}`).join(", ")}.`,
    );
  }
}
