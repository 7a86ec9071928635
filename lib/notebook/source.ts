/**
 * The library's own source in a notebook: a lesson shows the short function it explains, exactly as
 * it is written in lib/, beside its equation.
 */
import * as fs from "fs";
import * as path from "path";
import { display } from "../runtime";

/** The project's root: the nearest folder above this module with the project's package.json. */
export function projectRoot(from = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, "package.json");
    const name = fs.existsSync(pkg) ? (JSON.parse(fs.readFileSync(pkg, "utf8")) as { name?: string }).name : undefined;
    if (name === "improved-dreambooth") return dir;
    if (path.dirname(dir) === dir) throw new Error(`no improved-dreambooth package.json above ${from}`);
  }
}

/**
 * The TypeScript source of a top-level declaration (function, const, class, interface or type) in
 * `lib/<file>`, with the doc comment above it: from its first line to the first line after it that
 * closes it at column 0 ("}" or "};"), or the declaration line alone when it ends with ";".
 */
export function sourceOf(file: string, name: string): string {
  const full = path.join(projectRoot(), "lib", file);
  if (!fs.existsSync(full)) {
    throw new Error(`lib/${file} does not exist: name a file under lib/, e.g. "schedules/zero-terminal-snr.ts"`);
  }
  const lines = fs.readFileSync(full, "utf8").split("\n");
  const decl = new RegExp(`^(export )?(default )?(async )?(function\\*?|const|let|class|interface|type) ${name}\\b`);
  const at = lines.findIndex((l) => decl.test(l));
  if (at < 0) throw new Error(`no top-level declaration of ${name} in lib/${file}`);
  let from = at;
  if (lines[at - 1]?.trim().endsWith("*/")) {
    while (from > 0 && !lines[from - 1].trimStart().startsWith("/**")) from--;
    from--;
  }
  let to = at;
  if (!lines[at].trimEnd().endsWith(";")) {
    to = lines.findIndex((l, i) => i > at && /^\}[;,]?\s*$/.test(l));
    if (to < 0) throw new Error(`the declaration of ${name} in lib/${file} is not closed by a "}" at column 0`);
  }
  return lines.slice(from, to + 1).join("\n");
}

/** Shows `sourceOf(file, name)` as a TypeScript code block under its file name. */
export function showSource(file: string, name: string): void {
  const src = sourceOf(file, name);
  display({ "text/markdown": `\`lib/${file}\`\n\n\`\`\`ts\n${src}\n\`\`\``, "text/plain": `// lib/${file}\n${src}` });
}
