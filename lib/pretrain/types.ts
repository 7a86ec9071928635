/** What `pretrain` takes and what it reports (the model card is written from both). */
import type { PredictionType } from "../diffusion/forward";
import type { ScheduleConfig } from "../schedules";
import type { Seed } from "../random";

export interface PretrainOptions {
  /** the model folder written at the end (diffusers layout) */
  out: string;
  /** run folder: checkpoints, logs, latent cache */
  work: string;
  trainPack: string;
  valPack: string;
  /** raw diffusers configs; default the shipped "tiny" */
  configs?: { unet: unknown; vae: unknown; text_encoder: unknown };
  /** crop: train on random square crops of this side (0: whole images; see VaeTaskConfig.crop) */
  vae: { steps: number; batch: number; lr: number; klWeight: number; crop?: number };
  diffusion: {
    steps: number;
    batch: number;
    lr: number;
    warmupSteps: number;
    captionDropout: number;
    emaDecay?: number;
    schedule: ScheduleConfig;
    predictionType: PredictionType;
    /** min-SNR-γ loss weighting (Hang et al. 2023); undefined = uniform */
    minSnrGamma?: number;
    /** encode only the first N training images for this stage (encoding costs a forward pass each) */
    images?: number;
    /** train the 49,408-row token table too (default: frozen at its seeded init; see DiffusionTaskConfig) */
    trainTokenTable?: boolean;
  };
  workers: number;
  seed: Seed;
  checkpointEvery: number;
  /** weights' dtype in the final folder */
  dtype: "F32" | "F16";
}

export interface PretrainReport {
  /** training time of each stage from its log.csv, summed over interrupted and resumed runs */
  vaeTrainingSeconds?: number;
  diffusionTrainingSeconds?: number;
  vaeSeconds: number;
  encodeSeconds: number;
  /** the encoded training images came from an earlier run of the same autoencoder (a resumed pretraining) */
  encodeCached?: boolean;
  diffusionSeconds: number;
  totalSeconds: number;
  vaeSamplesPerSecond: number;
  diffusionSamplesPerSecond: number;
  vaeFinalLoss: number;
  diffusionFinalLoss: number;
  valPsnr: number;
  /** FLOPs of one training sample of the second stage: 3 × the forward FLOPs of the U-Net and the text encoder */
  diffusionFlopsPerSample?: number;
  /**
   * one thread's matMul ceiling (lib/kernels/ceiling) on the main thread: the best of the measurements
   * in `matmulCeilingRuns` (a ceiling is what the kernel can do; one taken at the end of a run was seen
   * at 12 GFLOP/s against 31 in a fresh process a minute later)
   */
  matmulCeilingGflops?: number;
  /** each measurement of the ceiling, and when it was taken ("before training", "after training") */
  matmulCeilingRuns?: { gflops: number; when: string }[];
}
