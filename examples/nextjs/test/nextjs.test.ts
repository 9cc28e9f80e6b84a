/**
 * The Next.js example's route handlers against the real product (started by the client's
 * test runner), without Next: they take a standard `Request` and answer a `Response`, so a
 * few lines of node:http stand in for Next's router. A subscriber walks the flow to the
 * end from the cancel route, the return route shows the outcome MRRX verified, and the
 * webhook route verifies a real delivery and refuses a forged one.
 */

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import { Mrrx, MrrxFlow } from "@mrrx/client";
import {
  allowReturnOrigin,
  apiKeyWithScopes,
  close,
  eventually,
  listen,
  newSubscriber,
  product,
  walkFlow,
  webhookEndpoint,
} from "@mrrx/client/testkit";

import * as webhook from "../app/api/mrrx-webhook/route.ts";
import * as cancel from "../app/cancel/route.ts";
import * as result from "../app/return/route.ts";

type Handler = (request: Request) => Response | Promise<Response>;

// What Next's router does with the app/ folder, for these three routes.
const ROUTES: Record<string, Partial<Record<string, Handler>>> = {
  "/cancel": { POST: cancel.POST },
  "/return": { GET: result.GET, POST: result.POST },
  "/api/mrrx-webhook": { POST: webhook.POST },
};

const { baseUrl, apiKey } = product();
/** Each request the webhook route answered: what it was sent, and its status. */
const webhookCalls: Array<{ body: string; status: number }> = [];
const server = createServer(async (incoming, outgoing) => {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  const url = new URL(incoming.url ?? "/", appUrl);
  const handler = ROUTES[url.pathname]?.[incoming.method ?? "GET"];
  if (!handler) {
    outgoing.writeHead(404).end();
    return;
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  const body = chunks.length ? Buffer.concat(chunks) : undefined;
  const response = await handler(new Request(url, { method: incoming.method, headers, body }));
  if (url.pathname === "/api/mrrx-webhook") {
    webhookCalls.push({ body: body?.toString() ?? "", status: response.status });
  }
  outgoing.writeHead(response.status, Object.fromEntries(response.headers));
  outgoing.end(Buffer.from(await response.arrayBuffer()));
});
let appUrl = "";

async function signIn(): Promise<string> {
  const subscriber = await newSubscriber();
  process.env.DEMO_CUSTOMER_ID = subscriber.customerId;
  process.env.DEMO_SUBSCRIPTION_ID = subscriber.subscriptionIds[0];
  process.env.DEMO_USER_ID = "usr_nextjs";
  return subscriber.subscriptionIds[0] ?? "";
}

/** A delivery signed as MRRX signs it (Standard Webhooks), with the endpoint's secret. */
function deliver(body: string, secret = process.env.MRRX_WEBHOOK_SECRET ?? ""): Promise<Response> {
  const id = (JSON.parse(body) as { id: string }).id;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const signature = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64");
  return fetch(`${appUrl}/api/mrrx-webhook`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": timestamp,
      "webhook-signature": `v1,${signature}`,
    },
    body,
  });
}

function post(path: string, form: Record<string, string> = {}): Promise<Response> {
  return fetch(appUrl + path, {
    method: "POST",
    body: new URLSearchParams(form),
    redirect: "manual",
  });
}

before(async () => {
  appUrl = await listen(server);
  await allowReturnOrigin(appUrl);
  Object.assign(process.env, {
    MRRX_API_KEY: apiKey,
    MRRX_BASE_URL: baseUrl,
    APP_URL: appUrl,
    MRRX_WEBHOOK_SECRET: await webhookEndpoint(`${appUrl}/api/mrrx-webhook`),
  });
});
after(() => close(server));

test("the cancel route leads through MRRX's flow back to a verified outcome and a verified webhook", async () => {
  await signIn();
  const redirect = await post("/cancel");
  assert.equal(redirect.status, 303);
  const hostedUrl = redirect.headers.get("location") ?? "";
  assert.ok(hostedUrl.startsWith(`${baseUrl}/c/`), hostedUrl);
  assert.equal((await fetch(hostedUrl)).status, 200);

  const token = new URL(hostedUrl).pathname.split("/").pop() ?? "";
  const finished = await walkFlow(new MrrxFlow(token, { baseUrl }));
  assert.equal(finished.status, "completed");
  const returnUrl = new URL(finished.return_url ?? "");
  assert.equal(`${returnUrl.origin}${returnUrl.pathname}`, `${appUrl}/return`);
  const sessionId = returnUrl.searchParams.get("session_id") ?? "";

  const landing = await fetch(appUrl + returnUrl.pathname + returnUrl.search);
  assert.equal(landing.status, 200);
  assert.match(await landing.text(), /get\("result_token"\)/);
  const resultToken = new URLSearchParams(returnUrl.hash.slice(1)).get("result_token") ?? "";
  const shown = await post("/return", { result_token: resultToken });
  assert.equal(shown.status, 200);
  const outcome = await shown.text();
  assert.match(outcome, /Your subscription is paused/);
  assert.match(outcome, new RegExp(`Reference ${sessionId}`));
  assert.equal((await post("/return", { result_token: `${resultToken}x` })).status, 400);

  const delivered = await eventually(() =>
    webhookCalls.find(
      (call) => call.body.includes('"session.completed"') && call.body.includes(`"${sessionId}"`),
    ),
  );
  assert.equal(delivered.status, 200, "the route verified MRRX's signature");
  const event = JSON.parse(delivered.body) as { data: { metadata: Record<string, string> } };
  assert.deepEqual(event.data.metadata, { user_id: "usr_nextjs" });

  // MRRX's retry of a delivery: the same event, signed anew. Answered, not handled twice.
  const retried = await deliver(delivered.body);
  assert.equal(retried.status, 200);
  assert.deepEqual(await retried.json(), { received: true, duplicate: true });
});

test("the webhook route refuses a delivery it cannot verify", async () => {
  const body = JSON.stringify({ id: "evt_forged", type: "session.completed", data: {} });
  const forged = await deliver(body, `whsec_${Buffer.alloc(32, 1).toString("base64")}`);
  assert.equal(forged.status, 400);
  assert.match(
    ((await forged.json()) as { error: string }).error,
    /^webhook_verification_failed: /,
  );
});

test("the handlers answer a second click, a canceled subscription and a signed-out user", async () => {
  await signIn();
  const click = () => cancel.POST(new Request(`${appUrl}/cancel`, { method: "POST" }));
  assert.equal((await click()).status, 303);
  const again = await click();
  assert.equal(again.status, 409);
  assert.match(await again.text(), /already have a cancellation in progress/);

  const subscriptionId = await signIn();
  const admin = new Mrrx({ apiKey: await apiKeyWithScopes("subscriptions:write"), baseUrl });
  await admin.cancelSubscription(subscriptionId, { at_period_end: false });
  const canceled = await click();
  assert.equal(canceled.status, 409);
  assert.match(await canceled.text(), /already canceled/);

  delete process.env.DEMO_CUSTOMER_ID;
  assert.equal((await click()).status, 401);
});
