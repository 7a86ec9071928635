export * from "./atomic";
export * from "./float16";
export * from "./layout";
export * from "./safetensors";
export * from "./weights";
export * from "./variables";
