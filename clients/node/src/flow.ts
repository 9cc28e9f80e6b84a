/**
 * The flow API: one session walked from your own cancel screens, with its session token
 * instead of an API key. Safe for browsers: this module uses only `fetch`, so
 * `import { MrrxFlow } from "@mrrx/client/flow"` bundles without Node's modules.
 */

import { Transport, type TransportOptions } from "./http.js";
import type { Flow, FlowExecuteParams, FlowSurveyParams } from "./types.js";

const FINISHED: ReadonlySet<string> = new Set(["completed", "failed"]);

/** `get` -> `survey` -> `execute`, then `wait` for the outcome. */
export class MrrxFlow {
  private readonly transport: Transport;

  /** `token`: the session's `token`, as `createSession` returned it. */
  constructor(
    readonly token: string,
    options: TransportOptions = {},
  ) {
    if (!token) throw new TypeError("token is required: the session's token");
    // Only Authorization and Content-Type: the headers the flow API's CORS allows.
    this.transport = new Transport(options, { bearer: token });
  }

  /** The session as its subscriber sees it. Opening it marks a new session viewed. */
  get(options: { explain?: boolean } = {}): Promise<Flow> {
    return this.call("GET", "/api/v1/flow", undefined, options.explain, true);
  }

  /** Why they are leaving; the answer lists the offers for that reason. */
  survey(params: FlowSurveyParams, options: { explain?: boolean } = {}): Promise<Flow> {
    // Answering the same reason again changes nothing: safe to send again.
    return this.call("POST", "/api/v1/flow/survey", params, options.explain, true);
  }

  /**
   * Their choice: an offer's action and id, or `{ action: "cancel" }`. Answers with the
   * status `executing`; then `wait` for the outcome (or for the webhook on your server).
   * A `contact` or `redirect` offer answers `completed` at once: show `outcome.details`
   * (the message and links), or open `redirect_url`.
   * Never sent twice once it may have arrived: the flow API answers a repeat with 409.
   */
  execute(params: FlowExecuteParams): Promise<Flow> {
    return this.call("POST", "/api/v1/flow/execute", params, false, false);
  }

  /**
   * Polls `get` until the session is `completed` or `failed`; throws a `TimeoutError` when
   * it is still going after `timeoutMs`. Each session may make 10 calls a minute, so keep
   * `intervalMs` at 3 seconds or more.
   */
  async wait(options: { intervalMs?: number; timeoutMs?: number } = {}): Promise<Flow> {
    const interval = options.intervalMs ?? 3_000;
    const timeout = options.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeout;
    for (;;) {
      const flow = await this.get();
      if (FINISHED.has(flow.status)) return flow;
      if (Date.now() + interval > deadline) {
        const error = new Error(`Session ${flow.id} is still ${flow.status} after ${timeout} ms.`);
        error.name = "TimeoutError";
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }

  private call(
    method: "GET" | "POST",
    path: string,
    body: object | undefined,
    explain: boolean | undefined,
    retryUnsure: boolean,
  ): Promise<Flow> {
    return this.transport.request<Flow>({
      method,
      path,
      query: { explain: explain ? 1 : undefined },
      body,
      // The flow API ignores Idempotency-Key, and its CORS does not let browsers send it.
      idempotencyKey: null,
      retryUnsure,
    });
  }
}

export type { TransportOptions } from "./http.js";
export * from "./errors.js";
export type * from "./types.js";
