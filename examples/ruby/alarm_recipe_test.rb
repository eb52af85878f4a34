# The Ruby recipe: ruby-pg and ActiveRecord 6.1 (Debian's) against a server with capquery, in minitest.
# A failed assertion is PG::AssertFailure (SQLSTATE P0004); ActiveRecord wraps it in StatementInvalid.
require "minitest/autorun"
require "securerandom"
require "pg"
require "active_record"

PANELS = 4
DB = {
  host: ENV.fetch("PGHOST"), port: ENV.fetch("PGPORT"),
  user: ENV.fetch("PGUSER", "postgres"), dbname: ENV.fetch("PGDATABASE", "postgres"),
}.freeze
AR_CONFIG = {
  adapter: "postgresql", host: DB[:host], port: DB[:port], username: DB[:user], database: DB[:dbname],
}.freeze

def pg_connect(**extra)
  PG.connect(**DB, **extra)
end

setup = pg_connect
setup.exec("SET client_min_messages = warning")
setup.exec("DROP TABLE IF EXISTS sensors, alarm_panels")
setup.exec("CREATE TABLE alarm_panels (id serial PRIMARY KEY, mac_address text NOT NULL)")
setup.exec("CREATE TABLE sensors (id serial PRIMARY KEY, " \
           "panel_id integer NOT NULL REFERENCES alarm_panels (id), kind text NOT NULL)")
(1..PANELS).each do |p|
  setup.exec_params("INSERT INTO alarm_panels (mac_address) VALUES ($1)", [format("00:11:22:33:44:%02d", p)])
  %w[door motion smoke].each { |k| setup.exec_params("INSERT INTO sensors (panel_id, kind) VALUES ($1, $2)", [p, k]) }
end
setup.close

ActiveRecord::Base.establish_connection(AR_CONFIG)

class AlarmPanel < ActiveRecord::Base
  has_many :sensors, foreign_key: :panel_id
end

class Sensor < ActiveRecord::Base
  belongs_to :alarm_panel, foreign_key: :panel_id
end

# An application pool of its own whose connections join captures labelled LABEL.
class JoinedRecord < ActiveRecord::Base
  self.abstract_class = true
end

module Workload
  # lazy: the panels, then each panel's sensors
  def self.lazy(conn)
    conn.exec("SELECT id FROM alarm_panels ORDER BY id").map do |p|
      conn.exec_params("SELECT id, kind FROM sensors WHERE panel_id = $1 ORDER BY id", [p["id"]]).ntuples
    end.sum
  end

  # eager: one JOIN
  def self.eager(conn)
    conn.exec("SELECT p.id, s.kind FROM alarm_panels p JOIN sensors s ON s.panel_id = p.id ORDER BY p.id, s.id").ntuples
  end
end

class AlarmRecipeTest < Minitest::Test
  def setup
    @conn = pg_connect   # the pinned connection that owns the captures
  end

  def teardown
    @conn.close
  end

  def captured(conn = @conn)
    conn.exec("SELECT kind, query FROM capq_queries() ORDER BY seq").map { |r| "#{r['kind']}: #{r['query']}" }
  end

  def test_pg_lazy_loading_raises_assert_failure
    @conn.exec("SELECT capq_begin()")
    assert_equal 3 * PANELS, Workload.lazy(@conn)
    @conn.exec("SELECT capq_end()")
    @conn.exec_params("SELECT capq_assert_count($1, 'select')", [1 + PANELS])

    e = assert_raises(PG::AssertFailure) { @conn.exec("SELECT capq_assert_no_repeats()") }
    r = e.result
    assert_equal "P0004", r.error_field(PG::PG_DIAG_SQLSTATE)
    # the server's own words: message, detail, hint
    puts e.message
    assert_match(/ran #{PANELS} times in phase 1, more than 1\z/, r.error_field(PG::PG_DIAG_MESSAGE_PRIMARY))
    assert_includes r.error_field(PG::PG_DIAG_MESSAGE_DETAIL), "SELECT id, kind FROM sensors WHERE panel_id = $1 ORDER BY id"
    assert_match(/\ALoad the related rows eagerly/, r.error_field(PG::PG_DIAG_MESSAGE_HINT))
  end

  def test_pg_eager_loading_passes
    @conn.exec("SELECT capq_begin()")
    assert_equal 3 * PANELS, Workload.eager(@conn)
    @conn.exec("SELECT capq_end()")
    @conn.exec("SELECT capq_assert_count(1, 'select')")
    @conn.exec("SELECT capq_assert_no_repeats()")
  end

  def test_pg_connections_join_by_label
    label = "ruby-pool-#{SecureRandom.hex(6)}"
    pool = Array.new(2) { pg_connect(options: "-c capquery.session=#{label}") }
    @conn.exec_params("SELECT capq_begin($1)", [label])
    pool.each { |c| Workload.lazy(c) }
    @conn.exec("SELECT capq_end()")
    @conn.exec_params("SELECT capq_assert_count($1, 'select')", [2 * (1 + PANELS)])
    assert_equal 2, @conn.exec("SELECT count(DISTINCT pid) FROM capq_queries()").getvalue(0, 0).to_i
    e = assert_raises(PG::AssertFailure) { @conn.exec("SELECT capq_assert_no_repeats()") }
    assert_match(/ran #{2 * PANELS} times in phase 1/, e.message)
  ensure
    pool&.each(&:close)
  end

  # ActiveRecord: capture on the model's own connection, after loading the
  # schema (column lookups would otherwise be captured too)
  def ar_capture
    # load (and cache) each model's columns and primary key first
    [AlarmPanel, Sensor].each { |m| m.columns_hash && m.primary_key }
    ar = ActiveRecord::Base.connection
    ar.execute("SELECT capq_begin()")
    begin
      yield
    ensure
      ar.execute("SELECT capq_end()")
    end
  end

  def test_active_record_lazy_loading_is_caught
    ar_capture { AlarmPanel.order(:id).each { |p| p.sensors.to_a } }
    ar = ActiveRecord::Base.connection
    ar.execute("SELECT capq_assert_count(#{1 + PANELS}, 'select')")
    e = assert_raises(ActiveRecord::StatementInvalid) { ar.execute("SELECT capq_assert_no_repeats()") }
    assert_kind_of PG::AssertFailure, e.cause
    assert_includes e.cause.result.error_field(PG::PG_DIAG_MESSAGE_DETAIL),
                    'SELECT "sensors".* FROM "sensors" WHERE "sensors"."panel_id" = $1'
  end

  def test_active_record_eager_loading_passes
    ar_capture do
      assert_equal 3 * PANELS, AlarmPanel.includes(:sensors).order(:id).flat_map(&:sensors).size   # 2 queries
      assert_equal 3 * PANELS, AlarmPanel.eager_load(:sensors).order(:id).flat_map(&:sensors).size # 1 JOIN
    end
    ar = ActiveRecord::Base.connection
    ar.execute("SELECT capq_assert_count(3, 'select')")
    ar.execute("SELECT capq_assert_no_repeats()")
  end

  def test_schema_loaded_inside_the_capture_is_captured_too
    fresh = Class.new(ActiveRecord::Base) { self.table_name = "sensors" }
    ar = ActiveRecord::Base.connection
    ar.schema_cache.clear!   # as in a new process: nothing known about the table yet
    ar.execute("SELECT capq_begin()")
    fresh.first
    ar.execute("SELECT capq_end()")
    queries = ar.select_values("SELECT query FROM capq_queries() ORDER BY seq")
    assert_operator queries.size, :>, 1
    assert queries.any? { |q| q.include?("pg_attribute") }, queries.inspect
  end

  # The query cache answers repeated SELECTs without the server: the
  # sql.active_record event fires (marked cached), capquery sees one statement.
  def test_query_cache_statements_never_reach_the_server
    events = []
    sub = ActiveSupport::Notifications.subscribe("sql.active_record") { |*, p| events << p unless p[:name] == "SCHEMA" }
    ar_capture { ActiveRecord::Base.cache { 3.times { AlarmPanel.find(2) } } }
    ActiveSupport::Notifications.unsubscribe(sub)
    finds = events.select { |p| p[:sql].start_with?('SELECT "alarm_panels"') }
    assert_equal [nil, true, true], finds.map { |p| p[:cached] }
    ActiveRecord::Base.connection.execute("SELECT capq_assert_count(1, 'select')")
  end

  # A pool that connects while a capture with its label is active: the
  # connect-time SETs and type lookups are captured (and are SCHEMA events),
  # and each checkout's SELECT 1 is captured with no event at all.
  def test_connect_time_sets_and_checkout_select_1
    label = "ruby-ar-#{SecureRandom.hex(6)}"
    JoinedRecord.establish_connection(AR_CONFIG.merge(options: "-c capquery.session=#{label}"))
    events = []
    sub = ActiveSupport::Notifications.subscribe("sql.active_record") { |*, p| events << p[:sql] }
    @conn.exec_params("SELECT capq_begin($1)", [label])
    JoinedRecord.connection.execute("SELECT 42")
    JoinedRecord.connection_pool.release_connection
    JoinedRecord.connection.execute("SELECT 42")
    @conn.exec("SELECT capq_end()")
    ActiveSupport::Notifications.unsubscribe(sub)
    got = captured
    assert_equal ["utility: SET client_min_messages TO 'warning'", "utility: SET standard_conforming_strings = on",
                  "utility: SET intervalstyle = iso_8601", "utility: SET SESSION timezone TO 'UTC'"], got.first(4)
    assert_equal ["select: SELECT 1", "select: SELECT 42", "select: SELECT 1", "select: SELECT 42"], got.last(4)
    refute_includes events, "SELECT 1"
    assert_equal got.size - 2, events.size   # every statement but the two SELECT 1 has its event
  ensure
    JoinedRecord.remove_connection
  end
end
