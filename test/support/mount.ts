/** Whether tests may mount a real tmpfs (for full-disk cases), shared by the tests that do. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** Whether this process may mount a tmpfs (root on Linux, in a container that allows it). */
export function canMount(): boolean {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false;
  // Root is not enough in a container without CAP_SYS_ADMIN: try a mount once.
  const probe = mkdtempSync(path.join(tmpdir(), "gembed-mount-probe-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe], { stdio: "ignore" });
    execFileSync("umount", [probe], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}
