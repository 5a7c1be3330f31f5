package store

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tetherim/tether/shared/switches"
)

// Live switches (sql/*/00007_switches.sql). Every change first increments
// the one row of switch_version: its row lock serialises changes, so the
// versions grow in commit order.

type switchRow struct {
	Name      string    `gorm:"column:name;primaryKey"`
	Value     string    `gorm:"column:value"`
	Rules     string    `gorm:"column:rules"`
	UpdatedBy string    `gorm:"column:updated_by"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
	Version   int64     `gorm:"column:version"`
}

func (switchRow) TableName() string { return "switches" }

type switchChangeRow struct {
	ID        int64     `gorm:"column:id;primaryKey;autoIncrement:false"`
	Name      string    `gorm:"column:name"`
	OldValue  string    `gorm:"column:old_value"`
	NewValue  string    `gorm:"column:new_value"`
	OldRules  string    `gorm:"column:old_rules"`
	NewRules  string    `gorm:"column:new_rules"`
	Actor     string    `gorm:"column:actor"`
	Reason    string    `gorm:"column:reason"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

func (switchChangeRow) TableName() string { return "switch_changes" }

// SwitchStore implements switches.Store on the database.
type SwitchStore struct{ db *DB }

var _ switches.Store = (*SwitchStore)(nil)

// NewSwitchStore returns the switch store.
func NewSwitchStore(db *DB) *SwitchStore { return &SwitchStore{db: db} }

func encodeRules(r *switches.Rules) string {
	if r.Empty() {
		return ""
	}
	b, _ := json.Marshal(r) // plain data: cannot fail
	return string(b)
}

func decodeRules(s string) *switches.Rules {
	if s == "" {
		return nil
	}
	var r switches.Rules
	if json.Unmarshal([]byte(s), &r) != nil {
		return nil // written by encodeRules; unreadable only if edited by hand
	}
	return &r
}

// Snapshot implements switches.Store. It reads the version before the rows,
// so a change committed in between can only make the rows newer than the
// version says, never older.
func (s *SwitchStore) Snapshot(ctx context.Context) (*switches.Snapshot, error) {
	g := s.db.g.WithContext(ctx)
	var version int64
	if err := g.Table("switch_version").Select("version").Where("id = 1").Scan(&version).Error; err != nil {
		return nil, err
	}
	var rows []switchRow
	if err := g.Order("name").Find(&rows).Error; err != nil {
		return nil, err
	}
	snap := &switches.Snapshot{Version: version, Switches: make([]switches.State, 0, len(rows))}
	for _, r := range rows {
		snap.Switches = append(snap.Switches, switches.State{Name: r.Name, Value: r.Value, Rules: decodeRules(r.Rules),
			UpdatedAt: r.UpdatedAt.UTC(), UpdatedBy: r.UpdatedBy})
	}
	return snap, nil
}

// Set implements switches.Store; c must have passed Change.Check.
func (s *SwitchStore) Set(ctx context.Context, c switches.Change) (switches.Record, error) {
	var rec switches.Record
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Exec("UPDATE switch_version SET version = version + 1 WHERE id = 1").Error; err != nil {
			return err
		}
		var version int64
		if err := tx.Table("switch_version").Select("version").Where("id = 1").Scan(&version).Error; err != nil {
			return err
		}
		var old []switchRow
		if err := tx.Where("name = ?", c.Name).Limit(1).Find(&old).Error; err != nil {
			return err
		}
		at := now()
		ch := switchChangeRow{ID: version, Name: c.Name, NewValue: c.Value, NewRules: encodeRules(c.Rules),
			Actor: c.Actor, Reason: c.Reason, CreatedAt: at}
		if len(old) == 1 {
			ch.OldValue, ch.OldRules = old[0].Value, old[0].Rules
		}
		if err := tx.Create(&ch).Error; err != nil {
			return err
		}
		row := switchRow{Name: c.Name, Value: c.Value, Rules: ch.NewRules, UpdatedBy: c.Actor, UpdatedAt: at, Version: version}
		if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&row).Error; err != nil {
			return err
		}
		rec = changeRecord(ch)
		return nil
	})
	return rec, err
}

// History implements switches.Store.
func (s *SwitchStore) History(ctx context.Context, name string, limit int) ([]switches.Record, error) {
	q := s.db.g.WithContext(ctx).Order("id DESC").Limit(limit)
	if name != "" {
		q = q.Where("name = ?", name)
	}
	var rows []switchChangeRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]switches.Record, 0, len(rows))
	for _, r := range rows {
		out = append(out, changeRecord(r))
	}
	return out, nil
}

func changeRecord(r switchChangeRow) switches.Record {
	return switches.Record{ID: r.ID, Name: r.Name, OldValue: r.OldValue, NewValue: r.NewValue,
		OldRules: decodeRules(r.OldRules), NewRules: decodeRules(r.NewRules), Actor: r.Actor, Reason: r.Reason, At: r.CreatedAt.UTC()}
}
