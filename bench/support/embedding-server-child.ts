/**
 * Runs `startServer` in its own process for the embedding benchmarks, so the client's figures
 * (wall time, CPU, resident memory) are not mixed with the server's. Options come as JSON in
 * argv[2]; prints one line `{"url": ...}`; closes when its stdin ends.
 */

import { type ServerOptions, startServer } from "@gembed/server";

const options = JSON.parse(process.argv[2] ?? "{}") as ServerOptions;
const server = await startServer(options);
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
process.stdin.resume();
process.stdin.on("end", () => {
  void server.close().then(() => process.exit(0));
});
