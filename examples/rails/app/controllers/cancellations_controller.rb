# frozen_string_literal: true

require_relative "../../lib/mrrx/api"

# The three handlers of the cancel flow (routes in config/routes.rb):
#
# - POST /cancel: the "Cancel my subscription" button. Creates a cancellation session for
#   the signed-in subscriber and redirects them to MRRX's hosted page.
# - GET /return: where MRRX sends them back. The result token rides in the URL's fragment
#   (#result_token=...), which browsers never send to a server, so this page posts it.
# - POST /return: verifies the token with MRRX and shows the outcome. Only a verified result
#   is shown or acted on: the URL's ?outcome= is a hint anyone can type.
class CancellationsController < ApplicationController
  HEADLINES = {
    "pause" => "Your subscription is paused",
    "discount" => "Your discount is applied",
    "downgrade" => "Your plan is changed",
    "extend_trial" => "Your trial is extended",
    "cancel" => "Your subscription is canceled"
  }.freeze

  before_action :require_subscriber

  def create
    session = mrrx.create_session(
      customer_id: current_subscriber.fetch(:customer_id),
      subscription_id: current_subscriber.fetch(:subscription_id),
      return_url: return_url,
      metadata: { user_id: current_subscriber.fetch(:user_id).to_s }
    )
    redirect_to session.fetch("url"), allow_other_host: true, status: :see_other
  rescue Mrrx::Error => e
    case e.code
    when "session_already_exists"
      page "Already in progress",
           status: :conflict, text: "Finish the cancellation you started, or try again tomorrow."
    when "subscription_already_canceled"
      page "Your subscription is already canceled", status: :conflict
    else
      raise
    end
  end

  def return_page
    script = <<~JS
      const token = new URLSearchParams(location.hash.slice(1)).get("result_token");
      if (token) {
        const form = document.getElementById("result");
        form.result_token.value = token;
        history.replaceState(null, "", location.pathname + location.search);
        form.submit();
      }
    JS
    form = helpers.tag.form(id: "result", method: "post", action: mrrx_return_path) do
      helpers.hidden_field_tag(:authenticity_token, form_authenticity_token) +
        helpers.hidden_field_tag(:result_token, "")
    end
    page "Checking your result...", body: form + helpers.javascript_tag(script, nonce: true)
  end

  def verify
    result = mrrx.verify_result(params.require(:result_token))
    # A valid token of someone else's session is still not this user's result.
    if result["customer_id"] != current_subscriber.fetch(:customer_id)
      return page("Not your result", status: :forbidden)
    end

    action = result.dig("outcome", "action")
    headline = HEADLINES.fetch(action, action ? "Done: #{action}" : "Nothing changed")
    page headline, text: "Reference #{result['session_id']}"
  rescue Mrrx::Error => e
    raise unless e.code == "invalid_token"

    page "This result link is not valid", status: :bad_request
  end

  private

  def mrrx
    @mrrx ||= Mrrx::Api.new(api_key: ENV.fetch("MRRX_API_KEY"))
  end

  # Replace with your own sign-in: the signed-in user's Stripe ids, or nil, e.g.
  #   { user_id: current_user.id, customer_id: current_user.stripe_customer_id, ... }
  # This example signs everyone in as make run's demo subscriber.
  def current_subscriber
    customer_id, subscription_id = ENV.values_at("DEMO_CUSTOMER_ID", "DEMO_SUBSCRIPTION_ID")
    return nil unless customer_id && subscription_id

    { user_id: "demo-user", customer_id: customer_id, subscription_id: subscription_id }
  end

  def require_subscriber
    page "Sign in first", status: :unauthorized unless current_subscriber
  end

  # This app's /return; its origin must be on the workspace's return URL allowlist.
  def return_url
    ENV.fetch("APP_URL", request.base_url) + mrrx_return_path
  end

  def page(title, status: :ok, text: nil, body: nil)
    content = helpers.safe_join([helpers.tag.h1(title), text && helpers.tag.p(text), body].compact)
    render html: helpers.tag.html(helpers.tag.body(content)), status: status
  end
end
