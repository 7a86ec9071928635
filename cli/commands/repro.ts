/**
 * `dreambooth repro`: reproduce the dvc.yaml pipeline as `dvc repro` does. When the `dvc`
 * executable is on the PATH it simply runs `dvc repro` with the same arguments; otherwise the
 * built-in runner in lib/repro reads the same dvc.yaml, params.yaml and dvc.lock.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { defineCommand, UsageError } from "../command";
import { commitStages, readDvcFile, repro } from "../../lib/repro";
import { hashPath } from "../../lib/repro/hash";
import { writeInstanceImages } from "../../lib/data/subject";

/** Finds an executable on the PATH. */
export function onPath(name: string, envPath = process.env.PATH ?? ""): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * `data.dvc` tracks the DreamBooth instance images in `data/`. A fresh clone has no DVC cache to
 * pull them from, but the default subject is generated bit-exactly by `writeInstanceImages`: when
 * `data/` is missing, regenerate it and check it against data.dvc's md5 before anything runs (a dry
 * run too: like `dvc checkout`, it restores a tracked input and runs no stage).
 */
export async function restoreDefaultData(root: string, log: (l: string) => void = console.log): Promise<void> {
  const dvcFile = path.join(root, "data.dvc");
  const dir = path.join(root, "data");
  if (!fs.existsSync(dvcFile) || fs.existsSync(dir)) return;
  const out = readDvcFile(dvcFile)[0];
  await writeInstanceImages(dir, 64);
  const h = hashPath(dir)!;
  if (h.md5 !== out.md5) {
    // leave nothing behind: a wrong data/ would be taken for the user's data and rewrite data.dvc on the next run
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `data/ was missing; the regenerated default subject has md5 ${h.md5} but data.dvc records ${out.md5}: ` +
        "data.dvc tracks other images (your own?) — restore them into data/ (or `dvc pull`), then rerun",
    );
  }
  log(`data/ was missing: regenerated the default subject's instance images (md5 ${h.md5} matches data.dvc)`);
}

export const command = defineCommand({
  name: "repro",
  summary: "reproduce the dvc.yaml pipeline (runs `dvc repro` when dvc is installed)",
  description: `Runs the stages of dvc.yaml whose cmd, deps, params or outs changed since dvc.lock, in dependency
order, updates dvc.lock and saves the outputs in DVC's cache (.dvc/cache). With stage names, only those
stages and what they depend on. When dvc is on the PATH this runs \`dvc repro\` with the same arguments.`,
  positionals: {
    name: "[<stage> ...]",
    help: "stages (or foreach groups) to reproduce, with what they depend on",
    count: "many",
  },
  options: {
    force: {
      type: "boolean",
      short: "f",
      help: "run the stages even if nothing changed (a frozen stage only when named)",
    },
    dry: { type: "boolean", help: "print what would run and why; run nothing" },
    builtin: { type: "boolean", help: "use the built-in runner even when dvc is installed" },
    commit: {
      type: "boolean",
      help: "record the named stages' deps, params and outs without running them (dvc commit)",
    },
  },
  async run(o, targets, argv) {
    const dvc = o.builtin ? undefined : onPath("dvc");
    if (o.commit) {
      if (!targets.length) throw new UsageError("--commit needs the stages to record, e.g. `repro --commit pretrain`");
      if (dvc) {
        console.log(`dvc found at ${dvc}: running \`dvc commit -f ${targets.join(" ")}\``);
        return spawnSync(dvc, ["commit", "-f", ...targets], { stdio: "inherit" }).status ?? 1;
      }
      commitStages(process.cwd(), targets);
      return 0;
    }
    if (dvc) {
      const args = ["repro", ...argv.filter((a) => a !== "--builtin")];
      console.log(`dvc found at ${dvc}: running \`dvc ${args.join(" ")}\``);
      return spawnSync(dvc, args, { stdio: "inherit" }).status ?? 1;
    }
    try {
      await restoreDefaultData(process.cwd());
      const res = await repro({ root: process.cwd(), targets, force: o.force, dry: o.dry });
      return res.exitCode;
    } catch (e) {
      console.error(`ERROR: ${(e as Error).message}`);
      return 1;
    }
  },
});
