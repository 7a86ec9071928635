/**
 * improved-dreambooth: the public API, what the notebooks and a user's own scripts import by package
 * name. The CLI and the pipeline's stages import the modules themselves; everything here is also
 * reachable there, by its module.
 */
export { KNOWN_BACKENDS, currentBackend, initBackend, type BackendInfo } from "./backend";
export { generateFace, renderFaceRgb } from "./data/faces";
export { loadImageFolder, toSigned } from "./data/images";
export { subjectFace, writeInstanceImages } from "./data/subject";
export {
  PREDICTION_TYPES,
  addNoise,
  predictX0AndEps,
  trainingTarget,
  velocity,
  type PredictionType,
} from "./diffusion/forward";
export {
  SCHEDULERS,
  TIMESTEP_SPACINGS,
  ddimStep,
  guide,
  guidedDenoiser,
  inferenceTimesteps,
  sample,
  type SchedulerKind,
  type TimestepSpacing,
} from "./diffusion/samplers";
export { mixtureDenoiser, mixtureModeStats, pointCloudStats, sampleMixture } from "./diffusion/toy";
export { channelTiles, forwardProcessGrid, imageTile, terminalBrightnessLeak } from "./diffusion/visualize";
export { FINE_TUNE_CONFIGS, FINE_TUNE_NAMES } from "./dreambooth/configs";
export { dreamboothFewSteps, dreamboothStep, lossByTimestep } from "./dreambooth/explain";
export { dreamboothTrain, generateClassImages, type DreamBoothOptions } from "./dreambooth/train";
export { computeMetrics } from "./eval/metrics";
export { imageQuality, relativeSharpness, toneVariety } from "./eval/quality";
export {
  bootstrapCI,
  clusteredShareCI,
  hierarchicalBootstrap,
  meanCI,
  minimumDetectable,
  seedMeanCI,
  seedsToResolve,
  shareMeanCI,
  varianceComponents,
  wilsonCI,
  type ClusteredEstimate,
  type Estimate,
  type SeedEstimate,
} from "./eval/stats";
export { loadEvaluator } from "./eval/weights";
export { evaluateBaseModel } from "./experiment/base-model";
export {
  CLAIMS,
  claimsMarkdown,
  judgeClaims,
  tableMarkdown,
  verdictOf,
  type Claim,
  type ClaimResult,
  type Verdict,
} from "./experiment/claims";
export {
  allEffects,
  configLabel,
  configTable,
  pairedEffect,
  type ConfigRow,
  type Effect,
  type ScoredModel,
} from "./experiment/compare";
export { EXPERIMENT_PROMPTS, sampleRun } from "./experiment/experiment";
export {
  MEASURES,
  measure,
  measureValue,
  type ImageScore,
  type Measure,
  type MeasureId,
  type ScoreFile,
} from "./experiment/measures";
export { scoreSamples } from "./experiment/scores";
export { readSafetensors, writeSafetensors } from "./io/safetensors";
export { clipTextForward } from "./models/clip-text";
export { componentParamCounts, loadComponentConfigs } from "./models/components";
export { unetForward } from "./models/unet";
export { vaeDecode, vaeEncode } from "./models/vae";
export {
  estimateChartSpec,
  sampleFaceImage,
  showChart,
  showFigure,
  showImage,
  showMarkdown,
  showTable,
} from "./notebook/display";
export { display } from "./runtime";
export { initCharts } from "./notebook/plotly";
export { claimRows, resultStatements, type ComparisonResults } from "./experiment/statements";
export { showSource } from "./notebook/source";
export {
  encodePrompts,
  generate,
  loadStableDiffusion,
  nativeResolution,
  readSchedulerConfig,
  toPng,
  type GenerateOptions,
  type StableDiffusion,
} from "./pipeline/stable-diffusion";
export { lineChartSvg, type ChartSpec, type Series } from "./plot/chart";
export { forestSvg } from "./plot/forest";
export { imageGrid, svgToPng } from "./plot/render";
export { scheduleChart } from "./plot/schedules";
export { randomNormal, rng, type Seed } from "./random";
export { allScheduleVariants, zeroTerminalSnrEffects } from "./schedules/compare";
export { enforceZeroTerminalSnr } from "./schedules/zero-terminal-snr";
export {
  SCHEDULE_KINDS,
  makeSchedule,
  scheduleLabel,
  type NoiseSchedule,
  type ScheduleConfig,
  type ScheduleKind,
} from "./schedules/schedule";
export { ClipTokenizer, clipTokenizer } from "./tokenizer/clip";
