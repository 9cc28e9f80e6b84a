/**
 * What the Node tests (the client's and the examples') share: the running product that
 * `run.js` started, its `manage.py`, fresh subscribers in the Stripe emulator, a webhook
 * inbox on localhost, and a flow walked to its end.
 */

import { spawn } from "node:child_process";
import { type IncomingHttpHeaders, type Server, createServer } from "node:http";
import { join } from "node:path";

import type { Flow, MrrxFlow } from "@mrrx/client";

import { PRODUCT_ENV, type ProductInfo, freePort } from "./product.js";

export type { ProductInfo } from "./product.js";

export function product(): ProductInfo {
  const json = process.env[PRODUCT_ENV];
  if (!json) {
    throw new Error(
      `${PRODUCT_ENV} is not set: run the tests through test/support/run.js (npm test), ` +
        "which starts the product",
    );
  }
  return JSON.parse(json) as ProductInfo;
}

/** `manage.py <args>` against the running product's database; its standard output. */
export function manage(...args: string[]): Promise<string> {
  const { repo, env } = product();
  return new Promise((done, fail) => {
    const child = spawn(join(repo, ".venv", "bin", "python"), ["manage.py", ...args], {
      cwd: repo,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.on("exit", (code) =>
      code === 0 ? done(out) : fail(new Error(`manage.py ${args[0]} exited ${code}:\n${err}`)),
    );
  });
}

/** A test-mode API key of the demo workspace with these scopes. */
export async function apiKeyWithScopes(...scopes: string[]): Promise<string> {
  const output = await manage(
    "apikey_create",
    ...["--tenant", product().workspaceId, "--mode", "test", "--json", "--scopes", ...scopes],
  );
  return (JSON.parse(output) as { key: string }).key;
}

/** A test-mode webhook endpoint of the demo workspace for every event; its secret. */
export async function webhookEndpoint(url: string): Promise<string> {
  const output = await manage(
    "webhook_endpoint_create",
    ...["--tenant", product().workspaceId, "--mode", "test", "--url", url, "--json"],
  );
  return (JSON.parse(output) as { secret: string }).secret;
}

/**
 * Lets the demo workspace send subscribers back to `origin` (what its owner does under
 * return URLs in admin). Test files run one at a time, so the read-modify-write is alone.
 */
export async function allowReturnOrigin(origin: string): Promise<void> {
  const code = [
    "from tenants.models import Tenant",
    `t = Tenant.objects.get(pk=${JSON.stringify(product().workspaceId)})`,
    `o = ${JSON.stringify(origin)}`,
    "if o not in t.return_url_allowlist:",
    "    t.return_url_allowlist = [*t.return_url_allowlist, o]",
    '    t.save(update_fields=["return_url_allowlist"])',
  ].join("\n");
  await manage("shell", "-c", code);
}

// --- The Stripe emulator: subscribers of the demo's own Pro price -------------------------

async function stripe(path: string, form?: Record<string, string>): Promise<unknown> {
  const response = await fetch(product().emulatorUrl + path, {
    method: form ? "POST" : "GET",
    // Any test key reaches the test-mode data the demo workspace is connected to.
    headers: { Authorization: "Bearer sk_test_mrrx_node_tests" },
    body: form ? new URLSearchParams(form) : undefined,
  });
  const body = (await response.json()) as unknown;
  if (!response.ok) throw new Error(`emulator ${path}: ${JSON.stringify(body)}`);
  return body;
}

/** A Stripe object as the emulator holds it now. */
export function stripeGet(path: string): Promise<unknown> {
  return stripe(path);
}

export interface Subscriber {
  customerId: string;
  email: string;
  subscriptionIds: string[];
}

/** A new customer with `count` subscriptions on the demo's Pro price ($29/month). */
export async function newSubscriber(count = 1): Promise<Subscriber> {
  const prices = (await stripe("/v1/prices?lookup_keys[]=mrrx_demo_pro_monthly")) as {
    data: Array<{ id: string }>;
  };
  const price = prices.data[0]?.id;
  if (!price) throw new Error("the demo's Pro price is not in the emulator");
  const email = `node-${crypto.randomUUID().slice(0, 8)}@example.com`;
  const customer = (await stripe("/v1/customers", { email, name: "Node Test" })) as { id: string };
  const subscriptionIds: string[] = [];
  for (let i = 0; i < count; i++) {
    const subscription = (await stripe("/v1/subscriptions", {
      customer: customer.id,
      "items[0][price]": price,
    })) as { id: string };
    subscriptionIds.push(subscription.id);
  }
  return { customerId: customer.id, email, subscriptionIds };
}

// --- HTTP on localhost ---------------------------------------------------------------------

/** Starts `server` on a free port of 127.0.0.1; its base URL. */
export function listen(server: Server): Promise<string> {
  return new Promise((done) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      done(`http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`);
    });
  });
}

/** A URL on which nothing listens (a port that was free a moment ago). */
export async function freePortUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

export function close(server: Server): Promise<void> {
  return new Promise((done) => {
    server.closeAllConnections();
    server.close(() => done());
  });
}

export interface Delivery {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A webhook receiver that keeps every request, raw, and answers 200. */
export class Inbox {
  readonly deliveries: Delivery[] = [];
  readonly server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      this.deliveries.push({ headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(200, { "Content-Type": "application/json" }).end('{"received":true}');
    });
  });

  /** The first delivery whose parsed body satisfies `match`, waiting for it. */
  async waitFor(
    match: (event: { type: string; data: Record<string, unknown> }) => boolean,
    timeoutMs = 60_000,
  ): Promise<Delivery> {
    return eventually(() => {
      return this.deliveries.find((delivery) => match(JSON.parse(delivery.body.toString())));
    }, timeoutMs);
  }
}

/** `probe()`'s first defined answer, asked every 250 ms for up to `timeoutMs`. */
export async function eventually<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`nothing arrived within ${timeoutMs} ms`);
    await new Promise((done) => setTimeout(done, 250));
  }
}

// --- The flow ------------------------------------------------------------------------------

/**
 * Walks a session's flow as a subscriber who is not using it enough and takes the first
 * offer (a pause of the shortest length in the demo's flow), to its end in the worker.
 */
export async function walkFlow(flow: MrrxFlow): Promise<Flow> {
  const opened = await flow.get();
  const reason = opened.reasons.find((r) => r.code === "not_using_enough") ?? opened.reasons[0];
  if (!reason) throw new Error("the flow offers no reasons");
  const surveyed = await flow.survey({ reason: reason.code });
  const offer = surveyed.offers?.[0];
  await flow.execute(
    offer
      ? {
          action: offer.action,
          offer_id: offer.id,
          pause_duration_days: offer.params.pause_options?.[0]?.days,
        }
      : { action: "cancel" },
  );
  // Faster than the README's 3 s: a test's session has calls to spare under 10 a minute.
  return flow.wait({ intervalMs: 1_000, timeoutMs: 90_000 });
}
