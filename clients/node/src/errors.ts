/**
 * One error class per error code of the API, all under `MrrxError`.
 *
 * Every API error arrives as `{"error": {"code", "message", "details"}}`, the message led
 * by its code ("session_already_exists: an active session already exists ..."), so
 * `error.message` alone still names the code. Branch on the class or on `code`, never on
 * the sentence after the code: it may be reworded.
 */

export interface MrrxErrorInit {
  code: string;
  message: string;
  status?: number | null;
  details?: Record<string, unknown>;
  requestId?: string | null;
  retryAfter?: number | null;
}

export class MrrxError extends Error {
  /** The API's error code, e.g. `session_already_exists`. */
  readonly code: string;
  /** The HTTP status; null when no answer came (`MrrxConnectionError`, webhooks). */
  readonly status: number | null;
  /** Per-field problems for `validation_error`, ids for conflicts (`details.session_id`). */
  readonly details: Record<string, unknown>;
  /** The answer's `X-Request-ID`: quote it when asking the operator about a request. */
  readonly requestId: string | null;
  /** Seconds the server asked to wait (`Retry-After`), when it did. */
  readonly retryAfter: number | null;

  constructor(init: MrrxErrorInit, options?: { cause?: unknown }) {
    super(init.message, options);
    this.name = new.target.name;
    this.code = init.code;
    this.status = init.status ?? null;
    this.details = init.details ?? {};
    this.requestId = init.requestId ?? null;
    this.retryAfter = init.retryAfter ?? null;
  }
}

export class InvalidApiKeyError extends MrrxError {}
export class ExpiredApiKeyError extends MrrxError {}
export class InsufficientPermissionsError extends MrrxError {}
export class RateLimitedError extends MrrxError {}
export class InvalidCustomerError extends MrrxError {}
export class SubscriptionNotFoundError extends MrrxError {}
export class SubscriptionAlreadyCanceledError extends MrrxError {}
export class SessionAlreadyExistsError extends MrrxError {}
export class SessionNotFoundError extends MrrxError {}
export class SessionExpiredError extends MrrxError {}
export class SessionAlreadyCompletedError extends MrrxError {}
export class ActionNotAvailableError extends MrrxError {}
export class InvalidTokenError extends MrrxError {}
export class InvalidRequestError extends MrrxError {}
export class UnsupportedMediaTypeError extends MrrxError {}
export class ValidationError extends MrrxError {}
export class IdempotencyKeyReusedError extends MrrxError {}
export class IdempotencyInProgressError extends MrrxError {}
export class NotFoundError extends MrrxError {}
export class MethodNotAllowedError extends MrrxError {}
export class StripeError extends MrrxError {}
export class ServiceUnavailableError extends MrrxError {}
export class InternalError extends MrrxError {}

/** No answer: the connection failed or timed out, after the retries allowed. */
export class MrrxConnectionError extends MrrxError {}

/**
 * A webhook delivery whose signature, timestamp or body does not check out (code
 * `webhook_verification_failed`): answer it with 400 and do not act on it.
 */
export class WebhookVerificationError extends MrrxError {
  /** What failed, for logs: the signature, the timestamp, or the body. */
  readonly reason: WebhookFailure;

  constructor(reason: WebhookFailure, sentence: string) {
    super({
      code: "webhook_verification_failed",
      message: `webhook_verification_failed: ${sentence}`,
    });
    this.reason = reason;
  }
}

export type WebhookFailure =
  | "invalid_secret"
  | "missing_signature"
  | "timestamp_outside_tolerance"
  | "invalid_signature"
  | "invalid_payload";

/** Every code the API answers with, and its class. */
export const ERROR_CLASSES = {
  invalid_api_key: InvalidApiKeyError,
  expired_api_key: ExpiredApiKeyError,
  insufficient_permissions: InsufficientPermissionsError,
  rate_limited: RateLimitedError,
  invalid_customer: InvalidCustomerError,
  subscription_not_found: SubscriptionNotFoundError,
  subscription_already_canceled: SubscriptionAlreadyCanceledError,
  session_already_exists: SessionAlreadyExistsError,
  session_not_found: SessionNotFoundError,
  session_expired: SessionExpiredError,
  session_already_completed: SessionAlreadyCompletedError,
  action_not_available: ActionNotAvailableError,
  invalid_token: InvalidTokenError,
  invalid_request: InvalidRequestError,
  unsupported_media_type: UnsupportedMediaTypeError,
  validation_error: ValidationError,
  idempotency_key_reused: IdempotencyKeyReusedError,
  idempotency_in_progress: IdempotencyInProgressError,
  not_found: NotFoundError,
  method_not_allowed: MethodNotAllowedError,
  stripe_error: StripeError,
  service_unavailable: ServiceUnavailableError,
  internal_error: InternalError,
} as const satisfies Record<string, typeof MrrxError>;

export type ErrorCode = keyof typeof ERROR_CLASSES;

/** The error for an API answer; a code this version does not know still gets `MrrxError`. */
export function errorFor(init: MrrxErrorInit): MrrxError {
  const cls: typeof MrrxError =
    (ERROR_CLASSES as Record<string, typeof MrrxError>)[init.code] ?? MrrxError;
  return new cls(init);
}
