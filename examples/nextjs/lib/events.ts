/** What this app does with MRRX's events, once their signature is verified. */

import type { WebhookEvent } from "@mrrx/client";

// MRRX retries a delivery until it gets a 2xx, so an event can come twice. A Set does for
// one server process; with several, keep the ids in your database under a unique key.
const handled = new Set<string>();

/** Hands `event` to `handleEvent` unless it was handled before; whether it was new. */
export async function receiveOnce(event: WebhookEvent): Promise<boolean> {
  if (handled.has(event.id)) return false;
  await handleEvent(event);
  handled.add(event.id);
  return true;
}

/** Your app's reaction. Throwing answers 500, and MRRX delivers the event again later. */
async function handleEvent(event: WebhookEvent): Promise<void> {
  switch (event.type) {
    case "session.completed":
      // e.g. note the outcome on the account of event.data.metadata?.user_id
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
