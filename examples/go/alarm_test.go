// The Go recipe: database/sql with lib/pq against a server with capquery.
// A pinned *sql.Conn owns each capture; a second pool joins it by label.
package alarm

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"
)

const panels = 4

// dsn is lib/pq's key/value form from the libpq environment (PGHOST may be a
// socket directory).  sslmode=disable: lib/pq's default, require, refuses a
// server without SSL (as test servers are) over TCP.  extra is appended, e.g.
// a quoted options='-c capquery.session=LABEL'.
func dsn(t *testing.T, extra string) string {
	host, port := os.Getenv("PGHOST"), os.Getenv("PGPORT")
	if host == "" || port == "" {
		t.Fatal("PGHOST and PGPORT must be exported (see test/run-all.sh)")
	}
	user, db := os.Getenv("PGUSER"), os.Getenv("PGDATABASE")
	if user == "" {
		user = "postgres"
	}
	if db == "" {
		db = "postgres"
	}
	return strings.TrimSpace(fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable %s", host, port, user, db, extra))
}

func open(t *testing.T, extra string) *sql.DB {
	db, err := sql.Open("postgres", dsn(t, extra))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// pinned returns one connection of db, held for the test: a capture belongs
// to the backend that began it, and database/sql would otherwise hand each
// query to any connection of its pool.
func pinned(t *testing.T, db *sql.DB) *sql.Conn {
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func exec(t *testing.T, q Querier, query string, args ...interface{}) {
	t.Helper()
	if _, err := q.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// assertFailure returns the *pq.Error of a failed capquery assertion
// (SQLSTATE P0004), failing the test for any other outcome.
func assertFailure(t *testing.T, err error) *pq.Error {
	t.Helper()
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "P0004" {
		t.Fatalf("want a P0004 *pq.Error, got %v", err)
	}
	return pqErr
}

func TestMain(m *testing.M) {
	db, err := sql.Open("postgres", dsn(&testing.T{}, ""))
	if err == nil {
		err = Schema(context.Background(), db, panels)
		db.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "schema:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func TestLazyLoadingIsCaughtOnAPinnedConn(t *testing.T) {
	ctx := context.Background()
	conn := pinned(t, open(t, ""))
	exec(t, conn, "SELECT capq_begin()")
	loaded, err := LoadLazy(ctx, conn)
	exec(t, conn, "SELECT capq_end()")
	if err != nil || len(loaded) != panels || len(loaded[0].Sensors) != 3 {
		t.Fatalf("lazy load: %v, %d panels", err, len(loaded))
	}
	exec(t, conn, "SELECT capq_assert_count($1, 'select')", 1+panels)

	_, err = conn.ExecContext(ctx, "SELECT capq_assert_no_repeats()")
	pqErr := assertFailure(t, err)
	// the server's own words: the repeated shape and its parameters
	t.Logf("capq_assert_no_repeats: %s\nDETAIL: %s\nHINT: %s", pqErr.Message, pqErr.Detail, pqErr.Hint)
	if want := fmt.Sprintf("ran %d times in phase 1, more than 1", panels); !strings.HasSuffix(pqErr.Message, want) {
		t.Errorf("message %q does not end with %q", pqErr.Message, want)
	}
	if !strings.Contains(pqErr.Detail, "SELECT id, kind FROM sensors WHERE panel_id = $1 ORDER BY id") {
		t.Errorf("detail does not show the repeated statement: %s", pqErr.Detail)
	}

	_, err = conn.ExecContext(ctx, "SELECT capq_assert_max(2, 'select')")
	pqErr = assertFailure(t, err)
	if !strings.Contains(pqErr.Detail, "5. [phase 1] SELECT id, kind FROM sensors WHERE panel_id = $1 ORDER BY id ($1 = '4')") ||
		!strings.HasPrefix(pqErr.Hint, fmt.Sprintf("Statement shape repeated %d times in phase 1 (a likely N+1)", panels)) {
		t.Errorf("capq_assert_max: %s\nDETAIL: %s\nHINT: %s", pqErr.Message, pqErr.Detail, pqErr.Hint)
	}
}

func TestEagerLoadingPasses(t *testing.T) {
	ctx := context.Background()
	conn := pinned(t, open(t, ""))
	exec(t, conn, "SELECT capq_begin()")
	loaded, err := LoadEager(ctx, conn)
	exec(t, conn, "SELECT capq_end()")
	if err != nil || len(loaded) != panels || len(loaded[panels-1].Sensors) != 3 {
		t.Fatalf("eager load: %v, %d panels", err, len(loaded))
	}
	exec(t, conn, "SELECT capq_assert_count(1, 'select')")
	exec(t, conn, "SELECT capq_assert_no_repeats()")
}

// An application pool joins the capture through capquery.session.  In the
// key/value form the options value has a space, so it must be quoted.
func TestPoolJoinedByLabel(t *testing.T) {
	ctx := context.Background()
	label := fmt.Sprintf("go-pool-%d", time.Now().UnixNano())
	app := open(t, fmt.Sprintf("options='-c capquery.session=%s'", label))
	app.SetMaxOpenConns(3)
	owner := pinned(t, open(t, ""))

	exec(t, owner, "SELECT capq_begin($1)", label)
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { _, err := LoadLazy(ctx, app); errs <- err }()
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	exec(t, owner, "SELECT capq_phase('eager')")
	if _, err := LoadEager(ctx, app); err != nil {
		t.Fatal(err)
	}
	exec(t, owner, "SELECT capq_end()")

	exec(t, owner, "SELECT capq_assert_count($1, 'select')", 3*(1+panels)+1)
	_, err := owner.ExecContext(ctx, "SELECT capq_assert_no_repeats()")
	pqErr := assertFailure(t, err)
	if want := fmt.Sprintf("ran %d times in phase 1", 3*panels); !strings.Contains(pqErr.Message, want) {
		t.Errorf("%q does not say %q", pqErr.Message, want)
	}
	var pids int
	if err := owner.QueryRowContext(ctx, "SELECT count(DISTINCT pid) FROM capq_queries() WHERE pid <> pg_backend_pid()").Scan(&pids); err != nil || pids < 1 {
		t.Errorf("pool backends: %d, %v", pids, err)
	}
}

// Unquoted, the space ends the value: lib/pq sends options "-c" alone, and
// the server refuses the connection ("invalid command-line argument for
// server process: -c").
func TestUnquotedOptionsAreRefused(t *testing.T) {
	db := open(t, "options=-c capquery.session=go-unquoted")
	err := db.PingContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "invalid command-line argument for server process: -c") {
		t.Fatalf("want the server's refusal of options=-c, got %v", err)
	}
}

// lib/pq starts every BeginTx transaction with BEGIN READ WRITE (or READ
// ONLY): a snapshot or an assertion on the text sees that, not BEGIN.
func TestBeginTxSendsBeginReadWrite(t *testing.T) {
	ctx := context.Background()
	conn := pinned(t, open(t, ""))
	exec(t, conn, "SELECT capq_begin()")
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, tx, "UPDATE alarm_panels SET mac_address = mac_address WHERE id = $1", 1)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	exec(t, conn, "SELECT capq_end()")
	rows, err := conn.QueryContext(ctx, "SELECT kind, query FROM capq_queries() ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var kind, query string
		if err := rows.Scan(&kind, &query); err != nil {
			t.Fatal(err)
		}
		got = append(got, kind+": "+query)
	}
	want := []string{"transaction: BEGIN READ WRITE",
		"update: UPDATE alarm_panels SET mac_address = mac_address WHERE id = $1", "transaction: COMMIT"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("captured\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// db.Begin() goes through BeginTx as well: on a pool joined by label, the
// transaction's first statement is BEGIN READ WRITE too.
func TestPoolBeginSendsBeginReadWrite(t *testing.T) {
	ctx := context.Background()
	label := fmt.Sprintf("go-begin-%d", time.Now().UnixNano())
	app := open(t, fmt.Sprintf("options='-c capquery.session=%s'", label))
	owner := pinned(t, open(t, ""))
	exec(t, owner, "SELECT capq_begin($1)", label)
	tx, err := app.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	exec(t, owner, "SELECT capq_end()")
	var got string
	if err := owner.QueryRowContext(ctx, "SELECT string_agg(query, '; ' ORDER BY seq) FROM capq_queries()").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "BEGIN READ WRITE; ROLLBACK" {
		t.Errorf("captured %q", got)
	}
}

// Over TCP, lib/pq's default sslmode (require) cannot reach a server without SSL.
func TestDefaultSSLModeFailsAgainstATestServer(t *testing.T) {
	db, err := sql.Open("postgres", fmt.Sprintf("host=127.0.0.1 port=%s user=postgres dbname=postgres", os.Getenv("PGPORT")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.PingContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "SSL is not enabled on the server") {
		t.Fatalf("want pq's SSL refusal, got %v", err)
	}
}
