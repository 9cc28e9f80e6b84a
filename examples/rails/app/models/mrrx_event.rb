# frozen_string_literal: true

# One row per MRRX event handled, so that a retried delivery is handled once.
class MrrxEvent < ApplicationRecord
end
