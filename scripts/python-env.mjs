#!/usr/bin/env node
/**
 * Builds the project's Python environment: `.venv/` in the project root with the exact pins of
 * python/requirements.txt (Milvus Lite and the Python clients the tests run). Idempotent: a stamp
 * file holds the hash of the requirements and the Python version, so when nothing changed it
 * returns at once. Run by `npm test` and `npm run demo` before anything else.
 *
 *   node scripts/python-env.mjs          # build or check
 *   node scripts/python-env.mjs --print  # print the venv's bin folder
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const venv = path.join(root, ".venv");
const requirements = path.join(root, "python", "requirements.txt");
const stamp = path.join(venv, ".gembed-requirements.sha256");
const bin = path.join(venv, process.platform === "win32" ? "Scripts" : "bin");
const venvPython = path.join(bin, process.platform === "win32" ? "python.exe" : "python");

function fail(message) {
  process.stderr.write(`python-env: ${message}\n`);
  process.exit(1);
}

function run(command, args) {
  const result = spawnSync(command, args, { stdio: "inherit", cwd: root });
  if (result.error) fail(`${command} could not start: ${result.error.message}`);
  if (result.status !== 0) fail(`${command} ${args.join(" ")} exited with ${result.status}`);
}

if (process.argv.includes("--print")) {
  process.stdout.write(`${bin}\n`);
  process.exit(0);
}

const python = process.env.PYTHON ?? "python3";
const version = spawnSync(python, ["--version"], { encoding: "utf8" });
if (version.error || version.status !== 0) {
  fail(
    `${python} was not found. Milvus Lite and the Python tests need Python 3.10+ with venv ` +
      `(Debian/Ubuntu: "sudo apt-get install python3 python3-venv"; or set PYTHON=/path/to/python3).`,
  );
}
const wanted = createHash("sha256")
  .update(readFileSync(requirements))
  .update(version.stdout + version.stderr)
  .digest("hex");
if (existsSync(stamp) && existsSync(venvPython) && readFileSync(stamp, "utf8").trim() === wanted) {
  process.exit(0);
}

const started = Date.now();
process.stderr.write(`python-env: installing python/requirements.txt into ${venv}\n`);
if (!existsSync(venvPython)) {
  rmSync(venv, { recursive: true, force: true });
  run(python, ["-m", "venv", venv]);
}
run(venvPython, [
  "-m",
  "pip",
  "install",
  "--quiet",
  "--disable-pip-version-check",
  "-r",
  requirements,
]);
writeFileSync(stamp, `${wanted}\n`);
process.stderr.write(`python-env: ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
