# frozen_string_literal: true

require_relative "../../lib/mrrx/webhook"

# POST /webhooks/mrrx: MRRX's webhooks. ActionController::API has no CSRF check, and the
# signature is verified on the raw body before anything is parsed or done.
class MrrxWebhooksController < ActionController::API
  def create
    secrets = ENV.fetch("MRRX_WEBHOOK_SECRET").split(",") # two while you rotate
    event = Mrrx::Webhook.verify!(request.raw_post, request.headers, secrets)
    receive_once(event)
    render json: { received: true }
  rescue Mrrx::Webhook::VerificationError => e
    render json: { error: e.message }, status: :bad_request
  end

  private

  # MRRX retries a delivery until it gets a 2xx, so an event can come twice: the unique
  # index on mrrx_events.event_id lets one through. An exception rolls the row back and
  # answers 500, and MRRX delivers the event again later.
  def receive_once(event)
    MrrxEvent.transaction do
      MrrxEvent.create!(event_id: event.fetch("id"), event_type: event.fetch("type"))
      handle(event)
    end
  rescue ActiveRecord::RecordNotUnique
    Rails.logger.info("MRRX: #{event['id']} handled before")
  end

  def handle(event)
    data = event.fetch("data")
    case event.fetch("type")
    when "session.completed"
      # e.g. note the outcome on the account of data.dig("metadata", "user_id")
      Rails.logger.info("MRRX: session #{data['session_id']} ended with #{data['action']}")
    when "subscription.canceled"
      # e.g. schedule the end of access at the period's end
      Rails.logger.info("MRRX: subscription #{data['subscription_id']} canceled")
    else
      Rails.logger.info("MRRX: #{event['type']} #{event['id']}")
    end
  end
end
