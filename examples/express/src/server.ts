/**
 * Runs the example against `make run`:
 *
 *     MRRX_API_KEY=mrrx_test_... MRRX_WEBHOOK_SECRET=whsec_... \
 *     DEMO_CUSTOMER_ID=cus_... DEMO_SUBSCRIPTION_ID=sub_... npm start
 *
 * then open http://localhost:3000. The key, customer and subscription are the ones
 * `make run` prints; see README.md for the secret and the return URL allowlist.
 */

import { Mrrx } from "@mrrx/client";

import { createApp } from "./app.js";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (see README.md)`);
  return value;
}

const port = Number(process.env.PORT ?? 3000);
const app = createApp({
  mrrx: new Mrrx({ apiKey: required("MRRX_API_KEY"), baseUrl: process.env.MRRX_BASE_URL }),
  appUrl: process.env.APP_URL ?? `http://localhost:${port}`,
  webhookSecret: required("MRRX_WEBHOOK_SECRET"),
  // Stands in for your sign-in: everyone is make run's demo subscriber.
  currentSubscriber: () => ({
    userId: "demo-user",
    customerId: required("DEMO_CUSTOMER_ID"),
    subscriptionId: required("DEMO_SUBSCRIPTION_ID"),
  }),
  onEvent: (event) => {
    console.log(`MRRX event ${event.id}: ${event.type} for session ${event.data.session_id}`);
  },
});
app.listen(port, () => console.log(`Listening on http://localhost:${port}`));
