# frozen_string_literal: true

class CreateMrrxEvents < ActiveRecord::Migration[7.1]
  def change
    create_table :mrrx_events do |t|
      t.string :event_id, null: false
      t.string :event_type, null: false
      t.timestamps
    end
    add_index :mrrx_events, :event_id, unique: true
  end
end
