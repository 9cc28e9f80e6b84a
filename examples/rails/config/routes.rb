# frozen_string_literal: true

# Add these to your config/routes.rb.
Rails.application.routes.draw do
  post "/cancel", to: "cancellations#create", as: :cancel
  get "/return", to: "cancellations#return_page", as: :mrrx_return
  post "/return", to: "cancellations#verify"
  post "/webhooks/mrrx", to: "mrrx_webhooks#create"
end
