/**
 * POST /cancel: the "Cancel my subscription" button (`<form method="post" action="/cancel">`).
 * Creates a cancellation session for the signed-in subscriber and redirects them to MRRX's
 * hosted page.
 */

import { SessionAlreadyExistsError, SubscriptionAlreadyCanceledError } from "@mrrx/client";

import { mrrx, returnUrl } from "../../lib/mrrx.ts";
import { html } from "../../lib/pages.ts";
import { currentSubscriber } from "../../lib/subscriber.ts";

export async function POST(request: Request): Promise<Response> {
  const subscriber = await currentSubscriber(request);
  if (!subscriber) return html("Sign in first", "", 401);
  try {
    const session = await mrrx().createSession({
      customer_id: subscriber.customerId,
      subscription_id: subscriber.subscriptionId,
      return_url: returnUrl(request),
      metadata: { user_id: subscriber.userId },
    });
    return Response.redirect(session.url, 303);
  } catch (error) {
    if (error instanceof SessionAlreadyExistsError) {
      const body =
        "<p>You already have a cancellation in progress. Finish it, or try again tomorrow.</p>";
      return html("Already in progress", body, 409);
    }
    if (error instanceof SubscriptionAlreadyCanceledError) {
      return html("Your subscription is already canceled", "", 409);
    }
    throw error;
  }
}
