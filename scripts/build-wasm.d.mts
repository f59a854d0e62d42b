/** The text of packages/ingest/src/json-escape-wasm.ts for the current json-escape.wat. */
export function wasmModuleSource(): Promise<string>;
