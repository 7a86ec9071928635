export * from "./clip";
