/** Who is signed in: replace with your own auth (a session cookie, `auth()` of Auth.js). */

export interface Subscriber {
  userId: string;
  customerId: string;
  subscriptionId: string;
}

/**
 * The signed-in user's Stripe ids, or null when nobody is signed in. This example signs
 * everyone in as `make run`'s demo subscriber (DEMO_CUSTOMER_ID, DEMO_SUBSCRIPTION_ID).
 */
export async function currentSubscriber(_request: Request): Promise<Subscriber | null> {
  const customerId = process.env.DEMO_CUSTOMER_ID;
  const subscriptionId = process.env.DEMO_SUBSCRIPTION_ID;
  if (!customerId || !subscriptionId) return null;
  return { userId: process.env.DEMO_USER_ID ?? "demo-user", customerId, subscriptionId };
}
