/**
 * `npm run bench`: runs every suite in `bench/suites/` (each exports `default async function`)
 * in name order, or only those named on the command line (`npm run bench -- server`).
 * Each suite prints its own figures, measured side by side in this one run.
 */
import { readdir } from "node:fs/promises";
import { fileURLToPath, pathToFileURL } from "node:url";

const folder = fileURLToPath(new URL("./suites/", import.meta.url));
const only = process.argv.slice(2);
const files = (await readdir(folder)).filter((file) => file.endsWith(".ts")).sort();
for (const file of files) {
  const name = file.replace(/\.ts$/, "");
  if (only.length > 0 && !only.some((wanted) => name.includes(wanted))) continue;
  console.log(`\n=== bench: ${name} ===`);
  const suite = (await import(pathToFileURL(`${folder}${file}`).href)) as {
    default: () => Promise<void>;
  };
  await suite.default();
}
