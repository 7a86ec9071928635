export * from "./chart";
export * from "./render";
export * from "./schedules";
