import { createHash } from "crypto";
import * as fs from "fs";

/** sha256 of a file, read in 64 MiB pieces (a packed training split is hundreds of MB). */
export function fileSha256(file: string): string {
  const h = createHash("sha256");
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.alloc(64 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}
