/**
 * `getAnalytics` against the real product (`make run`, started by support/run.js): a
 * cancellation reported from the merchant's own flow, read back in the figures.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { InsufficientPermissionsError, Mrrx, MrrxError, ValidationError } from "@mrrx/client";

import { apiKeyWithScopes, product } from "./support/kit.js";

const { baseUrl, apiKey } = product();
const mrrx = new Mrrx({ apiKey, baseUrl });
// A day no other test reports anything on.
const DAY = "2025-03-14";

describe("analytics", () => {
  test("figures of the range, grouped, with their definitions linked", async () => {
    await mrrx.upsertCustomSession({
      external_id: `node-analytics-${crypto.randomUUID()}`,
      customer_id: `cus_nodeanalytics${Date.now()}`,
      started_at: `${DAY}T10:00:00Z`,
      reason: "too_expensive",
      offers_shown: [{ action: "discount", label: "20% off" }],
      outcome: { action: "discount", details: { percent_off: 20 } },
      mrr: { amount: 2900, currency: "usd" },
    });

    const analytics = await mrrx.getAnalytics({
      from: DAY,
      to: DAY,
      source: "custom",
      group_by: "reason",
    });

    assert.equal(analytics.object, "analytics");
    assert.deepEqual([analytics.from, analytics.to, analytics.group_by], [DAY, DAY, "reason"]);
    assert.equal(analytics.totals.sessions_started, 1);
    assert.equal(analytics.totals.save_rate, 1);
    assert.deepEqual(analytics.totals.mrr_saved, [{ currency: "usd", amount: 2900 }]);
    assert.deepEqual(
      analytics.groups.map((g) => [g.key, g.label, g.saved]),
      [["too_expensive", "Too expensive", 1]],
    );
    assert.deepEqual(
      analytics.totals.retained.map((r) => r.day),
      [30, 60, 90],
    );
    assert.match(analytics.definitions.save_rate?.url ?? "", /\/admin\/analytics\/#def-save_rate$/);
  });

  test("bad input and a key without analytics:read are refused", async () => {
    const bad = await mrrx.getAnalytics({ from: "2025-02-30" }).catch((e: unknown) => e);
    assert.ok(bad instanceof ValidationError);
    assert.ok("from" in (bad as MrrxError).details);

    const reader = new Mrrx({ apiKey: await apiKeyWithScopes("sessions:read"), baseUrl });
    await assert.rejects(reader.getAnalytics(), InsufficientPermissionsError);
  });
});
