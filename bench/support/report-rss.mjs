// Preloaded into a benchmarked child (`node --import ./report-rss.mjs …`): prints the process's
// peak resident memory on standard error when it exits, however it exits (but SIGKILL).
import { writeSync } from "node:fs";

process.on("exit", () => {
  writeSync(2, `\nGEMBED_MAX_RSS_KB=${process.resourceUsage().maxRSS}\n`);
});
