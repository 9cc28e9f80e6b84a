/**
 * Runs Node test files against one running product:
 *
 *     node build/test/support/run.js build/test/*.test.js [more test files]
 *
 * Starts `make run` on the embedded default, hands its key and addresses to the test
 * files (`MRRX_TEST_PRODUCT`), runs them with `node --test` one file at a time (they share
 * the demo workspace), stops the product, and exits with the tests' status. When tests
 * fail, the product's last log lines follow, to see what the server said.
 */

import { spawn } from "node:child_process";
import { rmSync } from "node:fs";

import { PRODUCT_ENV, type RunningProduct, startProduct } from "./product.js";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node run.js <test file>...");
  process.exit(2);
}

let product: RunningProduct | undefined;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    void (product?.stop() ?? Promise.resolve()).then(() => process.exit(130));
  });
}

const started = Date.now();
let status = 1;
let varDir: string | undefined; // removed after a run that passed
try {
  const running = await startProduct((spawned) => (product = spawned));
  const seconds = Math.round((Date.now() - started) / 1000);
  console.log(`make run answered in ${seconds} s at ${running.info.baseUrl}`);
  status = await new Promise<number>((done) => {
    const tests = spawn(
      process.execPath,
      // One file at a time, and no test hangs the run: each has 4 minutes.
      ["--test", "--test-concurrency=1", "--test-timeout=240000", "--test-reporter=spec", ...files],
      {
        env: {
          ...process.env,
          [PRODUCT_ENV]: JSON.stringify(running.info),
          // Lets the examples' tests import this kit as "@mrrx/client/testkit".
          NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --conditions=mrrx-test`.trim(),
        },
        stdio: "inherit",
      },
    );
    tests.on("exit", (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
  if (status !== 0) {
    console.log(`--- the product's log (last 150 lines)\n${running.product.tail(150)}`);
    console.log(`(its database and files are kept in ${running.info.env.MRRX_VAR_DIR})`);
  } else {
    varDir = running.info.env.MRRX_VAR_DIR;
  }
} catch (error) {
  console.error(error);
  if (product) console.log(`--- the product's log (last 150 lines)\n${product.tail(150)}`);
} finally {
  await product?.stop();
}
if (varDir) rmSync(varDir, { recursive: true, force: true });
process.exit(status);
