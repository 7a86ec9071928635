export * from "./betas";
export * from "./zero-terminal-snr";
export * from "./schedule";
export * from "./compare";
