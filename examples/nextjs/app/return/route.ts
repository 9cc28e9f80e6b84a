/**
 * /return: where MRRX sends the subscriber back, with `#result_token=...` in the fragment.
 * GET answers a page that posts the token here; POST verifies it with MRRX on the server
 * and shows the outcome. Only a verified result is shown or acted on: the URL's
 * `?outcome=` is a hint anyone can type.
 */

import { InvalidTokenError } from "@mrrx/client";

import { mrrx } from "../../lib/mrrx.ts";
import { html, outcomePage, returnPage } from "../../lib/pages.ts";
import { currentSubscriber } from "../../lib/subscriber.ts";

export const dynamic = "force-dynamic";

export function GET(): Response {
  return returnPage();
}

export async function POST(request: Request): Promise<Response> {
  const token = (await request.formData()).get("result_token");
  if (typeof token !== "string" || !token) return html("No result to show", "", 400);
  try {
    const result = await mrrx().verifyResult(token);
    // A valid token of someone else's session is still not this user's result.
    const subscriber = await currentSubscriber(request);
    if (subscriber && subscriber.customerId !== result.customer_id) {
      return html("Not your result", "", 403);
    }
    return outcomePage(result);
  } catch (error) {
    if (error instanceof InvalidTokenError) return html("This result link is not valid", "", 400);
    throw error;
  }
}
