import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend, KNOWN_BACKENDS, parseBackendName } from "./backend";
import { oneDnnLine } from "./kernels/native";

function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

/** The webgpu backend needs both the Dawn bindings and tfjs' backend package. */
const webgpuInstalled = () => installed("webgpu") && installed("@tensorflow/tfjs-backend-webgpu");

test("prefer overrides the default: cpu, then wasm", async () => {
  const lines: string[] = [];
  const cpu = await initBackend({ prefer: "cpu", log: (l) => lines.push(l) });
  assert.equal(cpu.name, "cpu");
  assert.equal(tf.getBackend(), "cpu");
  const wasm = await initBackend({ prefer: "wasm", log: (l) => lines.push(l) });
  assert.equal(wasm.name, "wasm");
  assert.equal(tf.getBackend(), "wasm");
  // on wasm the line also says whether the oneDNN kernels are on (lib/kernels/native), unless DREAMBOOTH_NATIVE=0
  const kernels = oneDnnLine() ? `; ${oneDnnLine()}` : "";
  const wasmLine = `backend: wasm (requested by the prefer option)${kernels}`;
  assert.deepEqual(lines, ["backend: cpu (requested by the prefer option)", wasmLine]);
  if (process.env.DREAMBOOTH_NATIVE === "0") assert.equal(kernels, "");
  else assert.match(lines[1], /; oneDNN (\S+ kernels on \(\w+, \d+ threads?\)|kernels off \(.+\))$/);
  // Asking again for the same thing prints nothing.
  await initBackend({ prefer: "wasm", log: (l) => lines.push(l) });
  assert.equal(lines.length, 2);
});

test("DREAMBOOTH_BACKEND selects the backend when prefer is absent", async () => {
  const saved = process.env.DREAMBOOTH_BACKEND;
  process.env.DREAMBOOTH_BACKEND = "cpu";
  try {
    const info = await initBackend({ log: () => {} });
    assert.equal(info.name, "cpu");
    assert.match(info.reason, /DREAMBOOTH_BACKEND/);
  } finally {
    if (saved === undefined) delete process.env.DREAMBOOTH_BACKEND;
    else process.env.DREAMBOOTH_BACKEND = saved;
  }
});

test("auto picks the first available backend and says why the others were skipped", async () => {
  const saved = process.env.DREAMBOOTH_BACKEND;
  delete process.env.DREAMBOOTH_BACKEND;
  try {
    const lines: string[] = [];
    const info = await initBackend({ prefer: "auto", log: (l) => lines.push(l) });
    if (!installed("@tensorflow/tfjs-node-gpu") && !installed("@tensorflow/tfjs-node") && !webgpuInstalled()) {
      assert.equal(info.name, "wasm");
      const kernels = oneDnnLine() ? `; ${oneDnnLine()}` : "";
      const skipped = "tfjs-node-gpu not installed; tfjs-node not installed; webgpu not installed";
      assert.equal(lines.at(-1), `backend: wasm (${skipped})${kernels}`);
    } else {
      // Some optional package is installed: whichever backend won, every one before it in the order
      // must be accounted for in the reason, in order, and one that is not installed must say so.
      const k = KNOWN_BACKENDS.indexOf(info.name);
      assert.ok(k >= 0 && k <= KNOWN_BACKENDS.indexOf("wasm"), `${info.name}: wasm is always there; auto stops at it`);
      const parts = /; (?=(?:tfjs-node-gpu|tfjs-node|webgpu) )/;
      const skipped = info.reason === "first choice" ? [] : info.reason.split(parts);
      assert.equal(skipped.length, k, `reason "${info.reason}" accounts for the ${k} backend(s) before ${info.name}`);
      skipped.forEach((why, i) => {
        const name = KNOWN_BACKENDS[i];
        assert.ok(why.startsWith(`${name} `), `skipped #${i} "${why}" should be about ${name}`);
        const pkgInstalled = name === "webgpu" ? webgpuInstalled() : installed(`@tensorflow/${name}`);
        if (!pkgInstalled) assert.equal(why, `${name} not installed`);
      });
      assert.equal(lines.at(-1), `backend: ${info.name} (${info.reason})`);
    }
    assert.equal(tf.getBackend(), info.tfBackend);
  } finally {
    if (saved !== undefined) process.env.DREAMBOOTH_BACKEND = saved;
  }
});

test("an unknown backend name is an error listing the known ones", async () => {
  assert.throws(
    () => parseBackendName("webgl", "test"),
    /unknown backend 'webgl' \(from test\); known backends: tfjs-node-gpu, tfjs-node, webgpu, wasm, cpu, or auto/,
  );
  await assert.rejects(
    initBackend({ prefer: "gpu", log: () => {} }),
    /known backends: tfjs-node-gpu, tfjs-node, webgpu, wasm, cpu/,
  );
});

test("requesting webgpu: used when installed with a GPU, otherwise a clear error naming what is missing", async () => {
  const unavailable = new RegExp(
    "^backend 'webgpu' requested by the prefer option is unavailable \\((.*)\\); install webgpu and @tensorflow/tfjs-backend-webgpu",
  );
  const why = (e: Error) => {
    assert.match(e.message, unavailable);
    return unavailable.exec(e.message)![1];
  };
  const r = await initBackend({ prefer: "webgpu", log: () => {} }).then(
    (info) => ({ info, error: null }),
    (error: Error) => ({ info: null, error }),
  );
  if (!webgpuInstalled()) {
    assert.ok(r.error, `webgpu is not installed, yet initBackend chose ${r.info?.name}`);
    assert.equal(why(r.error), "webgpu not installed");
  } else if (r.error) {
    // installed, but this machine has no GPU adapter: the error says so
    assert.match(why(r.error), /^webgpu found no GPU adapter/);
  } else {
    assert.deepEqual([r.info.name, r.info.tfBackend, tf.getBackend()], ["webgpu", "webgpu", "webgpu"]);
    const y = tf.tidy(() => tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2])));
    assert.deepEqual(Array.from(await y.data()), [19, 22, 43, 50]);
    y.dispose();
  }
});

test("requesting tfjs-node: used when installed, otherwise a clear error, not a crash", async () => {
  if (installed("@tensorflow/tfjs-node")) {
    assert.equal((await initBackend({ prefer: "tfjs-node", log: () => {} })).tfBackend, "tensorflow");
  } else {
    await assert.rejects(
      initBackend({ prefer: "tfjs-node", log: () => {} }),
      /tfjs-node not installed.*install @tensorflow\/tfjs-node/,
    );
  }
});

test("initBackend registers the training kernels: conv2d gradients work on wasm", async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  const before = tf.memory().numTensors;
  const g = tf.tidy(() =>
    tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(tf.ones([1, 4, 4, 2]) as tf.Tensor4D, w as tf.Tensor4D, 1, "valid")))(
      tf.ones([3, 3, 2, 1]),
    ),
  );
  // Each filter tap sees the 2x2 valid output positions of an all-ones input: gradient 4 everywhere.
  assert.deepEqual(Array.from(await g.data()), new Array(18).fill(4));
  g.dispose();
  assert.equal(tf.memory().numTensors, before);
});
