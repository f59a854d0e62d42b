/**
 * Environment variables where the runtime has them (Node, Deno, Bun): `process` is not a global
 * of browsers and workers, where every variable reads as unset.
 *
 * @module
 */

/** The variable's value, or undefined when it is unset or the runtime has no environment. */
export function environmentVariable(name: string): string | undefined {
  const runtime = globalThis as { process?: { env?: Record<string, string | undefined> } };
  return runtime.process?.env?.[name];
}
