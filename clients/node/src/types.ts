/**
 * The API's objects as it sends them: field names are the JSON's own (snake_case), so what
 * the README's curl examples show is what these types describe.
 */

/** `contact` and `redirect`: deflections, which complete the session with nothing done on Stripe. */
export type Action =
  "pause" | "discount" | "downgrade" | "extend_trial" | "contact" | "redirect" | "cancel";

export type Reason =
  | "too_expensive"
  | "not_using_enough"
  | "missing_features"
  | "switching_competitor"
  | "technical_issues"
  | "business_closing"
  | "other";

export type SessionStatus =
  | "created"
  | "viewed"
  | "offer_shown"
  | "action_selected"
  | "survey_completed"
  | "executing"
  | "completed"
  | "failed"
  | "expired"
  | "abandoned";

/** A timestamp as a query may take it: ISO 8601, Unix seconds, or a `Date`. */
export type Timestamp = string | number | Date;

export interface Pagination {
  has_more: boolean;
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}

export interface Page<T> {
  data: T[];
  pagination: Pagination;
}

export interface Outcome {
  action: Action;
  executed_at: string;
  details: Record<string, unknown>;
}

export interface SurveyResponse {
  reason: string;
  reason_other: string | null;
  feedback: string | null;
}

// --- Sessions ----------------------------------------------------------------------------

export interface SessionCreateParams {
  /** `cus_...`; or give `customer_email`. */
  customer_id?: string;
  customer_email?: string;
  /** `sub_...`; may be left out when the customer has exactly one live subscription. */
  subscription_id?: string;
  /** Where the subscriber is sent back to; must be on the workspace's allowlist. */
  return_url?: string;
  metadata?: Record<string, string>;
  context?: { plan?: string; mrr?: number; tenure_days?: number };
}

export interface SessionCreated {
  id: string;
  /** The session token: the flow API's credential for this one session (`MrrxFlow`). */
  token: string;
  /** The hosted page to redirect the subscriber to. */
  url: string;
  expires_at: string;
  status: string;
  livemode: boolean;
}

export interface Session {
  id: string;
  status: SessionStatus;
  subscription: {
    id: string;
    product_name: string;
    price: { amount: number | null; currency: string; interval: string };
    current_period_end: string | null;
  };
  outcome: Outcome | null;
  survey_response: SurveyResponse | null;
  created_at: string;
  expires_at: string;
  customer_id: string;
  metadata: Record<string, string>;
  return_url: string | null;
  livemode: boolean;
  /** `flow`: a subscriber's session; `api`: a direct cancel by your backend. */
  source: "flow" | "api";
  /** The experiment and arm the session was assigned to; null when none was running. */
  experiment: SessionExperiment | null;
  /** The segment flow whose rule the subscription matched; null: the default flow. */
  flow: SessionFlow | null;
}

export interface SessionFlow {
  /** `flw_...` */
  id: string;
  name: string;
}

export interface SessionExperiment {
  /** `exp_...` */
  id: string;
  /** The arm's key, e.g. `pct30` or `holdout`. */
  arm: string;
}

export interface SessionListParams {
  /** One status or several. */
  status?: SessionStatus | SessionStatus[];
  customer_id?: string;
  subscription_id?: string;
  /** Created at or after. */
  created_gte?: Timestamp;
  /** Created before. */
  created_lt?: Timestamp;
  /** 1 to 100; the API's default is 20. */
  limit?: number;
  cursor?: string;
}

// --- Direct cancel -----------------------------------------------------------------------

export interface SubscriptionCancelParams {
  reason?: string;
  /** Required with `reason: "other"`, and only allowed with it. */
  reason_other?: string;
  /** Stripe's cancellation comment; needs a `reason`. */
  feedback?: string;
  /** Defaults to the workspace's cancel timing. */
  at_period_end?: boolean;
  /** When given, must own the subscription. */
  customer_id?: string;
}

// --- Custom sessions ---------------------------------------------------------------------

export interface CustomSessionParams {
  /** Your own stable id: the first report creates the record, later ones update it. */
  external_id: string;
  customer_id: string;
  /** ISO 8601 or Unix seconds; never moves once recorded. */
  started_at: string | number;
  subscription_id?: string;
  reason?: Reason | "";
  reason_other?: string;
  offers_shown?: Array<{ action: Action; label?: string }>;
  /** No outcome: the subscriber left your flow without deciding. */
  outcome?: { action: Action; details?: Record<string, unknown> } | null;
  /** The subscription's monthly amount in minor units. */
  mrr?: { amount: number; currency: string } | null;
  metadata?: Record<string, string>;
}

export interface CustomSession {
  id: string;
  external_id: string;
  customer_id: string;
  subscription_id: string | null;
  started_at: string;
  reason: Reason | null;
  reason_other: string | null;
  offers_shown: Array<{ action: Action; label?: string }>;
  outcome: { action: Action; details?: Record<string, unknown> } | null;
  mrr: { amount: number; currency: string } | null;
  metadata: Record<string, string>;
  livemode: boolean;
  created_at: string;
  updated_at: string;
}

export interface CustomSessionListParams {
  external_id?: string;
  customer_id?: string;
  limit?: number;
  cursor?: string;
}

// --- Hub sessions ------------------------------------------------------------------------

export interface HubSessionCreateParams {
  /** `cus_...`; or give `customer_email`. */
  customer_id?: string;
  customer_email?: string;
  return_url?: string;
  metadata?: Record<string, string>;
}

export interface HubSessionCreated {
  id: string;
  token: string;
  /** The subscription hub page to send the customer to. */
  url: string;
  expires_at: string;
}

export interface HubSession {
  id: string;
  customer_id: string;
  customer_email: string | null;
  return_url: string | null;
  metadata: Record<string, string>;
  livemode: boolean;
  created_at: string;
  expires_at: string;
  /** When the customer first opened it; null until then. */
  viewed_at: string | null;
  last_viewed_at: string | null;
  views: number;
  /** What the customer did there: resume, reactivate, change plan, cancel. */
  actions: Array<{
    id: string;
    type: string;
    subscription_id: string;
    price_id: string | null;
    status: string;
    /** A cancel's cancellation session, which holds its outcome. */
    session_id: string | null;
    outcome: Record<string, unknown> | null;
    error: Record<string, unknown> | null;
    created_at: string;
    completed_at: string | null;
    failed_at: string | null;
  }>;
  /** The cancellation sessions the visit opened. */
  sessions: Array<{
    id: string;
    subscription_id: string;
    status: SessionStatus;
    outcome_action: Action | null;
    created_at: string;
    completed_at: string | null;
  }>;
}

// --- A customer's data (export and erasure) ----------------------------------------------

/** One stored row of the export: every field the server keeps, as it keeps it. */
export type CustomerExportRow = Record<string, unknown>;

export interface CustomerExportCounts {
  sessions: number;
  custom_sessions: number;
  hub_sessions: number;
  /** Listed under their hub session's `actions`. */
  hub_actions: number;
  receipts: number;
  saves: number;
  invoice_payments: number;
  events: number;
  stripe_events: number;
  audit_entries: number;
}

/**
 * Everything MRRX holds about one customer in the key's workspace and mode: always these
 * keys, lists oldest first, times in ISO 8601 UTC. A customer MRRX holds nothing about
 * gets them empty, with zero counts.
 */
export interface CustomerExport {
  object: "customer_export";
  customer_id: string;
  workspace_id: string;
  livemode: boolean;
  generated_at: string;
  counts: CustomerExportCounts;
  sessions: CustomerExportRow[];
  custom_sessions: CustomerExportRow[];
  /** Each with its `actions`. */
  hub_sessions: CustomerExportRow[];
  receipts: CustomerExportRow[];
  /** Saves checked against Stripe, each with its 30/60/90-day `checkpoints`. */
  saves: CustomerExportRow[];
  /** Invoices paid (or payments failed) on the customer's saved subscriptions. */
  invoice_payments: CustomerExportRow[];
  /** Webhook events whose `data` names the customer, with `payload` and `deliveries`. */
  events: CustomerExportRow[];
  /** Inbound Stripe events naming the customer, `payload` as Stripe sent it. */
  stripe_events: CustomerExportRow[];
  audit_entries: CustomerExportRow[];
}

/** Rows changed by one erasure, per kind: all zero when the customer was erased already. */
export interface CustomerErasureCounts {
  sessions: number;
  custom_sessions: number;
  hub_sessions: number;
  hub_actions: number;
  receipts: number;
  events: number;
  deliveries: number;
  delivery_attempts: number;
  stripe_events: number;
  audit_entries: number;
  idempotency_records: number;
}

export interface CustomerErasure {
  object: "customer_erasure";
  customer_id: string;
  workspace_id: string;
  livemode: boolean;
  erased_at: string;
  counts: CustomerErasureCounts;
  /** The `customer.erased` webhook event this erasure sent. */
  event_id: string;
}

// --- Results, workspace, health ----------------------------------------------------------

export interface VerifiedResult {
  valid: boolean;
  session_id: string;
  workspace_id: string;
  livemode: boolean;
  status: string;
  customer_id: string;
  subscription_id: string;
  outcome: Outcome | null;
  survey_response: SurveyResponse | null;
}

export interface Workspace {
  id: string;
  name: string;
  livemode: boolean;
  mode: "test" | "live";
  scopes: string[];
  key: { prefix: string; name: string; expires_at: string | null };
}

export interface Health {
  status: "healthy" | "unhealthy";
  timestamp: string;
  version: string;
  /** With `deep: true`: each component's check. */
  components?: Record<string, { status: string; [field: string]: unknown }>;
  failing?: string[];
}

// --- The flow API ------------------------------------------------------------------------

export interface FlowOffer {
  /** Send it back as `offer_id`. */
  id: string;
  action: Exclude<Action, "cancel">;
  title: string;
  terms: string;
  ends: string;
  params: {
    pause_options?: Array<{ months: number; days: number; label: string; until: string }>;
    percent_off?: number;
    amount_off?: number;
    duration_months?: number;
    coupon_id?: string;
    new_price_id?: string;
    new_amount?: number;
    currency?: string;
    interval?: string;
    product_name?: string;
    extension_days?: number;
    /** contact (always), redirect (optional): the merchant's words. */
    message?: string;
    /** contact: an `https://` or `mailto:` link. */
    link?: string;
    /** contact, optional: a page to book a call. */
    scheduling_url?: string;
    /** redirect: the merchant's page (`redirect_url` once taken). */
    url?: string;
    /** contact, redirect, coupon discount: the merchant's title. */
    label?: string;
  };
}

export interface Flow {
  id: string;
  status: SessionStatus;
  livemode: boolean;
  expires_at: string;
  workspace: { name: string; brand_color: string; logo_url: string | null };
  subscription: {
    product_name: string;
    price: {
      amount: number | null;
      currency: string;
      interval: string;
      interval_count: number;
      display: string;
    };
    current_period_end: string | null;
    period_display: string;
    trialing: boolean;
    trial_end: string | null;
    paused: boolean;
  };
  reasons: Array<{ code: string; label: string }>;
  reason: { code: string; label: string; other: string | null } | null;
  feedback_requested: boolean;
  offers: FlowOffer[] | null;
  cancel: { action: "cancel"; title: string; terms: string; at_period_end: boolean } | null;
  ineligible_offers: Array<{ id: string; action: string; reason: string }> | null;
  choice: { action: Action; title: string } | null;
  outcome: (Outcome & { title: string; text: string }) | null;
  failure: { title: string; text: string } | null;
  /** Once finished: where to send the subscriber (with `#result_token=` when completed). */
  return_url: string | null;
  /** Once completed with a `redirect` offer: the merchant's page with `session_id`; open it. */
  redirect_url: string | null;
}

export interface FlowSurveyParams {
  /** One of the flow's `reasons` codes. */
  reason: string;
  /** Required with `other`; at most 500 characters. */
  reason_other?: string;
}

export interface FlowExecuteParams {
  action: Action;
  /** The chosen offer's `id` (not for `cancel`). */
  offer_id?: string;
  /** For a pause: one of the offer's `pause_options` days. */
  pause_duration_days?: number;
  /** Kept when the flow has `feedback_requested`. */
  feedback?: string;
}

// --- Webhooks ----------------------------------------------------------------------------

export type WebhookEventType =
  | "session.created"
  | "session.completed"
  | "session.expired"
  | "session.failed"
  | "subscription.paused"
  | "subscription.discount_applied"
  | "subscription.downgraded"
  | "subscription.trial_extended"
  | "subscription.canceled"
  | "subscription.resumed"
  | "subscription.reactivated"
  | "subscription.plan_changed"
  | "customer.erased";

export interface WebhookEvent {
  id: string;
  /** One of `WebhookEventType`; a newer server may send types this version does not name. */
  type: WebhookEventType | (string & {});
  created_at: string;
  /**
   * Session and subscription events carry every field but `counts`; `customer.erased`
   * carries `customer_id`, `counts` (a `CustomerErasureCounts`) and `livemode` only.
   */
  data: {
    /** The cancellation session (`ses_...`), or the hub session (`hub_...`) for hub events. */
    session_id: string | null;
    subscription_id: string | null;
    customer_id: string | null;
    /** An offer's action, or the hub's `resume`, `reactivate`, `change_plan`. */
    action: Action | "resume" | "reactivate" | "change_plan" | null;
    outcome: { action: string; details: Record<string, unknown>; executed_at?: string } | null;
    survey_response: SurveyResponse | null;
    metadata: Record<string, string> | null;
    livemode: boolean;
    /** `flow`: a subscriber's session; `api`: a direct cancel; `hub`: the subscription hub. */
    source: "flow" | "api" | "hub" | null;
    status: SessionStatus | null;
    end_reason: string | null;
    error: unknown;
    experiment: SessionExperiment | null;
    /** `customer.erased`: the rows changed, per kind. */
    counts?: Record<string, number>;
    [field: string]: unknown;
  };
}

// --- Analytics ------------------------------------------------------------------------------

export type AnalyticsGroupBy = "reason" | "offer" | "arm" | "day";
export type AnalyticsSource = "flow" | "api" | "custom";

export interface AnalyticsParams {
  /** First UTC day, `YYYY-MM-DD` (default: 29 days before `to`). */
  from?: string;
  /** Last UTC day, inclusive (default: today); at most 366 days in all. */
  to?: string;
  group_by?: AnalyticsGroupBy;
  /** `flow` (default): the hosted page and flow API; `api`: direct cancels; `custom`. */
  source?: AnalyticsSource;
}

export interface AnalyticsMoney {
  /** Lower-case ISO code. */
  currency: string;
  /** In the currency's smallest unit (with decimals for a per-session figure). */
  amount: number;
}

/** The saves of these sessions at one checkpoint. */
export interface AnalyticsRetention {
  day: 30 | 60 | 90;
  saves: number;
  retained: number;
  churned: number;
  /** Not due, or not settled yet. */
  pending: number;
  /** retained / (retained + churned). */
  rate: number | null;
}

/** Each key is also the key of its definition in `Analytics.definitions`. */
export interface AnalyticsFigures {
  sessions_started: number;
  completed: number;
  saved: number;
  canceled: number;
  deflected: number;
  /** saved / completed. */
  save_rate: number | null;
  mrr_saved: AnalyticsMoney[];
  retained: AnalyticsRetention[];
  mrr_retained_90: AnalyticsMoney[];
  mrr_retained_90_per_session: AnalyticsMoney[];
}

export interface AnalyticsGroup extends AnalyticsFigures {
  /** A reason code, an offer id, `<experiment id>:<arm key>` or a day; `none` for sessions without one. */
  key: string;
  label: string;
}

/** A variant against the holdout; `enough_data` false (and no interval) below the minimum. */
export interface AnalyticsComparison {
  figure:
    "save_rate" | "retained_30" | "retained_60" | "retained_90" | "mrr_retained_90_per_session";
  /** For the MRR figure only. */
  currency: string | null;
  value: number | null;
  holdout_value: number | null;
  difference: number | null;
  ci95_low: number | null;
  ci95_high: number | null;
  enough_data: boolean;
}

export interface AnalyticsArm {
  key: string;
  name: string;
  kind: "variant" | "holdout";
  sessions_started: number;
  completed: number;
  saved: number;
  save_rate: number | null;
  retained: {
    day: 30 | 60 | 90;
    retained: number;
    churned: number;
    rate_per_session: number | null;
  }[];
  mrr_retained_90: AnalyticsMoney[];
  mrr_retained_90_per_session: AnalyticsMoney[];
  /** Empty for the holdout. */
  difference_vs_holdout: AnalyticsComparison[];
}

/** An experiment that ran in the range, over its whole run. */
export interface AnalyticsExperiment {
  id: string;
  name: string;
  status: "running" | "stopped";
  started_at: string | null;
  stopped_at: string | null;
  holdout_arm: string | null;
  arms: AnalyticsArm[];
}

export interface AnalyticsDefinition {
  term: string;
  text: string;
  /** The definition on the analytics page. */
  url: string;
}

export interface Analytics {
  object: "analytics";
  livemode: boolean;
  from: string;
  to: string;
  source: AnalyticsSource;
  group_by: AnalyticsGroupBy | null;
  totals: AnalyticsFigures;
  groups: AnalyticsGroup[];
  experiments: AnalyticsExperiment[];
  definitions: Record<string, AnalyticsDefinition>;
}
