/**
 * `.dvcignore`: the files DVC leaves out when it hashes a directory (and so when it decides whether a
 * folder dependency changed). This project's `.dvcignore` keeps unit tests and their fixtures out of
 * the code folders that stages depend on, so editing a test reruns no stage.
 *
 * Patterns are git's wildmatch, as DVC reads them (`dvc/ignore.py` DvcIgnorePatterns with pathspec's
 * `GitWildMatchPattern.pattern_to_regex`): blank lines and `#` comments are skipped; `!` re-includes;
 * a pattern with no slash but a trailing one matches at any depth; a leading or inner slash anchors it
 * to the folder of the `.dvcignore`; a trailing slash matches folders only; `*`, `?`, `[...]` stay
 * within one path segment and `**` spans segments. The last pattern that matches decides, and a path
 * inside an ignored folder is ignored. Only the `.dvcignore` at the repository root is read.
 */
import * as fs from "fs";
import * as path from "path";

interface Rule {
  regex: RegExp;
  ignore: boolean;
  dirOnly: boolean;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** One path segment's glob as a regular expression (pathspec `_translate_segment_glob`). */
function segmentGlob(seg: string): string {
  let out = "";
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === "\\" && i + 1 < seg.length) out += escapeRe(seg[++i]);
    else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const close = seg.indexOf("]", i + 2);
      if (close < 0) {
        out += "\\[";
        continue;
      }
      let body = seg.slice(i + 1, close);
      if (body.startsWith("!")) body = "^" + body.slice(1);
      out += `[${body.replace(/\\/g, "\\\\")}]`;
      i = close;
    } else out += escapeRe(c);
  }
  return out;
}

/** A gitwildmatch pattern as a regular expression over posix paths relative to its folder, or null. */
export function patternToRegex(raw: string): Rule | null {
  let pattern = raw.trim();
  if (!pattern || pattern.startsWith("#") || pattern === "/") return null;
  let ignore = true;
  if (pattern.startsWith("!")) {
    ignore = false;
    pattern = pattern.slice(1);
  }
  if (pattern.startsWith("\\")) pattern = pattern.slice(1);
  const segs = pattern.split("/");
  const dirPattern = segs[segs.length - 1] === "";
  if (segs[0] === "") segs.shift();
  else if ((segs.length === 1 || (segs.length === 2 && segs[1] === "")) && segs[0] !== "**") segs.unshift("**");
  if (!segs.length) return null;
  if (segs[segs.length - 1] === "" && segs.length > 1) segs[segs.length - 1] = "**";
  let re = "^";
  let needSlash = false;
  const end = segs.length - 1;
  segs.forEach((seg, i) => {
    if (seg === "**") {
      if (i === 0 && i === end) re += "[^/]+(?:/.*)?";
      else if (i === 0) {
        re += "(?:.+/)?";
        needSlash = false;
      } else if (i === end) re += "/.*";
      else {
        re += "(?:/.+)?";
        needSlash = true;
      }
    } else {
      if (needSlash) re += "/";
      re += seg === "*" ? "[^/]+" : segmentGlob(seg);
      if (i === end) re += "(?:/.*)?";
      needSlash = true;
    }
  });
  return { regex: new RegExp(re + "$"), ignore, dirOnly: dirPattern };
}

/** The patterns of one `.dvcignore` file, answering whether a path below its folder is ignored. */
export class DvcIgnore {
  private readonly rules: Rule[];
  constructor(
    /** absolute folder of the `.dvcignore` */
    readonly dir: string,
    lines: string[],
  ) {
    this.rules = lines.map(patternToRegex).filter((r): r is Rule => r !== null);
  }

  /** Reads `<root>/.dvcignore`; an empty filter when there is none. */
  static load(root: string): DvcIgnore {
    const file = path.join(root, ".dvcignore");
    const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    return new DvcIgnore(path.resolve(root), text.split(/\r?\n/));
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  private decide(rel: string, isDir: boolean): boolean {
    const candidates = isDir && !rel.endsWith("/") ? [rel, rel + "/"] : [rel];
    for (let k = this.rules.length - 1; k >= 0; k--) {
      const r = this.rules[k];
      if (r.dirOnly && !isDir) continue;
      if (candidates.some((c) => r.regex.test(c))) return r.ignore;
    }
    return false;
  }

  /** Whether an absolute path is ignored (itself, or a folder above it below the `.dvcignore`'s folder). */
  ignores(abs: string, isDir: boolean): boolean {
    if (this.empty) return false;
    const rel = path.relative(this.dir, abs).split(path.sep).join("/");
    if (!rel || rel.startsWith("..")) return false;
    const parts = rel.split("/");
    for (let i = 1; i <= parts.length; i++) {
      if (this.decide(parts.slice(0, i).join("/"), isDir || i < parts.length)) return true;
    }
    return false;
  }
}
