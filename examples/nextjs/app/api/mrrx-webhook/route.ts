/**
 * POST /api/mrrx-webhook: MRRX's webhooks. The signature is over the raw body, so it is
 * read as bytes and verified before anything is parsed or done.
 */

import { WebhookVerificationError, verifyWebhook } from "@mrrx/client";

import { receiveOnce } from "../../../lib/events.ts";
import { webhookSecrets } from "../../../lib/mrrx.ts";

// verifyWebhook uses node:crypto, which the Edge runtime does not have.
export const runtime = "nodejs";

export async function POST(request: Request): Promise<Response> {
  const body = new Uint8Array(await request.arrayBuffer());
  try {
    const event = verifyWebhook(body, request.headers, webhookSecrets());
    const fresh = await receiveOnce(event);
    return Response.json({ received: true, duplicate: !fresh });
  } catch (error) {
    if (error instanceof WebhookVerificationError) {
      return Response.json({ error: error.message }, { status: 400 });
    }
    throw error;
  }
}
