# frozen_string_literal: true

require "json"
require "net/http"
require "securerandom"
require "uri"

module Mrrx
  # An API error: +code+ is the API's error code ("session_already_exists"), and the message
  # begins with it. Branch on the code, never on the sentence after it.
  class Error < StandardError
    attr_reader :code, :status, :details, :request_id

    def initialize(message, code:, status: nil, details: {}, request_id: nil)
      super(message)
      @code = code
      @status = status
      @details = details
      @request_id = request_id
    end
  end

  # The two calls a Rails app makes, with net/http and no gem: create a cancellation session,
  # and verify the result token the subscriber comes back with.
  class Api
    MAX_RETRIES = 2
    MAX_RETRY_AFTER = 60 # seconds; a 429 asking for longer is raised at once

    def initialize(api_key:, base_url: ENV.fetch("MRRX_BASE_URL", "http://localhost:8000"))
      @api_key = api_key
      @base_url = base_url
    end

    # A cancellation session; redirect the subscriber to its "url". The Idempotency-Key is
    # reused by the retries below, so a retried create acts once.
    def create_session(customer_id:, subscription_id: nil, return_url: nil, metadata: {})
      body = {
        customer_id: customer_id,
        subscription_id: subscription_id,
        return_url: return_url,
        metadata: metadata
      }.compact
      post("/api/v1/sessions", body, idempotency_key: SecureRandom.uuid)
    end

    # The trusted outcome behind the "#result_token=" of the return URL. The token is the
    # credential (no API key), and verifying twice changes nothing.
    def verify_result(token)
      post("/api/v1/results/verify", { token: token }, authorized: false, retry_unsure: true)
    end

    private

    def post(path, body, idempotency_key: nil, authorized: true,
             retry_unsure: !idempotency_key.nil?)
      uri = URI.join(@base_url, path)
      attempt = 0
      loop do
        response = send_post(uri, body, idempotency_key, authorized)
        return JSON.parse(response.body) if response.is_a?(Net::HTTPSuccess)

        error = error_from(response)
        wait = retry_delay(response, attempt, retry_unsure)
        raise error if wait.nil?

        sleep(wait)
        attempt += 1
      end
    end

    def send_post(uri, body, idempotency_key, authorized)
      request = Net::HTTP::Post.new(uri)
      request["Content-Type"] = "application/json"
      request["Accept"] = "application/json"
      request["Authorization"] = "Bearer #{@api_key}" if authorized
      request["Idempotency-Key"] = idempotency_key if idempotency_key
      request.body = JSON.generate(body)
      Net::HTTP.start(uri.host, uri.port, use_ssl: uri.scheme == "https",
                                          open_timeout: 5, read_timeout: 30) do |http|
        http.request(request)
      end
    end

    # Seconds to wait before trying again, or nil to raise. A 429 ran nothing, so it is
    # always worth another try; a 5xx only when the server de-duplicates the retry.
    def retry_delay(response, attempt, retry_unsure)
      return nil if attempt >= MAX_RETRIES

      status = response.code.to_i
      if status == 429
        asked = response["Retry-After"].to_s
        wait = asked.match?(/\A\d+\z/) ? asked.to_i : 2**attempt
        return wait <= MAX_RETRY_AFTER ? wait : nil
      end
      retry_unsure && status >= 500 ? 0.5 * (2**attempt) : nil
    end

    def error_from(response)
      error = begin
        JSON.parse(response.body).fetch("error")
      rescue JSON::ParserError, KeyError, TypeError
        nil
      end
      status = response.code.to_i
      request_id = response["X-Request-ID"]
      unless error.is_a?(Hash)
        return Error.new("unexpected_response: HTTP #{status}",
                         code: "unexpected_response", status: status, request_id: request_id)
      end

      Error.new(error["message"], code: error["code"], status: status,
                                  details: error["details"] || {}, request_id: request_id)
    end
  end
end
