export * from "./forward";
