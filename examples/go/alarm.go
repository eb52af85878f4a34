// Package alarm is the AlarmPanel/Sensor workload of the Go recipe: a panel
// has many sensors, loaded lazily (1 + N SELECTs) or eagerly (one JOIN).
package alarm

import (
	"context"
	"database/sql"
	"fmt"
)

// Sensor belongs to one AlarmPanel.
type Sensor struct {
	ID   int
	Kind string
}

// AlarmPanel and the sensors loaded with it.
type AlarmPanel struct {
	ID         int
	MACAddress string
	Sensors    []Sensor
}

// Querier is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...interface{}) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...interface{}) (sql.Result, error)
}

// Schema creates the two tables, with `panels` panels of three sensors each.
func Schema(ctx context.Context, q Querier, panels int) error {
	stmts := []string{
		"DROP TABLE IF EXISTS sensors, alarm_panels",
		"CREATE TABLE alarm_panels (id serial PRIMARY KEY, mac_address text NOT NULL)",
		"CREATE TABLE sensors (id serial PRIMARY KEY, panel_id integer NOT NULL REFERENCES alarm_panels (id), kind text NOT NULL)",
	}
	for _, s := range stmts {
		if _, err := q.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	for p := 1; p <= panels; p++ {
		if _, err := q.ExecContext(ctx, "INSERT INTO alarm_panels (mac_address) VALUES ($1)",
			fmt.Sprintf("00:11:22:33:44:%02d", p)); err != nil {
			return err
		}
		for _, kind := range []string{"door", "motion", "smoke"} {
			if _, err := q.ExecContext(ctx, "INSERT INTO sensors (panel_id, kind) VALUES ($1, $2)", p, kind); err != nil {
				return err
			}
		}
	}
	return nil
}

// LoadLazy reads the panels, then each panel's sensors: 1 + N queries.
func LoadLazy(ctx context.Context, q Querier) ([]AlarmPanel, error) {
	rows, err := q.QueryContext(ctx, "SELECT id, mac_address FROM alarm_panels ORDER BY id")
	if err != nil {
		return nil, err
	}
	var panels []AlarmPanel
	for rows.Next() {
		var p AlarmPanel
		if err := rows.Scan(&p.ID, &p.MACAddress); err != nil {
			rows.Close()
			return nil, err
		}
		panels = append(panels, p)
	}
	rows.Close()
	for i := range panels {
		srows, err := q.QueryContext(ctx, "SELECT id, kind FROM sensors WHERE panel_id = $1 ORDER BY id", panels[i].ID)
		if err != nil {
			return nil, err
		}
		for srows.Next() {
			var s Sensor
			if err := srows.Scan(&s.ID, &s.Kind); err != nil {
				srows.Close()
				return nil, err
			}
			panels[i].Sensors = append(panels[i].Sensors, s)
		}
		srows.Close()
	}
	return panels, nil
}

// LoadEager reads the panels and their sensors in one JOIN.
func LoadEager(ctx context.Context, q Querier) ([]AlarmPanel, error) {
	rows, err := q.QueryContext(ctx, "SELECT p.id, p.mac_address, s.id, s.kind "+
		"FROM alarm_panels p JOIN sensors s ON s.panel_id = p.id ORDER BY p.id, s.id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var panels []AlarmPanel
	for rows.Next() {
		var p AlarmPanel
		var s Sensor
		if err := rows.Scan(&p.ID, &p.MACAddress, &s.ID, &s.Kind); err != nil {
			return nil, err
		}
		if n := len(panels); n == 0 || panels[n-1].ID != p.ID {
			panels = append(panels, p)
		}
		panels[len(panels)-1].Sensors = append(panels[len(panels)-1].Sensors, s)
	}
	return panels, rows.Err()
}
