/** The MRRX client and settings, read from the environment when first needed. */

import { Mrrx } from "@mrrx/client";

let client: Mrrx | undefined;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (see README.md)`);
  return value;
}

/** One client per server process: it holds no connection, only settings. */
export function mrrx(): Mrrx {
  client ??= new Mrrx({ apiKey: required("MRRX_API_KEY"), baseUrl: process.env.MRRX_BASE_URL });
  return client;
}

/** Where MRRX sends subscribers back to: this app's /return, on the workspace's allowlist. */
export function returnUrl(request: Request): string {
  return new URL("/return", process.env.APP_URL ?? request.url).href;
}

/** The webhook endpoint's secret; two, comma-separated, while you rotate it. */
export function webhookSecrets(): string[] {
  return required("MRRX_WEBHOOK_SECRET").split(",");
}
