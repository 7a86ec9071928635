export * from "./attributes";
export * from "./faces";
export * from "./images";
export * from "./dataset";
export * from "./subject";
