/**
 * The pipeline DAG: stage B depends on stage A when one of B's deps is one of A's outs, lies inside
 * it, or contains it (DVC `dvc/repo/graph.py` `build_graph`, which looks up each dep in a trie of
 * outs both ways). Two stages writing the same or overlapping outs, and cycles, are errors
 * (DVC's OutputDuplicationError, OverlappingOutputPathsError, CyclicGraphError).
 */
import * as path from "path";
import { Stage } from "./dvcyaml";

/** Absolute path of a stage's dep or out. */
export function absPath(root: string, stage: Stage, p: string): string {
  return path.resolve(root, stage.wdir, p);
}

/** Is `a` equal to `b` or inside it? */
export function isWithin(a: string, b: string): boolean {
  return a === b || a.startsWith(b.endsWith(path.sep) ? b : b + path.sep);
}

export interface Graph {
  stages: Map<string, Stage>;
  /** stage name → names of the stages it directly depends on */
  upstream: Map<string, Set<string>>;
  /** all stages, every stage after the ones it depends on (file order among independent ones) */
  order: string[];
}

/** Builds the DAG and a topological order; throws on duplicate/overlapping outs or a cycle. */
export function buildGraph(root: string, stages: Stage[]): Graph {
  const outs: { abs: string; stage: string; path: string }[] = [];
  for (const s of stages) {
    for (const o of s.outs) {
      const abs = absPath(root, s, o.path);
      for (const other of outs) {
        if (other.stage === s.name && other.abs !== abs) continue;
        if (other.abs === abs) {
          throw new Error(
            `output '${o.path}' is specified in stages '${other.stage}' and '${s.name}'; a path can be the output of one stage only`,
          );
        }
        if (isWithin(abs, other.abs) || isWithin(other.abs, abs)) {
          throw new Error(
            `outputs '${other.path}' of stage '${other.stage}' and '${o.path}' of stage '${s.name}' overlap; one stage must own the whole directory`,
          );
        }
      }
      outs.push({ abs, stage: s.name, path: o.path });
    }
  }
  const upstream = new Map<string, Set<string>>();
  for (const s of stages) {
    const up = new Set<string>();
    for (const d of s.deps) {
      const abs = absPath(root, s, d);
      for (const o of outs) if (o.stage !== s.name && (isWithin(abs, o.abs) || isWithin(o.abs, abs))) up.add(o.stage);
    }
    upstream.set(s.name, up);
  }
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, trail: string[]) => {
    const st = state.get(name);
    if (st === "done") return;
    if (st === "visiting") {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      throw new Error(
        `the pipeline has a cycle: ${cycle.join(" -> ")}; a stage cannot depend, even indirectly, on its own outputs`,
      );
    }
    state.set(name, "visiting");
    for (const u of upstream.get(name)!) visit(u, [...trail, name]);
    state.set(name, "done");
    order.push(name);
  };
  for (const s of stages) visit(s.name, []);
  return { stages: new Map(stages.map((s) => [s.name, s])), upstream, order };
}

/** The stages a target needs: itself and everything upstream, in pipeline order. */
export function upstreamOf(g: Graph, targets: string[]): string[] {
  const need = new Set<string>();
  const add = (n: string) => {
    if (need.has(n)) return;
    need.add(n);
    for (const u of g.upstream.get(n)!) add(u);
  };
  targets.forEach(add);
  return g.order.filter((n) => need.has(n));
}

/**
 * Resolves target names as DVC does: a stage name (`train@linear`), `dvc.yaml:name`, or the name
 * of a foreach/matrix group (`train`), which means all of its generated stages.
 */
export function resolveTargets(g: Graph, targets: string[]): string[] {
  const out: string[] = [];
  for (const t0 of targets) {
    const t = t0.replace(/^(\.\/)?dvc\.yaml:/, "");
    if (g.stages.has(t)) out.push(t);
    else {
      const group = [...g.stages.keys()].filter((n) => n.startsWith(`${t}@`));
      if (!group.length)
        throw new Error(`stage '${t0}' not found in dvc.yaml; stages: ${[...g.stages.keys()].join(", ")}`);
      out.push(...group);
    }
  }
  return out;
}
