/**
 * The client against the real product (`make run` on the embedded default, started by
 * support/run.js): a flow walked to completion in the worker, its result and webhooks
 * verified, lists, errors, retries, custom sessions, direct cancel, hub sessions and a
 * customer's export and erasure.
 */

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";

import {
  IdempotencyKeyReusedError,
  InsufficientPermissionsError,
  InvalidApiKeyError,
  InvalidTokenError,
  Mrrx,
  MrrxConnectionError,
  MrrxError,
  MrrxFlow,
  NotFoundError,
  RateLimitedError,
  ServiceUnavailableError,
  SessionAlreadyCompletedError,
  SessionAlreadyExistsError,
  SessionNotFoundError,
  SubscriptionAlreadyCanceledError,
  SubscriptionNotFoundError,
  ValidationError,
  WebhookVerificationError,
  verifyWebhook,
} from "@mrrx/client";

import {
  Inbox,
  apiKeyWithScopes,
  close,
  freePortUrl,
  listen,
  newSubscriber,
  product,
  stripeGet,
  walkFlow,
  webhookEndpoint,
} from "./support/kit.js";

const { baseUrl, apiKey, workspaceId } = product();
const mrrx = new Mrrx({ apiKey, baseUrl });
const inbox = new Inbox();
let webhookSecret = "";

before(async () => {
  const url = await listen(inbox.server);
  webhookSecret = await webhookEndpoint(`${url}/mrrx`);
});
after(() => close(inbox.server));

async function rejection(promise: Promise<unknown>): Promise<MrrxError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof MrrxError, `not an MrrxError: ${String(error)}`);
    return error;
  }
  assert.fail("expected the call to fail");
}

describe("the flow API, results and webhooks", () => {
  test("a flow walked with the session token completes in the worker; its result and webhooks verify", async () => {
    const subscriber = await newSubscriber();
    const created = await mrrx.createSession({
      customer_id: subscriber.customerId,
      subscription_id: subscriber.subscriptionIds[0],
      metadata: { user_id: "usr_node" },
    });
    assert.match(created.id, /^ses_/);
    assert.equal(created.url, `${baseUrl}/c/${created.token}`);

    const flow = mrrx.flow(created.token);
    // An offer is chosen after the survey that shows it, never before.
    await assert.rejects(flow.execute({ action: "pause" }), ValidationError);
    const finished = await walkFlow(flow);
    assert.equal(finished.status, "completed");
    assert.equal(finished.outcome?.action, "pause");
    await assert.rejects(flow.execute({ action: "cancel" }), SessionAlreadyCompletedError);

    const returned = new URL(finished.return_url ?? "");
    assert.equal(returned.searchParams.get("session_id"), created.id);
    assert.equal(returned.searchParams.get("outcome"), "pause");
    const resultToken = new URLSearchParams(returned.hash.slice(1)).get("result_token") ?? "";
    const verified = await mrrx.verifyResult(resultToken);
    assert.equal(verified.valid, true);
    assert.equal(verified.session_id, created.id);
    assert.equal(verified.workspace_id, workspaceId);
    assert.equal(verified.customer_id, subscriber.customerId);
    assert.equal(verified.outcome?.action, "pause");
    assert.equal(verified.survey_response?.reason, "not_using_enough");
    await assert.rejects(mrrx.verifyResult(`${resultToken.slice(0, -2)}xx`), InvalidTokenError);

    const session = await mrrx.getSession(created.id);
    assert.equal(session.status, "completed");
    assert.equal(session.source, "flow");
    assert.deepEqual(session.metadata, { user_id: "usr_node" });
    assert.ok(session.outcome?.details.pause_duration_days);

    const delivery = await inbox.waitFor(
      (e) => e.type === "session.completed" && e.data.session_id === created.id,
    );
    for (const scheme of ["auto", "standard", "mrrx"] as const) {
      const event = verifyWebhook(delivery.body, delivery.headers, webhookSecret, { scheme });
      assert.equal(event.type, "session.completed");
      assert.equal(event.data.session_id, created.id);
      assert.equal(event.data.outcome?.action, "pause");
      assert.deepEqual(event.data.metadata, { user_id: "usr_node" });
    }
    const paused = await inbox.waitFor(
      (e) => e.type === "subscription.paused" && e.data.session_id === created.id,
    );
    const asFetchHeaders = new Headers(paused.headers as Record<string, string>);
    assert.equal(
      verifyWebhook(paused.body.toString(), asFetchHeaders, webhookSecret).type,
      "subscription.paused",
    );
  });

  test("a delivery that is tampered with, stale or signed with another secret is refused", async () => {
    const delivery = await inbox.waitFor((e) => e.type === "session.created");
    const timestamp = Number(delivery.headers["webhook-timestamp"]);
    // Still the same JSON to a parser, but not the bytes that were signed.
    const tampered = Buffer.concat([delivery.body, Buffer.from(" ")]);
    const otherSecret = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
    const refused = (run: () => unknown, reason: string) =>
      assert.throws(run, (error: unknown) => {
        assert.ok(error instanceof WebhookVerificationError);
        assert.equal(error.reason, reason);
        return true;
      });

    for (const scheme of ["standard", "mrrx"] as const) {
      refused(
        () => verifyWebhook(tampered, delivery.headers, webhookSecret, { scheme }),
        "invalid_signature",
      );
      refused(
        () => verifyWebhook(delivery.body, delivery.headers, otherSecret, { scheme }),
        "invalid_signature",
      );
      refused(
        () =>
          verifyWebhook(delivery.body, delivery.headers, webhookSecret, {
            scheme,
            now: timestamp + 301,
          }),
        "timestamp_outside_tolerance",
      );
      // A longer tolerance, and a rotation's two secrets, still verify.
      verifyWebhook(delivery.body, delivery.headers, [otherSecret, webhookSecret], {
        scheme,
        now: timestamp + 301,
        toleranceSeconds: 600,
      });
    }
    refused(() => verifyWebhook(delivery.body, {}, webhookSecret), "missing_signature");
    refused(() => verifyWebhook(delivery.body, delivery.headers, "not-a-secret"), "invalid_secret");
  });

  test("each flow call counts: the eleventh in a minute is rate limited with Retry-After", async () => {
    const subscriber = await newSubscriber();
    const created = await mrrx.createSession({
      customer_id: subscriber.customerId,
      subscription_id: subscriber.subscriptionIds[0],
    });
    const flow = new MrrxFlow(created.token, { baseUrl, maxRetries: 0 });
    for (let i = 0; i < 10; i++) await flow.get();
    const error = await rejection(flow.get());
    assert.ok(error instanceof RateLimitedError);
    assert.equal(error.status, 429);
    assert.ok(error.retryAfter !== null && error.retryAfter > 0, String(error.retryAfter));
    await assert.rejects(new MrrxFlow("not-a-token", { baseUrl }).get(), InvalidTokenError);
  });
});

describe("sessions", () => {
  test("lists filter and page; iterSessions() walks every page", async () => {
    const subscriber = await newSubscriber(3);
    const ids: string[] = [];
    for (const subscriptionId of subscriber.subscriptionIds) {
      const created = await mrrx.createSession({
        customer_email: subscriber.email,
        subscription_id: subscriptionId,
      });
      ids.push(created.id);
    }

    const first = await mrrx.listSessions({ customer_id: subscriber.customerId, limit: 2 });
    assert.equal(first.data.length, 2);
    assert.equal(first.pagination.has_more, true);
    const second = await mrrx.listSessions({
      customer_id: subscriber.customerId,
      limit: 2,
      cursor: first.pagination.next_cursor ?? "",
    });
    assert.equal(second.data.length, 1);
    assert.equal(second.pagination.has_more, false);
    const walked: string[] = [];
    for await (const session of mrrx.iterSessions({
      customer_id: subscriber.customerId,
      pageSize: 2,
    })) {
      walked.push(session.id);
    }
    assert.deepEqual(walked, [...ids].reverse(), "newest first, each once, across two pages");

    const open = await mrrx.listSessions({
      customer_id: subscriber.customerId,
      status: ["created", "viewed"],
    });
    assert.equal(open.data.length, 3);
    const done = await mrrx.listSessions({
      customer_id: subscriber.customerId,
      status: "completed",
    });
    assert.deepEqual(done.data, []);
    const later = await mrrx.listSessions({
      customer_id: subscriber.customerId,
      created_gte: new Date(Date.now() + 3_600_000),
    });
    assert.deepEqual(later.data, []);
  });

  test("errors are one class per code, with code, message, details, status and request id", async () => {
    const subscriber = await newSubscriber();
    const params = {
      customer_id: subscriber.customerId,
      subscription_id: subscriber.subscriptionIds[0],
    };
    const created = await mrrx.createSession(params);

    const exists = await rejection(mrrx.createSession(params));
    assert.ok(exists instanceof SessionAlreadyExistsError);
    assert.equal(exists.code, "session_already_exists");
    assert.equal(exists.status, 409);
    assert.equal(exists.details.session_id, created.id);
    assert.match(exists.message, /^session_already_exists: /);
    assert.ok(exists.message.includes("already_exists"));
    assert.match(exists.requestId ?? "", /\S/);

    const invalid = await rejection(mrrx.createSession({ customer_id: "nobody" }));
    assert.ok(invalid instanceof ValidationError);
    assert.equal(invalid.status, 400);
    assert.ok("customer_id" in invalid.details, JSON.stringify(invalid.details));

    const noSubscription = await rejection(
      mrrx.createSession({ customer_id: subscriber.customerId, subscription_id: "sub_nothere" }),
    );
    assert.ok(noSubscription instanceof SubscriptionNotFoundError);
    assert.equal(noSubscription.status, 404);

    const missing = await rejection(mrrx.getSession("ses_nothere"));
    assert.ok(missing instanceof SessionNotFoundError);
    assert.equal(missing.details.session_id, "ses_nothere");

    const badKey = await rejection(
      new Mrrx({ apiKey: "mrrx_test_nothere", baseUrl }).getWorkspace(),
    );
    assert.ok(badKey instanceof InvalidApiKeyError);
    assert.equal(badKey.status, 401);

    // The demo key has sessions:write and sessions:read only.
    const forbidden = await rejection(mrrx.cancelSubscription(subscriber.subscriptionIds[0] ?? ""));
    assert.ok(forbidden instanceof InsufficientPermissionsError);
    assert.equal(forbidden.status, 403);

    const unreachable = new Mrrx({ apiKey, baseUrl: await freePortUrl(), maxRetries: 0 });
    const refused = await rejection(unreachable.getWorkspace());
    assert.ok(refused instanceof MrrxConnectionError);
    assert.equal(refused.status, null);
  });
});

describe("retries", () => {
  test("a create whose answer was lost is retried with the same Idempotency-Key and done once", async () => {
    const proxy = await Proxy.start(["lose", "pass"]);
    try {
      const client = new Mrrx({ apiKey, baseUrl: proxy.url });
      const subscriber = await newSubscriber();
      const created = await client.createSession({
        customer_id: subscriber.customerId,
        subscription_id: subscriber.subscriptionIds[0],
      });
      const [first, second] = proxy.seen;
      assert.equal(proxy.seen.length, 2);
      assert.match(first?.idempotencyKey ?? "", /^[0-9a-f-]{36}$/);
      assert.equal(second?.idempotencyKey, first?.idempotencyKey);
      assert.equal(second?.replayed, "true");
      const sessions = await mrrx.listSessions({ subscription_id: subscriber.subscriptionIds[0] });
      assert.deepEqual(
        sessions.data.map((s) => s.id),
        [created.id],
      );
    } finally {
      await proxy.stop();
    }
  });

  test("your own Idempotency-Key replays the first answer; with another body it is refused", async () => {
    const subscriber = await newSubscriber();
    const params = {
      customer_id: subscriber.customerId,
      subscription_id: subscriber.subscriptionIds[0],
    };
    const key = `cancel-click-${crypto.randomUUID()}`;
    const first = await mrrx.createSession(params, { idempotencyKey: key });
    const again = await mrrx.createSession(params, { idempotencyKey: key });
    assert.equal(again.id, first.id);
    assert.equal(again.token, first.token);
    const reused = await rejection(
      mrrx.createSession({ ...params, metadata: { other: "body" } }, { idempotencyKey: key }),
    );
    assert.ok(reused instanceof IdempotencyKeyReusedError);
    assert.equal(reused.status, 422);
  });

  test("a 429 waits as long as Retry-After asks; 5xx backs off; both give up when bounded", async () => {
    const proxy = await Proxy.start(["429:1", "pass", "503", "503", "503", "html", "429:120"]);
    try {
      const client = new Mrrx({ apiKey, baseUrl: proxy.url, maxRetries: 2 });
      const started = Date.now();
      assert.equal((await client.getWorkspace()).id, workspaceId);
      assert.ok(Date.now() - started >= 1_000, "waited for Retry-After");
      assert.equal(proxy.seen.length, 2);

      const unavailable = await rejection(client.getWorkspace());
      assert.ok(unavailable instanceof ServiceUnavailableError);
      assert.equal(proxy.seen.length, 5, "the first attempt and two retries");

      const notMrrx = await rejection(client.getWorkspace());
      assert.equal(notMrrx.code, "unexpected_response");
      assert.equal(notMrrx.status, 200);

      const tooLong = await rejection(client.getWorkspace());
      assert.ok(tooLong instanceof RateLimitedError);
      assert.equal(tooLong.retryAfter, 120);
      assert.equal(proxy.seen.length, 7, "a wait past maxRetryDelayMs is not waited");
    } finally {
      await proxy.stop();
    }
  });

  test("a flow step that may have run is not retried: the flow API answers a repeat with 409", async () => {
    const proxy = await Proxy.start(["503"]);
    try {
      const flow = new MrrxFlow("eyJ.unused.token", { baseUrl: proxy.url });
      await assert.rejects(flow.execute({ action: "cancel" }), ServiceUnavailableError);
      assert.equal(proxy.seen.length, 1);
      assert.equal(proxy.seen[0]?.idempotencyKey, undefined);
    } finally {
      await proxy.stop();
    }
  });
});

describe("custom sessions", () => {
  test("are recorded once per external_id and updated in place; started_at never moves", async () => {
    const externalId = `node-flow-${crypto.randomUUID()}`;
    const customerId = `cus_node${Date.now()}`;
    const first = await mrrx.upsertCustomSession({
      external_id: externalId,
      customer_id: customerId,
      started_at: "2026-01-20T14:00:00Z",
      reason: "too_expensive",
      offers_shown: [{ action: "discount", label: "25% off for 3 months" }],
      outcome: { action: "discount", details: { percent_off: 25 } },
      mrr: { amount: 2900, currency: "usd" },
    });
    assert.match(first.id, /^csn_/);
    const updated = await mrrx.upsertCustomSession({
      external_id: externalId,
      customer_id: customerId,
      started_at: "2026-02-01T00:00:00Z",
      outcome: { action: "cancel" },
    });
    assert.equal(updated.id, first.id);
    assert.equal(updated.outcome?.action, "cancel");
    assert.equal(updated.reason, "too_expensive");
    assert.equal(updated.started_at, first.started_at);

    assert.deepEqual(await mrrx.getCustomSession(first.id), updated);
    const listed = await mrrx.listCustomSessions({ external_id: externalId });
    assert.deepEqual(
      listed.data.map((s) => s.id),
      [first.id],
    );
    const all: string[] = [];
    for await (const s of mrrx.iterCustomSessions({ customer_id: customerId, pageSize: 1 }))
      all.push(s.id);
    assert.deepEqual(all, [first.id]);

    await assert.rejects(mrrx.getCustomSession("csn_nothere"), NotFoundError);
    const invalid = await rejection(
      mrrx.upsertCustomSession({
        external_id: externalId,
        customer_id: customerId,
        started_at: "yesterday",
      }),
    );
    assert.ok(invalid instanceof ValidationError);
    assert.ok("started_at" in invalid.details);
  });
});

describe("direct cancel", () => {
  test("a subscriptions:write key cancels on Stripe with the reason, once, and the webhook says so", async () => {
    const admin = new Mrrx({
      apiKey: await apiKeyWithScopes("subscriptions:write", "sessions:read"),
      baseUrl,
    });
    const subscriber = await newSubscriber();
    const subscriptionId = subscriber.subscriptionIds[0] ?? "";
    const session = await admin.cancelSubscription(subscriptionId, {
      reason: "too_expensive",
      feedback: "Cutting tools this quarter",
      at_period_end: false,
      customer_id: subscriber.customerId,
    });
    assert.equal(session.source, "api");
    assert.equal(session.status, "completed");
    assert.equal(session.outcome?.action, "cancel");
    assert.equal(session.survey_response?.reason, "too_expensive");
    const onStripe = (await stripeGet(`/v1/subscriptions/${subscriptionId}`)) as {
      status: string;
      cancellation_details: { comment: string | null };
    };
    assert.equal(onStripe.status, "canceled");
    assert.equal(onStripe.cancellation_details.comment, "Cutting tools this quarter");

    await assert.rejects(
      admin.cancelSubscription(subscriptionId),
      SubscriptionAlreadyCanceledError,
    );

    const delivery = await inbox.waitFor(
      (e) => e.type === "session.completed" && e.data.session_id === session.id,
    );
    const event = verifyWebhook(delivery.body, delivery.headers, webhookSecret);
    assert.equal(event.data.source, "api");
    assert.equal(event.data.subscription_id, subscriptionId);
  });
});

describe("hub sessions", () => {
  test("a hub visit for a customer, then what it holds", async () => {
    const subscriber = await newSubscriber();
    const created = await mrrx.createHubSession({
      customer_id: subscriber.customerId,
      metadata: { user_id: "usr_node" },
    });
    assert.match(created.id, /^hub_/);
    assert.equal(created.url, `${baseUrl}/h/${created.token}`);
    const hub = await mrrx.getHubSession(created.id);
    assert.equal(hub.id, created.id);
    assert.equal(hub.customer_id, subscriber.customerId);
    assert.deepEqual(hub.metadata, { user_id: "usr_node" });
    assert.equal(hub.expires_at, created.expires_at);
    assert.deepEqual(hub.actions, []);

    const byEmail = await mrrx.createHubSession({ customer_email: subscriber.email });
    assert.equal((await mrrx.getHubSession(byEmail.id)).customer_id, subscriber.customerId);
    await assert.rejects(mrrx.createHubSession({}), ValidationError);
    await assert.rejects(mrrx.getHubSession("hub_nothere"), MrrxError);
  });
});

describe("a customer's data", () => {
  const exportKeys = [
    "audit_entries",
    "counts",
    "custom_sessions",
    "customer_id",
    "events",
    "generated_at",
    "hub_sessions",
    "invoice_payments",
    "livemode",
    "object",
    "receipts",
    "saves",
    "sessions",
    "stripe_events",
    "workspace_id",
  ];

  test("a privacy:write key exports a customer's session, erases them once, and the webhook says so", async () => {
    const privacy = new Mrrx({
      apiKey: await apiKeyWithScopes("privacy:write", "sessions:write", "sessions:read"),
      baseUrl,
    });
    const subscriber = await newSubscriber();
    const created = await privacy.createSession({
      customer_id: subscriber.customerId,
      subscription_id: subscriber.subscriptionIds[0],
      metadata: { user_id: "usr_private" },
    });
    // Its session.created delivery has arrived: at most the attempt's own row (written
    // once the receiver has answered) can still be in flight when the erasure runs.
    await inbox.waitFor((e) => e.type === "session.created" && e.data.session_id === created.id);
    const exported = await privacy.exportCustomer(subscriber.customerId);
    assert.deepEqual(Object.keys(exported).sort(), exportKeys);
    assert.equal(exported.object, "customer_export");
    assert.equal(exported.customer_id, subscriber.customerId);
    assert.equal(exported.workspace_id, workspaceId);
    assert.equal(exported.livemode, false);
    assert.deepEqual(
      exported.sessions.map((s) => s.id),
      [created.id],
    );
    assert.deepEqual(exported.sessions[0]?.metadata, { user_id: "usr_private" });
    assert.equal(exported.counts.sessions, 1);

    const erasure = await privacy.eraseCustomer(subscriber.customerId);
    assert.equal(erasure.object, "customer_erasure");
    assert.equal(erasure.customer_id, subscriber.customerId);
    assert.equal(erasure.counts.sessions, 1);
    assert.ok(Object.values(erasure.counts).reduce((a, b) => a + b, 0) > 0);
    assert.match(erasure.event_id, /^evt_/);

    const again = await privacy.eraseCustomer(subscriber.customerId);
    assert.deepEqual(Object.keys(again.counts).sort(), Object.keys(erasure.counts).sort());
    // Nothing left to change, but for that attempt if it was written after the first run:
    // a later erasure is what reaches a row written after an earlier one.
    const { delivery_attempts: straggler, ...rest } = again.counts;
    assert.ok(straggler <= 1, JSON.stringify(again.counts));
    assert.ok(
      Object.values(rest).every((n) => n === 0),
      JSON.stringify(again.counts),
    );
    assert.notEqual(again.event_id, erasure.event_id);

    const after = await privacy.exportCustomer(subscriber.customerId);
    assert.deepEqual(after.sessions[0]?.metadata, { user_id: "[erased]" });
    assert.equal(after.sessions[0]?.id, created.id);

    const nobody = await privacy.exportCustomer("cus_NeverSeenHere");
    assert.deepEqual(Object.keys(nobody).sort(), exportKeys);
    assert.deepEqual(nobody.sessions, []);
    assert.ok(Object.values(nobody.counts).every((n) => n === 0));

    const delivery = await inbox.waitFor((e) => (e as { id?: string }).id === erasure.event_id);
    const event = verifyWebhook(delivery.body, delivery.headers, webhookSecret);
    assert.equal(event.type, "customer.erased");
    assert.deepEqual(event.data, {
      customer_id: subscriber.customerId,
      counts: erasure.counts,
      livemode: false,
    });
  });

  test("the export is sent without an Idempotency-Key and asked again; a lost erasure is replayed", async () => {
    const key = await apiKeyWithScopes("privacy:write");
    const subscriber = await newSubscriber();
    const created = await mrrx.createSession({
      customer_id: subscriber.customerId,
      subscription_id: subscriber.subscriptionIds[0],
    });
    const proxy = await Proxy.start(["lose", "pass", "lose", "pass"]);
    try {
      const privacy = new Mrrx({ apiKey: key, baseUrl: proxy.url });
      const exported = await privacy.exportCustomer(subscriber.customerId);
      assert.deepEqual(
        exported.sessions.map((s) => s.id),
        [created.id],
      );
      const erasure = await privacy.eraseCustomer(subscriber.customerId);
      assert.equal(erasure.counts.sessions, 1);

      const [exportFirst, exportRetry, eraseFirst, eraseRetry] = proxy.seen;
      assert.equal(proxy.seen.length, 4);
      assert.equal(exportFirst?.idempotencyKey, undefined);
      assert.equal(exportRetry?.idempotencyKey, undefined);
      assert.match(eraseFirst?.idempotencyKey ?? "", /^[0-9a-f-]{36}$/);
      assert.equal(eraseRetry?.idempotencyKey, eraseFirst?.idempotencyKey);
      // Erased once: the retry got the first answer, its counts and its event.
      assert.equal(eraseRetry?.replayed, "true");
    } finally {
      await proxy.stop();
    }
  });

  test("a key without privacy:write is refused both", async () => {
    // The demo key has sessions:write and sessions:read only.
    const subscriber = await newSubscriber();
    for (const call of [
      () => mrrx.exportCustomer(subscriber.customerId),
      () => mrrx.eraseCustomer(subscriber.customerId),
    ]) {
      const refused = await rejection(call());
      assert.ok(refused instanceof InsufficientPermissionsError);
      assert.equal(refused.code, "insufficient_permissions");
      assert.equal(refused.status, 403);
    }
    assert.throws(() => mrrx.exportCustomer(""), TypeError);
  });
});

describe("workspace and health", () => {
  test("the key's workspace, and the service's health shallow and deep", async () => {
    const workspace = await mrrx.getWorkspace();
    assert.equal(workspace.id, workspaceId);
    assert.equal(workspace.name, "Demo Workspace");
    assert.equal(workspace.mode, "test");
    assert.ok(workspace.scopes.includes("sessions:write"));

    assert.equal((await mrrx.health()).status, "healthy");
    const deep = await mrrx.health({ deep: true });
    assert.equal(deep.status, "healthy", JSON.stringify(deep));
    assert.ok(deep.components && Object.keys(deep.components).length > 0);
  });
});

// --- A proxy in front of the product that loses, limits or fails answers on a plan ---------

type Step = "pass" | "lose" | "503" | "html" | `429:${number}`;

class Proxy {
  readonly seen: Array<{ idempotencyKey?: string; replayed?: string }> = [];

  private constructor(
    readonly url: string,
    private readonly server: ReturnType<typeof createServer>,
  ) {}

  /** Answers request n as `plan[n]` says; `lose` forwards it, then answers 503 instead. */
  static async start(plan: Step[]): Promise<Proxy> {
    const steps = [...plan];
    let proxy: Proxy | undefined;
    const server = createServer(async (request, response) => {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const step = steps.shift() ?? "pass";
      const idempotencyKey = request.headers["idempotency-key"] as string | undefined;
      const record: { idempotencyKey?: string; replayed?: string } = { idempotencyKey };
      proxy?.seen.push(record);
      const envelope = (code: string) =>
        JSON.stringify({
          error: { code, message: `${code}: from the test's proxy.`, details: {} },
        });
      if (step.startsWith("429:")) {
        response.writeHead(429, {
          "Content-Type": "application/json",
          "Retry-After": step.slice(4),
        });
        response.end(envelope("rate_limited"));
        return;
      }
      if (step === "html") {
        response
          .writeHead(200, { "Content-Type": "text/html" })
          .end("<h1>Sign in to the proxy</h1>");
        return;
      }
      if (step === "503") {
        response
          .writeHead(503, { "Content-Type": "application/json" })
          .end(envelope("service_unavailable"));
        return;
      }
      const headers = new Headers();
      for (const [name, value] of Object.entries(request.headers)) {
        if (typeof value === "string" && name !== "host" && name !== "connection")
          headers.set(name, value);
      }
      const upstream = await fetch(baseUrl + (request.url ?? "/"), {
        method: request.method,
        headers,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
      });
      const body = Buffer.from(await upstream.arrayBuffer());
      record.replayed = upstream.headers.get("Idempotent-Replayed") ?? undefined;
      if (step === "lose") {
        response
          .writeHead(503, { "Content-Type": "application/json" })
          .end(envelope("service_unavailable"));
        return;
      }
      response.writeHead(upstream.status, { "Content-Type": "application/json" }).end(body);
    });
    proxy = new Proxy(await listen(server), server);
    return proxy;
  }

  stop(): Promise<void> {
    return close(this.server);
  }
}
