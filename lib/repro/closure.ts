/**
 * The files a program runs: the local import closure of TypeScript entry modules, for checking that a
 * dvc.yaml stage's `deps` cover every source file its command can execute.
 *
 * An edge is any module specifier that starts with "." in an `import`, `export … from`, `require()` or
 * `import()` (type-only imports and exports are erased by the compiler and skipped), and a worker or task
 * module loaded by path as `path.join(__dirname, "name" …)`: the first string literal's leading name is
 * resolved beside the file (`"task" + ext`, `` `generate-task${ext}` ``, `ts ? "worker.ts" : "worker.js"`).
 * A file that reads repository data by path declares it with a `// reads: <path>` comment (a path
 * relative to the repository root); those paths are returned with the closure.
 */
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

export interface Closure {
  /** every local source file reached, repository-relative, posix, sorted */
  files: string[];
  /** repository data the files declare with `// reads: <path>`, sorted */
  data: string[];
}

const EXTENSIONS = [".ts", ".tsx", ".json", ".js", ".cjs"];

/** Resolves a relative specifier from `fromFile` to an existing file (TypeScript's rules for Node16). */
export function resolveLocal(fromFile: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(fromFile), spec);
  const stripped = base.replace(/\.(js|cjs|mjs)$/, "");
  const candidates = [
    base,
    ...EXTENSIONS.map((e) => stripped + e),
    ...EXTENSIONS.map((e) => path.join(base, "index" + e)),
  ];
  return candidates.find((c) => fs.existsSync(c) && fs.statSync(c).isFile());
}

/**
 * The module specifiers a TypeScript source file loads at run time (with `types`, also those it imports
 * only for their types, which the compiler erases).
 */
export function runtimeSpecifiers(file: string, text = fs.readFileSync(file, "utf8"), types = false): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const specs: string[] = [];
  const literal = (n: ts.Node | undefined) => (n && ts.isStringLiteralLike(n) ? n.text : undefined);
  const firstString = (n: ts.Node): string | undefined => {
    if (ts.isStringLiteralLike(n)) return n.text;
    if (ts.isTemplateExpression(n)) return n.head.text;
    let found: string | undefined;
    n.forEachChild((c) => {
      found ??= firstString(c);
    });
    return found;
  };
  const visit = (n: ts.Node) => {
    if (ts.isImportDeclaration(n)) {
      const typeOnly = n.importClause?.isTypeOnly === true;
      const s = literal(n.moduleSpecifier);
      if (s && (types || !typeOnly)) specs.push(s);
    } else if (ts.isExportDeclaration(n)) {
      const s = literal(n.moduleSpecifier);
      if (s && (types || !n.isTypeOnly)) specs.push(s);
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) {
      const s = literal(n.moduleReference.expression);
      if (s && (types || !n.isTypeOnly)) specs.push(s);
    } else if (ts.isCallExpression(n)) {
      const callee = n.expression;
      const isRequire = ts.isIdentifier(callee) && callee.text === "require";
      const isImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      if ((isRequire || isImport) && n.arguments.length) {
        const s = literal(n.arguments[0]);
        if (s) specs.push(s);
      }
      // path.join(__dirname, "name" ...): a module loaded by path (a worker, a task module)
      const isJoin = ts.isPropertyAccessExpression(callee) && callee.name.text === "join";
      const first = n.arguments[0];
      if (isJoin && first && ts.isIdentifier(first) && first.text === "__dirname" && n.arguments.length > 1) {
        const s = firstString(n.arguments[1]);
        const name = s?.match(/^[\w.-]*[\w-]/)?.[0];
        if (name) specs.push("./" + name.replace(/\.(ts|js)$/, ""));
      }
    }
    n.forEachChild(visit);
  };
  visit(sf);
  return specs;
}

const parsed = new Map<string, { specs: string[]; reads: string[] }>();

/** Data paths a file declares with `// reads: <path>` comments. */
export function declaredReads(text: string): string[] {
  return [...text.matchAll(/^\s*\/\/\s*reads:\s*(\S+)\s*$/gm)].map((m) => m[1]);
}

/**
 * The local files reachable from `entries` (repository-relative or absolute paths) through run-time
 * imports, under `root`. Package imports (no leading ".") are not followed.
 */
export function importClosure(root: string, entries: string[]): Closure {
  const seen = new Set<string>();
  const data = new Set<string>();
  const stack = entries.map((e) => path.resolve(root, e));
  for (const e of stack)
    if (!fs.existsSync(e)) throw new Error(`import closure: '${path.relative(root, e)}' does not exist`);
  while (stack.length) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!/\.tsx?$/.test(file)) continue;
    let p = parsed.get(file);
    if (!p) {
      const text = fs.readFileSync(file, "utf8");
      parsed.set(file, (p = { specs: runtimeSpecifiers(file, text), reads: declaredReads(text) }));
    }
    p.reads.forEach((d) => data.add(d));
    for (const spec of p.specs) {
      if (!spec.startsWith(".")) continue;
      const target = resolveLocal(file, spec);
      if (!target)
        throw new Error(`import closure: '${spec}' imported by '${path.relative(root, file)}' does not resolve`);
      if (!seen.has(target)) stack.push(target);
    }
  }
  const rel = (p: string) => path.relative(root, p).split(path.sep).join("/");
  return { files: [...seen].map(rel).sort(), data: [...data].sort() };
}

/** Whether `dep` (a dvc.yaml dependency path) covers `file`: the same path, or a folder above it. */
export function covers(dep: string, file: string): boolean {
  const d = path.posix.normalize(dep).replace(/\/$/, "");
  return file === d || file.startsWith(d + "/");
}
