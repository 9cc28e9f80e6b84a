/**
 * The whole product, as `make run` starts it on the embedded default (SQLite, the file
 * broker, the Stripe emulator), in a fresh `MRRX_VAR_DIR` and on free ports; its demo
 * banner read for the key and the subscriber, as tests/test_make_run.py reads it.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** What a test needs to reach the running product; travels to test files as JSON. */
export interface ProductInfo {
  repo: string;
  baseUrl: string;
  emulatorUrl: string;
  apiKey: string;
  workspaceId: string;
  cancelUrl: string;
  customerId: string;
  subscriptionId: string;
  /** The environment `make run` got, for `manage.py` to reach the same database. */
  env: Record<string, string>;
}

export const PRODUCT_ENV = "MRRX_TEST_PRODUCT";

// Variables that would move the product off the embedded default or give it other secrets.
const NOT_INHERITED = [
  "DATABASE_URL",
  "REDIS_URL",
  "CELERY_BROKER_URL",
  "RATE_LIMIT_BACKEND",
  "DJANGO_SETTINGS_MODULE",
  "SECRET_KEY",
  "API_KEY_HMAC_SECRET",
  "SESSION_TOKEN_KEYS",
  "ENCRYPTION_KEYS",
  "PUBLIC_BASE_URL",
  "STRIPE_API_BASE",
  "STRIPE_CONNECT_BASE",
];
const BANNER_TITLE = /\| MRRX demo is ready\./;
const BANNER_RULE = "=".repeat(72);

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!(existsSync(join(dir, "manage.py")) && existsSync(join(dir, "Makefile")))) {
    const parent = resolve(dir, "..");
    if (parent === dir) throw new Error("not inside the MRRX repository (no manage.py above)");
    dir = parent;
  }
  return dir;
}

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => done(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export class RunningProduct {
  readonly lines: string[] = [];
  private stopped = false;

  constructor(
    private readonly process: ChildProcess,
    readonly env: Record<string, string>,
  ) {
    let partial = "";
    const collect = (chunk: Buffer): void => {
      const text = partial + chunk.toString("utf8");
      const parts = text.split("\n");
      partial = parts.pop() ?? "";
      this.lines.push(...parts);
    };
    process.stdout?.on("data", collect);
    process.stderr?.on("data", collect);
  }

  get exited(): boolean {
    return this.process.exitCode !== null || this.process.signalCode !== null;
  }

  /** The index of the first line from `after` on that matches, waiting up to `timeoutMs`. */
  async waitFor(pattern: RegExp, after = 0, timeoutMs = 300_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let index = after;
    while (Date.now() < deadline) {
      for (; index < this.lines.length; index++) {
        if (pattern.test(this.lines[index] ?? "")) return index;
      }
      if (this.exited) break;
      await new Promise((done) => setTimeout(done, 100));
    }
    throw new Error(`${pattern} not printed by make run:\n${this.tail(80)}`);
  }

  tail(count: number): string {
    return this.lines.slice(-count).join("\n");
  }

  /**
   * make and honcho share one process group; honcho stops the processes it started, so
   * wait for the group to be gone before anything more forceful.
   */
  async stop(): Promise<void> {
    if (this.stopped || this.process.pid === undefined) return;
    this.stopped = true;
    const group = -this.process.pid;
    const alive = (): boolean => {
      try {
        process.kill(group, 0);
        return true;
      } catch {
        return false;
      }
    };
    if (!alive()) return;
    process.kill(group, "SIGTERM");
    const deadline = Date.now() + 30_000;
    while (alive() && Date.now() < deadline) await new Promise((done) => setTimeout(done, 200));
    if (alive()) process.kill(group, "SIGKILL");
  }
}

/**
 * Starts `make run` and resolves once its banner is printed, with what the banner says.
 * `spawned` hears of the process at once, so that a signal meanwhile can still stop it.
 */
export async function startProduct(
  spawned: (product: RunningProduct) => void = () => undefined,
): Promise<{ product: RunningProduct; info: ProductInfo }> {
  const repo = repoRoot();
  const [port, emulatorPort] = [await freePort(), await freePort()];
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !NOT_INHERITED.includes(name)) env[name] = value;
  }
  Object.assign(env, {
    PORT: String(port),
    STRIPE_EMULATOR_PORT: String(emulatorPort),
    MRRX_VAR_DIR: mkdtempSync(join(tmpdir(), "mrrx-node-")),
    PYTHONUNBUFFERED: "1",
  });
  const child = spawn("make", ["--no-print-directory", "run"], {
    cwd: repo,
    env,
    detached: true, // a process group of its own, stopped as one
    stdio: ["ignore", "pipe", "pipe"],
  });
  const product = new RunningProduct(child, env);
  spawned(product);
  try {
    const title = await product.waitFor(BANNER_TITLE);
    const end = await product.waitFor(new RegExp(BANNER_RULE), title, 60_000);
    const info = fromBanner(product.lines.slice(title, end).join("\n"));
    return {
      product,
      info: {
        ...info,
        repo,
        baseUrl: `http://localhost:${port}`,
        emulatorUrl: `http://127.0.0.1:${emulatorPort}`,
        env,
      },
    };
  } catch (error) {
    await product.stop();
    throw error;
  }
}

/** What the demo banner says: the key, the workspace, the cancel URL, the subscriber. */
function fromBanner(banner: string): Omit<ProductInfo, "repo" | "baseUrl" | "emulatorUrl" | "env"> {
  const field = (pattern: RegExp): string => {
    const match = pattern.exec(banner);
    if (!match?.[1]) throw new Error(`${pattern} not in the banner:\n${banner}`);
    return match[1];
  };
  const [customerId = "", subscriptionId = ""] = field(/Subscriber: +(cus_\w+ \/ sub_\w+)/).split(
    " / ",
  );
  return {
    apiKey: field(/Test API key: (mrrx_test_\w+)/),
    workspaceId: field(/Workspace: .*\((ws_\w+)\)/),
    cancelUrl: field(/Cancel URL: +(\S+)/),
    customerId,
    subscriptionId,
  };
}
