/** The few pages this example shows, as plain HTML strings. */

import type { VerifiedResult } from "@mrrx/client";

export function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body><h1>${escape(title)}</h1>${body}</body></html>`;
}

/** The account page: the cancel button posts to /cancel. */
export function accountPage(): string {
  return page(
    "Your account",
    `<form method="post" action="/cancel"><button type="submit">Cancel my subscription</button></form>`,
  );
}

/**
 * The return URL carries the result token in its fragment (`#result_token=...`), which
 * browsers never send to a server; this page posts it to /return, where the server
 * verifies it with MRRX.
 */
export function returnPage(): string {
  return page(
    "Checking your result...",
    `<form id="result" method="post" action="/return">
  <input type="hidden" name="result_token">
  <noscript><p>Turn on JavaScript to see your result, or check your email.</p></noscript>
</form>
<script>
  const token = new URLSearchParams(location.hash.slice(1)).get("result_token");
  if (token) {
    const form = document.getElementById("result");
    form.result_token.value = token;
    history.replaceState(null, "", location.pathname + location.search);
    form.submit();
  }
</script>`,
  );
}

const HEADLINES: Record<string, string> = {
  pause: "Your subscription is paused",
  discount: "Your discount is applied",
  downgrade: "Your plan is changed",
  extend_trial: "Your trial is extended",
  cancel: "Your subscription is canceled",
};

/** What the subscriber chose, as MRRX verified it. */
export function outcomePage(result: VerifiedResult): string {
  const action = result.outcome?.action;
  if (!action) return page("Nothing changed", "<p>You left without choosing.</p>");
  const details = Object.entries(result.outcome?.details ?? {})
    .map(([name, value]) => `<li>${escape(name)}: ${escape(String(value))}</li>`)
    .join("");
  return page(
    HEADLINES[action] ?? `Done: ${action}`,
    `<p data-action="${escape(action)}">Reference ${escape(result.session_id)}</p><ul>${details}</ul>`,
  );
}
