/**
 * `Mrrx`: every endpoint that takes an API key, plus the keyless ones a backend calls
 * (health, results verify). Keep the key on your server; browsers use `FlowClient`.
 */

import { FlowClient } from "./flow.js";
import { type QueryValue, Transport, type TransportOptions, segment } from "./http.js";
import type {
  CustomSession,
  CustomSessionListParams,
  CustomSessionParams,
  Health,
  HubSession,
  HubSessionCreateParams,
  HubSessionCreated,
  Page,
  Session,
  SessionCreateParams,
  SessionCreated,
  SessionListParams,
  SubscriptionCancelParams,
  VerifiedResult,
  Workspace,
} from "./types.js";

export const VERSION = "0.1.0";

export interface MrrxOptions extends TransportOptions {
  /** `mrrx_test_...` or `mrrx_live_...`. */
  apiKey: string;
}

export interface WriteOptions {
  /**
   * The `Idempotency-Key` to send. Left out, the client picks one per call and reuses it
   * across that call's retries; pass your own (an order id, a click id) to make retries
   * of your own, across processes, safe too.
   */
  idempotencyKey?: string;
}

export class Mrrx {
  readonly sessions: Sessions;
  readonly subscriptions: Subscriptions;
  readonly customSessions: CustomSessions;
  readonly hubSessions: HubSessions;
  private readonly transport: Transport;
  private readonly options: MrrxOptions;

  constructor(options: MrrxOptions) {
    if (!options.apiKey) throw new TypeError("apiKey is required: mrrx_test_... or mrrx_live_...");
    this.options = options;
    // User-Agent is for servers only: this class holds an API key, so it never runs in a page.
    this.transport = new Transport(options, {
      bearer: options.apiKey,
      headers: { "User-Agent": `mrrx-node/${VERSION}` },
    });
    this.sessions = new Sessions(this.transport);
    this.subscriptions = new Subscriptions(this.transport);
    this.customSessions = new CustomSessions(this.transport);
    this.hubSessions = new HubSessions(this.transport);
  }

  /** The workspace, mode and scopes of this API key. */
  workspace(): Promise<Workspace> {
    return this.transport.request({ method: "GET", path: "/api/v1/workspace", retryUnsure: true });
  }

  /**
   * The service's health; `deep` also checks the database, broker, cache and Stripe. An
   * unhealthy answer (503) resolves too, with `status: "unhealthy"` and `failing`.
   */
  health(options: { deep?: boolean } = {}): Promise<Health> {
    return this.transport.request({
      method: "GET",
      path: "/api/v1/health",
      query: { deep: options.deep ? 1 : undefined },
      retryUnsure: false,
      okStatuses: [503],
    });
  }

  /**
   * The trusted outcome behind a result token (`#result_token=` on the return URL). Call it
   * from your server before acting on an outcome: the URL's `outcome` is only a hint.
   */
  verifyResult(token: string): Promise<VerifiedResult> {
    return this.transport.request({
      method: "POST",
      path: "/api/v1/results/verify",
      body: { token },
      // Verifying changes nothing, so it is safe to repeat; no key needed.
      idempotencyKey: null,
      retryUnsure: true,
    });
  }

  /** The flow API for one session, with this client's base URL and retry settings. */
  flow(token: string): FlowClient {
    const { apiKey: _apiKey, ...transport } = this.options;
    return new FlowClient({ ...transport, token });
  }
}

class Sessions {
  constructor(private readonly transport: Transport) {}

  /** A cancellation session; redirect the subscriber to its `url`. */
  create(params: SessionCreateParams, options: WriteOptions = {}): Promise<SessionCreated> {
    return this.transport.request({
      method: "POST",
      path: "/api/v1/sessions",
      body: params,
      idempotencyKey: options.idempotencyKey,
      retryUnsure: true,
    });
  }

  get(id: string): Promise<Session> {
    return this.transport.request({
      method: "GET",
      path: `/api/v1/sessions/${segment(id)}`,
      retryUnsure: true,
    });
  }

  /** One page, newest first. */
  list(params: SessionListParams = {}): Promise<Page<Session>> {
    const { created, ...rest } = params;
    return this.transport.request({
      method: "GET",
      path: "/api/v1/sessions",
      query: { ...rest, "created[gte]": created?.gte, "created[lt]": created?.lt },
      retryUnsure: true,
    });
  }

  /** Each page in turn, fetched as the loop asks for it. */
  pages(params: SessionListParams = {}): AsyncGenerator<Page<Session>> {
    return pages((cursor) => this.list({ ...params, cursor }), params.cursor);
  }

  /** Every matching session, across pages: `for await (const s of mrrx.sessions.iterate())`. */
  iterate(params: SessionListParams = {}): AsyncGenerator<Session> {
    return items(this.pages(params));
  }
}

class Subscriptions {
  constructor(private readonly transport: Transport) {}

  /**
   * Direct cancel: cancels on Stripe with the reason, recorded as a completed session of
   * source `api`. Needs the `subscriptions:write` scope.
   */
  cancel(
    subscriptionId: string,
    params: SubscriptionCancelParams = {},
    options: WriteOptions = {},
  ): Promise<Session> {
    return this.transport.request({
      method: "POST",
      path: `/api/v1/subscriptions/${segment(subscriptionId)}/cancel`,
      body: params,
      idempotencyKey: options.idempotencyKey,
      retryUnsure: true,
    });
  }
}

class CustomSessions {
  constructor(private readonly transport: Transport) {}

  /**
   * Records (first report of an `external_id`) or updates a cancellation from your own
   * flow: given fields replace those stored, others are kept.
   */
  upsert(params: CustomSessionParams, options: WriteOptions = {}): Promise<CustomSession> {
    return this.transport.request({
      method: "POST",
      path: "/api/v1/custom_sessions",
      body: params,
      idempotencyKey: options.idempotencyKey,
      retryUnsure: true,
    });
  }

  get(id: string): Promise<CustomSession> {
    return this.transport.request({
      method: "GET",
      path: `/api/v1/custom_sessions/${segment(id)}`,
      retryUnsure: true,
    });
  }

  list(params: CustomSessionListParams = {}): Promise<Page<CustomSession>> {
    return this.transport.request({
      method: "GET",
      path: "/api/v1/custom_sessions",
      query: params as Record<string, QueryValue>,
      retryUnsure: true,
    });
  }

  pages(params: CustomSessionListParams = {}): AsyncGenerator<Page<CustomSession>> {
    return pages((cursor) => this.list({ ...params, cursor }), params.cursor);
  }

  iterate(params: CustomSessionListParams = {}): AsyncGenerator<CustomSession> {
    return items(this.pages(params));
  }
}

class HubSessions {
  constructor(private readonly transport: Transport) {}

  /** A link to the subscription hub for one customer; send them to its `url`. */
  create(params: HubSessionCreateParams, options: WriteOptions = {}): Promise<HubSessionCreated> {
    return this.transport.request({
      method: "POST",
      path: "/api/v1/hub_sessions",
      body: params,
      idempotencyKey: options.idempotencyKey,
      retryUnsure: true,
    });
  }

  get(id: string): Promise<HubSession> {
    return this.transport.request({
      method: "GET",
      path: `/api/v1/hub_sessions/${segment(id)}`,
      retryUnsure: true,
    });
  }
}

async function* pages<T>(
  fetchPage: (cursor: string | undefined) => Promise<Page<T>>,
  cursor: string | undefined,
): AsyncGenerator<Page<T>> {
  for (;;) {
    const page = await fetchPage(cursor);
    yield page;
    if (!page.pagination.has_more || !page.pagination.next_cursor) return;
    cursor = page.pagination.next_cursor;
  }
}

async function* items<T>(source: AsyncGenerator<Page<T>>): AsyncGenerator<T> {
  for await (const page of source) yield* page.data;
}
