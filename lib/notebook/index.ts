/** What the notebooks import besides the library's computations: rich output, charts, source listings. */
export * from "../runtime";
export * from "./display";
export * from "./plotly";
export * from "./source";
export * from "../experiment/statements";
