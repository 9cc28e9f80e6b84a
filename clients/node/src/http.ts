/**
 * One request to the API: the error envelope turned into classes, and bounded retries.
 *
 * Uses only the global `fetch` and `crypto.randomUUID`, so it runs in Node >= 20 and in
 * browsers alike.
 */

import { MrrxConnectionError, MrrxError, errorFor } from "./errors.js";

export interface TransportOptions {
  /** Where MRRX answers (no `/api/v1`). Default `http://localhost:8000`, what `make run` serves. */
  baseUrl?: string;
  /** Retries after the first attempt, for 429, 5xx and lost connections. Default 3. */
  maxRetries?: number;
  /** Each attempt's time limit. Default 30 s. */
  timeoutMs?: number;
  /**
   * The longest `Retry-After` waited for. A 429 asking for longer is thrown at once, with
   * the wait in `error.retryAfter`, rather than holding the caller. Default 60 s.
   */
  maxRetryDelayMs?: number;
  /** A `fetch` to use instead of the global one (tests, instrumentation). */
  fetch?: typeof fetch;
}

export type QueryValue = string | number | boolean | Date | null | undefined;

export interface RequestSpec {
  method: "GET" | "POST";
  path: string;
  query?: Record<string, QueryValue | QueryValue[]>;
  body?: unknown;
  /** POST only: the key to send; undefined picks a new one, null sends none. */
  idempotencyKey?: string | null;
  /**
   * Whether a 5xx or a lost connection may be retried. True for reads and for writes the
   * server de-duplicates by `Idempotency-Key`; a 429 is always retryable (nothing ran).
   */
  retryUnsure: boolean;
  /** `null` sends no credentials: the endpoint takes none (health, results verify). */
  bearer?: null;
  /** Statuses answered with a body of the expected shape rather than the envelope. */
  okStatuses?: number[];
}

export const DEFAULT_BASE_URL = "http://localhost:8000";

// Backoff for 5xx and lost connections: up to 0.5 s, 1 s, 2 s, ... 8 s, at least half of
// it, so that clients that failed together do not all come back together.
const BASE_DELAY_MS = 500;
const MAX_BACKOFF_MS = 8_000;

export class Transport {
  readonly baseUrl: string;
  private readonly authorization: string | null;
  private readonly extraHeaders: Record<string, string>;
  private readonly maxRetries: number;
  private readonly timeoutMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(
    options: TransportOptions,
    credentials: { bearer: string | null; headers?: Record<string, string> },
  ) {
    this.baseUrl = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    this.authorization = credentials.bearer ? `Bearer ${credentials.bearer}` : null;
    this.extraHeaders = credentials.headers ?? {};
    this.maxRetries = Math.max(0, options.maxRetries ?? 3);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 60_000;
    // Bound late, so that a fetch patched after construction (instrumentation) is used.
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  async request<T>(spec: RequestSpec): Promise<T> {
    const url = this.baseUrl + spec.path + queryString(spec.query);
    const headers: Record<string, string> = { Accept: "application/json", ...this.extraHeaders };
    if (this.authorization && spec.bearer !== null) headers.Authorization = this.authorization;
    let body: string | undefined;
    if (spec.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(spec.body);
    }
    if (spec.method === "POST" && spec.idempotencyKey !== null) {
      // One key for every attempt of this call: a retry after a lost answer replays the
      // first answer instead of acting twice.
      headers["Idempotency-Key"] = spec.idempotencyKey ?? globalThis.crypto.randomUUID();
    }

    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await this.fetchImpl(url, {
          method: spec.method,
          headers,
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (cause) {
        const error = connectionError(cause, spec, url, this.timeoutMs);
        // A connection that never opened carried nothing: any request may go again.
        const retryable = spec.retryUnsure || neverSent(cause);
        if (!retryable || attempt >= this.maxRetries) throw error;
        await sleep(backoff(attempt));
        continue;
      }
      if (response.ok || spec.okStatuses?.includes(response.status)) {
        return (await jsonBody(response)) as T;
      }
      const error = await errorFromResponse(response);
      const wait = this.retryDelay(response, error, spec, attempt);
      if (wait === null) throw error;
      await sleep(wait);
    }
  }

  /** How long to wait before trying again, or null to give up with the error. */
  private retryDelay(
    response: Response,
    error: MrrxError,
    spec: RequestSpec,
    attempt: number,
  ): number | null {
    if (attempt >= this.maxRetries) return null;
    const asked = error.retryAfter === null ? null : error.retryAfter * 1000;
    if (response.status === 429) {
      if (asked === null) return backoff(attempt);
      return asked <= this.maxRetryDelayMs ? asked : null;
    }
    if (!spec.retryUnsure) return null;
    // Another attempt of this very call still holds the key (ours timed out first).
    if (error.code === "idempotency_in_progress") return backoff(attempt);
    // A replayed answer would only be replayed again.
    if (response.status >= 500 && response.headers.get("Idempotent-Replayed") !== "true") {
      return asked !== null && asked <= this.maxRetryDelayMs ? asked : backoff(attempt);
    }
    return null;
  }
}

/** The answer's JSON; an answer that is not JSON is not MRRX's (a proxy's page, say). */
async function jsonBody(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new MrrxError({
      code: "unexpected_response",
      message: `unexpected_response: HTTP ${response.status} that is not JSON: ${text.slice(0, 200)}`,
      status: response.status,
      requestId: response.headers.get("X-Request-ID"),
    });
  }
}

async function errorFromResponse(response: Response): Promise<MrrxError> {
  const requestId = response.headers.get("X-Request-ID");
  const retryAfter = retryAfterSeconds(response.headers.get("Retry-After"));
  const text = await response.text().catch(() => "");
  let envelope: unknown;
  try {
    envelope = JSON.parse(text);
  } catch {
    envelope = undefined;
  }
  const error = (envelope as { error?: unknown } | undefined)?.error;
  if (isErrorBody(error)) {
    return errorFor({
      code: error.code,
      message: error.message,
      details: error.details ?? {},
      status: response.status,
      requestId,
      retryAfter,
    });
  }
  // Not MRRX speaking: a proxy's error page, or a server that is not MRRX at all.
  const excerpt = text.slice(0, 200);
  return new MrrxError({
    code: "unexpected_response",
    message: `unexpected_response: HTTP ${response.status} without an MRRX error body: ${excerpt}`,
    status: response.status,
    requestId,
    retryAfter,
  });
}

function isErrorBody(
  value: unknown,
): value is { code: string; message: string; details?: Record<string, unknown> } {
  if (typeof value !== "object" || value === null) return false;
  const body = value as Record<string, unknown>;
  return typeof body.code === "string" && typeof body.message === "string";
}

// Errors of a connection that was refused or never resolved, as Node's fetch reports them.
const NOT_CONNECTED = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
]);

function neverSent(cause: unknown): boolean {
  const code = ((cause as { cause?: { code?: unknown } } | undefined)?.cause?.code ?? "") as string;
  return NOT_CONNECTED.has(code);
}

function connectionError(
  cause: unknown,
  spec: RequestSpec,
  url: string,
  timeoutMs: number,
): MrrxConnectionError {
  const timedOut = cause instanceof Error && cause.name === "TimeoutError";
  const what = timedOut
    ? `no answer within ${timeoutMs} ms`
    : cause instanceof Error
      ? ((cause.cause as Error | undefined)?.message ?? cause.message)
      : String(cause);
  return new MrrxConnectionError(
    {
      code: "connection_error",
      message: `connection_error: ${spec.method} ${url} got no answer (${what})`,
    },
    { cause },
  );
}

/** `Retry-After` as seconds: delta-seconds or an HTTP date. */
export function retryAfterSeconds(value: string | null, now: number = Date.now()): number | null {
  if (value === null || value.trim() === "") return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

function backoff(attempt: number): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, BASE_DELAY_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function queryString(query: RequestSpec["query"]): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    const values = Array.isArray(value) ? value : [value];
    const given = values.filter((v): v is Exclude<QueryValue, null | undefined> => v != null);
    if (given.length === 0) continue;
    // The API takes several values of one filter comma-separated (`status=a,b`).
    params.set(name, given.map(queryValue).join(","));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

function queryValue(value: Exclude<QueryValue, null | undefined>): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "boolean") return value ? "1" : "0";
  return String(value);
}

/** A path segment from an id: ids are the API's own, but a stray `/` must not re-route. */
export function segment(id: string): string {
  if (!id) throw new TypeError("an id is required");
  return encodeURIComponent(id);
}
