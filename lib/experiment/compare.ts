/**
 * The four-way comparison, from the per-image scores of every fine-tuned model (K training seeds per
 * configuration) and of the base model: each configuration's value of each measure with a 95 % interval
 * over its training seeds, and paired effects between configurations. An effect pairs the two models
 * image by image (same prompt, same sampling seed, so the same starting noise) and training seed by
 * training seed (same noise draws, timesteps and batch order), averages each seed's differences, and
 * puts a Student-t interval on the K seed means (lib/eval/stats `seedMeanCI`).
 */
import {
  clusteredShareCI,
  meanCI,
  seedMeanCI,
  shareMeanCI,
  varianceComponents,
  type ClusteredEstimate,
  type Estimate,
  type SeedEstimate,
  type VarianceComponents,
} from "../eval/stats";
import { MEASURES, measureValue, type Measure, type MeasureId, type ScoreFile } from "./measures";

/** The configurations in the pipeline's names, with how tables label them. */
export const CONFIGS = [
  { id: "base", label: "base model" },
  { id: "linear", label: "linear (paper's baseline)" },
  { id: "linear-ztsnr", label: "linear + ZT-SNR" },
  { id: "sigmoid", label: "sigmoid" },
  { id: "sigmoid-ztsnr", label: "sigmoid + ZT-SNR" },
  { id: "sigmoid-ztsnr-noprior", label: "sigmoid + ZT-SNR, no prior" },
] as const;
export type ConfigId = (typeof CONFIGS)[number]["id"];

export const configLabel = (id: string): string => CONFIGS.find((c) => c.id === id)?.label ?? id;

/** The effects the comparison reports: each against its reference, for every measure. */
export const COMPARISONS: { a: ConfigId; b: ConfigId; why: string }[] = [
  { a: "linear", b: "base", why: "what DreamBooth does" },
  { a: "linear-ztsnr", b: "linear", why: "zero terminal SNR with the linear β" },
  { a: "sigmoid", b: "linear", why: "the sigmoid β" },
  { a: "sigmoid-ztsnr", b: "linear", why: "both, the paper's proposal" },
  { a: "sigmoid-ztsnr", b: "sigmoid", why: "zero terminal SNR with the sigmoid β" },
  { a: "sigmoid-ztsnr-noprior", b: "sigmoid-ztsnr", why: "dropping prior preservation" },
];

/** One scored model: a configuration's fine-tuning with one training seed, or the base model (seed null). */
export interface ScoredModel {
  config: string;
  seed: number | null;
  scores: ScoreFile;
}

export interface ConfigRow {
  config: string;
  /** training seeds (1 for the base model) */
  seeds: number;
  /** images scored, over all seeds */
  images: number;
  estimates: Partial<Record<MeasureId, Estimate | ClusteredEstimate>>;
}

export interface Effect {
  a: string;
  b: string;
  measure: MeasureId;
  /** mean paired difference a − b with its interval over training seeds */
  estimate: SeedEstimate;
  /** each training seed's mean paired difference */
  perSeed: number[];
  /** paired cells per seed (the mean over seeds) */
  cells: number;
  components: VarianceComponents;
}

function byConfig(models: ScoredModel[]): Map<string, ScoredModel[]> {
  const out = new Map<string, ScoredModel[]>();
  for (const m of models) out.set(m.config, [...(out.get(m.config) ?? []), m]);
  for (const list of out.values()) list.sort((x, y) => (x.seed ?? -1) - (y.seed ?? -1));
  return out;
}

/** One configuration's value of a measure, with its interval: over training seeds, or over images for one model. */
export function configEstimate(m: Measure, models: ScoredModel[]): Estimate | ClusteredEstimate | null {
  const cells = models.map((x) => [...m.cells(x.scores).values()]);
  const n = cells.reduce((a, c) => a + c.length, 0);
  if (cells.some((c) => c.length === 0)) return null;
  if (models.length === 1) return m.share ? shareMeanCI(cells[0], `${models[0].config}/${m.id}`) : meanCI(cells[0]);
  if (m.share) {
    return clusteredShareCI(
      cells.map((c) => c.reduce((a, b) => a + b, 0)),
      cells.map((c) => c.length),
    );
  }
  return seedMeanCI(
    models.map((x) => measureValue(m, x.scores)),
    n,
  );
}

/** The table: every configuration present, every measure. */
export function configTable(models: ScoredModel[]): ConfigRow[] {
  const groups = byConfig(models);
  const order = [
    ...CONFIGS.map((c) => c.id as string).filter((id) => groups.has(id)),
    ...[...groups.keys()].filter((k) => !CONFIGS.some((c) => c.id === k)),
  ];
  return order.map((config) => {
    const list = groups.get(config)!;
    const estimates: ConfigRow["estimates"] = {};
    for (const m of MEASURES) {
      const e = configEstimate(m, list);
      if (e) estimates[m.id] = e;
    }
    return { config, seeds: list.length, images: list.reduce((a, x) => a + x.scores.images.length, 0), estimates };
  });
}

/**
 * The paired effect a − b of one measure. Seeds are matched by their number (the same training seed);
 * a reference with a single model (the base) is paired with every seed of a. Null when fewer than two
 * seeds pair up or the models share no cells.
 */
export function pairedEffect(m: Measure, a: ScoredModel[], b: ScoredModel[]): Effect | null {
  const pairs: [ScoredModel, ScoredModel][] =
    b.length === 1 && b[0].seed === null
      ? a.map((x) => [x, b[0]])
      : a.flatMap((x) => {
          const y = b.find((z) => z.seed === x.seed);
          return y ? [[x, y] as [ScoredModel, ScoredModel]] : [];
        });
  const perSeed: number[] = [];
  const within: number[] = [];
  let cells = 0;
  for (const [x, y] of pairs) {
    const cx = m.cells(x.scores);
    const cy = m.cells(y.scores);
    const d = [...cx.keys()].filter((k) => cy.has(k)).map((k) => cx.get(k)! - cy.get(k)!);
    if (!d.length) continue;
    const md = d.reduce((s, v) => s + v, 0) / d.length;
    perSeed.push(md);
    within.push(d.length > 1 ? d.reduce((s, v) => s + (v - md) ** 2, 0) / (d.length - 1) / d.length : 0);
    cells += d.length;
  }
  if (perSeed.length < 2) return null;
  const meanCells = cells / perSeed.length;
  return {
    a: a[0].config,
    b: b[0].config,
    measure: m.id,
    estimate: seedMeanCI(perSeed, cells),
    perSeed,
    cells: meanCells,
    components: varianceComponents(perSeed, within, meanCells),
  };
}

/** Every effect of COMPARISONS whose configurations were scored, for every measure. */
export function allEffects(models: ScoredModel[]): Effect[] {
  const groups = byConfig(models);
  const out: Effect[] = [];
  for (const c of COMPARISONS) {
    const a = groups.get(c.a);
    const b = groups.get(c.b);
    if (!a || !b) continue;
    for (const m of MEASURES) {
      const e = pairedEffect(m, a, b);
      if (e) out.push(e);
    }
  }
  return out;
}

/** The effect of `a` against `b` on a measure, from a list. */
export function findEffect(effects: Effect[], a: string, b: string, measure: MeasureId): Effect | undefined {
  return effects.find((e) => e.a === a && e.b === b && e.measure === measure);
}
