import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { commitStages, repro, ReproResult } from "./repro";
import { loadStages } from "./dvcyaml";
import { parseLock, readLock, stringifyLock, writeDvcFile } from "./lock";
import { pyFloatRepr, ruamelFloat } from "./yaml";

/** A temp repo with the given files. */
function repo(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "repro-"));
  for (const [p, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    fs.writeFileSync(path.join(root, p), text);
  }
  return root;
}

async function run(root: string, opts: { targets?: string[]; force?: boolean; dry?: boolean } = {}) {
  const lines: string[] = [];
  const res = await repro({ root, ...opts, log: (l) => lines.push(l), stdio: "ignore" });
  return { ...res, lines };
}

const ran = (r: ReproResult) => r.stages.filter((s) => s.status === "ran").map((s) => s.name);
const read = (root: string, p: string) => fs.readFileSync(path.join(root, p), "utf8");
/** A node one-liner writing `text` to `file` (shell-quoted for sh -c). */
const write = (file: string, text: string) => `node -e "require('fs').writeFileSync('${file}', '${text}')"`;

// Four stages: a and b read one param each; c depends on a's out, d on b's out. Declared out of order.
const PIPELINE = `stages:
  c:
    cmd: cat a.txt a.txt > c.txt && echo c >> order.log
    deps:
    - a.txt
    outs:
    - c.txt
  a:
    cmd: echo "x=\${a.x}" > a.txt && echo a >> order.log
    deps:
    - src/a.sh
    params:
    - a.x
    - a.unused
    outs:
    - a.txt
  d:
    cmd: cat b.txt > d.txt && echo d >> order.log
    deps:
    - b.txt
    outs:
    - d.txt
  b:
    cmd: ${write("b.txt", "${b.y}")} && echo b >> order.log
    params:
    - b.y
    outs:
    - b.txt
`;
const PARAMS = `a:\n  x: 1\n  unused: 0.5\nb:\n  y: hello\n`;
const pipelineRepo = () => repo({ "dvc.yaml": PIPELINE, "params.yaml": PARAMS, "src/a.sh": "# a\n" });

test("stages run in dependency order, then nothing reruns", async () => {
  const root = pipelineRepo();
  const r1 = await run(root);
  assert.equal(r1.exitCode, 0);
  assert.deepEqual(read(root, "order.log").split("\n").filter(Boolean), ["a", "c", "b", "d"]);
  assert.ok(r1.lines.includes("Running stage 'a' (not in dvc.lock):"), r1.lines.join("\n"));
  assert.equal(read(root, "c.txt"), "x=1\nx=1\n");
  const lock1 = read(root, "dvc.lock");
  const r2 = await run(root);
  assert.deepEqual(ran(r2), []);
  assert.ok(r2.lines.includes("Stage 'c' didn't change, skipping"));
  assert.equal(read(root, "dvc.lock"), lock1);
});

test("changing one param reruns exactly the stages that depend on it and those downstream of changed outs", async () => {
  const root = pipelineRepo();
  await run(root);
  fs.writeFileSync(path.join(root, "params.yaml"), PARAMS.replace("x: 1", "x: 2"));
  const r = await run(root);
  assert.deepEqual(ran(r), ["a", "c"]);
  assert.deepEqual(r.stages.find((s) => s.name === "a")!.reasons, ["cmd changed", "params changed: a.x"]);
  assert.deepEqual(r.stages.find((s) => s.name === "c")!.reasons, ["changed deps: a.txt"]);
  assert.equal(read(root, "c.txt"), "x=2\nx=2\n");
  assert.equal(parseLock(read(root, "dvc.lock")).get("a")!.params!["params.yaml"]["a.x"], 2);

  // A param that a tracks but that does not change a.txt: a reruns, c (same input bytes) does not.
  fs.writeFileSync(
    path.join(root, "params.yaml"),
    PARAMS.replace("x: 1", "x: 2").replace("unused: 0.5", "unused: 0.25"),
  );
  const r2 = await run(root);
  assert.deepEqual(ran(r2), ["a"]);
  assert.deepEqual(r2.stages.find((s) => s.name === "a")!.reasons, ["params changed: a.unused"]);

  fs.writeFileSync(
    path.join(root, "params.yaml"),
    PARAMS.replace("x: 1", "x: 2").replace("unused: 0.5", "unused: 0.25").replace("hello", "bye"),
  );
  assert.deepEqual(ran(await run(root)), ["b", "d"]);
});

test("changing a dep file, or deleting an out, reruns the stage", async () => {
  const root = pipelineRepo();
  await run(root);
  fs.writeFileSync(path.join(root, "src/a.sh"), "# a, edited\n");
  const r = await run(root);
  assert.deepEqual(ran(r), ["a"]); // a.txt came out the same, so c stays
  assert.deepEqual(r.stages[0].reasons, ["changed deps: src/a.sh"]);
  fs.rmSync(path.join(root, "d.txt"));
  const r2 = await run(root);
  assert.deepEqual(ran(r2), ["d"]);
  assert.deepEqual(r2.stages.find((s) => s.name === "d")!.reasons, ["out missing: d.txt"]);
});

test("--dry runs nothing and writes nothing; --force and targets", async () => {
  const root = pipelineRepo();
  const dry = await run(root, { dry: true });
  assert.deepEqual(
    dry.stages.map((s) => s.status),
    ["would run", "would run", "would run", "would run"],
  );
  assert.ok(dry.lines.includes("> cat a.txt a.txt > c.txt && echo c >> order.log"));
  assert.ok(
    !fs.existsSync(path.join(root, "a.txt")) &&
      !fs.existsSync(path.join(root, "dvc.lock")) &&
      !fs.existsSync(path.join(root, "order.log")),
  );
  const t = await run(root, { targets: ["c"] });
  assert.deepEqual(ran(t), ["a", "c"]);
  assert.deepEqual([...readLock(root).keys()], ["a", "c"]);
  const f = await run(root, { targets: ["d"], force: true });
  assert.deepEqual(ran(f), ["b", "d"]);
  assert.deepEqual(ran(await run(root, { force: true })), ["a", "c", "b", "d"]);
});

test("a failing command stops the run with its exit code; dvc.lock keeps the stages that succeeded", async () => {
  const root = repo({
    "dvc.yaml": `stages:\n  one:\n    cmd: echo 1 > one.txt\n    outs:\n    - one.txt\n  two:\n    cmd: exit 7\n    deps:\n    - one.txt\n    outs:\n    - two.txt\n  three:\n    cmd: echo 3 > three.txt\n    deps:\n    - two.txt\n    outs:\n    - three.txt\n`,
  });
  const r = await run(root);
  assert.equal(r.exitCode, 7);
  assert.deepEqual(
    r.stages.map((s) => [s.name, s.status]),
    [
      ["one", "ran"],
      ["two", "failed"],
    ],
  );
  assert.deepEqual([...readLock(root).keys()], ["one"]);
});

test("frozen stages never run; missing outs are an error that says how to proceed", async () => {
  const root = repo({
    "dvc.yaml": `stages:\n  base:\n    cmd: echo built > base.txt\n    outs:\n    - base.txt\n    frozen: true\n  use:\n    cmd: cat base.txt > use.txt\n    deps:\n    - base.txt\n    outs:\n    - use.txt\n`,
    "base.txt": "shipped\n",
  });
  const r = await run(root);
  assert.equal(r.stages[0].status, "frozen");
  assert.equal(read(root, "base.txt"), "shipped\n");
  assert.equal(read(root, "use.txt"), "shipped\n");
  assert.ok(readLock(root).has("base"));
  fs.rmSync(path.join(root, "base.txt"));
  await assert.rejects(run(root), /frozen and its outputs are missing: base\.txt; unfreeze it .* --force/);
  const f = await run(root, { targets: ["base"], force: true });
  assert.deepEqual(ran(f), ["base"]);
  assert.equal(read(root, "base.txt"), "built\n");
});

test("foreach and matrix stages are named as DVC names them, with ${item}, ${key} and params interpolated", () => {
  const root = repo({
    "params.yaml": "train:\n  lr: 5.0e-6\n  steps: 100\nscheds: [linear, sigmoid]\n",
    "dvc.yaml": `vars:
  - seeds: [1, 2]
stages:
  train:
    foreach: \${scheds}
    do:
      cmd: dreambooth train --schedule \${item} --lr \${train.lr} --steps \${train.steps}
      outs:
      - out/\${item}
  eval:
    foreach:
      lin: {s: linear, z: true}
      sig: {s: sigmoid, z: false}
    do:
      cmd: eval \${key} \${item.s} \${item.z}
  fig:
    foreach:
      - {n: 1}
      - {n: 2}
    do:
      cmd: fig \${item.n}
  grid:
    matrix:
      sched: \${scheds}
      zsnr: [true, false]
      seed: \${seeds}
    cmd: sample \${item.sched} \${item.zsnr} \${item.seed} \${key}
`,
  });
  const stages = loadStages(root);
  assert.deepEqual(
    stages.map((s) => s.name),
    [
      "train@linear",
      "train@sigmoid",
      "eval@lin",
      "eval@sig",
      "fig@0",
      "fig@1",
      "grid@linear-true-1",
      "grid@linear-true-2",
      "grid@linear-false-1",
      "grid@linear-false-2",
      "grid@sigmoid-true-1",
      "grid@sigmoid-true-2",
      "grid@sigmoid-false-1",
      "grid@sigmoid-false-2",
    ],
  );
  // Python's str(5e-06) is "5e-06": the cmd DVC would run, byte for byte.
  assert.equal(stages[0].cmd, "dreambooth train --schedule linear --lr 5e-06 --steps 100");
  assert.deepEqual(
    stages[1].outs.map((o) => o.path),
    ["out/sigmoid"],
  );
  assert.equal(stages[3].cmd, "eval sig sigmoid false");
  assert.equal(stages[5].cmd, "fig 2");
  assert.equal(stages[13].cmd, "sample sigmoid false 2 sigmoid-false-2");
});

test("dvc.lock round trip: DVC's layout parses and prints back byte for byte", () => {
  // The layout of DVC 3's dvc.lock (dvc.org "dvc.yaml files"/dvc.lock docs; dvc/stage/serialize.py).
  const text = `schema: '2.0'
stages:
  prepare:
    cmd: python src/prepare.py data/data.xml
    deps:
    - path: data/data.xml
      hash: md5
      md5: 22a1a2931c8370d3aeedd7183606fd7f
      size: 14445097
    - path: src/prepare.py
      hash: md5
      md5: f09ea0c15980b43010257ccb9f0055e2
      size: 1576
    params:
      params.yaml:
        prepare.seed: 20170428
        prepare.split: 0.2
        train.lr: 5e-06
        train.scale: 1.0
    outs:
    - path: data/prepared
      hash: md5
      md5: 153aad06d376b6595932470e459ef42a.dir
      size: 8437363
      nfiles: 2
  train@linear:
    cmd:
    - mkdir -p out
    - dreambooth train --schedule linear --lr 5e-06 --out out/linear --log-every 10
      --seed 0
    outs:
    - path: out/linear
      hash: md5
      md5: 4303bb67c4dfb45fd9942bd7e2cb0960.dir
      size: 17
      nfiles: 1
`;
  const lock = parseLock(text);
  assert.equal(lock.get("prepare")!.deps![0].size, 14445097);
  assert.equal(
    lock.get("train@linear")!.cmd[1],
    "dreambooth train --schedule linear --lr 5e-06 --out out/linear --log-every 10 --seed 0",
  );
  assert.equal(stringifyLock(lock), text);
  assert.deepEqual(parseLock(stringifyLock(lock)), lock);
});

test("Python float repr, as DVC interpolates and ruamel writes floats", () => {
  // CPython: repr(5e-06) == '5e-06', repr(0.0001) == '0.0001', repr(1e16) == '1e+16', repr(0.1+0.2) == '0.30000000000000004'
  assert.deepEqual([5e-6, 1e-4, 1e16, 0.1 + 0.2, 100, 123.5].map(pyFloatRepr), [
    "5e-06",
    "0.0001",
    "1e+16",
    "0.30000000000000004",
    "100.0",
    "123.5",
  ]);
  // DVC 3.64 (ruamel, YAML 1.2) writes the repr: `lr: 5e-05`, `kl_weight: 1e-06` in dvc.lock
  assert.deepEqual([5e-6, 1e16, 5e-5, 1e-6, 0.0007, 1].map(ruamelFloat), [
    "5e-06",
    "1e+16",
    "5e-05",
    "1e-06",
    "0.0007",
    "1.0",
  ]);
});

test("the DAG: cycles and two stages writing one out are errors; data.dvc sources are verified and updated", async () => {
  const cyc = repo({
    "dvc.yaml":
      "stages:\n  a:\n    cmd: 'true'\n    deps: [b.txt]\n    outs: [a.txt]\n  b:\n    cmd: 'true'\n    deps: [a.txt]\n    outs: [b.txt]\n",
  });
  await assert.rejects(run(cyc), /cycle: a -> b -> a/);
  const dup = repo({
    "dvc.yaml": "stages:\n  a:\n    cmd: 'true'\n    outs: [x]\n  b:\n    cmd: 'true'\n    outs: [x/y]\n",
  });
  await assert.rejects(run(dup), /overlap/);

  const root = repo({
    "data/one.txt": "1\n",
    "dvc.yaml": "stages:\n  count:\n    cmd: ls data | wc -l > n.txt\n    deps:\n    - data\n    outs:\n    - n.txt\n",
  });
  writeDvcFile(path.join(root, "data"));
  const before = read(root, "data.dvc");
  assert.deepEqual(ran(await run(root)), ["count"]);
  assert.equal(read(root, "data.dvc"), before);
  fs.writeFileSync(path.join(root, "data/two.txt"), "2\n");
  const r = await run(root);
  assert.deepEqual(ran(r), ["count"]);
  assert.ok(r.lines.some((l) => l.startsWith("Verifying data sources in stage: 'data.dvc'")));
  assert.match(read(root, "data.dvc"), /nfiles: 2/);
  fs.rmSync(path.join(root, "data"), { recursive: true });
  await assert.rejects(run(root), /data source 'data' of 'data.dvc' is missing/);
});

test("always_changed stages always run; persist outs are kept while non-persist ones are deleted first", async () => {
  const root = repo({
    "dvc.yaml": `stages:\n  s:\n    cmd: echo run >> log.txt && test ! -e seen.txt && echo ok > seen.txt\n    always_changed: true\n    outs:\n    - log.txt:\n        persist: true\n    - seen.txt:\n        cache: false\n`,
  });
  await run(root);
  const r = await run(root);
  assert.equal(r.exitCode, 0, "seen.txt (not persist) must be deleted before the stage runs again");
  assert.deepEqual(r.stages[0].reasons, ["always_changed"]);
  assert.equal(read(root, "log.txt"), "run\nrun\n");
});

test("commitStages records an output finished by hand, like `dvc commit`: the next repro finds nothing to do", async () => {
  const root = repo({
    "dvc.yaml": `stages:\n  make:\n    cmd: mkdir -p out && echo w > out/weights\n    outs:\n    - out\n  use:\n    cmd: cat out/weights > use.txt\n    deps:\n    - out\n    outs:\n    - use.txt\n`,
  });
  await run(root);
  fs.writeFileSync(path.join(root, "out", "README.md"), "a card written after the run\n");
  assert.deepEqual(
    commitStages(root, ["make"], () => {}),
    ["make"],
  );
  const lockOut = readLock(root).get("make")!.outs![0];
  assert.equal(lockOut.nfiles, 2, "the lock now counts the hand-written file");
  // `use` depends on out/, whose hash changed: it reruns once, then everything is up to date
  assert.deepEqual(ran(await run(root)), ["use"]);
  assert.deepEqual(ran(await run(root)), []);
  assert.throws(() => commitStages(root, [], () => {}), /needs the stages/);
});

test("interpolation in cmd follows DVC 3.64: a dictionary becomes flags, a list is refused", () => {
  // dvc/parsing/interpolate.py: to_str(dict) → "--k v", "--flag" for true, nothing for false, a list as
  // "--k a b", nested keys joined with "."; strings through shlex.quote; validate_value refuses lists
  const root = repo({
    "params.yaml":
      "args:\n  lr: 5.0e-6\n  fresh: true\n  dry: false\n  seeds: [0, 1]\n  name: a b\n  opt:\n    x: 1\nseeds: [0, 1, 2]\n",
    "dvc.yaml": "stages:\n  ok:\n    cmd: train ${args}\n  bad:\n    cmd: compare --seeds ${seeds}\n",
  });
  fs.writeFileSync(path.join(root, "dvc.yaml"), "stages:\n  ok:\n    cmd: train ${args}\n");
  assert.equal(loadStages(root)[0].cmd, "train --lr 5e-06 --fresh --seeds 0 1 --name 'a b' --opt.x 1");
  fs.writeFileSync(path.join(root, "dvc.yaml"), "stages:\n  bad:\n    cmd: compare --seeds ${seeds}\n");
  assert.throws(() => loadStages(root), /Cannot interpolate data of type 'list'/);
});
