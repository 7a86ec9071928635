export * from "./forward";
export * from "./visualize";
export * from "./samplers";
export * from "./toy";
