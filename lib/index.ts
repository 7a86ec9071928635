/** improved-dreambooth: the library the CLI, the pipeline and the notebooks import by package name. */
export * from "./schedules";
export * from "./diffusion";
export * from "./random";
export * from "./plot";
export * from "./notebook";
export * from "./tokenizer";
export * from "./io";
export * from "./data";
export * from "./models";
export * from "./train/optim";
export * from "./train/checkpoint";
export * from "./train/progress";
export * from "./backend";
export * from "./eval";
