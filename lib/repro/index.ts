/** `repro`: DVC 3-compatible pipeline runner (dvc.yaml, dvc.lock, .dvc files) for machines without DVC. */
export { repro, commitStages, changeReasons, lockStage, paramValues, runCommand, dataSourcesFor } from "./repro";
export type { ReproOptions, ReproResult, StageReport, StageStatus } from "./repro";
export { loadStages, expandEntry, interpolate, select, DEFAULT_PARAMS_FILE } from "./dvcyaml";
export type { Stage, OutSpec, ParamsSpec } from "./dvcyaml";
export { buildGraph, upstreamOf, resolveTargets } from "./graph";
export type { Graph } from "./graph";
export { md5, md5File, hashDir, hashPath, dirListingJson, listFiles, isTextBlock, pyJsonString } from "./hash";
export type { HashInfo, HashName, DirEntry } from "./hash";
export {
  parseLock,
  readLock,
  stringifyLock,
  writeLock,
  readDvcFile,
  stringifyDvcFile,
  writeDvcFile,
  LOCK_SCHEMA,
} from "./lock";
export type { Lock, LockEntry, LockStage, DvcFileOut } from "./lock";
export { parseYaml, stringifyYaml, pyFloatRepr, ruamelFloat, pyStr, valueEqual, PyFloat } from "./yaml";
export type { Value } from "./yaml";
