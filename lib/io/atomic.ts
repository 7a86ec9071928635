/**
 * Crash-safe file writes: write a temporary file in the same folder, fsync it, rename it over the
 * target (rename is atomic within one file system, POSIX rename(2)), then fsync the folder so the
 * rename itself is durable. A reader sees the old file or the new one, never half of one.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/** File contents: a string (UTF-8), bytes, or a sequence of byte chunks written in order (for files > 2 GiB). */
export type FileContent = string | Uint8Array | Iterable<Uint8Array>;

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
}

/** Writes `content` to `file` atomically (temp file + fsync + rename + folder fsync). Creates the folder. */
export function writeFileAtomic(file: string, content: FileContent): void {
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${crypto.randomBytes(4).toString("hex")}`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, "wx", 0o644);
    if (typeof content === "string") writeAll(fd, Buffer.from(content, "utf8"));
    else if (content instanceof Uint8Array) writeAll(fd, content);
    else for (const chunk of content) writeAll(fd, chunk);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw new Error(`could not write ${file}: ${(e as Error).message}`, { cause: e });
  }
  fsyncDir(dir);
}

/** fsync a folder so a rename in it survives a crash; a no-op where folders cannot be opened (Windows). */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // Windows cannot open or fsync a directory; its rename is already durable enough (MoveFileEx)
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
