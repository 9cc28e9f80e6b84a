/**
 * `Mrrx`: the API with a workspace's key, method for method the Python client's surface
 * (`create_session` is `createSession`, and so on). Keep the key on your server; pages
 * in a browser walk the flow with `MrrxFlow` and the session token.
 */

import { MrrxFlow } from "./flow.js";
import { type RequestSpec, Transport, type TransportOptions, segment } from "./http.js";
import type {
  Analytics,
  AnalyticsParams,
  CustomerErasure,
  CustomerExport,
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
  /**
   * `mrrx_test_...` or `mrrx_live_...`. May be left out for `verifyResult` and `health`,
   * which need none.
   */
  apiKey?: string;
}

export interface WriteOptions {
  /**
   * The `Idempotency-Key` to send. Left out, the client makes one per call and reuses it
   * across that call's retries; pass your own (a click id, a ticket id) to make your own
   * retries, across processes too, act once.
   */
  idempotencyKey?: string;
}

/** What `iterSessions` and `iterCustomSessions` take: a list's filters, and a page size. */
export type IterParams<P> = Omit<P, "limit" | "cursor"> & { pageSize?: number };

/**
 * Every call rejects with a subclass of `MrrxError` on failure. Each POST carries an
 * `Idempotency-Key` that its retries reuse, so a retried create acts once. A 429 is
 * retried after its `Retry-After`, 5xx and lost connections with exponential backoff,
 * `maxRetries` times at most (`maxRetries: 0` turns that off).
 */
export class Mrrx {
  private readonly transport: Transport;
  private readonly options: MrrxOptions;

  constructor(options: MrrxOptions = {}) {
    this.options = options;
    // User-Agent is for servers: this class holds an API key, so it never runs in a page.
    this.transport = new Transport(options, {
      bearer: options.apiKey ?? null,
      headers: { "User-Agent": `mrrx-node/${VERSION}` },
    });
  }

  get baseUrl(): string {
    return this.transport.baseUrl;
  }

  /**
   * Calls `path` (`/api/v1/...`) with the API key and this client's errors and retries,
   * for an endpoint this version has no method for. Resolves with the JSON body.
   */
  request<T = unknown>(
    method: "GET" | "POST",
    path: string,
    options: { query?: RequestSpec["query"]; body?: unknown } & WriteOptions = {},
  ): Promise<T> {
    return this.transport.request<T>({
      method,
      path,
      query: options.query,
      body: options.body,
      idempotencyKey: options.idempotencyKey,
      // A POST always carries a key here, so the server de-duplicates its retries.
      retryUnsure: true,
    });
  }

  // --- Sessions --------------------------------------------------------------------------

  /**
   * A cancellation session: redirect the subscriber to its `url`. Give `customer_id` or
   * `customer_email`; `subscription_id` may be left out when the customer has exactly one
   * live subscription.
   */
  createSession(params: SessionCreateParams, options: WriteOptions = {}): Promise<SessionCreated> {
    return this.request("POST", "/api/v1/sessions", { body: params, ...options });
  }

  getSession(sessionId: string): Promise<Session> {
    return this.request("GET", `/api/v1/sessions/${segment(sessionId)}`);
  }

  /** One page, newest first; `pagination.next_cursor` is the next page's `cursor`. */
  listSessions(params: SessionListParams = {}): Promise<Page<Session>> {
    const { created_gte, created_lt, ...filters } = params;
    return this.request("GET", "/api/v1/sessions", {
      query: { ...filters, "created[gte]": created_gte, "created[lt]": created_lt },
    });
  }

  /** Every matching session, newest first, fetching pages as the loop goes. */
  iterSessions(params: IterParams<SessionListParams> = {}): AsyncGenerator<Session> {
    const { pageSize = 100, ...filters } = params;
    return paginate((cursor) => this.listSessions({ ...filters, limit: pageSize, cursor }));
  }

  // --- Direct cancel ---------------------------------------------------------------------

  /**
   * Cancels on Stripe now with the reason, recorded as a completed session of source
   * `api`. Needs a key with the `subscriptions:write` scope.
   */
  cancelSubscription(
    subscriptionId: string,
    params: SubscriptionCancelParams = {},
    options: WriteOptions = {},
  ): Promise<Session> {
    const path = `/api/v1/subscriptions/${segment(subscriptionId)}/cancel`;
    return this.request("POST", path, { body: params, ...options });
  }

  // --- Custom sessions -------------------------------------------------------------------

  /**
   * Records a cancellation from your own flow, or updates the one with this
   * `external_id`: the fields given replace those stored, the others are kept.
   */
  upsertCustomSession(
    params: CustomSessionParams,
    options: WriteOptions = {},
  ): Promise<CustomSession> {
    return this.request("POST", "/api/v1/custom_sessions", { body: params, ...options });
  }

  getCustomSession(customSessionId: string): Promise<CustomSession> {
    return this.request("GET", `/api/v1/custom_sessions/${segment(customSessionId)}`);
  }

  listCustomSessions(params: CustomSessionListParams = {}): Promise<Page<CustomSession>> {
    return this.request("GET", "/api/v1/custom_sessions", { query: { ...params } });
  }

  iterCustomSessions(
    params: IterParams<CustomSessionListParams> = {},
  ): AsyncGenerator<CustomSession> {
    const { pageSize = 100, ...filters } = params;
    return paginate((cursor) => this.listCustomSessions({ ...filters, limit: pageSize, cursor }));
  }

  // --- Hub sessions ----------------------------------------------------------------------

  /** A visit to the customer's subscription hub: redirect them to its `url`. */
  createHubSession(
    params: HubSessionCreateParams,
    options: WriteOptions = {},
  ): Promise<HubSessionCreated> {
    return this.request("POST", "/api/v1/hub_sessions", { body: params, ...options });
  }

  getHubSession(hubSessionId: string): Promise<HubSession> {
    return this.request("GET", `/api/v1/hub_sessions/${segment(hubSessionId)}`);
  }

  // --- A customer's data (export and erasure) --------------------------------------------

  /**
   * Everything MRRX holds about the customer in the key's workspace and mode, as one
   * document (the same keys, empty, for a customer it holds nothing about). Needs the
   * `privacy:write` scope; recorded in the audit log.
   *
   * MRRX ignores `Idempotency-Key` here (the customer's data is never stored for a
   * replay), so none is sent; exporting again changes nothing but adds an audit entry,
   * so an export whose answer was lost is asked again, like a read.
   */
  exportCustomer(customerId: string): Promise<CustomerExport> {
    return this.transport.request({
      method: "POST",
      path: `/api/v1/customers/${segment(customerId)}/export`,
      body: {},
      idempotencyKey: null,
      retryUnsure: true,
    });
  }

  /**
   * Replaces the customer's personal details with `[erased]` wherever MRRX holds them in
   * the key's workspace and mode; ids, statuses and figures stay. `counts` are the rows
   * this call changed (all zero when erased already); sends the `customer.erased` webhook.
   * Needs the `privacy:write` scope.
   */
  eraseCustomer(customerId: string, options: WriteOptions = {}): Promise<CustomerErasure> {
    const path = `/api/v1/customers/${segment(customerId)}/erase`;
    return this.request("POST", path, { body: {}, ...options });
  }

  // --- Analytics -------------------------------------------------------------------------

  /**
   * The analytics page's figures for the key's workspace and mode, optionally split by
   * `group_by`: the retention of saves at 30, 60 and 90 days, and the experiments that ran
   * with each variant against the holdout and its 95% interval. Every figure's key is its
   * definition's key in `definitions`. Needs the `analytics:read` scope.
   */
  getAnalytics(params: AnalyticsParams = {}): Promise<Analytics> {
    return this.request("GET", "/api/v1/analytics", { query: { ...params } });
  }

  // --- Results, workspace, health --------------------------------------------------------

  /**
   * The trusted outcome behind the `#result_token=` of the return redirect; rejects with
   * `InvalidTokenError` for a forged, tampered or expired token. Act on this, never on the
   * URL's `outcome`, which anyone can type.
   */
  verifyResult(token: string): Promise<VerifiedResult> {
    return this.transport.request({
      method: "POST",
      path: "/api/v1/results/verify",
      body: { token },
      // The token is the credential; verifying twice changes nothing.
      bearer: null,
      idempotencyKey: null,
      retryUnsure: true,
    });
  }

  /** The workspace, mode and scopes of this client's API key. */
  getWorkspace(): Promise<Workspace> {
    return this.request("GET", "/api/v1/workspace");
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
      bearer: null,
      retryUnsure: true,
      okStatuses: [503],
    });
  }

  /** The flow API for the session whose `token` `createSession` returned. */
  flow(token: string): MrrxFlow {
    const { apiKey: _key, ...connection } = this.options;
    return new MrrxFlow(token, connection);
  }
}

async function* paginate<T>(
  fetchPage: (cursor: string | undefined) => Promise<Page<T>>,
): AsyncGenerator<T> {
  let cursor: string | undefined;
  for (;;) {
    const page = await fetchPage(cursor);
    yield* page.data;
    const next = page.pagination.next_cursor;
    if (!page.pagination.has_more || !next) return;
    cursor = next;
  }
}
