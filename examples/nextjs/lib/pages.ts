/** The few pages the route handlers answer with, as plain HTML. */

import type { VerifiedResult } from "@mrrx/client";

export function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function html(title: string, body: string, status = 200): Response {
  const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body><h1>${escape(title)}</h1>${body}</body></html>`;
  return new Response(page, { status, headers: { "Content-Type": "text/html; charset=utf-8" } });
}

/**
 * The return URL carries the result token in its fragment (`#result_token=...`), which
 * browsers never send to a server; this page posts it to /return, where the route handler
 * verifies it with MRRX.
 */
export function returnPage(): Response {
  return html(
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
export function outcomePage(result: VerifiedResult): Response {
  const action = result.outcome?.action;
  if (!action) return html("Nothing changed", "<p>You left without choosing.</p>");
  const details = Object.entries(result.outcome?.details ?? {})
    .map(([name, value]) => `<li>${escape(name)}: ${escape(String(value))}</li>`)
    .join("");
  return html(
    HEADLINES[action] ?? `Done: ${action}`,
    `<p data-action="${escape(action)}">Reference ${escape(result.session_id)}</p><ul>${details}</ul>`,
  );
}
