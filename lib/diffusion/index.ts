export * from "./forward";
export * from "./visualize";
