/**
 * How deep a parsed JSON value is nested: `JSON.stringify` (and any recursive walk) throws a
 * RangeError on values a few thousand levels deep, so the server refuses them before keeping them.
 *
 * @module
 */

/** True when `value` has arrays or objects nested more than `limit` deep (no recursion). */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== "object" || value === null) return false;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop() as [unknown, number];
    if (depth > limit) return true;
    const children = Array.isArray(current) ? current : Object.values(current as object);
    for (const child of children) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
