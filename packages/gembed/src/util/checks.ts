/**
 * Option checks shared by every folder: a wrong type is a TypeError, a wrong range a RangeError.
 *
 * @module
 */

/** Gives `value` when it is a number other than NaN; else throws `TypeError("<name> must be a number")`. */
export function checkNumber(value: unknown, name: string): number {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`${name} must be a number`);
  }
  return value;
}

/**
 * Gives `value` when it is an integer >= `minimum`; else throws a TypeError (not a number) or
 * `RangeError("<name> must be an integer >= <minimum>, got <value>")`.
 */
export function checkInteger(value: unknown, name: string, minimum: number): number {
  const number = checkNumber(value, name);
  if (!Number.isInteger(number) || number < minimum) {
    throw new RangeError(`${name} must be an integer >= ${minimum}, got ${number}`);
  }
  return number;
}
