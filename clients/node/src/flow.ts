/**
 * The flow API: one session walked from your own cancel screens, with its session token
 * instead of an API key. Safe for browsers: this module uses only `fetch`, so
 * `import { FlowClient } from "@mrrx/client/flow"` bundles without Node's modules.
 */

import { Transport, type TransportOptions } from "./http.js";
import type { Flow, FlowExecuteParams, FlowSurveyParams } from "./types.js";

export interface FlowClientOptions extends TransportOptions {
  /** The session's `token`, as `POST /api/v1/sessions` returned it. */
  token: string;
}

const FINISHED: ReadonlySet<string> = new Set(["completed", "failed", "expired", "abandoned"]);

export class FlowClient {
  private readonly transport: Transport;

  constructor(options: FlowClientOptions) {
    if (!options.token) throw new TypeError("token is required: the session's token");
    // Only Authorization and Content-Type: the headers the flow API's CORS allows.
    this.transport = new Transport(options, { bearer: options.token });
  }

  /** The session as its subscriber sees it. Opening it marks a new session viewed. */
  get(options: { explain?: boolean } = {}): Promise<Flow> {
    return this.transport.request<Flow>({
      method: "GET",
      path: "/api/v1/flow",
      query: { explain: options.explain ? 1 : undefined },
      retryUnsure: true,
    });
  }

  /** Why they are leaving; the answer lists the offers for that reason. */
  survey(params: FlowSurveyParams, options: { explain?: boolean } = {}): Promise<Flow> {
    return this.post("/api/v1/flow/survey", params, options.explain);
  }

  /**
   * Their choice: an offer's action and id, or `{ action: "cancel" }`. Answers with the
   * status `executing`; then wait for `completed` (`waitForCompletion`) or the webhook.
   */
  execute(params: FlowExecuteParams): Promise<Flow> {
    return this.post("/api/v1/flow/execute", params);
  }

  /**
   * Polls `get()` until the session is finished (completed, failed, expired or abandoned)
   * or `timeoutMs` has passed, and returns the last answer: check its `status`.
   * Every call counts against the session's 10 a minute; a 429 waits as it asks.
   */
  async waitForCompletion(
    options: { intervalMs?: number; timeoutMs?: number } = {},
  ): Promise<Flow> {
    const interval = options.intervalMs ?? 3_000;
    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    for (;;) {
      const flow = await this.get();
      if (FINISHED.has(flow.status) || Date.now() + interval > deadline) return flow;
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }

  private post(path: string, body: object, explain?: boolean): Promise<Flow> {
    return this.transport.request<Flow>({
      method: "POST",
      path,
      query: { explain: explain ? 1 : undefined },
      body,
      // The flow API ignores Idempotency-Key (and browsers may not send it): a repeated
      // step answers 409 instead. So only a 429, which ran nothing, is retried.
      idempotencyKey: null,
      retryUnsure: false,
    });
  }
}

export type { TransportOptions } from "./http.js";
export * from "./errors.js";
export type * from "./types.js";
