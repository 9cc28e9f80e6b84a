/**
 * The Express example against the real product (started by the client's test runner):
 * its cancel button opens a real session, the subscriber walks the flow to the end, the
 * return page shows the outcome MRRX verified, and its webhook receiver verifies a real
 * delivery and refuses a forged one.
 */

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import { Mrrx, MrrxFlow, type WebhookEvent } from "@mrrx/client";

import {
  type Subscriber as StripeSubscriber,
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
import { type Subscriber, createApp } from "../src/app.js";

const { baseUrl, apiKey } = product();
const server = createServer();
const events: WebhookEvent[] = [];
let appUrl = "";
let webhookSecret = "";
let signedIn: Subscriber | null = null;

async function signIn(): Promise<StripeSubscriber> {
  const subscriber = await newSubscriber();
  signedIn = {
    userId: "usr_express",
    customerId: subscriber.customerId,
    subscriptionId: subscriber.subscriptionIds[0] ?? "",
  };
  return subscriber;
}

/** A delivery signed as MRRX signs it (Standard Webhooks), with the endpoint's secret. */
function deliver(body: string, secret = webhookSecret): Promise<Response> {
  const id = (JSON.parse(body) as { id: string }).id;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const signature = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64");
  return fetch(`${appUrl}/webhooks/mrrx`, {
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
  webhookSecret = await webhookEndpoint(`${appUrl}/webhooks/mrrx`);
  const app = createApp({
    mrrx: new Mrrx({ apiKey, baseUrl }),
    appUrl,
    webhookSecret,
    currentSubscriber: () => signedIn,
    onEvent: (event) => {
      events.push(event);
    },
  });
  server.on("request", app);
});
after(() => close(server));

test("the cancel button leads through MRRX's flow back to a verified outcome and a verified webhook", async () => {
  await signIn();
  const account = await fetch(appUrl);
  assert.match(await account.text(), /<form method="post" action="\/cancel">/);

  const redirect = await post("/cancel");
  assert.equal(redirect.status, 303);
  const hostedUrl = redirect.headers.get("location") ?? "";
  assert.ok(hostedUrl.startsWith(`${baseUrl}/c/`), hostedUrl);
  const hosted = await fetch(hostedUrl);
  assert.equal(hosted.status, 200);
  assert.match(hosted.headers.get("content-type") ?? "", /text\/html/);

  const token = new URL(hostedUrl).pathname.split("/").pop() ?? "";
  const finished = await walkFlow(new MrrxFlow(token, { baseUrl }));
  assert.equal(finished.status, "completed");
  const returnUrl = new URL(finished.return_url ?? "");
  assert.equal(`${returnUrl.origin}${returnUrl.pathname}`, `${appUrl}/return`);
  const sessionId = returnUrl.searchParams.get("session_id") ?? "";

  // What the browser loads: the fragment stays behind, and the page posts it.
  const landing = await fetch(appUrl + returnUrl.pathname + returnUrl.search);
  assert.equal(landing.status, 200);
  assert.match(await landing.text(), /get\("result_token"\)/);
  const resultToken = new URLSearchParams(returnUrl.hash.slice(1)).get("result_token") ?? "";
  const shown = await post("/return", { result_token: resultToken });
  assert.equal(shown.status, 200);
  const outcome = await shown.text();
  assert.match(outcome, /Your subscription is paused/);
  assert.match(outcome, new RegExp(`Reference ${sessionId}`));

  const forged = await post("/return", { result_token: `${resultToken.slice(0, -2)}xx` });
  assert.equal(forged.status, 400);
  signedIn = { userId: "usr_other", customerId: "cus_someoneelse", subscriptionId: "sub_x" };
  const notTheirs = await post("/return", { result_token: resultToken });
  assert.equal(notTheirs.status, 403);

  const completed = await eventually(() =>
    events.find((e) => e.type === "session.completed" && e.data.session_id === sessionId),
  );
  assert.equal(completed.data.outcome?.action, "pause");
  assert.deepEqual(completed.data.metadata, { user_id: "usr_express" });

  // MRRX's retry of a delivery: the same event, signed anew. Answered, not handled twice.
  const retried = await deliver(JSON.stringify(completed));
  assert.equal(retried.status, 200);
  assert.equal(events.filter((e) => e.id === completed.id).length, 1);
});

test("the webhook receiver refuses a delivery it cannot verify", async () => {
  const before = events.length;
  const body = JSON.stringify({ id: "evt_forged", type: "session.completed", data: {} });
  const forged = await deliver(body, `whsec_${Buffer.alloc(32, 1).toString("base64")}`);
  assert.equal(forged.status, 400);
  assert.match(
    ((await forged.json()) as { error: string }).error,
    /^webhook_verification_failed: /,
  );
  assert.equal(events.length, before);
});

test("a second click while a cancellation is open, or after the subscription is gone, says so", async () => {
  await signIn();
  assert.equal((await post("/cancel")).status, 303);
  const again = await post("/cancel");
  assert.equal(again.status, 409);
  assert.match(await again.text(), /already have a cancellation in progress/);

  const gone = await signIn();
  const admin = new Mrrx({ apiKey: await apiKeyWithScopes("subscriptions:write"), baseUrl });
  await admin.cancelSubscription(gone.subscriptionIds[0] ?? "", { at_period_end: false });
  const canceled = await post("/cancel");
  assert.equal(canceled.status, 409);
  assert.match(await canceled.text(), /already canceled/);

  signedIn = null;
  assert.equal((await post("/cancel")).status, 401);
});
