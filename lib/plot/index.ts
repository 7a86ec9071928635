export * from "./chart";
export * from "./render";
