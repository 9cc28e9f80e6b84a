/** What this app does with MRRX's events, once their signature is verified. */

import type { WebhookEvent } from "@mrrx/client";

/**
 * MRRX retries a delivery until it gets a 2xx, and may send one twice: record `event.id`
 * in your database and skip an event seen before. Throwing answers 500, and MRRX retries.
 */
export async function handleEvent(event: WebhookEvent): Promise<void> {
  switch (event.type) {
    case "session.completed":
      // e.g. mark the user's account with event.data.outcome, keyed by event.data.metadata.user_id
      console.log(`MRRX: session ${event.data.session_id} ended with ${event.data.action}`);
      break;
    case "subscription.canceled":
      // e.g. schedule the end of access at the period's end
      console.log(`MRRX: subscription ${event.data.subscription_id} canceled`);
      break;
    default:
      console.log(`MRRX: ${event.type} ${event.id}`);
  }
}
