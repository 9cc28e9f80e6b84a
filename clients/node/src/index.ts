/**
 * `@mrrx/client`: the MRRX API for Node >= 20 (and anything with a global `fetch`).
 *
 * - `Mrrx`: sessions, direct cancel, custom and hub sessions, a customer's export and
 *   erasure, results, workspace, health.
 * - `MrrxFlow`: the flow API with a session token (also from `@mrrx/client/flow`, which
 *   browsers can bundle).
 * - `verifyWebhook`: both signature schemes of MRRX's webhooks (uses `node:crypto`).
 * - `MrrxError` and one subclass per error code.
 */

export { Mrrx, VERSION, type IterParams, type MrrxOptions, type WriteOptions } from "./client.js";
export { MrrxFlow } from "./flow.js";
export { DEFAULT_BASE_URL, type TransportOptions } from "./http.js";
export { verifyWebhook, type VerifyWebhookOptions, type WebhookHeaders } from "./webhooks.js";
export * from "./errors.js";
export type * from "./types.js";
