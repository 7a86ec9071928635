export * from "./atomic";
export * from "./float16";
export * from "./safetensors";
