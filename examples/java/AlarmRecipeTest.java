// The Java recipe: pgjdbc (Debian's libpostgresql-jdbc-java) and JUnit 5 against a server with capquery.
// One pinned Connection owns each capture; pooled connections join it with options=-c capquery.session=LABEL.

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

class AlarmRecipeTest {
  static final int PANELS = 4;
  static final String PANELS_SQL = "SELECT id, mac_address FROM alarm_panels ORDER BY id";
  static final String SENSORS_SQL = "SELECT id, kind FROM sensors WHERE panel_id = ? ORDER BY id";
  static final String EAGER_SQL = "SELECT p.id, p.mac_address, s.id, s.kind FROM alarm_panels p "
      + "JOIN sensors s ON s.panel_id = p.id ORDER BY p.id, s.id";

  Connection conn;   // the pinned connection that owns the captures

  // jdbc:postgresql URL from the libpq environment; a socket directory in
  // PGHOST is not something pgjdbc can use, so it connects over TCP to
  // CAPQ_TCP_HOST (127.0.0.1), where the test server also listens.
  static String url() {
    String host = System.getenv().getOrDefault("CAPQ_TCP_HOST", "127.0.0.1");
    String port = System.getenv("PGPORT");
    String db = System.getenv().getOrDefault("PGDATABASE", "postgres");
    if (port == null) throw new IllegalStateException("PGPORT must be exported (see test/run-all.sh)");
    return "jdbc:postgresql://" + host + ":" + port + "/" + db;
  }

  static Connection connect(Properties extra) throws SQLException {
    Properties p = new Properties();
    p.setProperty("user", System.getenv().getOrDefault("PGUSER", "postgres"));
    p.putAll(extra);
    return DriverManager.getConnection(url(), p);
  }

  static Connection connect() throws SQLException { return connect(new Properties()); }

  static Properties props(String... kv) {
    Properties p = new Properties();
    for (int i = 0; i < kv.length; i += 2) p.setProperty(kv[i], kv[i + 1]);
    return p;
  }

  static void exec(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement()) { st.execute(sql); }
  }

  static String one(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getString(1);
    }
  }

  static List<String> captured(Connection c) throws SQLException {
    List<String> out = new ArrayList<>();
    try (Statement st = c.createStatement();
         ResultSet rs = st.executeQuery("SELECT kind, query FROM capq_queries() ORDER BY seq")) {
      while (rs.next()) out.add(rs.getString(1) + ": " + rs.getString(2));
    }
    return out;
  }

  // The PSQLException of a failed capquery assertion: SQLSTATE P0004.
  static PSQLException assertFailure(Connection c, String sql) {
    PSQLException e = assertThrows(PSQLException.class, () -> exec(c, sql));
    assertEquals("P0004", e.getSQLState(), e.getMessage());
    return e;
  }

  // Lazy: the panels, then each one's sensors (1 + N queries).
  static int loadLazy(Connection c) throws SQLException {
    List<Integer> ids = new ArrayList<>();
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(PANELS_SQL)) {
      while (rs.next()) ids.add(rs.getInt(1));
    }
    int sensors = 0;
    try (PreparedStatement ps = c.prepareStatement(SENSORS_SQL)) {
      for (int id : ids) {
        ps.setInt(1, id);
        try (ResultSet rs = ps.executeQuery()) { while (rs.next()) sensors++; }
      }
    }
    return sensors;
  }

  // Eager: one JOIN.
  static int loadEager(Connection c) throws SQLException {
    int sensors = 0;
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(EAGER_SQL)) {
      while (rs.next()) sensors++;
    }
    return sensors;
  }

  @BeforeAll
  static void schema() throws SQLException {
    try (Connection c = connect()) {
      exec(c, "DROP TABLE IF EXISTS sensors, alarm_panels");
      exec(c, "CREATE TABLE alarm_panels (id serial PRIMARY KEY, mac_address text NOT NULL)");
      exec(c, "CREATE TABLE sensors (id serial PRIMARY KEY, "
          + "panel_id integer NOT NULL REFERENCES alarm_panels (id), kind text NOT NULL)");
      for (int p = 1; p <= PANELS; p++) {
        exec(c, String.format("INSERT INTO alarm_panels (mac_address) VALUES ('00:11:22:33:44:%02d')", p));
        exec(c, "INSERT INTO sensors (panel_id, kind) VALUES (" + p + ", 'door'), (" + p + ", 'motion'), ("
            + p + ", 'smoke')");
      }
    }
  }

  @BeforeEach
  void pin() throws SQLException { conn = connect(); }

  @AfterEach
  void unpin() throws SQLException { conn.close(); }

  @Test
  void lazyLoadingIsCaught() throws SQLException {
    exec(conn, "SELECT capq_begin()");
    assertEquals(3 * PANELS, loadLazy(conn));
    exec(conn, "SELECT capq_end()");
    exec(conn, "SELECT capq_assert_count(" + (1 + PANELS) + ", 'select')");

    PSQLException e = assertFailure(conn, "SELECT capq_assert_no_repeats()");
    ServerErrorMessage m = e.getServerErrorMessage();   // the server's message, detail and hint, unchanged
    System.out.println("capq_assert_no_repeats: " + m.getMessage() + "\nDETAIL: " + m.getDetail() + "\nHINT: " + m.getHint());
    assertTrue(m.getMessage().endsWith("ran " + PANELS + " times in phase 1, more than 1"), m.getMessage());
    assertTrue(m.getDetail().contains("SELECT id, kind FROM sensors WHERE panel_id = $1 ORDER BY id"), m.getDetail());
  }

  @Test
  void eagerLoadingPasses() throws SQLException {
    exec(conn, "SELECT capq_begin()");
    assertEquals(3 * PANELS, loadEager(conn));
    exec(conn, "SELECT capq_end()");
    exec(conn, "SELECT capq_assert_count(1, 'select')");
    exec(conn, "SELECT capq_assert_no_repeats()");
  }

  // Two pooled connections join by label; the owner only calls capq_*.
  @Test
  void twoPooledConnectionsJoinByLabel() throws SQLException {
    String label = "java-pool-" + UUID.randomUUID();
    Properties joined = props("options", "-c capquery.session=" + label, "assumeMinServerVersion", "15");
    try (Connection a = connect(joined); Connection b = connect(joined)) {
      exec(conn, "SELECT capq_begin('" + label + "')");
      loadLazy(a);
      loadLazy(b);
      exec(conn, "SELECT capq_phase('eager')");
      loadEager(a);
      exec(conn, "SELECT capq_end()");
      exec(conn, "SELECT capq_assert_count(" + (2 * (1 + PANELS) + 1) + ", 'select')");
      assertEquals("2", one(conn, "SELECT count(DISTINCT pid) FROM capq_queries()"));
      PSQLException e = assertFailure(conn, "SELECT capq_assert_no_repeats()");
      assertTrue(e.getServerErrorMessage().getMessage().contains("ran " + 2 * PANELS + " times in phase 1"));
    }
  }

  // A connection that joins at connect shows pgjdbc's own start-up SETs;
  // assumeMinServerVersion=9.0 or later sends them in the start-up packet instead.
  @Test
  void connectTimeSetsAreRecordedUnlessAssumeMinServerVersion() throws SQLException {
    String label = "java-connect-" + UUID.randomUUID();
    exec(conn, "SELECT capq_begin('" + label + "')");
    try (Connection plain = connect(props("options", "-c capquery.session=" + label));
         Connection assumed = connect(props("options", "-c capquery.session=" + label,
             "assumeMinServerVersion", "9.0"))) {
      assertTrue(plain.isValid(1) && assumed.isValid(1));
    }
    exec(conn, "SELECT capq_end()");
    assertEquals(List.of("utility: SET extra_float_digits = 3",
        "utility: SET application_name = 'PostgreSQL JDBC Driver'"), captured(conn));
  }

  // With autocommit off pgjdbc sends BEGIN before the first statement of each
  // transaction, a capq_* call included: that BEGIN is captured.
  @Test
  void autocommitOffCapturesTheBeginBeforeACapqCall() throws SQLException {
    conn.setAutoCommit(false);
    exec(conn, "SELECT capq_begin()");   // BEGIN, then capq_begin: the BEGIN ran before the capture
    conn.commit();
    exec(conn, "SELECT capq_count()");   // BEGIN (captured), then capq_count (not)
    conn.commit();
    exec(conn, "SELECT capq_end()");
    conn.commit();
    // the first BEGIN ran before capq_begin; the next two precede capq_count and capq_end
    assertEquals(List.of("transaction: COMMIT", "transaction: BEGIN", "transaction: COMMIT",
        "transaction: BEGIN"), captured(conn));
  }

  // setFetchSize with autocommit off reads through a portal in batches: one statement all the same.
  @Test
  void fetchSizeBatchesCountOnce() throws SQLException {
    conn.setAutoCommit(false);
    exec(conn, "SELECT capq_begin()");
    int rows = 0;
    try (PreparedStatement ps = conn.prepareStatement(EAGER_SQL)) {
      ps.setFetchSize(2);
      try (ResultSet rs = ps.executeQuery()) { while (rs.next()) rows++; }
    }
    conn.commit();
    exec(conn, "SELECT capq_end()");
    conn.commit();
    assertEquals(3 * PANELS, rows);
    // one SELECT (fetched 2 rows at a time), in the transaction capq_begin's BEGIN opened
    assertEquals(List.of("select: " + EAGER_SQL, "transaction: COMMIT", "transaction: BEGIN"), captured(conn));
    exec(conn, "SELECT capq_assert_count(1, 'select')");
    assertEquals(String.valueOf(3 * PANELS), one(conn, "SELECT rows FROM capq_queries() WHERE kind = 'select'"));
  }

  // prepareThreshold=1: server-side prepared from the first execution; each execution is still one entry.
  @Test
  void serverPreparedStatementsCountEachExecution() throws SQLException {
    try (Connection c = connect(props("prepareThreshold", "1"))) {
      exec(c, "SELECT capq_begin()");
      assertEquals(3 * PANELS, loadLazy(c));
      exec(c, "SELECT capq_end()");
      exec(c, "SELECT capq_assert_count(" + (1 + PANELS) + ", 'select')");
      assertFailure(c, "SELECT capq_assert_no_repeats()");
      assertEquals("$1 = '4'", one(c, "SELECT params FROM capq_queries() ORDER BY seq DESC LIMIT 1"));
    }
  }

  // A JDBC batch is one execution per row; reWriteBatchedInserts folds them into multi-row INSERTs.
  @Test
  void batchesCountEachStatement() throws SQLException {
    for (boolean rewrite : new boolean[] {false, true}) {
      try (Connection c = connect(props("reWriteBatchedInserts", String.valueOf(rewrite)))) {
        exec(c, "CREATE TEMP TABLE readings (sensor_id int, value float8)");
        exec(c, "SELECT capq_begin()");
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO readings (sensor_id, value) VALUES (?, ?)")) {
          for (int i = 1; i <= 8; i++) {
            ps.setInt(1, i);
            ps.setDouble(2, i / 2.0);
            ps.addBatch();
          }
          ps.executeBatch();
        }
        exec(c, "SELECT capq_end()");
        assertEquals("8", one(c, "SELECT count(*) FROM readings"));
        // without rewriting: 8 INSERTs; rewritten: 8 rows in one multi-row INSERT
        exec(c, "SELECT capq_assert_count(" + (rewrite ? 1 : 8) + ", 'insert')");
        if (!rewrite) assertFailure(c, "SELECT capq_assert_no_repeats()");
      }
    }
  }

  // preferQueryMode=simple inlines values, with casts, so the snapshot differs from the extended protocol's.
  @Test
  void simpleQueryModeSnapshotsDiffer() throws SQLException {
    String extended = snapshotOfOneLookup(connect());
    String simple = snapshotOfOneLookup(connect(props("preferQueryMode", "simple")));
    System.out.println("extended protocol:\n" + extended + "\npreferQueryMode=simple:\n" + simple);
    assertNotEquals(extended, simple);
    assertTrue(extended.contains("SELECT id, kind FROM sensors WHERE panel_id = $1 ORDER BY id"), extended);
    assertTrue(simple.contains("SELECT id, kind FROM sensors WHERE panel_id = ($1::int4) ORDER BY id"), simple);
  }

  static String snapshotOfOneLookup(Connection c) throws SQLException {
    try (c) {
      exec(c, "SELECT capq_begin()");
      try (PreparedStatement ps = c.prepareStatement(SENSORS_SQL)) {
        ps.setInt(1, 2);
        ps.executeQuery().close();
      }
      exec(c, "SELECT capq_end()");
      return one(c, "SELECT capq_snapshot()");
    }
  }
}
