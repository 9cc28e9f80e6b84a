# frozen_string_literal: true

require "base64"
require "json"
require "openssl"

module Mrrx
  # Verifies MRRX's webhook deliveries, in plain Ruby (OpenSSL). Each delivery carries two
  # signatures:
  #
  # - Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature: "v1,<base64>"):
  #   HMAC-SHA256 of "<id>.<timestamp>.<body>" keyed with the base64 part of the secret
  #   after "whsec_". The timestamp is signed, so an old delivery replayed later is refused.
  # - X-MRRX-Signature: "t=<unix>,v1=<hex>": HMAC-SHA256 of the body alone, keyed with the
  #   whole "whsec_..." string. Its t is not signed, so it cannot tell a replay from a retry.
  #
  # The Standard Webhooks headers are checked when they are there, X-MRRX-Signature
  # otherwise. Either way, record events by their id and skip one seen before.
  module Webhook
    class VerificationError < StandardError; end

    SECRET_PREFIX = "whsec_"
    DEFAULT_TOLERANCE = 300 # seconds either side of now

    module_function

    # The event (a Hash) once the signature over the raw body checks out with one of the
    # secrets (two while you rotate). +headers+ is a Hash or Rails' request.headers.
    # Raises VerificationError otherwise; answer that with 400 and do nothing.
    def verify!(body, headers, secrets, tolerance: DEFAULT_TOLERANCE, now: Time.now.to_i)
      secrets = Array(secrets)
      unless !secrets.empty? && secrets.all? { |s| s.start_with?(SECRET_PREFIX) }
        raise VerificationError, "the webhook secret must be the endpoint's whsec_... key"
      end

      header = header_reader(headers)
      if header.call("webhook-signature")
        verify_standard(body, header, secrets, tolerance, now)
      elsif header.call("x-mrrx-signature")
        verify_mrrx(body, header.call("x-mrrx-signature"), secrets, tolerance, now)
      else
        raise VerificationError, "no webhook-signature or X-MRRX-Signature header"
      end
      parse_event(body)
    end

    def verify_standard(body, header, secrets, tolerance, now)
      id = header.call("webhook-id")
      timestamp = header.call("webhook-timestamp")
      raise VerificationError, "webhook-id or webhook-timestamp is missing" unless id && timestamp

      check_timestamp(timestamp, tolerance, now)
      signed = "#{id}.#{timestamp}.#{body}"
      sent = header.call("webhook-signature").split(" ").filter_map do |part|
        part.delete_prefix("v1,") if part.start_with?("v1,")
      end
      matched = secrets.any? do |secret|
        key = Base64.strict_decode64(secret.delete_prefix(SECRET_PREFIX))
        expected = Base64.strict_encode64(OpenSSL::HMAC.digest("SHA256", key, signed))
        sent.any? { |signature| secure_compare(expected, signature) }
      end
      raise VerificationError, "no webhook-signature matches the body and secret" unless matched
    end

    def verify_mrrx(body, value, secrets, tolerance, now)
      parts = value.split(",").map { |part| part.strip.split("=", 2) }
      timestamp = parts.find { |name, _| name == "t" }&.last
      raise VerificationError, "X-MRRX-Signature has no timestamp (t=)" unless timestamp

      check_timestamp(timestamp, tolerance, now)
      sent = parts.select { |name, _| name == "v1" }.map(&:last)
      matched = secrets.any? do |secret|
        expected = OpenSSL::HMAC.hexdigest("SHA256", secret, body)
        sent.any? { |signature| secure_compare(expected, signature) }
      end
      raise VerificationError, "no X-MRRX-Signature matches the body and secret" unless matched
    end

    def check_timestamp(value, tolerance, now)
      unless value.match?(/\A\d+\z/)
        raise VerificationError, "the timestamp #{value.inspect} is not Unix seconds"
      end
      return if (now - value.to_i).abs <= tolerance

      raise VerificationError,
            "the timestamp is #{now - value.to_i} s from now, outside #{tolerance} s"
    end

    # Constant time for equal lengths; a length differs only for a malformed signature.
    def secure_compare(expected, given)
      expected.bytesize == given.bytesize && OpenSSL.fixed_length_secure_compare(expected, given)
    end

    def parse_event(body)
      event = JSON.parse(body)
      unless event.is_a?(Hash) && %w[id type data].all? { |key| event.key?(key) }
        raise VerificationError, "the body is not an MRRX event"
      end

      event
    rescue JSON::ParserError
      raise VerificationError, "the body is not JSON"
    end

    # Header names either way: a Hash with any case, or Rails' request.headers (which
    # finds "webhook-signature" as HTTP_WEBHOOK_SIGNATURE).
    def header_reader(headers)
      if headers.is_a?(Hash)
        lowered = headers.to_h { |name, value| [name.to_s.downcase, value] }
        ->(name) { lowered[name] }
      else
        ->(name) { headers[name] }
      end
    end
  end
end
