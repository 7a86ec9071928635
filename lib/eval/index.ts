export * from "./model";
export * from "./faces";
export * from "./train";
export * from "./weights";
export * from "./prompt";
export * from "./stats";
export * from "./metrics";
