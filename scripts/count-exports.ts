/**
 * Counts the names a package entry exports: all of them, and those that exist at run time
 * (values: functions, classes, constants) as opposed to types only.
 *
 *   npx tsx scripts/count-exports.ts packages/gembed/src/index.ts [more entries...]
 */
import ts from "typescript";

const entries = process.argv.slice(2);
if (entries.length === 0) {
  console.error("usage: tsx scripts/count-exports.ts ENTRY.ts [ENTRY.ts ...]");
  process.exit(2);
}
const program = ts.createProgram(entries, {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2023,
  customConditions: ["@gembed/source"],
  noEmit: true,
  skipLibCheck: true,
});
const checker = program.getTypeChecker();
for (const entry of entries) {
  const source = program.getSourceFile(entry);
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  if (!moduleSymbol) throw new Error(`${entry}: not a module`);
  const names = checker.getExportsOfModule(moduleSymbol);
  const runtime = names.filter((symbol) => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    return (target.flags & ts.SymbolFlags.Value) !== 0;
  });
  console.log(
    `${entry}: ${names.length} names, ${runtime.length} at run time, ${names.length - runtime.length} types only`,
  );
  if (process.env.LIST) {
    console.log(
      `  run time: ${runtime
        .map((symbol) => symbol.name)
        .sort()
        .join(" ")}`,
    );
    const types = names.filter((symbol) => !runtime.includes(symbol));
    console.log(
      `  types: ${types
        .map((symbol) => symbol.name)
        .sort()
        .join(" ")}`,
    );
  }
}
