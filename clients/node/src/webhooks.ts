/**
 * Verifying MRRX's webhook deliveries. Each delivery carries two signatures:
 *
 * - Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`):
 *   HMAC-SHA256 of `"<id>.<timestamp>.<body>"` keyed with the base64 part of the secret
 *   after `whsec_`. It binds the timestamp, so a replayed delivery is refused after
 *   `toleranceSeconds`.
 * - `X-MRRX-Signature: t=<unix>,v1=<hex>`: HMAC-SHA256 of the raw body keyed with the whole
 *   `whsec_...` string. Its `t` is not signed, so it cannot stop a replay: de-duplicate on
 *   the event's `id` either way.
 *
 * Each header holds one signature per active secret while a rotation overlaps.
 */

import { createHmac, timingSafeEqual } from "node:crypto";

import { WebhookVerificationError } from "./errors.js";
import type { WebhookEvent } from "./types.js";

export type WebhookHeaders =
  Headers | Record<string, string | string[] | undefined> | Iterable<[string, string]>;

export interface VerifyWebhookOptions {
  /** How far the signed timestamp may be from now, either way. Default 300 s. */
  toleranceSeconds?: number;
  /**
   * `auto` (default) checks Standard Webhooks when its headers are there, else
   * `X-MRRX-Signature`; naming a scheme checks only that one.
   */
  scheme?: "auto" | "standard" | "mrrx";
  /** The current time in Unix seconds, for tests. */
  now?: number;
}

const SECRET_PREFIX = "whsec_";

/**
 * The event, once the signature over the raw body checks out with one of `secrets`.
 * Pass the body exactly as received (a parsed and re-serialized body will not verify).
 * Throws `WebhookVerificationError` otherwise: a missing or wrong signature, a timestamp
 * more than `toleranceSeconds` from now, or a body that is not an event.
 */
export function verifyWebhook(
  body: string | Uint8Array,
  headers: WebhookHeaders,
  secret: string | readonly string[],
  options: VerifyWebhookOptions = {},
): WebhookEvent {
  const raw = typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body);
  const read = headerReader(headers);
  const secrets = typeof secret === "string" ? [secret] : [...secret];
  if (secrets.length === 0 || !secrets.every((s) => s.startsWith(SECRET_PREFIX))) {
    throw new WebhookVerificationError(
      "invalid_secret",
      "the webhook secret must be the endpoint's whsec_... key",
    );
  }
  const tolerance = options.toleranceSeconds ?? 300;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const scheme = options.scheme ?? "auto";

  const standard = {
    id: read("webhook-id"),
    timestamp: read("webhook-timestamp"),
    signature: read("webhook-signature"),
  };
  const useStandard = scheme === "standard" || (scheme === "auto" && standard.signature !== null);
  if (useStandard) {
    verifyStandard(raw, standard, secrets, tolerance, now);
  } else {
    verifyMrrx(raw, read("x-mrrx-signature"), secrets, tolerance, now);
  }

  return parseEvent(raw);
}

function parseEvent(raw: Buffer): WebhookEvent {
  let event: unknown;
  try {
    event = JSON.parse(raw.toString("utf8"));
  } catch {
    throw new WebhookVerificationError("invalid_payload", "the body is not JSON");
  }
  const fields = typeof event === "object" && event !== null ? Object.keys(event) : [];
  if (!["id", "type", "data"].every((key) => fields.includes(key))) {
    throw new WebhookVerificationError("invalid_payload", "the body is not an MRRX event");
  }
  return event as WebhookEvent;
}

function verifyStandard(
  body: Buffer,
  headers: { id: string | null; timestamp: string | null; signature: string | null },
  secrets: string[],
  tolerance: number,
  now: number,
): void {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) {
    throw new WebhookVerificationError(
      "missing_signature",
      "webhook-id, webhook-timestamp and webhook-signature are all required",
    );
  }
  checkTimestamp(timestamp, tolerance, now);
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`, "utf8"), body]);
  const given = signature
    .split(" ")
    .filter((part) => part.startsWith("v1,"))
    .map((part) => Buffer.from(part.slice(3), "base64"));
  const expected = secrets.map((s) => createHmac("sha256", standardKey(s)).update(signed).digest());
  if (!anyMatch(given, expected)) {
    throw new WebhookVerificationError(
      "invalid_signature",
      "no webhook-signature matches the body with this secret",
    );
  }
}

function verifyMrrx(
  body: Buffer,
  header: string | null,
  secrets: string[],
  tolerance: number,
  now: number,
): void {
  if (!header) {
    throw new WebhookVerificationError(
      "missing_signature",
      "no webhook-signature or X-MRRX-Signature header",
    );
  }
  const parts = header.split(",").map((part) => part.trim());
  const timestamp = parts.find((part) => part.startsWith("t="))?.slice(2);
  if (!timestamp) {
    throw new WebhookVerificationError("missing_signature", "X-MRRX-Signature has no t=");
  }
  checkTimestamp(timestamp, tolerance, now);
  const given = parts
    .filter((part) => part.startsWith("v1="))
    .map((part) => Buffer.from(part.slice(3), "hex"));
  const expected = secrets.map((s) => createHmac("sha256", s).update(body).digest());
  if (!anyMatch(given, expected)) {
    throw new WebhookVerificationError(
      "invalid_signature",
      "no X-MRRX-Signature v1= matches the body with this secret",
    );
  }
}

function checkTimestamp(value: string, tolerance: number, now: number): void {
  const timestamp = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (Number.isNaN(timestamp) || Math.abs(now - timestamp) > tolerance) {
    throw new WebhookVerificationError(
      "timestamp_outside_tolerance",
      `the signed timestamp ${value} is more than ${tolerance} s from now (${now})`,
    );
  }
}

function standardKey(secret: string): Buffer {
  return Buffer.from(secret.slice(SECRET_PREFIX.length), "base64");
}

/** Whether any given signature equals any expected one, each compared in constant time. */
function anyMatch(given: Buffer[], expected: Buffer[]): boolean {
  let matched = false;
  for (const candidate of given) {
    for (const digest of expected) {
      // Lengths are public (a digest's size); only equal-length buffers can be compared.
      if (candidate.length === digest.length && timingSafeEqual(candidate, digest)) {
        matched = true;
      }
    }
  }
  return matched;
}

function headerReader(headers: WebhookHeaders): (name: string) => string | null {
  if (typeof (headers as Headers).get === "function") {
    const h = headers as Headers;
    return (name) => h.get(name);
  }
  const entries: Array<[string, string | string[] | undefined]> =
    Symbol.iterator in headers
      ? [...(headers as Iterable<[string, string]>)]
      : Object.entries(headers as Record<string, string | string[] | undefined>);
  const byName = new Map<string, string>();
  for (const [name, value] of entries) {
    if (value === undefined) continue;
    byName.set(name.toLowerCase(), Array.isArray(value) ? value.join(", ") : value);
  }
  return (name) => byName.get(name) ?? null;
}
