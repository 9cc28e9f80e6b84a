/**
 * MRRX in an Express app, with `@mrrx/client`:
 *
 * - `POST /cancel`: the "Cancel my subscription" button. Creates a cancellation session for
 *   the signed-in subscriber and redirects them to MRRX's hosted page.
 * - `GET /return`, `POST /return`: where MRRX sends them back. The result token rides in the
 *   URL's fragment; the page posts it here and the server verifies it with MRRX before
 *   showing anything.
 * - `POST /webhooks/mrrx`: MRRX's webhooks, verified on the raw body.
 */

import express, { type Express, type Request } from "express";

import {
  InvalidTokenError,
  type Mrrx,
  SessionAlreadyExistsError,
  SubscriptionAlreadyCanceledError,
  type WebhookEvent,
  WebhookVerificationError,
  verifyWebhook,
} from "@mrrx/client";

import { accountPage, outcomePage, page, returnPage } from "./pages.js";

export interface Subscriber {
  userId: string;
  customerId: string;
  subscriptionId: string;
}

export interface AppOptions {
  mrrx: Mrrx;
  /** This app's own address; its origin must be on the workspace's return URL allowlist. */
  appUrl: string;
  /** The endpoint's `whsec_...` secret (both, while you rotate it). */
  webhookSecret: string | string[];
  /** The signed-in user's Stripe ids, from your own sign-in; null when signed out. */
  currentSubscriber(request: Request): Subscriber | null | Promise<Subscriber | null>;
  /**
   * What your app does with a verified event, once per event id. Throwing answers 500,
   * and MRRX delivers the event again later.
   */
  onEvent(event: WebhookEvent): void | Promise<void>;
}

export function createApp(options: AppOptions): Express {
  const { mrrx, appUrl } = options;
  const app = express();
  // MRRX retries a delivery until it gets a 2xx, so an event can come twice. A Set does for
  // one process; with several, keep the ids in your database under a unique key.
  const handled = new Set<string>();

  app.get("/", (_request, response) => {
    response.type("html").send(accountPage());
  });

  // In your app this sits behind your sign-in and CSRF protection, like any other form.
  app.post("/cancel", async (request, response) => {
    const subscriber = await options.currentSubscriber(request);
    if (!subscriber) {
      response.status(401).type("html").send(page("Sign in first", ""));
      return;
    }
    try {
      const session = await mrrx.createSession({
        customer_id: subscriber.customerId,
        subscription_id: subscriber.subscriptionId,
        return_url: new URL("/return", appUrl).href,
        metadata: { user_id: subscriber.userId },
      });
      response.redirect(303, session.url);
    } catch (error) {
      if (error instanceof SessionAlreadyExistsError) {
        const body =
          "<p>You already have a cancellation in progress. Finish it, or try again tomorrow.</p>";
        response.status(409).type("html").send(page("Already in progress", body));
      } else if (error instanceof SubscriptionAlreadyCanceledError) {
        response.status(409).type("html").send(page("Your subscription is already canceled", ""));
      } else {
        throw error;
      }
    }
  });

  app.get("/return", (_request, response) => {
    response.type("html").send(returnPage());
  });

  app.post("/return", express.urlencoded({ extended: false }), async (request, response) => {
    const token: unknown = request.body?.result_token;
    if (typeof token !== "string" || !token) {
      response.status(400).type("html").send(page("No result to show", ""));
      return;
    }
    try {
      const result = await mrrx.verifyResult(token);
      // A valid token of someone else's session is still not this user's result.
      const subscriber = await options.currentSubscriber(request);
      if (subscriber && subscriber.customerId !== result.customer_id) {
        response.status(403).type("html").send(page("Not your result", ""));
        return;
      }
      response.type("html").send(outcomePage(result));
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      response.status(400).type("html").send(page("This result link is not valid", ""));
    }
  });

  // The raw body: the signature is over the exact bytes MRRX sent.
  app.post("/webhooks/mrrx", express.raw({ type: "*/*" }), async (request, response) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    let event: WebhookEvent;
    try {
      event = verifyWebhook(body, request.headers, options.webhookSecret);
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      response.status(400).json({ error: error.message });
      return;
    }
    if (!handled.has(event.id)) {
      await options.onEvent(event);
      handled.add(event.id);
    }
    response.json({ received: true });
  });

  return app;
}
